/**
 * The binary message envelope (protocol/envelope.ts): round trips of every tensor dtype, empty and
 * maximal byte fields, and every way an envelope can be malformed (each a MESSAGE_INVALID naming
 * what is wrong).
 */
import { describe, expect, it } from "vitest";
import {
  OracleError,
  DTYPES,
  ENVELOPE_PREFIX_BYTES,
  ENVELOPE_VERSION,
  MAX_ENVELOPE_BYTES,
  decodeEnvelope,
  decodeTensor,
  encodeEnvelope,
  encodeTensor,
  type DType,
  type Message,
  type Tensor,
} from "../../protocol/index.js";

/** A tensor of `dtype` whose data bytes follow a pattern (bool: 0/1; floats: finite values). */
function tensorOf(dtype: DType, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const { array: Ctor, size } = DTYPES[dtype];
  const bytes = new Uint8Array(n * size);
  for (let i = 0; i < bytes.length; i++) bytes[i] = dtype === "bool" ? i & 1 : (i * 31 + 7) & 0x3f;
  return { dtype, shape, data: new Ctor(bytes.buffer, 0, n) } as unknown as Tensor;
}

function malformed(bytes: Uint8Array, what: RegExp): void {
  let error: unknown;
  try {
    decodeEnvelope(bytes);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(OracleError);
  expect((error as OracleError).code).toBe("MESSAGE_INVALID");
  expect((error as OracleError).message).toMatch(what);
}

/** An envelope with a hand-written header over `data`. */
function raw(header: string, data: Uint8Array = new Uint8Array(0), version = ENVELOPE_VERSION): Buffer {
  const h = Buffer.from(header, "utf8");
  const prefix = Buffer.alloc(ENVELOPE_PREFIX_BYTES);
  prefix.write("IOE", 0, "ascii");
  prefix[3] = version;
  prefix.writeUInt32BE(h.byteLength, 4);
  return Buffer.concat([prefix, h, data]);
}

describe("binary envelope", () => {
  it("round-trips a job and a result batch with a tensor of every dtype, bytes as views of the envelope", () => {
    for (const dtype of Object.keys(DTYPES) as DType[]) {
      const encoded = encodeTensor(tensorOf(dtype, [2, 3, 5]));
      const job: Message = { kind: "job", requestId: `0x${"11".repeat(32)}`, input: encoded, tier: 1, deadline: 123, observedAt: 4.5 };
      const envelope = encodeEnvelope(job);
      // Header + the tensor's bytes, nothing more: no hex, no JSON of the tensor.
      expect(envelope.byteLength).toBeLessThan(encoded.byteLength + 200);
      const back = decodeEnvelope(envelope) as typeof job & { input: Buffer };
      expect(back).toEqual({ ...job, input: back.input });
      expect(Buffer.from(back.input).equals(encoded)).toBe(true);
      expect(back.input.buffer).toBe(envelope.buffer); // a view, no copy
      const tensor = decodeTensor(back.input);
      expect(tensor.dtype).toBe(dtype);
      expect(tensor.shape).toEqual([2, 3, 5]);

      const batch: Message = { kind: "batch", items: [{ output: encoded, timings: { infer: 1.5 } }, { output: new Uint8Array(0), proof: encoded.subarray(0, 3) }] };
      const b = decodeEnvelope(encodeEnvelope(batch)) as { items: { output: Uint8Array; proof?: Uint8Array; timings?: unknown }[] };
      expect(Buffer.from(b.items[0]!.output).equals(encoded)).toBe(true);
      expect(b.items[0]!.timings).toEqual({ infer: 1.5 });
      expect(b.items[1]!.output.byteLength).toBe(0);
      expect([...b.items[1]!.proof!]).toEqual([...encoded.subarray(0, 3)]);
    }
  });

  it("round-trips empty messages: no byte field, only empty byte fields, an empty header object", () => {
    expect(decodeEnvelope(encodeEnvelope({}))).toEqual({});
    expect(decodeEnvelope(encodeEnvelope(null))).toBe(null);
    const e = decodeEnvelope(encodeEnvelope({ a: new Uint8Array(0), b: [new Uint8Array(0), new Uint8Array(0)] })) as { a: Uint8Array; b: Uint8Array[] };
    expect(e.a.byteLength).toBe(0);
    expect(e.b.map((x) => x.byteLength)).toEqual([0, 0]);
    expect(encodeEnvelope(new Uint8Array(0)).byteLength).toBe(ENVELOPE_PREFIX_BYTES + '{"$bytes":[0,0]}'.length);
  });

  it("takes a message of exactly MAX_ENVELOPE_BYTES and refuses one byte more, both ways", () => {
    const header = '{"input":{"$bytes":[0,LEN]}}';
    const fixed = ENVELOPE_PREFIX_BYTES + header.replace("LEN", String(MAX_ENVELOPE_BYTES)).length;
    // The header's length digits: the data fills the rest exactly.
    let len = MAX_ENVELOPE_BYTES - fixed;
    while (ENVELOPE_PREFIX_BYTES + header.replace("LEN", String(len)).length + len !== MAX_ENVELOPE_BYTES) len++;
    const big = Buffer.alloc(len, 0xab);
    const envelope = encodeEnvelope({ input: big });
    expect(envelope.byteLength).toBe(MAX_ENVELOPE_BYTES);
    const back = decodeEnvelope(envelope) as { input: Uint8Array };
    expect(back.input.byteLength).toBe(len);
    expect(back.input[len - 1]).toBe(0xab);
    expect(() => encodeEnvelope({ input: Buffer.alloc(len + 1) })).toThrow(/more than 67108864/);
    malformed(Buffer.concat([envelope, Buffer.from([0])]), /more than 67108864/);
  });

  it("refuses a header key the envelope reserves, and values JSON cannot carry", () => {
    expect(() => encodeEnvelope({ a: { $bytes: [0, 0] } })).toThrow(/a\.?.*\$bytes/);
    expect(() => encodeEnvelope({ a: 1n } as unknown as Message)).toThrow();
  });

  it("refuses every malformed envelope with MESSAGE_INVALID naming what is wrong", () => {
    const good = encodeEnvelope({ input: Buffer.from([1, 2, 3, 4]) });
    malformed(good.subarray(0, 5), /shorter than its 8-byte prefix/);
    malformed(Buffer.concat([Buffer.from("XYZ"), good.subarray(3)]), /magic/);
    malformed(raw('{"a":1}', new Uint8Array(0), 2), /version 2, this software reads version 1/);
    malformed(raw('{"a":1}', new Uint8Array(0), 0), /version 0/);
    const truncatedHeader = Buffer.from(good);
    truncatedHeader.writeUInt32BE(1 << 30, 4);
    malformed(truncatedHeader, /header length .* reaches past/);
    malformed(raw("{not json"), /header is not JSON/);
    malformed(raw('{"a":'), /header is not JSON/);
    malformed(Buffer.concat([raw(""), Buffer.from([])]), /header is not JSON/);
    malformed(raw('{"a":"\xff"}'.replace("\xff", "x")).fill(0xff, ENVELOPE_PREFIX_BYTES + 6, ENVELOPE_PREFIX_BYTES + 7), /not UTF-8/);
    malformed(raw('{"a":{"$bytes":[0,5]}}', new Uint8Array(4)), /reaches past the data area/);
    malformed(raw('{"a":{"$bytes":[-1,1]}}', new Uint8Array(4)), /non-negative integers/);
    malformed(raw('{"a":{"$bytes":[0.5,1]}}', new Uint8Array(4)), /non-negative integers/);
    malformed(raw('{"a":{"$bytes":"0,1"}}', new Uint8Array(4)), /non-negative integers/);
    malformed(raw('{"a":{"$bytes":[0,1],"b":2}}', new Uint8Array(1)), /non-negative integers/);
    malformed(raw('{"a":{"$bytes":[0,4]},"b":{"$bytes":[2,2]}}', new Uint8Array(4)), /overlap at offset 2/);
    malformed(raw('{"a":{"$bytes":[0,2]}}', new Uint8Array(4)), /bytes \[2, 4\) of the data area belong to no field/);
    malformed(raw('{"a":{"$bytes":[2,2]}}', new Uint8Array(4)), /bytes \[0, 2\) of the data area belong to no field/);
    malformed(raw('{"a":1}', new Uint8Array(3)), /bytes \[0, 3\) of the data area belong to no field/);
  });
});
