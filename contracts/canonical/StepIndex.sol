// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Dimension names follow the ONNX operator specs (C, H, W, KH, KW, M, N, K), so readers can check them against it.
// solhint-disable var-name-mixedcase

import {IStepVerifier} from "../interfaces/IStepVerifier.sol";
import {CanonicalStep} from "./CanonicalStep.sol";
import {Float64} from "./Float64.sol";
import {StepCodec} from "./StepCodec.sol";

/// @title StepIndex
/// @notice A reduce step's term indexing (canonical/element.ts reduceTerms, read term by term): K, the
/// init's read and the record kind and divisor of an element, and the operand elements term t of element
/// e reads, computed from (e, t) directly with loops over the rank only. Public functions: StepVerifier
/// links it (EIP-170 size).
library StepIndex {
    uint8 private constant FLOAT32 = 1;

    /// Geometry of a 2-D conv, convtranspose or pool (NCHW).
    struct Window {
        uint256 C;
        uint256 H;
        uint256 W;
        uint256 KH;
        uint256 KW;
        int256 sh;
        int256 sw;
        int256 ph;
        int256 pw;
        int256 dh;
        int256 dw;
        /// the term's kernel position
        int256 kh;
        int256 kw;
    }

    /// resize_linear's parameters: the resized axes and, per axis, the coordinate (num·o + off) / den.
    struct Resize {
        int256[] axes;
        int256[] num;
        int256[] off;
        int256[] den;
    }

    // ---------------------------------------------------------------- entry points

    /// @notice K of a reduce step (reverts StepUnsupported for another kind).
    function terms(StepCodec.Step memory s) public pure returns (uint64) {
        return termCount(s);
    }

    /// @notice The init's reads of element e, and its record kind and finalize divisor.
    function init(StepCodec.Step memory s, uint64 e)
        public
        pure
        returns (IStepVerifier.Read[] memory r, uint8 kind, uint32 divisor)
    {
        requireReduce(s);
        checkIndex(e, s.numel);
        r = initReadsOf(s, e);
        (kind, divisor) = recordKind(s, e);
    }

    /// @notice The reads of term t of element e, and whether the step folds max (a padding term is then −∞).
    function term(StepCodec.Step memory s, uint64 e, uint64 t)
        public
        pure
        returns (IStepVerifier.Read[] memory r, bool max)
    {
        checkIndex(e, s.numel);
        checkIndex(t, termCount(s));
        r = termReadsOf(s, e, t);
        max = isMax(s);
    }

    /// @notice A resize_linear term's value: the corner's element x times its integer weight, exact in
    /// binary64 (the weight is below 2^24; canonical/kernels/resize.ts).
    function resizeTerm(StepCodec.Step memory s, uint64 e, uint64 t, uint64 x) public pure returns (uint64) {
        checkIndex(e, s.numel);
        checkIndex(t, termCount(s));
        (, uint256 weight) = resizeCorner(s, coordsOf(e, s.outShape), t);
        return CanonicalStep.term(x, Float64.fromInt64(int64(uint64(weight))), 0);
    }

    // ---------------------------------------------------------------- reduce

    function requireReduce(StepCodec.Step memory s) internal pure {
        if (s.kind != StepCodec.KIND_REDUCE) revert IStepVerifier.StepUnsupported("not a reduce step");
        uint8 op = s.op;
        uint256 n = s.operands.length;
        bool ok;
        if (op == StepCodec.MATMUL) {
            ok = (n == 2 || n == 3) && s.operands[0].shape.length >= 2 && s.operands[1].shape.length >= 2
                && s.outShape.length >= 2 && s.operands[0].shape.length <= s.outShape.length
                && s.operands[1].shape.length <= s.outShape.length
                && (n == 2 || s.operands[2].shape.length <= s.outShape.length);
            // Float operands give a float sum; integer operands an int32 sum.
        } else if (op == StepCodec.CONV || op == StepCodec.CONVTRANSPOSE || op == StepCodec.CONV3D || op == StepCodec.CONVTRANSPOSE3D) {
            uint256 rank = op == StepCodec.CONV3D || op == StepCodec.CONVTRANSPOSE3D ? 5 : 4;
            ok = (n == 2 || n == 3) && s.operands[0].shape.length == rank && s.operands[1].shape.length == rank
                && s.outShape.length == rank && (n == 2 || s.operands[2].shape.length == 1);
        } else if (op == StepCodec.POOL || op == StepCodec.POOL3D) {
            uint256 rank = op == StepCodec.POOL3D ? 5 : 4;
            ok = n == 1 && s.operands[0].shape.length == rank && s.outShape.length == rank;
        } else if (op == StepCodec.RESIZE_LINEAR) {
            ok = n == 1 && s.operands[0].shape.length == s.outShape.length;
        } else {
            ok = n == 1;
        }
        // Integer matmul and conv (8-bit or int32 operands, an int32 bias): an int32 sum; every other
        // reduce is float.
        bool f = s.outDtype == FLOAT32 || !(op == StepCodec.MATMUL || op == StepCodec.CONV || op == StepCodec.CONV3D);
        for (uint256 k = 0; k < n; ++k) ok = ok && (s.operands[k].dtype == FLOAT32) == f;
        ok = ok && (s.outDtype == FLOAT32) == f;
        if (!ok) revert IStepVerifier.StepMalformed(s.paramsOffset);
    }

    /// @notice K, the number of terms of every element.
    function termCount(StepCodec.Step memory s) internal pure returns (uint64) {
        requireReduce(s);
        uint8 op = s.op;
        uint256 k;
        if (op == StepCodec.CONV) {
            uint32[] memory w = s.operands[1].shape;
            k = uint256(w[1]) * w[2] * w[3];
        } else if (op == StepCodec.CONVTRANSPOSE) {
            uint32[] memory w = s.operands[1].shape;
            k = (s.operands[0].shape[1] / group(s)) * uint256(w[2]) * w[3];
        } else if (op == StepCodec.MATMUL) {
            uint32[] memory a = s.operands[0].shape;
            k = StepCodec.intParam(s, "transA", 1)[0] == 1 ? a[a.length - 2] : a[a.length - 1];
        } else if (op == StepCodec.POOL) {
            int256[] memory kernel = StepCodec.intParam(s, "kernel", 2);
            if (kernel[0] < 1 || kernel[1] < 1) revert IStepVerifier.StepMalformed(s.paramsOffset);
            k = uint256(kernel[0]) * uint256(kernel[1]);
        } else if (op == StepCodec.CONV3D) {
            uint32[] memory w = s.operands[1].shape;
            k = uint256(w[1]) * w[2] * w[3] * w[4];
        } else if (op == StepCodec.CONVTRANSPOSE3D) {
            // x [N, C, D, H, W], w [C, M / group, KD, KH, KW], out [N, M, ...]: C and M split into the groups.
            uint32[] memory w = s.operands[1].shape;
            uint256 g = group(s);
            uint256 C = s.operands[0].shape[1];
            if (C % g != 0 || w[0] != C || s.outShape[1] != uint256(w[1]) * g) revert IStepVerifier.StepMalformed(s.paramsOffset);
            k = (C / g) * uint256(w[2]) * w[3] * w[4];
        } else if (op == StepCodec.POOL3D) {
            Box memory b = boxOf(s, true);
            k = b.k[0] * b.k[1] * b.k[2];
        } else if (op == StepCodec.RESIZE_LINEAR) {
            k = uint256(1) << resizeParams(s).axes.length;
        } else {
            int256[] memory axes = reduceAxes(s);
            k = 1;
            for (uint256 i = 0; i < axes.length; ++i) k *= s.operands[0].shape[uint256(axes[i])];
        }
        if (k > type(uint64).max) revert IStepVerifier.StepMalformed(s.paramsOffset);
        return uint64(k);
    }

    function isMax(StepCodec.Step memory s) internal pure returns (bool) {
        return (s.op == StepCodec.POOL || s.op == StepCodec.POOL3D || s.op == StepCodec.REDUCE)
            && StepCodec.intParam(s, "fn", 1)[0] == 1;
    }

    /// @notice The record kind and finalize divisor of element `e` (canonical/partial.ts partialKindOf).
    function recordKind(StepCodec.Step memory s, uint64 e) internal pure returns (uint8 kind, uint32 divisor) {
        divisor = 1;
        if (s.op == StepCodec.RESIZE_LINEAR) {
            int256[] memory den = resizeParams(s).den;
            uint256 d = 1;
            for (uint256 j = 0; j < den.length; ++j) d *= uint256(den[j]);
            return (CanonicalStep.KIND_SUM, uint32(d));
        }
        if (s.op == StepCodec.POOL || s.op == StepCodec.POOL3D || s.op == StepCodec.REDUCE) {
            int256 fn = StepCodec.intParam(s, "fn", 1)[0];
            if (fn < 0 || fn > 2) revert IStepVerifier.StepMalformed(s.paramsOffset);
            if (fn == 1) return (CanonicalStep.KIND_MAX, 1);
            uint256 count;
            if (s.op == StepCodec.REDUCE) {
                count = fn == 2 ? termCount(s) : 1;
            } else if (StepCodec.intParam(s, "countIncludePad", 1)[0] == 1) {
                count = termCount(s);
            } else if (s.op == StepCodec.POOL3D) {
                // The in-bounds count of the window, axis by axis.
                Box memory b = boxOf(s, true);
                uint256[] memory o = coordsOf(e, s.outShape);
                count = 1;
                for (uint256 i = 0; i < 3; ++i) count *= inside(int256(o[2 + i]) * b.st[i] - b.pad[i], b.dil[i], b.k[i], b.size[i]);
            } else {
                // The in-bounds count of the window, axis by axis.
                Window memory g = windowOf(s, true);
                uint256[] memory o = coordsOf(e, s.outShape);
                count = inside(int256(o[2]) * g.sh - g.ph, g.dh, g.KH, g.H)
                    * inside(int256(o[3]) * g.sw - g.pw, g.dw, g.KW, g.W);
            }
            if (count == 0 || count > type(uint32).max) revert IStepVerifier.StepMalformed(s.paramsOffset);
            return (CanonicalStep.KIND_SUM, uint32(count));
        }
        kind = s.outDtype == FLOAT32 ? CanonicalStep.KIND_SUM : CanonicalStep.KIND_ISUM;
    }

    /// @notice How many k in [0, K) have 0 <= base + k·d < size (d >= 1).
    function inside(int256 base, int256 d, uint256 K, uint256 size) private pure returns (uint256) {
        int256 lo = base >= 0 ? int256(0) : (-base + d - 1) / d;
        int256 top = int256(size) - 1 - base;
        if (top < 0) return 0;
        int256 hi = top / d;
        if (hi > int256(K) - 1) hi = int256(K) - 1;
        return hi >= lo ? uint256(hi - lo + 1) : 0;
    }

    function initReadsOf(StepCodec.Step memory s, uint64 e) internal pure returns (IStepVerifier.Read[] memory r) {
        if (s.operands.length < 3) return new IStepVerifier.Read[](0);
        r = new IStepVerifier.Read[](1);
        uint256[] memory o = coordsOf(e, s.outShape);
        if (s.op == StepCodec.MATMUL) r[0] = IStepVerifier.Read(2, uint64(broadcastFlat(s, o, s.operands[2].shape)));
        else r[0] = IStepVerifier.Read(2, uint64(o[1])); // conv, convtranspose: bias[m]
    }

    function termReadsOf(StepCodec.Step memory s, uint64 e, uint64 t) internal pure returns (IStepVerifier.Read[] memory r) {
        uint256[] memory o = coordsOf(e, s.outShape);
        uint8 op = s.op;
        if (op == StepCodec.MATMUL) return matmulReads(s, o, t);
        if (op == StepCodec.REDUCE) {
            r = new IStepVerifier.Read[](1);
            r[0] = IStepVerifier.Read(0, uint64(reduceIndex(s, o, t)));
            return r;
        }
        if (op == StepCodec.RESIZE_LINEAR) {
            (uint256 index,) = resizeCorner(s, o, t);
            r = new IStepVerifier.Read[](1);
            r[0] = IStepVerifier.Read(0, uint64(index));
            return r;
        }
        if (op == StepCodec.POOL) return poolReads(s, o, t);
        if (op == StepCodec.CONV) return convReads(s, o, t);
        if (op == StepCodec.CONV3D || op == StepCodec.POOL3D || op == StepCodec.CONVTRANSPOSE3D) return box3Reads(s, o, t);
        return convTransposeReads(s, o, t);
    }

    /// @notice resize_linear's [axes, num, off, den]: r >= 1 resized axes, ascending; per axis the source
    /// coordinate (num·o + off) / den with num >= 0, den >= 1; Π den <= 2^24; every other axis keeps its size.
    function resizeParams(StepCodec.Step memory s) private pure returns (Resize memory p) {
        p.axes = StepCodec.intParam(s, "axes", 0);
        uint256 r = p.axes.length;
        p.num = StepCodec.intParam(s, "num", r);
        p.off = StepCodec.intParam(s, "off", r);
        p.den = StepCodec.intParam(s, "den", r);
        uint32[] memory inShape = s.operands[0].shape;
        uint256 rank = inShape.length;
        bool ok = r >= 1 && r <= rank;
        uint256 d = 1;
        uint256 j = 0;
        for (uint256 a = 0; a < rank && ok; ++a) {
            if (j < r && p.axes[j] == int256(a)) {
                ok = p.num[j] >= 0 && p.den[j] >= 1 && p.den[j] <= 1 << 24;
                if (ok) d *= uint256(p.den[j]);
                ++j;
            } else {
                ok = inShape[a] == s.outShape[a];
            }
        }
        if (!ok || j != r || d > 1 << 24) revert IStepVerifier.StepMalformed(s.paramsOffset);
    }

    /// @notice The input element term t of the output element at o reads, and its integer weight: per
    /// resized axis j, bit r − 1 − j of t picks the lower index i0 (weight den − rem) or the upper
    /// min(i0 + 1, size − 1) (weight rem), where i0, rem = divmod(num·o + off, den) clamped into [0, size − 1].
    function resizeCorner(StepCodec.Step memory s, uint256[] memory o, uint256 t)
        private
        pure
        returns (uint256 index, uint256 weight)
    {
        Resize memory p = resizeParams(s);
        uint32[] memory inShape = s.operands[0].shape;
        uint256[] memory c = new uint256[](o.length);
        for (uint256 d = 0; d < o.length; ++d) c[d] = o[d];
        weight = 1;
        for (uint256 j = 0; j < p.axes.length; ++j) {
            uint256 a = uint256(p.axes[j]);
            uint256 w;
            (c[a], w) = resizeAxis(p, j, o[a], inShape[a], (t >> (p.axes.length - 1 - j)) & 1 == 1);
            weight *= w;
        }
        index = flat(c, inShape);
    }

    /// @notice Resized axis j at output coordinate o: i0, rem = divmod(num·o + off, den) clamped into
    /// [0, size − 1]; the lower index (weight den − rem) or the upper min(i0 + 1, size − 1) (weight rem).
    function resizeAxis(Resize memory p, uint256 j, uint256 o, uint32 size, bool upper) private pure returns (uint256, uint256) {
        int256 n = p.num[j] * int256(o) + p.off[j];
        int256 den = p.den[j];
        int256 last = int256(uint256(size)) - 1;
        (int256 i0, int256 rem) = n > 0 ? (n / den, n % den) : (int256(0), int256(0));
        if (i0 >= last) (i0, rem) = (last, 0);
        if (upper) return (uint256(i0 < last ? i0 + 1 : i0), uint256(rem));
        return (uint256(i0), uint256(den - rem));
    }

    /// Geometry of a 3-D conv or pool (NCDHW): input sizes, kernel, strides, begin pads, dilations.
    struct Box {
        uint256[3] size;
        uint256[3] k;
        int256[3] st;
        int256[3] pad;
        int256[3] dil;
    }

    function boxOf(StepCodec.Step memory s, bool pool) private pure returns (Box memory b) {
        uint32[] memory x = s.operands[0].shape;
        int256[] memory kernel = pool ? StepCodec.intParam(s, "kernel", 3) : new int256[](0);
        int256[] memory st = StepCodec.intParam(s, "strides", 3);
        int256[] memory pads = StepCodec.intParam(s, "pads", 6);
        int256[] memory dil = StepCodec.intParam(s, "dilations", 3);
        for (uint256 i = 0; i < 3; ++i) {
            b.size[i] = x[2 + i];
            if (pool) {
                if (kernel[i] < 1) revert IStepVerifier.StepMalformed(s.paramsOffset);
                b.k[i] = uint256(kernel[i]);
            } else {
                b.k[i] = s.operands[1].shape[2 + i];
            }
            if (st[i] < 1 || dil[i] < 1 || b.k[i] == 0) revert IStepVerifier.StepMalformed(s.paramsOffset);
            (b.st[i], b.pad[i], b.dil[i]) = (st[i], pads[i], dil[i]);
        }
    }

    /// @notice conv3d: x[n, g·Cg + c, od·sd − pd + kd·dd, …] · w[m, c, kd, kh, kw], terms (c, kd, kh, kw)
    /// row-major; pool3d: x[n, c, …], terms (kd, kh, kw); convtranspose3d: x[n, g·Cg + c, id, ih, iw] ·
    /// w[g·Cg + c, m − g·Mg, kd, kh, kw] where od = id·sd − pd + kd·dd (same for h, w), terms (c, kd, kh, kw).
    /// A term in the padding (no such input position) reads nothing.
    function box3Reads(StepCodec.Step memory s, uint256[] memory o, uint256 t) private pure returns (IStepVerifier.Read[] memory r) {
        Box memory b = boxOf(s, s.op == StepCodec.POOL3D);
        (uint256[3] memory kk, uint256 c) = boxTerm(b, t);
        (bool ok, uint256 pos) = boxPosition(b, kk, o, s.op == StepCodec.CONVTRANSPOSE3D);
        if (!ok) return new IStepVerifier.Read[](0);
        if (s.op == StepCodec.POOL3D) {
            r = new IStepVerifier.Read[](1);
            r[0] = IStepVerifier.Read(0, boxAt(b, o[0] * s.operands[0].shape[1] + o[1], pos));
            return r;
        }
        r = new IStepVerifier.Read[](2);
        (uint256 ci, uint256 mc) = boxChannels(s, o[1], c);
        r[0] = IStepVerifier.Read(0, boxAt(b, o[0] * s.operands[0].shape[1] + ci, pos));
        r[1] = IStepVerifier.Read(1, kernelAt(b, kk, mc));
    }

    /// @notice The input channel of term channel c of output channel m, and the weight's first two coordinates
    /// flattened: conv3d x[·, (m / (M / group)) · Cg + c] · w[m, c]; convtranspose3d x[·, (m / Mg) · (C / group) + c]
    /// · w[that channel, m mod Mg].
    function boxChannels(StepCodec.Step memory s, uint256 m, uint256 c) private pure returns (uint256 ci, uint256 mc) {
        uint256 Wg = s.operands[1].shape[1];
        if (s.op == StepCodec.CONVTRANSPOSE3D) {
            ci = (m / Wg) * (s.operands[0].shape[1] / group(s)) + c;
            return (ci, ci * Wg + m % Wg);
        }
        return ((m / (uint256(s.outShape[1]) / group(s))) * Wg + c, m * Wg + c);
    }

    /// @notice The flat index of x[n, c, id, ih, iw] from nc = n·C + c and the flat (id, ih, iw).
    function boxAt(Box memory b, uint256 nc, uint256 pos) private pure returns (uint64) {
        return uint64(nc * b.size[0] * b.size[1] * b.size[2] + pos);
    }

    /// @notice (c, kd, kh, kw) of term t, row-major.
    function boxTerm(Box memory b, uint256 t) private pure returns (uint256[3] memory kk, uint256 c) {
        kk[2] = t % b.k[2];
        kk[1] = (t / b.k[2]) % b.k[1];
        kk[0] = (t / (b.k[2] * b.k[1])) % b.k[0];
        c = t / (b.k[0] * b.k[1] * b.k[2]);
    }

    /// @notice The input position (od·sd − pd + kd·dd, …) flattened over (D, H, W), if it is inside; transposed,
    /// the (id, ih, iw) with od = id·sd − pd + kd·dd (same for h, w), if it exists.
    function boxPosition(Box memory b, uint256[3] memory kk, uint256[] memory o, bool transpose) private pure returns (bool, uint256 pos) {
        for (uint256 i = 0; i < 3; ++i) {
            int256 v;
            if (transpose) {
                v = int256(o[2 + i]) + b.pad[i] - int256(kk[i]) * b.dil[i];
                if (v < 0 || v % b.st[i] != 0) return (false, 0);
                v /= b.st[i];
            } else {
                v = int256(o[2 + i]) * b.st[i] - b.pad[i] + int256(kk[i]) * b.dil[i];
            }
            if (v < 0 || v >= int256(b.size[i])) return (false, 0);
            pos = pos * b.size[i] + uint256(v);
        }
        return (true, pos);
    }

    /// @notice The flat index of w[·, ·, kd, kh, kw] whose first two coordinates flatten to `mc`.
    function kernelAt(Box memory b, uint256[3] memory kk, uint256 mc) private pure returns (uint64) {
        return uint64(((mc * b.k[0] + kk[0]) * b.k[1] + kk[1]) * b.k[2] + kk[2]);
    }

    /// @notice (c, kh, kw) of term t: row-major over (channels, KH, KW).
    function windowTerm(Window memory g, uint256 t) private pure returns (uint256 c) {
        uint256 area = g.KH * g.KW;
        c = t / area;
        g.kh = int256((t % area) / g.KW);
        g.kw = int256(t % g.KW);
    }

    function poolReads(StepCodec.Step memory s, uint256[] memory o, uint256 t) private pure returns (IStepVerifier.Read[] memory r) {
        Window memory g = windowOf(s, true);
        windowTerm(g, t);
        (bool ok, uint256 ih, uint256 iw) = forward(g, o);
        if (!ok) return new IStepVerifier.Read[](0);
        r = new IStepVerifier.Read[](1);
        r[0] = IStepVerifier.Read(0, at4(o[0], o[1], ih, iw, g));
    }

    /// @notice conv: x[n, g·Cg + c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] · w[m, c, kh, kw].
    function convReads(StepCodec.Step memory s, uint256[] memory o, uint256 t) private pure returns (IStepVerifier.Read[] memory r) {
        Window memory g = windowOf(s, false);
        uint256 c = windowTerm(g, t);
        (bool ok, uint256 ih, uint256 iw) = forward(g, o);
        if (!ok) return new IStepVerifier.Read[](0);
        uint256 Cg = s.operands[1].shape[1];
        uint256 perGroup = uint256(s.outShape[1]) / group(s);
        if (perGroup == 0) revert IStepVerifier.StepMalformed(s.paramsOffset);
        r = new IStepVerifier.Read[](2);
        r[1] = IStepVerifier.Read(1, wAt(o[1], Cg, c, g));
        // The input channel: the group's first, (m / (M / group)) · Cg, plus c.
        c += (o[1] / perGroup) * Cg;
        r[0] = IStepVerifier.Read(0, at4(o[0], c, ih, iw, g));
    }

    /// @notice The input position (oh·sh − ph + kh·dh, ow·sw − pw + kw·dw), and whether it is inside.
    function forward(Window memory g, uint256[] memory o)
        private
        pure
        returns (bool ok, uint256 ih, uint256 iw)
    {
        int256 h = int256(o[2]) * g.sh - g.ph + g.kh * g.dh;
        int256 w = int256(o[3]) * g.sw - g.pw + g.kw * g.dw;
        if (h < 0 || h >= int256(g.H) || w < 0 || w >= int256(g.W)) return (false, 0, 0);
        return (true, uint256(h), uint256(w));
    }

    /// @notice The flat index of x[n, c, h, w] in the window's input.
    function at4(uint256 n, uint256 c, uint256 h, uint256 w, Window memory g) private pure returns (uint64) {
        return uint64(((n * g.C + c) * g.H + h) * g.W + w);
    }

    /// @notice The flat index of w[a, b, kh, kw] in a weight of shape [·, B, KH, KW].
    function wAt(uint256 a, uint256 B, uint256 b, Window memory g) private pure returns (uint64) {
        return uint64(((a * B + b) * g.KH + uint256(g.kh)) * g.KW + uint256(g.kw));
    }

    /// @notice convtranspose: x[n, c, ih, iw] · w[c, m − g·Mg, kh, kw] where oh = ih·sh − ph + kh·dh.
    function convTransposeReads(StepCodec.Step memory s, uint256[] memory o, uint256 t)
        private
        pure
        returns (IStepVerifier.Read[] memory r)
    {
        Window memory g = windowOf(s, false);
        uint256 c = windowTerm(g, t);
        (bool ok, uint256 ih, uint256 iw) = backward(g, o);
        if (!ok) return new IStepVerifier.Read[](0);
        uint256 Mg = s.operands[1].shape[1];
        // The input channel: the group's first, (m / Mg) · (C / group), plus c.
        c += (o[1] / Mg) * (g.C / group(s));
        r = new IStepVerifier.Read[](2);
        r[0] = IStepVerifier.Read(0, at4(o[0], c, ih, iw, g));
        r[1] = IStepVerifier.Read(1, wAt(c, Mg, o[1] % Mg, g));
    }

    /// @notice The input (ih, iw) with oh = ih·sh − ph + kh·dh (same for w), if it exists.
    function backward(Window memory g, uint256[] memory o)
        private
        pure
        returns (bool ok, uint256 ih, uint256 iw)
    {
        int256 th = int256(o[2]) + g.ph - g.kh * g.dh;
        int256 tw = int256(o[3]) + g.pw - g.kw * g.dw;
        if (th < 0 || tw < 0 || th % g.sh != 0 || tw % g.sw != 0) return (false, 0, 0);
        th /= g.sh;
        tw /= g.sw;
        if (th >= int256(g.H) || tw >= int256(g.W)) return (false, 0, 0);
        return (true, uint256(th), uint256(tw));
    }

    /// @notice matmul: a[…, i, k] · b[…, k, j] (batch dims broadcast; transA/transB as Gemm's).
    function matmulReads(StepCodec.Step memory s, uint256[] memory o, uint256 k) private pure returns (IStepVerifier.Read[] memory r) {
        uint32[] memory a = s.operands[0].shape;
        uint256 rank = o.length;
        bool transA = StepCodec.intParam(s, "transA", 1)[0] == 1;
        bool transB = StepCodec.intParam(s, "transB", 1)[0] == 1;
        uint256 M = s.outShape[rank - 2];
        uint256 N = s.outShape[rank - 1];
        uint256 K = transA ? a[a.length - 2] : a[a.length - 1];
        (uint256 aBase, uint256 bBase) = matmulBases(s, o);
        r = new IStepVerifier.Read[](2);
        r[0] = IStepVerifier.Read(0, uint64(aBase * M * K + (transA ? k * M + o[rank - 2] : o[rank - 2] * K + k)));
        r[1] = IStepVerifier.Read(1, uint64(bBase * K * N + (transB ? o[rank - 1] * K + k : k * N + o[rank - 1])));
    }

    /// @notice The flat batch indices of a and b (before scaling by their matrix sizes).
    function matmulBases(StepCodec.Step memory s, uint256[] memory o) private pure returns (uint256 aBase, uint256 bBase) {
        uint256[] memory batch = new uint256[](o.length - 2);
        for (uint256 d = 0; d < batch.length; ++d) batch[d] = o[d];
        aBase = broadcastFlat(s, batch, prefix(s.operands[0].shape));
        bBase = broadcastFlat(s, batch, prefix(s.operands[1].shape));
    }

    function prefix(uint32[] memory shape) private pure returns (uint32[] memory p) {
        p = new uint32[](shape.length - 2);
        for (uint256 d = 0; d < p.length; ++d) p[d] = shape[d];
    }

    function reduceAxes(StepCodec.Step memory s) private pure returns (int256[] memory axes) {
        axes = StepCodec.intParam(s, "axes", 0);
        uint256 rank = s.operands[0].shape.length;
        for (uint256 i = 0; i < axes.length; ++i) {
            // Sorted, distinct, in range (lower-ops.ts reduceAxes).
            if (axes[i] < 0 || uint256(axes[i]) >= rank || (i > 0 && axes[i] <= axes[i - 1])) {
                revert IStepVerifier.StepMalformed(s.paramsOffset);
            }
        }
        uint256 outRank = s.outShape.length;
        if (outRank != rank && outRank + axes.length != rank) revert IStepVerifier.StepMalformed(s.paramsOffset);
    }

    /// @notice The input index of term t of a reduce element: the kept output coordinates, the reduced
    /// coordinates t decomposed row-major over the reduced axes.
    function reduceIndex(StepCodec.Step memory s, uint256[] memory o, uint256 t) private pure returns (uint256) {
        uint32[] memory inShape = s.operands[0].shape;
        int256[] memory axes = reduceAxes(s);
        bool keep = s.outShape.length == inShape.length;
        uint256 rank = inShape.length;
        uint256[] memory c = new uint256[](rank);
        // Kept dims first (in order), then the reduced coordinates from the last axis to the first.
        uint256 kept = 0;
        uint256 ai = 0;
        for (uint256 d = 0; d < rank; ++d) {
            if (ai < axes.length && uint256(axes[ai]) == d) {
                ++ai;
                if (keep) ++kept;
            } else {
                c[d] = o[kept++];
            }
        }
        for (uint256 r = axes.length; r > 0; --r) {
            uint256 a = uint256(axes[r - 1]);
            c[a] = t % inShape[a];
            t /= inShape[a];
        }
        return flat(c, inShape);
    }

    function group(StepCodec.Step memory s) private pure returns (uint256 g) {
        int256 v = StepCodec.intParam(s, "group", 1)[0];
        if (v < 1) revert IStepVerifier.StepMalformed(s.paramsOffset);
        g = uint256(v);
    }

    function windowOf(StepCodec.Step memory s, bool pool) private pure returns (Window memory g) {
        uint32[] memory x = s.operands[0].shape;
        (g.C, g.H, g.W) = (x[1], x[2], x[3]);
        if (pool) {
            int256[] memory kernel = StepCodec.intParam(s, "kernel", 2);
            (g.KH, g.KW) = (uint256(kernel[0]), uint256(kernel[1]));
        } else {
            uint32[] memory w = s.operands[1].shape;
            (g.KH, g.KW) = (w[2], w[3]);
        }
        int256[] memory st = StepCodec.intParam(s, "strides", 2);
        int256[] memory pads = StepCodec.intParam(s, "pads", 0);
        int256[] memory dil = StepCodec.intParam(s, "dilations", 2);
        if (pads.length < 2 || st[0] < 1 || st[1] < 1 || dil[0] < 1 || dil[1] < 1 || g.KH == 0 || g.KW == 0) {
            revert IStepVerifier.StepMalformed(s.paramsOffset);
        }
        (g.sh, g.sw, g.ph, g.pw, g.dh, g.dw) = (st[0], st[1], pads[0], pads[1], dil[0], dil[1]);
    }

    // ---------------------------------------------------------------- indexing

    function checkIndex(uint64 i, uint64 bound) internal pure {
        if (i >= bound) revert IStepVerifier.StepIndexOutOfRange(i, bound);
    }

    function coordsOf(uint64 e, uint32[] memory shape) internal pure returns (uint256[] memory c) {
        c = new uint256[](shape.length);
        uint256 r = e;
        for (uint256 d = shape.length; d > 0; --d) {
            c[d - 1] = r % shape[d - 1];
            r /= shape[d - 1];
        }
    }

    function flat(uint256[] memory c, uint32[] memory shape) internal pure returns (uint256 i) {
        for (uint256 d = 0; d < shape.length; ++d) i = i * shape[d] + c[d];
    }

    /// @notice Flat index into an operand of shape `from` broadcast (numpy rules) to coordinates `c`.
    function broadcastFlat(StepCodec.Step memory s, uint256[] memory c, uint32[] memory from)
        internal
        pure
        returns (uint256 i)
    {
        if (from.length > c.length) revert IStepVerifier.StepMalformed(s.paramsOffset);
        uint256 off = c.length - from.length;
        for (uint256 d = 0; d < from.length; ++d) i = i * from[d] + (from[d] == 1 ? 0 : c[d + off]);
    }

    function decimal(uint256 k) internal pure returns (bytes memory out) {
        if (k == 0) return "0";
        while (k > 0) {
            out = bytes.concat(bytes1(uint8(48 + (k % 10))), out);
            k /= 10;
        }
    }
}
