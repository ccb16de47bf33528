/**
 * Models are untrusted input: registration is permissionless, so any wallet can name any ONNX file.
 * Two defences, both used wherever a model is loaded (docs/SECURITY.md):
 *
 * 1. `assertModelSafe(bytes)` refuses (MODEL_UNSAFE) a model with **external data** anywhere in it: a
 *    TensorProto with `data_location = EXTERNAL` or any `external_data` entry, whether it is a graph
 *    initializer, a sparse initializer, a Constant's or any attribute's tensor, inside a model-local
 *    function (its nodes or its default attributes), a training-info graph, or a subgraph of
 *    If/Loop/Scan, at any depth. onnxruntime resolves an external-data path against the model's folder
 *    (or, for a model loaded from bytes, the process's working directory): a model pointing at
 *    `worker.json` made a worker sign and publish its own key.
 *
 *    The check reads the protobuf **wire format** itself, with the field numbers of onnx.proto, and
 *    visits every occurrence of every field. A decoder such as protobufjs keeps only the last copy of
 *    a repeated singular message field, while onnxruntime's C++ protobuf merges the copies: a check on
 *    the decoded object could be shown one graph while onnxruntime loads another.
 *
 * 2. `withPrivateModelFile(bytes, fn)` writes the model into a fresh private (0700) empty temp folder
 *    and hands `fn` its path there; onnxruntime 1.30 confines external data to the folder of a model
 *    loaded from a path, and that folder holds nothing else. The folder is removed when `fn` settles.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OracleError } from "./errors.js";

/** Nesting deeper than this (graphs in attributes in graphs ...) is refused rather than walked. */
export const MAX_MODEL_NESTING = 64;

type MessageKind = "model" | "graph" | "node" | "attribute" | "tensor" | "sparseTensor" | "function" | "trainingInfo";

/**
 * For each message kind, the length-delimited fields that hold messages which can (transitively)
 * carry tensors, by field number (onnx.proto, IR version 10/11). Other fields are skipped.
 */
const CHILDREN: Record<MessageKind, Record<number, MessageKind>> = {
  // graph, training_info, functions
  model: { 7: "graph", 20: "trainingInfo", 25: "function" },
  // node, initializer, sparse_initializer
  graph: { 1: "node", 5: "tensor", 15: "sparseTensor" },
  // attribute
  node: { 5: "attribute" },
  // t, g, tensors, graphs, sparse_tensor, sparse_tensors
  attribute: { 5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparseTensor", 23: "sparseTensor" },
  // values, indices
  sparseTensor: { 1: "tensor", 2: "tensor" },
  // node, attribute_proto (default attribute values)
  function: { 7: "node", 11: "attribute" },
  // initialization, algorithm
  trainingInfo: { 1: "graph", 2: "graph" },
  tensor: {},
};

/** TensorProto.external_data (repeated StringStringEntryProto) and data_location (enum). */
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;

function unsafe(message: string, details: Record<string, unknown> = {}): OracleError {
  return new OracleError("MODEL_UNSAFE", message, { details });
}

function malformed(what: string): OracleError {
  return new OracleError("MODEL_UNSAFE", `the model is not a well-formed ONNX protobuf (${what})`);
}

/** Reads a varint at `pos`; returns [value, next position]. Values above 2^53 lose precision (only compared with 0 and 1 here). */
function readVarint(bytes: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw malformed("a varint runs past its message");
    const b = bytes[pos++]!;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [value, pos];
    scale *= 128;
  }
  throw malformed("a varint longer than 10 bytes");
}

/** Walks one message of `kind` in bytes[start, end); throws MODEL_UNSAFE on external data. */
function walk(bytes: Uint8Array, start: number, end: number, kind: MessageKind, path: string, depth: number): void {
  if (depth > MAX_MODEL_NESTING) throw unsafe(`the model nests messages deeper than ${MAX_MODEL_NESTING} levels`);
  const children = CHILDREN[kind];
  let pos = start;
  while (pos < end) {
    let key: number;
    [key, pos] = readVarint(bytes, pos, end);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw malformed("field number 0");
    switch (wire) {
      case 0: {
        let value: number;
        [value, pos] = readVarint(bytes, pos, end);
        if (kind === "tensor" && field === TENSOR_DATA_LOCATION && value !== 0) {
          throw unsafe(`the model refers to external data (${path}: data_location EXTERNAL); models must carry every tensor inline`, { path });
        }
        break;
      }
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        let length: number;
        [length, pos] = readVarint(bytes, pos, end);
        const next = pos + length;
        if (next > end) throw malformed("a field runs past its message");
        if (kind === "tensor" && field === TENSOR_DATA_LOCATION) {
          // A packed enum: one varint per element.
          for (let p = pos; p < next; ) {
            let value: number;
            [value, p] = readVarint(bytes, p, next);
            if (value !== 0) throw unsafe(`the model refers to external data (${path}: data_location EXTERNAL); models must carry every tensor inline`, { path });
          }
        }
        if (kind === "tensor" && field === TENSOR_EXTERNAL_DATA) {
          throw unsafe(`the model refers to external data (${path}: external_data); models must carry every tensor inline`, { path });
        }
        const child = children[field];
        if (child !== undefined) walk(bytes, pos, next, child, `${path}/${child}`, depth + 1);
        pos = next;
        break;
      }
      case 3:
      case 4:
        // Groups: deprecated, never produced for onnx.proto; refused rather than guessed at.
        throw malformed("a protobuf group");
      default:
        throw malformed(`wire type ${wire}`);
    }
    if (pos > end) throw malformed("a fixed-size field runs past its message");
  }
}

/**
 * Throws MODEL_UNSAFE (never retryable) when the ONNX file refers to external data anywhere, or is not
 * well-formed protobuf. Linear in the file size; tensor payloads are skipped, not parsed.
 */
export function assertModelSafe(bytes: Uint8Array): void {
  walk(bytes, 0, bytes.byteLength, "model", "model", 0);
}

/** Whether `assertModelSafe` accepts the file. */
export function isModelSafe(bytes: Uint8Array): boolean {
  try {
    assertModelSafe(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes `bytes` to `model.onnx` in a fresh private (0700) empty folder under the system temp folder,
 * runs `fn` with its path, and removes the folder when `fn` settles (a session holds the model in
 * memory once created). The safety check runs first: nothing unsafe is ever written or loaded.
 */
export async function withPrivateModelFile<T>(bytes: Uint8Array, fn: (path: string) => Promise<T>): Promise<T> {
  assertModelSafe(bytes);
  // mkdtemp creates the folder with mode 0700; the random suffix keeps it unpredictable.
  const dir = await mkdtemp(join(tmpdir(), `oracle-model-${randomBytes(4).toString("hex")}-`));
  try {
    const path = join(dir, "model.onnx");
    await writeFile(path, bytes, { mode: 0o600, flag: "wx" });
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
