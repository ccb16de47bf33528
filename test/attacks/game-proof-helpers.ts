/** Leaf-proof builders for the FraudGame tests: one element of an encoded tensor with its chunk proof (IFraudGame.TensorChunkProof). */
import { CHUNK_BYTES, chunkLeaves, merklePath, bytesToHex, weightLeaves, DTYPES, encodeTensor } from "../../protocol/index.js";
import { stepLeaf, type Step } from "../../canonical/index.js";
import { levelsOf, type ClsWorld, type TraceBook } from "./game-fixture.js";

/** A TensorChunkProof of element `index` of an encoded tensor, with the tensor's root path (`[]` when the game knows its hash). */
export function chunkProofOf(encoded: Buffer, index: number, rootPath: string[]) {
  const headerLen = 8 + 4 * encoded[6]!;
  const data = encoded.subarray(headerLen);
  const size = Object.values(DTYPES).find((d) => d.code === encoded[5])!.size;
  const c = Math.floor((index * size) / CHUNK_BYTES);
  const leaves = chunkLeaves(data);
  const levels = levelsOf(leaves);
  return {
    header: encoded.subarray(0, headerLen),
    dataRoot: bytesToHex(levels[levels.length - 1]![0]!),
    rootPath,
    chunk: data.subarray(c * CHUNK_BYTES, Math.min((c + 1) * CHUNK_BYTES, data.length)),
    chunkPath: merklePath(leaves, c).map(bytesToHex),
  };
}

/** Step j's programRoot path. */
export function programPathOf(world: ClsWorld, j: number): string[] {
  return merklePath(world.program.steps.map(stepLeaf), j).map(bytesToHex);
}

/** Proofs of the operand values `reads` names (IStepVerifier.Read), from the worker's trace `book`. */
export function operandProofsOf(world: ClsWorld, step: Step, reads: readonly { operand: bigint | number; index: bigint | number }[], book: TraceBook) {
  const wLeaves = weightLeaves(world.program.weights);
  return reads.map((r) => {
    const op = step.operands[Number(r.operand)]!;
    if (op.source === "input") return chunkProofOf(encodeTensor(world.input), Number(r.index), []);
    if (op.source === "weight") return chunkProofOf(encodeTensor(world.program.weights[op.index]!.tensor), Number(r.index), merklePath(wLeaves, op.index).map(bytesToHex));
    return chunkProofOf(encodeTensor(book.tensors[op.index]!), Number(r.index), book.manifestPath(op.index));
  });
}

/** canonical/element.ts's OperandReader over the model input, the weights and the trace `book`. */
export const readerOf = (world: ClsWorld, book: TraceBook, step: Step) => (k: number) => {
  const op = step.operands[k]!;
  if (op.source === "input") return world.input.data as Float32Array;
  if (op.source === "weight") return world.program.weights[op.index]!.tensor.data as Float32Array;
  return book.tensors[op.index]!.data as Float32Array;
};
