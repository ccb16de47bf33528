/**
 * The canonical program commitment (docs/V2.md §2, docs/CANONICAL.md "Commitment"):
 *
 *   weightsRoot  = merkleRoot([tensorHash(weight_i)])                       (the v1 weights and leaves)
 *   programRoot  = merkleRoot([sha256(0x06 || encodeStep(step_j))])
 *   commitment   = sha256(0x05 || u8 semanticsVersion || u8 precision || u32 stepCount || weightsRoot || programRoot)
 *   traceRoot    = merkleRoot([tensorHash(T_j) for j in 0..n−1])
 *
 * Domain prefixes (one byte, never reused; 0x00–0x04 are v1's): 0x05 program commitment, 0x06 step leaf.
 * merkleRoot and tensorHash are protocol/'s (v1) definitions.
 */
import { weightLeaves, merkleRoot, sha256, bytesToHex, DTYPES, hashTensor, type Tensor, type Hex } from "../protocol/index.js";
import { PRECISIONS, type Precision } from "./float.js";
import { SEMANTICS_VERSION } from "./math.js";
import { canonicalError, type Program, type Step, type TensorType } from "./program.js";

/** Domain prefix of a program commitment. */
export const PROGRAM_COMMITMENT_PREFIX = 0x05;
/** Domain prefix of a step leaf. */
export const STEP_LEAF_PREFIX = 0x06;
/** Version of encodeStep's layout (a change is a new semantics version too). */
export const STEP_ENCODING_VERSION = 1;

const KIND_CODES = { map: 0, move: 1, reduce: 2 } as const;
const SOURCE_CODES = { input: 1, weight: 2, step: 3 } as const;

function typeBytes(t: TensorType): Buffer {
  const b = Buffer.alloc(2 + 4 * t.shape.length);
  b[0] = DTYPES[t.dtype].code;
  b[1] = t.shape.length;
  t.shape.forEach((d, i) => b.writeUInt32BE(d, 2 + 4 * i));
  return b;
}

function str(s: string): Buffer {
  const body = Buffer.from(s, "utf8");
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.byteLength);
  return Buffer.concat([len, body]);
}

/**
 * The canonical bytes of one step (all integers big-endian; str = u16 length + UTF-8):
 *
 *   u8 version=1 | u32 index | u8 kind (0 map, 1 move, 2 reduce) | str op
 *   u16 #operands: u8 source (1 model input, 2 weight, 3 step) | u32 index (the input's number in canonical name order: 0 for a one-input model) | type
 *   type of the output
 *   u16 #params, sorted by name (byte order): str name | u32 n | n × f64
 *
 * where type = u8 ONNX dtype code | u8 rank | rank × u32 dims. Every parameter is a list of binary64
 * numbers (integers and float32 attribute values are exact). The ONNX node a step came from is not
 * encoded: the program's meaning does not depend on names.
 */
export function encodeStep(step: Step): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(6);
  head[0] = STEP_ENCODING_VERSION;
  head.writeUInt32BE(step.index, 1);
  head[5] = KIND_CODES[step.kind];
  parts.push(head, str(step.op));
  const count = Buffer.alloc(2);
  count.writeUInt16BE(step.operands.length);
  parts.push(count);
  step.operands.forEach((o, k) => {
    const b = Buffer.alloc(5);
    b[0] = SOURCE_CODES[o.source];
    b.writeUInt32BE(o.index ?? 0, 1);
    parts.push(b, typeBytes(step.operandTypes[k]!));
  });
  parts.push(typeBytes(step.output));
  const names = Object.keys(step.params).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const pc = Buffer.alloc(2);
  pc.writeUInt16BE(names.length);
  parts.push(pc);
  for (const name of names) {
    const values = step.params[name]!;
    const b = Buffer.alloc(4 + 8 * values.length);
    b.writeUInt32BE(values.length);
    values.forEach((v, i) => b.writeDoubleBE(v, 4 + 8 * i));
    parts.push(str(name), b);
  }
  return Buffer.concat(parts);
}

export function stepLeaf(step: Step): Buffer {
  return sha256(Buffer.from([STEP_LEAF_PREFIX]), encodeStep(step));
}

export function weightsRootOf(program: Program): Buffer {
  return merkleRoot(weightLeaves(program.weights));
}

export function programRootOf(program: Program): Buffer {
  return merkleRoot(program.steps.map(stepLeaf));
}

export function commitmentOf(weightsRoot: Uint8Array, programRoot: Uint8Array, stepCount: number, precision: Precision, semanticsVersion = SEMANTICS_VERSION): Buffer {
  if (weightsRoot.byteLength !== 32 || programRoot.byteLength !== 32) throw canonicalError("MODEL_UNKNOWN", "roots must be 32 bytes");
  const head = Buffer.alloc(7);
  head[0] = PROGRAM_COMMITMENT_PREFIX;
  head[1] = semanticsVersion;
  head[2] = PRECISIONS[precision];
  head.writeUInt32BE(stepCount, 3);
  return sha256(head, weightsRoot, programRoot);
}

export interface ProgramCommitment {
  semanticsVersion: number;
  precision: Precision;
  stepCount: number;
  weightsRoot: Hex;
  programRoot: Hex;
  commitment: Hex;
}

/** The commitment of a lowered program at a precision. */
export function commitProgram(program: Program, precision: Precision = "fp32"): ProgramCommitment {
  const weightsRoot = weightsRootOf(program);
  const programRoot = programRootOf(program);
  return {
    semanticsVersion: SEMANTICS_VERSION,
    precision,
    stepCount: program.steps.length,
    weightsRoot: bytesToHex(weightsRoot),
    programRoot: bytesToHex(programRoot),
    commitment: bytesToHex(commitmentOf(weightsRoot, programRoot, program.steps.length, precision)),
  };
}

/** The root of a canonical trace: leaves are the tensor hashes of the steps' outputs, in step order. */
export function traceRootOf(trace: readonly Tensor[]): Hex {
  return bytesToHex(merkleRoot(trace.map((t) => Buffer.from(hashTensor(t).slice(2), "hex"))));
}

/** A model's OPTIMISTIC tolerances (contracts/interfaces/IDisputeGame.sol CanonicalTerms): a signed output
 * element w is within τ of the canonical c when both are NaN, both the same infinity, or |w − c| ≤ abs + rel·|c|. */
export interface Tolerances {
  outAbs: number;
  outRel: number;
  majorAbs: number;
  majorRel: number;
}

/** The CanonicalTerms struct ModelRegistry.setCanonicalTerms takes (tolerances as binary64 bit patterns). */
export interface CanonicalTermsArgs {
  semanticsVersion: number;
  precision: number;
  stepCount: number;
  weightsRoot: Hex;
  programRoot: Hex;
  commitment: Hex;
  tauOutAbs: bigint;
  tauOutRel: bigint;
  tauMajorAbs: bigint;
  tauMajorRel: bigint;
}

/** The registry's set-once terms of a committed program (commitProgram) with its tolerances. */
export function canonicalTermsOf(c: ProgramCommitment, tol: Tolerances): CanonicalTermsArgs {
  const bits = (x: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    return b.readBigUInt64BE();
  };
  for (const [k, v] of Object.entries(tol)) {
    if (!(Number.isFinite(v) && v >= 0)) throw canonicalError("MODEL_UNKNOWN", `tolerance ${k} must be finite and non-negative`);
  }
  if (tol.majorAbs < tol.outAbs || tol.majorRel < tol.outRel) throw canonicalError("MODEL_UNKNOWN", "τ_major must be at least τ_out");
  return {
    semanticsVersion: c.semanticsVersion,
    precision: PRECISIONS[c.precision],
    stepCount: c.stepCount,
    weightsRoot: c.weightsRoot,
    programRoot: c.programRoot,
    commitment: c.commitment,
    tauOutAbs: bits(tol.outAbs),
    tauOutRel: bits(tol.outRel),
    tauMajorAbs: bits(tol.majorAbs),
    tauMajorRel: bits(tol.majorRel),
  };
}
