// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {F, SoftFloat} from "./SoftFloat.sol";
import {OpEntry} from "./OpEntry.sol";
import {Rules} from "./Rules.sol";
import {IOpFamily, Operand, Verdict} from "./FraudTypes.sol";

/// @title LinearOps
/// @notice One element of Conv (2-D, groups, pads, strides, dilations), MatMul (float; integer exact),
/// MatMulInteger, Gemm and GlobalAveragePool, mirroring challenger/ops.ts term for term.
contract LinearOps is IOpFamily {
    using SoftFloat for F;
    using OpEntry for OpEntry.Entry;

    error LinearUnsupported(string opType, string reason);

    struct ConvGeo {
        uint256 C;
        uint256 H;
        uint256 W;
        uint256 M;
        uint256 Cg;
        uint256 KH;
        uint256 KW;
        uint256 OH;
        uint256 OW;
        int256[] strides;
        int256[] dil;
        int256[] pads;
        uint256 group;
        uint256 ow;
        uint256 oh;
        uint256 m;
        uint256 n;
        uint256 cBase;
        uint256 xBase;
        uint256 wBase;
        uint256 xi;
        uint256 wi;
    }

    function evaluate(bytes calldata entryBytes, Operand[] calldata ops, uint256 output, uint256 element, bytes calldata claimed)
        external
        pure
        returns (Verdict memory)
    {
        bytes memory b = entryBytes;
        OpEntry.Entry memory e = OpEntry.parse(b);
        if (output != 0) revert LinearUnsupported(e.opType, "output");
        if (e.isOp("Conv")) return conv(b, e, ops, element, claimed);
        if (e.isOp("MatMul") || e.isOp("MatMulInteger")) return matmul(e, ops, element, claimed);
        if (e.isOp("Gemm")) return gemm(b, e, ops, element, claimed);
        if (e.isOp("GlobalAveragePool")) return globalAveragePool(e, ops, element, claimed);
        revert LinearUnsupported(e.opType, "op");
    }

    function convGeometry(bytes memory b, OpEntry.Entry memory e, uint256 i) private pure returns (ConvGeo memory g) {
        uint256[] memory xs = e.inputs[0].shape;
        uint256[] memory ws = e.inputs[1].shape;
        if (xs.length != 4 || ws.length != 4 || e.inputs[0].dtype != OpEntry.FLOAT) revert LinearUnsupported("Conv", "2-D float32 only");
        if (!OpEntry.attrStringIs(b, e, "auto_pad", "NOTSET")) revert LinearUnsupported("Conv", "auto_pad");
        (g.C, g.H, g.W) = (xs[1], xs[2], xs[3]);
        (g.M, g.Cg, g.KH, g.KW) = (ws[0], ws[1], ws[2], ws[3]);
        g.group = uint256(OpEntry.attrInt(b, e, "group", 1));
        (g.strides,) = OpEntry.attrInts(b, e, "strides", 2, 1);
        (g.dil,) = OpEntry.attrInts(b, e, "dilations", 2, 1);
        (g.pads,) = OpEntry.attrInts(b, e, "pads", 4, 0);
        uint256[] memory os = e.outputs[0].shape;
        (g.OH, g.OW) = (os[2], os[3]);
        if (g.Cg * g.group != g.C || g.M % g.group != 0) revert LinearUnsupported("Conv", "group");
        g.ow = i % g.OW;
        g.oh = (i / g.OW) % g.OH;
        g.m = (i / (g.OW * g.OH)) % g.M;
        g.n = i / (g.OW * g.OH * g.M);
        g.cBase = (g.m / (g.M / g.group)) * g.Cg;
    }

    /// @dev Σ w·x and Σ|w·x| over one input channel's window (padding skipped, as challenger/ops.ts).
    function convChannel(ConvGeo memory g, Operand[] calldata ops, uint256 c) private pure returns (F sum, F mag) {
        g.xBase = (g.n * g.C + g.cBase + c) * g.H * g.W;
        g.wBase = (g.m * g.Cg + c) * g.KH * g.KW;
        for (uint256 kh = 0; kh < g.KH; ++kh) {
            int256 ih = int256(g.oh) * g.strides[0] - g.pads[0] + int256(kh) * g.dil[0];
            if (ih < 0 || ih >= int256(g.H)) continue;
            for (uint256 kw = 0; kw < g.KW; ++kw) {
                int256 iw = int256(g.ow) * g.strides[1] - g.pads[1] + int256(kw) * g.dil[1];
                if (iw < 0 || iw >= int256(g.W)) continue;
                g.xi = g.xBase + uint256(ih) * g.W + uint256(iw);
                g.wi = g.wBase + kh * g.KW + kw;
                F p = product(ops, g.xi, g.wi);
                sum = sum.add(p);
                mag = mag.add(p.abs());
            }
        }
    }

    function product(Operand[] calldata ops, uint256 xi, uint256 wi) private pure returns (F) {
        return OpEntry.read(ops, 0, OpEntry.FLOAT, xi).mul(OpEntry.read(ops, 1, OpEntry.FLOAT, wi));
    }

    function conv(bytes memory b, OpEntry.Entry memory e, Operand[] calldata ops, uint256 i, bytes calldata claimed)
        private
        pure
        returns (Verdict memory)
    {
        ConvGeo memory g = convGeometry(b, e, i);
        F sum;
        F mag;
        for (uint256 c = 0; c < g.Cg; ++c) {
            (F s, F a) = convChannel(g, ops, c);
            sum = sum.add(s);
            mag = mag.add(a);
        }
        uint256 terms = g.Cg * g.KH * g.KW;
        if (e.inputs.length > 2 && e.inputs[2].source != OpEntry.SOURCE_ABSENT) {
            F bv = OpEntry.read(ops, 2, OpEntry.FLOAT, g.m);
            sum = sum.add(bv);
            mag = mag.add(bv.abs());
            terms += 1;
        }
        return Rules.floatVerdict(claimed, sum, mag, terms);
    }

    /// @dev Flat offsets of the (m, 0) row of A and (0, n) column of B for output element i, with batch broadcasting.
    function matmulBases(OpEntry.Entry memory e, uint256 i) private pure returns (uint256 aBase, uint256 bBase, uint256 K, uint256 N) {
        uint256[] memory as_ = e.inputs[0].shape;
        uint256[] memory bs = e.inputs[1].shape;
        uint256[] memory os = e.outputs[0].shape;
        if (as_.length < 2 || bs.length < 2) revert LinearUnsupported(e.opType, "rank-1 operand");
        uint256 M = as_[as_.length - 2];
        K = as_[as_.length - 1];
        N = bs[bs.length - 1];
        if (bs[bs.length - 2] != K) revert LinearUnsupported(e.opType, "shapes");
        uint256 n = i % N;
        uint256 m = (i / N) % M;
        uint256 batch = i / (M * N);
        uint256[] memory outBatch = new uint256[](os.length - 2);
        for (uint256 d = 0; d < outBatch.length; ++d) outBatch[d] = os[d];
        uint256[] memory aBatch = new uint256[](as_.length - 2);
        for (uint256 d = 0; d < aBatch.length; ++d) aBatch[d] = as_[d];
        uint256[] memory bBatch = new uint256[](bs.length - 2);
        for (uint256 d = 0; d < bBatch.length; ++d) bBatch[d] = bs[d];
        aBase = (OpEntry.broadcastIndex(outBatch, aBatch, batch) * M + m) * K;
        bBase = OpEntry.broadcastIndex(outBatch, bBatch, batch) * K * N + n;
    }

    struct MM {
        uint256 aBase;
        uint256 bBase;
        uint256 K;
        uint256 N;
        uint256 aStride;
        uint256 bStride;
        uint8 ad;
        uint8 bd;
        int256 za;
        int256 zb;
    }

    function matmul(OpEntry.Entry memory e, Operand[] calldata ops, uint256 i, bytes calldata claimed) private pure returns (Verdict memory) {
        MM memory g;
        (g.aBase, g.bBase, g.K, g.N) = matmulBases(e, i);
        g.ad = e.inputs[0].dtype;
        g.bd = e.inputs[1].dtype;
        (g.aStride, g.bStride) = (1, g.N);
        if (g.ad == OpEntry.FLOAT) {
            (F sum, F mag) = dotFloat(g, ops);
            return Rules.floatVerdict(claimed, sum, mag, g.K);
        }
        // Integer MatMul and MatMulInteger (scalar zero points): exact, wrapped to the output type.
        if (e.isOp("MatMulInteger")) {
            if (e.inputs.length > 2 && e.inputs[2].source != OpEntry.SOURCE_ABSENT) {
                if (OpEntry.numel(e.inputs[2].shape) != 1) revert LinearUnsupported("MatMulInteger", "per-row zero point");
                g.za = OpEntry.readInt(ops, 2, e.inputs[2].dtype, 0);
            }
            if (e.inputs.length > 3 && e.inputs[3].source != OpEntry.SOURCE_ABSENT) {
                if (OpEntry.numel(e.inputs[3].shape) != 1) revert LinearUnsupported("MatMulInteger", "per-column zero point");
                g.zb = OpEntry.readInt(ops, 3, e.inputs[3].dtype, 0);
            }
        }
        uint8 od = e.outputs[0].dtype;
        return Rules.exactVerdict(claimed, od, SoftFloat.fromInt(Rules.wrap(dotInt(g, ops), od)));
    }

    function dotFloat(MM memory g, Operand[] calldata ops) private pure returns (F sum, F mag) {
        for (uint256 k = 0; k < g.K; ++k) {
            F p = OpEntry.read(ops, 0, g.ad, g.aBase + k * g.aStride).mul(OpEntry.read(ops, 1, g.bd, g.bBase + k * g.bStride));
            sum = sum.add(p);
            mag = mag.add(p.abs());
        }
    }

    function dotInt(MM memory g, Operand[] calldata ops) private pure returns (int256 acc) {
        for (uint256 k = 0; k < g.K; ++k) {
            acc += (OpEntry.readInt(ops, 0, g.ad, g.aBase + k * g.aStride) - g.za) * (OpEntry.readInt(ops, 1, g.bd, g.bBase + k * g.bStride) - g.zb);
        }
    }

    function gemm(bytes memory b, OpEntry.Entry memory e, Operand[] calldata ops, uint256 i, bytes calldata claimed)
        private
        pure
        returns (Verdict memory)
    {
        MM memory g = gemmGeometry(b, e, i);
        (F sum, F mag) = dotFloat(g, ops);
        F alpha = OpEntry.attrFloat(b, e, "alpha", 0x3f800000);
        sum = alpha.mul(sum);
        mag = alpha.abs().mul(mag);
        if (e.inputs.length > 2 && e.inputs[2].source != OpEntry.SOURCE_ABSENT) {
            F cv = gemmC(b, e, ops, i);
            sum = sum.add(cv);
            mag = mag.add(cv.abs());
        }
        return Rules.floatVerdict(claimed, sum, mag, g.K + 3);
    }

    function gemmC(bytes memory b, OpEntry.Entry memory e, Operand[] calldata ops, uint256 i) private pure returns (F) {
        uint256 ci = OpEntry.broadcastIndex(e.outputs[0].shape, e.inputs[2].shape, i);
        return OpEntry.attrFloat(b, e, "beta", 0x3f800000).mul(OpEntry.read(ops, 2, OpEntry.FLOAT, ci));
    }

    function gemmGeometry(bytes memory b, OpEntry.Entry memory e, uint256 i) private pure returns (MM memory g) {
        if (e.inputs[0].dtype != OpEntry.FLOAT) revert LinearUnsupported("Gemm", "float32 only");
        bool ta = OpEntry.attrInt(b, e, "transA", 0) == 1;
        bool tb = OpEntry.attrInt(b, e, "transB", 0) == 1;
        uint256 M = e.outputs[0].shape[0];
        g.N = e.outputs[0].shape[1];
        g.K = ta ? e.inputs[0].shape[0] : e.inputs[0].shape[1];
        (g.ad, g.bd) = (OpEntry.FLOAT, OpEntry.FLOAT);
        uint256 n = i % g.N;
        uint256 m = i / g.N;
        (g.aBase, g.aStride) = ta ? (m, M) : (m * g.K, 1);
        (g.bBase, g.bStride) = tb ? (n * g.K, 1) : (n, g.N);
    }

    function globalAveragePool(OpEntry.Entry memory e, Operand[] calldata ops, uint256 i, bytes calldata claimed)
        private
        pure
        returns (Verdict memory)
    {
        if (e.inputs[0].dtype != OpEntry.FLOAT) revert LinearUnsupported("GlobalAveragePool", "float32 only");
        uint256 spatial = OpEntry.numelFrom(e.inputs[0].shape, 2);
        F sum;
        F mag;
        for (uint256 k = 0; k < spatial; ++k) {
            F v = OpEntry.read(ops, 0, OpEntry.FLOAT, i * spatial + k);
            sum = sum.add(v);
            mag = mag.add(v.abs());
        }
        F count = SoftFloat.fromInt(int256(spatial));
        return Rules.floatVerdict(claimed, sum.div(count), mag.div(count), spatial + 2);
    }
}
