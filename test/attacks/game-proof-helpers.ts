/** Leaf-proof builders for the FraudGame tests: one element of an encoded tensor with its chunk proof (IFraudGame.TensorChunkProof). */
import { CHUNK_BYTES, chunkLeaves, merklePath, toHex } from "../../protocol/merkle.js";
import { DTYPES } from "../../protocol/tensor.js";
import { levelsOf } from "./game-fixture.js";

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
    dataRoot: toHex(levels[levels.length - 1]![0]!),
    rootPath,
    chunk: data.subarray(c * CHUNK_BYTES, Math.min((c + 1) * CHUNK_BYTES, data.length)),
    chunkPath: merklePath(leaves, c).map(toHex),
  };
}
