/** The canonical bytes of one operator table entry (protocol/commitment.ts hashes them into the model commitment). */
import { DTYPES, hashTensor } from "./tensor.js";
import type { AttributeValue, OperatorEntry, TensorType } from "./commitment.js";

/** Version of encodeOperatorEntry's layout. */
export const OPERATOR_ENCODING_VERSION = 1;

/** ONNX AttributeProto.AttributeType codes, written into the canonical encoding. */
export const ATTRIBUTE_CODES: Record<AttributeValue["type"], number> = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7, strings: 8 };

/** TensorSource kinds, written into the canonical encoding. */
export const SOURCE_CODES = { absent: 0, input: 1, weight: 2, trace: 3 } as const;

export class Writer {
  private readonly parts: Buffer[] = [];
  u8(v: number): this {
    this.parts.push(Buffer.from([v]));
    return this;
  }
  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    this.parts.push(b);
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    this.parts.push(b);
    return this;
  }
  i64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    this.parts.push(b);
    return this;
  }
  f32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeFloatBE(v);
    this.parts.push(b);
    return this;
  }
  bytes(v: Uint8Array): this {
    this.parts.push(Buffer.from(v));
    return this;
  }
  str(v: string | Uint8Array): this {
    const b = typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v);
    return this.u16(b.byteLength).bytes(b);
  }
  type(t: TensorType | undefined): this {
    if (t === undefined) return this.u8(0).u8(0);
    this.u8(DTYPES[t.dtype].code).u8(t.shape.length);
    for (const d of t.shape) this.u32(d);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * The canonical bytes of one operator entry (all integers big-endian, strings u16 length + UTF-8):
 *
 *   u8 version=1 | u32 index | str opType | str domain | u16 opset
 *   u16 #attributes, sorted by name: str name | u8 ONNX attribute type | value
 *       float: f32 | int: i64 | string: u32 len + bytes | tensor: 32-byte tensor hash
 *       floats: u32 n + n f32 | ints: u32 n + n i64 | strings: u32 n + n (u32 len + bytes)
 *   u16 #inputs:  u8 source (0 absent, 1 model input, 2 weight, 3 trace) | u32 index | u8 dtype | u8 rank | rank u32 dims
 *   u16 #outputs: u32 trace index | u8 dtype | u8 rank | rank u32 dims
 */
export function encodeOperatorEntry(entry: OperatorEntry): Buffer {
  const w = new Writer().u8(OPERATOR_ENCODING_VERSION).u32(entry.index).str(entry.opType).str(entry.domain).u16(entry.opset);
  w.u16(entry.attributes.length);
  for (const a of entry.attributes) {
    w.str(a.name).u8(ATTRIBUTE_CODES[a.type]);
    switch (a.type) {
      case "float":
        w.f32(a.value);
        break;
      case "int":
        w.i64(a.value);
        break;
      case "string":
        w.u32(a.value.byteLength).bytes(a.value);
        break;
      case "tensor":
        w.bytes(Buffer.from(hashTensor(a.value).slice(2), "hex"));
        break;
      case "floats":
        w.u32(a.value.length);
        a.value.forEach((f) => w.f32(f));
        break;
      case "ints":
        w.u32(a.value.length);
        a.value.forEach((i) => w.i64(i));
        break;
      case "strings":
        w.u32(a.value.length);
        a.value.forEach((s) => w.u32(s.byteLength).bytes(s));
        break;
    }
  }
  w.u16(entry.inputs.length);
  entry.inputs.forEach((input, i) => {
    const s = input.source;
    w.u8(SOURCE_CODES[s.kind]).u32(s.kind === "weight" || s.kind === "trace" ? s.index : 0).type(entry.inputTypes[i]);
  });
  w.u16(entry.outputs.length);
  entry.outputs.forEach((output, i) => w.u32(output.trace).type(entry.outputTypes[i]));
  return w.done();
}
