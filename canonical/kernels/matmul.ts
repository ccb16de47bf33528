/** The matmul kernel (batched, with transposes and an optional init). */
import { type Step, numelOf } from "../program.js";
import { type NumArray, type OperandRound, type Store, broadcastOffsets } from "./common.js";

/**
 * matmul: out[..., i, j] = fl(fold(init, a[..., i, k] · b[..., k, j] for k = 0..K−1)), init = c (broadcast) or +0;
 * transA/transB read the 2-D operand transposed (Gemm). Integer operands: the fold wraps in int32.
 */
export function matmulKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store, operand: OperandRound): void {
  const aShape = step.operandTypes[0]!.shape;
  const bShape = step.operandTypes[1]!.shape;
  const outShape = step.output.shape;
  const transA = step.params.transA![0] === 1;
  const transB = step.params.transB![0] === 1;
  const rank = outShape.length;
  const M = outShape[rank - 2]!;
  const N = outShape[rank - 1]!;
  const K = transA ? aShape[aShape.length - 2]! : aShape[aShape.length - 1]!;
  const batchShape = outShape.slice(0, rank - 2);
  const aBatch = broadcastOffsets(batchShape, aShape.slice(0, -2));
  const bBatch = broadcastOffsets(batchShape, bShape.slice(0, -2));
  const batches = numelOf(batchShape);
  const integer = step.output.dtype !== "float32";
  const a = integer ? ins[0]! : operand(ins[0]!);
  const b = integer ? ins[1]! : operand(ins[1]!);
  const cOff = ins[2] === undefined ? undefined : broadcastOffsets(outShape, step.operandTypes[2]!.shape);
  const c = ins[2];
  // (row, k) → offset within one matrix.
  const aRow = transA ? 1 : K;
  const aK = transA ? M : 1;
  const bK = transB ? 1 : N;
  const bCol = transB ? K : 1;
  if (!integer && c === undefined) {
    matmulRows(a, b, aBatch, bBatch, batches, M, N, K, transA, transB, out, store);
    return;
  }
  let o = 0;
  for (let bt = 0; bt < batches; bt++) {
    const aBase = (aBatch === null ? bt : aBatch[bt]!) * M * K;
    const bBase = (bBatch === null ? bt : bBatch[bt]!) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = c === undefined ? 0 : (c[cOff === null || cOff === undefined ? o : cOff[o]!] as number);
        let ai = aBase + i * aRow;
        let bi = bBase + j * bCol;
        if (integer) {
          for (let k = 0; k < K; k++, ai += aK, bi += bK) s = (s + (a[ai] as number) * (b[bi] as number)) | 0;
          out[o++] = s;
        } else {
          for (let k = 0; k < K; k++, ai += aK, bi += bK) s += (a[ai] as number) * (b[bi] as number);
          out[o++] = store(s);
        }
      }
    }
  }
}

/** Float matmul without init through contiguous rows: a's row i and b's column j copied as binary64, four columns at a time (four independent sequential folds). */
export function matmulRows(a: ArrayLike<number>, b: ArrayLike<number>, aBatch: Int32Array | null, bBatch: Int32Array | null, batches: number, M: number, N: number, K: number, transA: boolean, transB: boolean, out: NumArray, store: Store): void {
  const aRows = new Float64Array(M * K);
  const bCols = new Float64Array(N * K);
  let lastA = -1;
  let lastB = -1;
  for (let bt = 0; bt < batches; bt++) {
    const ab = aBatch === null ? bt : aBatch[bt]!;
    const bb = bBatch === null ? bt : bBatch[bt]!;
    if (ab !== lastA) {
      const base = ab * M * K;
      for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) aRows[i * K + k] = a[base + (transA ? k * M + i : i * K + k)]!;
      lastA = ab;
    }
    if (bb !== lastB) {
      const base = bb * K * N;
      for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) bCols[j * K + k] = b[base + (transB ? j * K + k : k * N + j)]!;
      lastB = bb;
    }
    const oBase = bt * M * N;
    for (let i = 0; i < M; i++) {
      const ai = i * K;
      const oRow = oBase + i * N;
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const b0 = j * K;
        const b1 = b0 + K;
        const b2 = b1 + K;
        const b3 = b2 + K;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let k = 0; k < K; k++) {
          const v = aRows[ai + k]!;
          s0 += v * bCols[b0 + k]!;
          s1 += v * bCols[b1 + k]!;
          s2 += v * bCols[b2 + k]!;
          s3 += v * bCols[b3 + k]!;
        }
        out[oRow + j] = store(s0);
        out[oRow + j + 1] = store(s1);
        out[oRow + j + 2] = store(s2);
        out[oRow + j + 3] = store(s3);
      }
      for (; j < N; j++) {
        const bj = j * K;
        let s = 0;
        for (let k = 0; k < K; k++) s += aRows[ai + k]! * bCols[bj + k]!;
        out[oRow + j] = store(s);
      }
    }
  }
}
