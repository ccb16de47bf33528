/**
 * Whole-tensor kernels of the canonical runtime. Each computes exactly the step semantics of
 * canonical/program.ts (docs/CANONICAL.md): binary64 arithmetic in the documented term order, one
 * rounding at the end (`store`). They are written for speed (typed arrays, precomputed offsets, no
 * per-element objects) but never reorder a fold.
 */
export { broadcastOffsets, typeLabel, wrapTo } from "./kernels/common.js";
export type { NumArray, OperandRound, Store } from "./kernels/common.js";
export { conv3dKernel, convKernel, convTranspose3dKernel, convTransposeKernel } from "./kernels/conv.js";
export { evalMapElement, mapKernel, quantizeValue, roundHalfEven } from "./kernels/map.js";
export { matmulKernel } from "./kernels/matmul.js";
export { moveKernel } from "./kernels/move.js";
export { pool3dKernel, poolKernel, reduceKernel } from "./kernels/reduce.js";
export { resizeLinearKernel } from "./kernels/resize.js";
