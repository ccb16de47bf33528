// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {F, SoftFloat} from "./SoftFloat.sol";
import {OpEntry} from "./OpEntry.sol";
import {Rules} from "./Rules.sol";
import {IOpFamily, Operand, Verdict} from "./FraudTypes.sol";

/// @title PointwiseOps
/// @notice One element of Add/Sub/Mul/Div (broadcasting; float32 within the rule, integers exact with
/// wrap-around and truncating division), BatchNormalization, HardSigmoid, HardSwish and Softmax,
/// mirroring challenger/ops.ts term for term.
contract PointwiseOps is IOpFamily {
    using SoftFloat for F;
    using OpEntry for OpEntry.Entry;

    error PointwiseUnsupported(string opType, string reason);
    error PointwiseIntegerDivisionByZero(uint256 element);

    function evaluate(bytes calldata entryBytes, Operand[] calldata ops, uint256 output, uint256 element, bytes calldata claimed)
        external
        pure
        returns (Verdict memory)
    {
        bytes memory b = entryBytes;
        OpEntry.Entry memory e = OpEntry.parse(b);
        if (output != 0) revert PointwiseUnsupported(e.opType, "output");
        if (e.isOp("Add") || e.isOp("Sub") || e.isOp("Mul") || e.isOp("Div")) return arithmetic(e, ops, element, claimed);
        if (e.isOp("BatchNormalization")) return batchNorm(b, e, ops, element, claimed);
        if (e.isOp("HardSigmoid")) return hardSigmoid(b, e, ops, element, claimed);
        if (e.isOp("HardSwish")) return hardSwish(e, ops, element, claimed);
        if (e.isOp("Softmax")) return softmax(b, e, ops, element, claimed);
        revert PointwiseUnsupported(e.opType, "op");
    }

    function arithmetic(OpEntry.Entry memory e, Operand[] calldata ops, uint256 i, bytes calldata claimed) private pure returns (Verdict memory) {
        if (e.inputs[1].dtype != e.inputs[0].dtype) revert PointwiseUnsupported(e.opType, "mixed dtypes");
        uint256 ia = OpEntry.broadcastIndex(e.outputs[0].shape, e.inputs[0].shape, i);
        uint256 ib = OpEntry.broadcastIndex(e.outputs[0].shape, e.inputs[1].shape, i);
        if (e.inputs[0].dtype == OpEntry.FLOAT) return arithFloat(e, ops, ia, ib, claimed);
        return Rules.exactVerdict(claimed, e.outputs[0].dtype, SoftFloat.fromInt(arithInt(e, ops, ia, ib)));
    }

    function arithFloat(OpEntry.Entry memory e, Operand[] calldata ops, uint256 ia, uint256 ib, bytes calldata claimed)
        private
        pure
        returns (Verdict memory)
    {
        bytes32 op = keccak256(bytes(e.opType));
        F a = OpEntry.read(ops, 0, OpEntry.FLOAT, ia);
        F b = OpEntry.read(ops, 1, OpEntry.FLOAT, ib);
        if (op == keccak256("Add")) return Rules.floatVerdict(claimed, a.add(b), a.abs().add(b.abs()), 2);
        if (op == keccak256("Sub")) return Rules.floatVerdict(claimed, a.sub(b), a.abs().add(b.abs()), 2);
        if (op == keccak256("Mul")) {
            F p = a.mul(b);
            return Rules.floatVerdict(claimed, p, p.abs(), 1);
        }
        F q = a.div(b); // b == 0: SoftFloatDivisionByZero (an honest Inf/NaN cannot be disputed)
        return Rules.floatVerdict(claimed, q, q.abs(), 2);
    }

    function arithInt(OpEntry.Entry memory e, Operand[] calldata ops, uint256 ia, uint256 ib) private pure returns (int256) {
        bytes32 op = keccak256(bytes(e.opType));
        uint8 dt = e.inputs[0].dtype;
        int256 x = OpEntry.readInt(ops, 0, dt, ia);
        int256 y = OpEntry.readInt(ops, 1, dt, ib);
        int256 r;
        if (op == keccak256("Add")) r = x + y;
        else if (op == keccak256("Sub")) r = x - y;
        else if (op == keccak256("Mul")) r = x * y;
        else {
            if (y == 0) revert PointwiseIntegerDivisionByZero(ia);
            r = x / y; // truncates toward zero, as ONNX integer Div
        }
        return Rules.wrap(r, dt);
    }

    function batchNorm(bytes memory bytes_, OpEntry.Entry memory e, Operand[] calldata ops, uint256 i, bytes calldata claimed)
        private
        pure
        returns (Verdict memory)
    {
        uint256[] memory xs = e.inputs[0].shape;
        if (e.inputs[0].dtype != OpEntry.FLOAT || xs.length < 2) revert PointwiseUnsupported("BatchNormalization", "float32 [N, C, ...] only");
        F eps = OpEntry.attrFloat(bytes_, e, "epsilon", 0x3727c5ac); // 1e-5f
        uint256 spatial = OpEntry.numelFrom(xs, 2);
        uint256 c = (i / spatial) % xs[1];
        F x = OpEntry.read(ops, 0, OpEntry.FLOAT, i);
        F scale = OpEntry.read(ops, 1, OpEntry.FLOAT, c);
        F bias = OpEntry.read(ops, 2, OpEntry.FLOAT, c);
        F mean = OpEntry.read(ops, 3, OpEntry.FLOAT, c);
        F variance = OpEntry.read(ops, 4, OpEntry.FLOAT, c);
        F a = scale.div(variance.add(eps).sqrt());
        F value = x.sub(mean).mul(a).add(bias);
        F mag = x.mul(a).abs().add(mean.mul(a).abs()).add(bias.abs());
        return Rules.floatVerdict(claimed, value, mag, 8);
    }

    function clamp01(F v) private pure returns (F) {
        return v.max(SoftFloat.zero()).min(SoftFloat.one());
    }

    function hardSigmoid(bytes memory b, OpEntry.Entry memory e, Operand[] calldata ops, uint256 i, bytes calldata claimed)
        private
        pure
        returns (Verdict memory)
    {
        F alpha = OpEntry.attrFloat(b, e, "alpha", 0x3e4ccccd); // fround(0.2)
        F beta = OpEntry.attrFloat(b, e, "beta", 0x3f000000); // 0.5
        F ax = alpha.mul(OpEntry.read(ops, 0, OpEntry.FLOAT, i));
        return Rules.floatVerdict(claimed, clamp01(ax.add(beta)), ax.abs().add(beta.abs()), 2);
    }

    function hardSwish(OpEntry.Entry memory e, Operand[] calldata ops, uint256 i, bytes calldata claimed) private pure returns (Verdict memory) {
        if (e.inputs[0].dtype != OpEntry.FLOAT) revert PointwiseUnsupported("HardSwish", "float32 only");
        F x = OpEntry.read(ops, 0, OpEntry.FLOAT, i);
        F half = SoftFloat.one().mulPow2(-1);
        F sixth = x.div(SoftFloat.fromInt(6));
        F value = x.mul(clamp01(sixth.add(half)));
        return Rules.floatVerdict(claimed, value, x.abs().mul(sixth.abs().add(half)), 4);
    }

    struct Axis {
        uint256 base;
        uint256 size;
        uint256 stride;
    }

    function softmaxAxis(bytes memory b, OpEntry.Entry memory e, uint256 i) private pure returns (Axis memory g) {
        uint256[] memory xs = e.inputs[0].shape;
        if (e.inputs[0].dtype != OpEntry.FLOAT) revert PointwiseUnsupported("Softmax", "float32 only");
        int256 axis = OpEntry.attrInt(b, e, "axis", e.opset < 13 ? int256(1) : -1);
        if (axis < 0) axis += int256(xs.length);
        if (axis < 0 || axis >= int256(xs.length)) revert PointwiseUnsupported("Softmax", "axis");
        uint256 ax = uint256(axis);
        // Before opset 13 the input is coerced to 2-D at `axis`; from 13 the softmax runs along one axis.
        g.size = e.opset < 13 ? OpEntry.numelFrom(xs, ax) : xs[ax];
        g.stride = e.opset < 13 ? 1 : OpEntry.numelFrom(xs, ax + 1);
        g.base = i - ((i / g.stride) % g.size) * g.stride;
    }

    function softmax(bytes memory b, OpEntry.Entry memory e, Operand[] calldata ops, uint256 i, bytes calldata claimed)
        private
        pure
        returns (Verdict memory)
    {
        Axis memory g = softmaxAxis(b, e, i);
        F mx = OpEntry.read(ops, 0, OpEntry.FLOAT, g.base);
        for (uint256 k = 1; k < g.size; ++k) mx = mx.max(OpEntry.read(ops, 0, OpEntry.FLOAT, g.base + k * g.stride));
        F total;
        F spread;
        for (uint256 k = 0; k < g.size; ++k) {
            F d = OpEntry.read(ops, 0, OpEntry.FLOAT, g.base + k * g.stride).sub(mx);
            F ex = d.expNonPositive();
            total = total.add(ex);
            spread = spread.add(ex.mul(d.abs()));
        }
        F xi = OpEntry.read(ops, 0, OpEntry.FLOAT, i).sub(mx);
        F y = xi.expNonPositive().div(total);
        F mag = y.mul(SoftFloat.one().add(xi.abs()).add(spread.div(total)));
        return Rules.floatVerdict(claimed, y, mag, g.size + 8);
    }
}
