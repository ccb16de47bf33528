// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {F, SoftFloat} from "./SoftFloat.sol";
import {OpEntry} from "./OpEntry.sol";
import {Rules} from "./Rules.sol";
import {IOpFamily, Operand, Verdict} from "./FraudTypes.sol";

/// @title ExactOps
/// @notice Operators whose honest results are bit-exact: selection (Relu, Clip, MaxPool,
/// GlobalMaxPool), conversion (Cast) and data movement (Shape, Slice, Concat, Reshape, Flatten,
/// Identity, Squeeze, Unsqueeze, Transpose). The claimed element must equal the recomputed one.
contract ExactOps is IOpFamily {
    using SoftFloat for F;
    using OpEntry for OpEntry.Entry;

    error ExactUnsupported(string opType, string reason);

    function evaluate(bytes calldata entryBytes, Operand[] calldata ops, uint256 output, uint256 element, bytes calldata claimed)
        external
        pure
        returns (Verdict memory)
    {
        bytes memory b = entryBytes;
        OpEntry.Entry memory e = OpEntry.parse(b);
        if (output != 0) revert ExactUnsupported(e.opType, "output");
        F v = value(b, e, ops, element);
        return Rules.exactVerdict(claimed, e.outputs[0].dtype, v);
    }

    function value(bytes memory b, OpEntry.Entry memory e, Operand[] calldata ops, uint256 i) private pure returns (F) {
        if (e.isOp("Reshape") || e.isOp("Flatten") || e.isOp("Identity") || e.isOp("Squeeze") || e.isOp("Unsqueeze")) {
            // Row-major order is unchanged; both shapes are committed.
            return OpEntry.read(ops, 0, e.inputs[0].dtype, i);
        }
        if (e.isOp("Relu")) return OpEntry.read(ops, 0, e.inputs[0].dtype, i).max(SoftFloat.zero());
        if (e.isOp("Clip")) return clip(b, e, ops, i);
        if (e.isOp("MaxPool")) return maxPool(b, e, ops, i);
        if (e.isOp("GlobalMaxPool")) {
            uint256 spatial = OpEntry.numelFrom(e.inputs[0].shape, 2);
            F best = OpEntry.read(ops, 0, e.inputs[0].dtype, i * spatial);
            for (uint256 k = 1; k < spatial; ++k) best = best.max(OpEntry.read(ops, 0, e.inputs[0].dtype, i * spatial + k));
            return best;
        }
        if (e.isOp("Cast")) return cast(e, ops, i);
        if (e.isOp("Shape")) {
            if (e.inputs[0].shape.length <= i) revert ExactUnsupported("Shape", "element");
            (uint8 t,) = OpEntry.attr(b, e, "start");
            (uint8 t2,) = OpEntry.attr(b, e, "end");
            if (t != 0 || t2 != 0) revert ExactUnsupported("Shape", "start/end");
            return SoftFloat.fromInt(int256(e.inputs[0].shape[i]));
        }
        if (e.isOp("Slice")) return slice(b, e, ops, i);
        if (e.isOp("Concat")) return concat(e, ops, i, concatAxis(b, e));
        if (e.isOp("Transpose")) return OpEntry.read(ops, 0, e.inputs[0].dtype, transposeIndex(b, e, i));
        revert ExactUnsupported(e.opType, "op");
    }

    function clip(bytes memory b, OpEntry.Entry memory e, Operand[] calldata ops, uint256 i) private pure returns (F v) {
        v = OpEntry.read(ops, 0, e.inputs[0].dtype, i);
        if (e.opset < 11) {
            (bool hasMin, F lo) = OpEntry.attrFloatOr(b, e, "min");
            (bool hasMax, F hi) = OpEntry.attrFloatOr(b, e, "max");
            if (hasMin) v = v.max(lo);
            if (hasMax) v = v.min(hi);
        } else {
            if (e.inputs.length > 1 && e.inputs[1].source != OpEntry.SOURCE_ABSENT) v = v.max(OpEntry.read(ops, 1, e.inputs[1].dtype, 0));
            if (e.inputs.length > 2 && e.inputs[2].source != OpEntry.SOURCE_ABSENT) v = v.min(OpEntry.read(ops, 2, e.inputs[2].dtype, 0));
        }
    }

    struct Pool {
        int256[] k;
        int256[] s;
        int256[] d;
        int256[] p;
        uint256 H;
        uint256 W;
        int256 oh;
        int256 ow;
        uint256 base;
        uint8 dtype;
    }

    function poolGeometry(bytes memory b, OpEntry.Entry memory e, uint256 i) private pure returns (Pool memory g) {
        uint256[] memory xs = e.inputs[0].shape;
        if (xs.length != 4) revert ExactUnsupported("MaxPool", "2-D only");
        if (!OpEntry.attrStringIs(b, e, "auto_pad", "NOTSET")) revert ExactUnsupported("MaxPool", "auto_pad");
        if (e.outputs.length > 1) revert ExactUnsupported("MaxPool", "indices output");
        bool found;
        (g.k, found) = OpEntry.attrInts(b, e, "kernel_shape", 2, 1);
        if (!found || g.k.length != 2) revert ExactUnsupported("MaxPool", "kernel_shape");
        (g.s,) = OpEntry.attrInts(b, e, "strides", 2, 1);
        (g.d,) = OpEntry.attrInts(b, e, "dilations", 2, 1);
        (g.p,) = OpEntry.attrInts(b, e, "pads", 4, 0);
        uint256 OH = e.outputs[0].shape[2];
        uint256 OW = e.outputs[0].shape[3];
        (g.H, g.W) = (xs[2], xs[3]);
        g.ow = int256(i % OW);
        g.oh = int256((i / OW) % OH);
        g.base = (i / (OW * OH)) * g.H * g.W;
        g.dtype = e.inputs[0].dtype;
    }

    function maxPool(bytes memory b, OpEntry.Entry memory e, Operand[] calldata ops, uint256 i) private pure returns (F best) {
        Pool memory g = poolGeometry(b, e, i);
        bool any;
        for (int256 kh = 0; kh < g.k[0]; ++kh) {
            int256 ih = g.oh * g.s[0] - g.p[0] + kh * g.d[0];
            if (ih < 0 || ih >= int256(g.H)) continue;
            for (int256 kw = 0; kw < g.k[1]; ++kw) {
                int256 iw = g.ow * g.s[1] - g.p[1] + kw * g.d[1];
                if (iw < 0 || iw >= int256(g.W)) continue;
                F v = OpEntry.read(ops, 0, g.dtype, g.base + uint256(ih) * g.W + uint256(iw));
                best = any ? best.max(v) : v;
                any = true;
            }
        }
        if (!any) revert ExactUnsupported("MaxPool", "empty window");
    }

    function cast(OpEntry.Entry memory e, Operand[] calldata ops, uint256 i) private pure returns (F) {
        uint8 from = e.inputs[0].dtype;
        uint8 to = e.outputs[0].dtype;
        F v = OpEntry.read(ops, 0, from, i);
        if (to == OpEntry.FLOAT) {
            if (from == OpEntry.FLOAT) return v;
            // Integers up to 2^24 convert exactly; larger ones would need round-to-nearest-even.
            if (v.abs().gt(SoftFloat.fromInt(1 << 24))) revert ExactUnsupported("Cast", "integer above 2^24 to float");
            return v;
        }
        if (OpEntry.elementSize(to) == 0) revert ExactUnsupported("Cast", "target dtype");
        int256 n;
        if (from == OpEntry.FLOAT) {
            // Truncation toward zero; out-of-range conversions are undefined in ONNX, so not disputable.
            int256 fl = v.floorInt();
            n = (fl < 0 && !SoftFloat.fromInt(fl).eq(v)) ? fl + 1 : fl;
            if (Rules.wrap(n, to) != n && to != OpEntry.BOOL) revert ExactUnsupported("Cast", "out of range");
        } else {
            n = OpEntry.readInt(ops, 0, from, i);
        }
        return SoftFloat.fromInt(Rules.wrap(n, to));
    }

    function intsInput(OpEntry.Entry memory e, Operand[] calldata ops, uint256 j) private pure returns (int256[] memory out) {
        out = new int256[](OpEntry.numel(e.inputs[j].shape));
        for (uint256 k = 0; k < out.length; ++k) out[k] = OpEntry.readInt(ops, j, e.inputs[j].dtype, k);
    }

    function clampIdx(int256 v, int256 dim, int256 lo, int256 hi) private pure returns (int256) {
        if (v < 0) v += dim;
        if (v < lo) return lo;
        if (v > hi) return hi;
        return v;
    }

    struct SliceArgs {
        int256[] starts;
        int256[] axes;
        int256[] steps;
        bool hasAxes;
        bool hasSteps;
    }

    function sliceArgs(bytes memory b, OpEntry.Entry memory e, Operand[] calldata ops) private pure returns (SliceArgs memory s) {
        if (e.opset < 10) {
            (s.starts,) = OpEntry.attrInts(b, e, "starts", 0, 0);
            (s.axes, s.hasAxes) = OpEntry.attrInts(b, e, "axes", 0, 0);
        } else {
            s.starts = intsInput(e, ops, 1);
            s.hasAxes = e.inputs.length > 3 && e.inputs[3].source != OpEntry.SOURCE_ABSENT;
            if (s.hasAxes) s.axes = intsInput(e, ops, 3);
            s.hasSteps = e.inputs.length > 4 && e.inputs[4].source != OpEntry.SOURCE_ABSENT;
            if (s.hasSteps) s.steps = intsInput(e, ops, 4);
        }
    }

    function sliceBegins(bytes memory b, OpEntry.Entry memory e, Operand[] calldata ops) private pure returns (int256[] memory begin, int256[] memory step) {
        uint256[] memory xs = e.inputs[0].shape;
        uint256 rank = xs.length;
        SliceArgs memory s = sliceArgs(b, e, ops);
        begin = new int256[](rank);
        step = new int256[](rank);
        for (uint256 d = 0; d < rank; ++d) step[d] = 1;
        for (uint256 j = 0; j < s.starts.length; ++j) {
            int256 a = s.hasAxes ? s.axes[j] : int256(j);
            if (a < 0) a += int256(rank);
            if (a < 0 || a >= int256(rank)) revert ExactUnsupported("Slice", "axis");
            int256 dim = int256(xs[uint256(a)]);
            int256 st = s.hasSteps ? s.steps[j] : int256(1);
            if (st == 0) revert ExactUnsupported("Slice", "step 0");
            begin[uint256(a)] = st > 0 ? clampIdx(s.starts[j], dim, 0, dim) : clampIdx(s.starts[j], dim, 0, dim - 1);
            step[uint256(a)] = st;
        }
    }

    function slice(bytes memory b, OpEntry.Entry memory e, Operand[] calldata ops, uint256 i) private pure returns (F) {
        (int256[] memory begin, int256[] memory step) = sliceBegins(b, e, ops);
        uint256[] memory xs = e.inputs[0].shape;
        uint256[] memory os = e.outputs[0].shape;
        uint256 idx;
        uint256 outStride = 1;
        uint256 inStride = 1;
        for (uint256 d = xs.length; d > 0; --d) {
            uint256 coord = (i / outStride) % os[d - 1];
            outStride *= os[d - 1];
            idx += uint256(begin[d - 1] + int256(coord) * step[d - 1]) * inStride;
            inStride *= xs[d - 1];
        }
        return OpEntry.read(ops, 0, e.inputs[0].dtype, idx);
    }

    function concatAxis(bytes memory b, OpEntry.Entry memory e) private pure returns (uint256) {
        int256 axis = OpEntry.attrInt(b, e, "axis", 0);
        if (axis < 0) axis += int256(e.outputs[0].shape.length);
        return uint256(axis);
    }

    function concat(OpEntry.Entry memory e, Operand[] calldata ops, uint256 i, uint256 ax) private pure returns (F) {
        uint256 inner = OpEntry.numelFrom(e.outputs[0].shape, ax + 1);
        uint256 along = (i / inner) % e.outputs[0].shape[ax];
        uint256 outer = i / (e.outputs[0].shape[ax] * inner);
        i = i % inner;
        for (uint256 j = 0; j < e.inputs.length; ++j) {
            uint256 d = e.inputs[j].shape[ax];
            if (along < d) return OpEntry.read(ops, j, e.inputs[j].dtype, (outer * d + along) * inner + i);
            along -= d;
        }
        revert ExactUnsupported("Concat", "element");
    }

    function transposeIndex(bytes memory b, OpEntry.Entry memory e, uint256 i) private pure returns (uint256 idx) {
        uint256[] memory xs = e.inputs[0].shape;
        uint256 rank = xs.length;
        (int256[] memory perm, bool found) = OpEntry.attrInts(b, e, "perm", rank, 0);
        if (!found) for (uint256 d = 0; d < rank; ++d) perm[d] = int256(rank - 1 - d);
        uint256[] memory inStrides = new uint256[](rank);
        uint256 acc = 1;
        for (uint256 d = rank; d > 0; --d) {
            inStrides[d - 1] = acc;
            acc *= xs[d - 1];
        }
        uint256[] memory os = e.outputs[0].shape;
        uint256 outStride = 1;
        for (uint256 d = rank; d > 0; --d) {
            uint256 coord = (i / outStride) % os[d - 1];
            outStride *= os[d - 1];
            idx += coord * inStrides[uint256(perm[d - 1])];
        }
    }
}
