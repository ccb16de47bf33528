// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IStepVerifier} from "../interfaces/IStepVerifier.sol";
import {CanonicalStep} from "./CanonicalStep.sol";
import {Float64} from "./Float64.sol";
import {StepCodec} from "./StepCodec.sol";
import {StepMaps} from "./StepMaps.sol";
import {StepIndex} from "./StepIndex.sol";

/// @title StepVerifier
/// @notice One element of one canonical step on-chain, bit for bit canonical/element.ts: which operand
/// elements it reads (map broadcasting with `view<k>`, moveSource, a reduce term's operands decomposed
/// from t directly) and its value, init record, one fold or its finalize through CanonicalStep.
/// Every call is O(rank + #operands + #params): nothing loops over elements or terms. The arithmetic
/// (map values, contraction terms, folds, finalize) runs in the linked library StepMaps and a reduce's
/// term indexing in StepIndex: deploy both first and link them (EIP-170 size).
contract StepVerifier is IStepVerifier {
    using Float64 for uint64;

    uint8 private constant FLOAT32 = 1;
    uint8 private constant BOOL = 9;

    /// @inheritdoc IStepVerifier
    function info(bytes calldata step) external pure returns (StepInfo memory r) {
        StepCodec.Step memory s = StepCodec.decode(step);
        r.index = s.index;
        r.kind = s.kind;
        r.outDtype = s.outDtype;
        r.outShape = s.outShape;
        r.numel = s.numel;
        r.terms = s.kind == StepCodec.KIND_REDUCE ? StepIndex.terms(s) : 0;
        r.operands = s.operands;
    }

    /// @inheritdoc IStepVerifier
    function outputHeader(bytes calldata step) external pure returns (bytes memory h) {
        StepCodec.Step memory s = StepCodec.decode(step);
        h = bytes.concat(bytes4("VIOT"), bytes1(0x01), bytes1(s.outDtype), bytes1(uint8(s.outShape.length)), bytes1(0x00));
        for (uint256 d = 0; d < s.outShape.length; ++d) h = bytes.concat(h, bytes4(s.outShape[d]));
    }

    /// @inheritdoc IStepVerifier
    function reads(bytes calldata step, uint64 e) external pure returns (Read[] memory) {
        StepCodec.Step memory s = StepCodec.decode(step);
        return elementReads(s, e);
    }

    /// @inheritdoc IStepVerifier
    function elementValue(bytes calldata step, uint64 e, uint64[] calldata values, uint8 precision)
        external
        pure
        returns (uint64)
    {
        StepCodec.Step memory s = StepCodec.decode(step);
        Read[] memory r = elementReads(s, e);
        if (values.length != r.length) revert StepReadsMismatch(r.length, values.length);
        if (s.kind == StepCodec.KIND_MOVE) {
            // No read: a constant step's values[e] or a constant pad's value, from the step's params.
            uint64 v = r.length == 0 ? constantValue(s, e) : values[0];
            // A move copies bits: a float's only canonical change is NaN's encoding.
            return s.outDtype == FLOAT32 && v.isNaN() ? Float64.NAN : v;
        }
        return mapValue(s, values, precision);
    }

    /// @inheritdoc IStepVerifier
    function initReads(bytes calldata step, uint64 e) external pure returns (Read[] memory r) {
        (r,,) = StepIndex.init(StepCodec.decode(step), e);
    }

    /// @inheritdoc IStepVerifier
    function initRecord(bytes calldata step, uint64 e, uint64[] calldata values) external pure returns (bytes32) {
        (Read[] memory r, uint8 kind, uint32 divisor) = StepIndex.init(StepCodec.decode(step), e);
        if (values.length != r.length) revert StepReadsMismatch(r.length, values.length);
        uint64 v = kind == CanonicalStep.KIND_MAX ? Float64.NEG_INF : 0;
        if (r.length == 1) v = values[0];
        return CanonicalStep.initRecord(kind, divisor, v);
    }

    /// @inheritdoc IStepVerifier
    function termReads(bytes calldata step, uint64 e, uint64 t) external pure returns (Read[] memory r) {
        (r,) = StepIndex.term(StepCodec.decode(step), e, t);
    }

    /// @inheritdoc IStepVerifier
    function foldTerm(bytes calldata step, uint64 e, uint64 t, bytes32 prev, uint64[] calldata values, uint8 precision)
        external
        pure
        returns (bytes32)
    {
        StepCodec.Step memory s = StepCodec.decode(step);
        (Read[] memory r, bool max) = StepIndex.term(s, e, t);
        if (values.length != r.length) revert StepReadsMismatch(r.length, values.length);
        uint64 v;
        if (r.length == 2) {
            // conv, convtranspose, matmul, conv3d, convtranspose3d: a contraction term.
            if (s.outDtype == FLOAT32) {
                v = StepMaps.term(values[0], values[1], precision);
            } else {
                // Integer matmul or conv (8-bit or int32 operands): the exact product as int64 two's
                // complement (|product| <= 2^62).
                unchecked {
                    v = uint64(int64(values[0]) * int64(values[1]));
                }
            }
        } else if (r.length == 1) {
            // resize_linear: the corner's element times its integer weight; a pool or reduce: the element.
            v = s.op == StepCodec.RESIZE_LINEAR ? StepIndex.resizeTerm(s, e, t, values[0]) : values[0];
        } else {
            v = max ? Float64.NEG_INF : 0; // a padding term: −∞ for a max pool, else +0
        }
        return StepMaps.fold(prev, v);
    }

    /// @inheritdoc IStepVerifier
    function finalize(bytes calldata step, bytes32 last, uint8 precision) external pure returns (uint64) {
        StepIndex.terms(StepCodec.decode(step));
        return StepMaps.finalize(last, precision);
    }

    /// @inheritdoc IStepVerifier
    function decodeElement(uint8 dtype, bytes calldata raw) external pure returns (uint64) {
        uint256 size = dtype == FLOAT32 || dtype == 6 || dtype == 12 ? 4 : (dtype == 4 || dtype == 5 ? 2 : 1);
        if (!(dtype >= 1 && dtype <= 6) && dtype != 9 && dtype != 12) revert StepUnsupported("dtype");
        if (raw.length != size) revert StepMalformed(raw.length);
        uint256 le = 0;
        for (uint256 i = size; i > 0; --i) le = (le << 8) | uint8(raw[i - 1]);
        if (dtype == FLOAT32) return StepMaps.fromFp32(uint32(le));
        if (dtype == 3) return uint64(int64(int8(uint8(le))));
        if (dtype == 5) return uint64(int64(int16(uint16(le))));
        if (dtype == 6) return uint64(int64(int32(uint32(le))));
        if (dtype == 9) return le == 0 ? 0 : 1;
        return uint64(le); // uint8, uint16, uint32
    }

    /// @inheritdoc IStepVerifier
    function sameValue(uint8 dtype, uint64 a, uint64 b) external pure returns (bool) {
        // float.ts sameValue: both NaN, or bitwise equal (+0 and −0 differ).
        if (dtype == FLOAT32 && a.isNaN()) return b.isNaN();
        return a == b;
    }

    // ---------------------------------------------------------------- map and move

    function elementReads(StepCodec.Step memory s, uint64 e) private pure returns (Read[] memory r) {
        if (s.kind == StepCodec.KIND_REDUCE) revert StepUnsupported("reduce: use termReads");
        StepIndex.checkIndex(e, s.numel);
        uint256[] memory o = StepIndex.coordsOf(e, s.outShape);
        if (s.kind == StepCodec.KIND_MAP) {
            r = new Read[](s.operands.length);
            for (uint256 k = 0; k < s.operands.length; ++k) {
                (bool found, uint64[] memory view_) = StepCodec.tryParam(s, bytes.concat("view", StepIndex.decimal(k)));
                uint256 idx;
                if (found) {
                    uint32[] memory shape = new uint32[](view_.length);
                    for (uint256 d = 0; d < view_.length; ++d) shape[d] = uint32(uint256(StepCodec.toInt(s, view_[d])));
                    idx = StepIndex.broadcastFlat(s, o, shape);
                } else {
                    idx = StepIndex.broadcastFlat(s, o, s.operands[k].shape);
                }
                r[k] = Read(uint16(k), uint64(idx));
            }
            return r;
        }
        (bool copies, Read memory source) = moveSource(s, e, o);
        r = new Read[](copies ? 1 : 0);
        if (copies) r[0] = source;
    }

    /// @notice The element of a move that reads no operand (element.ts moveSource operand −1): a
    /// `constant` step's values[e], or a constant `pad`'s value; as the output's uint64 word.
    function constantValue(StepCodec.Step memory s, uint64 e) private pure returns (uint64) {
        bool constant_ = s.op == StepCodec.CONSTANT;
        bytes memory name = constant_ ? bytes("values") : bytes("value");
        if (StepCodec.size(s, name) != (constant_ ? s.numel : 1)) revert StepMalformed(s.paramsOffset);
        // One value read from calldata: a constant step's thousands of values are never copied.
        uint64 bits = StepCodec.valueAt(s, name, constant_ ? e : 0);
        // An integer or bool element: its value as int64 (exact integers only).
        return s.outDtype == FLOAT32 ? bits : uint64(int64(StepCodec.toInt(s, bits)));
    }

    /// @notice element.ts moveSource: the operand element a move element copies, or none (found false)
    /// where a constant step or a constant pad writes a parameter instead.
    function moveSource(StepCodec.Step memory s, uint64 e, uint256[] memory o) private pure returns (bool, Read memory) {
        uint8 op = s.op;
        if (op == StepCodec.CONSTANT) {
            if (s.operands.length != 0) revert StepMalformed(s.paramsOffset);
            return (false, Read(0, 0));
        }
        if (s.operands.length == 0) revert StepMalformed(s.paramsOffset);
        uint32[] memory inShape = s.operands[0].shape;
        for (uint256 k = 0; k < s.operands.length; ++k) {
            // A move copies elements: every operand has the output's dtype.
            if (s.operands[k].dtype != s.outDtype) revert StepMalformed(s.paramsOffset);
        }
        if (op == StepCodec.RESHAPE) return (true, Read(0, e));
        if (op == StepCodec.EXPAND) return (true, Read(0, uint64(StepIndex.broadcastFlat(s, o, inShape))));
        if (op == StepCodec.GATHER) return (true, Read(0, uint64(gatherSource(s, o, inShape))));
        uint256 rank = inShape.length;
        if (op == StepCodec.CONCAT) {
            uint256 axis = uint256(StepCodec.intParam(s, "axis", 1)[0]);
            if (axis >= o.length) revert StepMalformed(s.paramsOffset);
            uint256 at = o[axis];
            for (uint256 k = 0; k < s.operands.length; ++k) {
                uint32[] memory shape = s.operands[k].shape;
                if (shape.length != o.length) revert StepMalformed(s.paramsOffset);
                if (at < shape[axis]) {
                    o[axis] = at;
                    return (true, Read(uint16(k), uint64(StepIndex.flat(o, shape))));
                }
                at -= shape[axis];
            }
            revert StepMalformed(s.paramsOffset);
        }
        if (o.length != rank) revert StepMalformed(s.paramsOffset);
        uint256[] memory c = new uint256[](rank);
        if (op == StepCodec.TRANSPOSE) {
            int256[] memory perm = StepCodec.intParam(s, "perm", rank);
            for (uint256 d = 0; d < rank; ++d) {
                if (perm[d] < 0 || uint256(perm[d]) >= rank) revert StepMalformed(s.paramsOffset);
                c[uint256(perm[d])] = o[d];
            }
        } else if (op == StepCodec.SLICE) {
            int256[] memory starts = StepCodec.intParam(s, "starts", rank);
            int256[] memory steps = StepCodec.intParam(s, "steps", rank);
            for (uint256 d = 0; d < rank; ++d) {
                int256 v = starts[d] + int256(o[d]) * steps[d];
                if (v < 0 || v >= int256(uint256(inShape[d]))) revert StepMalformed(s.paramsOffset);
                c[d] = uint256(v);
            }
        } else if (op == StepCodec.GATHER_ELEMENTS) {
            // o with o_axis replaced by indices[e] (one index per output element).
            uint256 axis = uint256(StepCodec.intParam(s, "axis", 1)[0]);
            if (axis >= rank || StepCodec.size(s, "indices") != s.numel) revert StepMalformed(s.paramsOffset);
            for (uint256 d = 0; d < rank; ++d) c[d] = o[d];
            c[axis] = inRange(s, StepCodec.toInt(s, StepCodec.valueAt(s, "indices", e)), inShape[axis]);
        } else if (op == StepCodec.PAD) {
            if (!padSource(s, o, inShape, c)) return (false, Read(0, 0));
        } else if (op == StepCodec.TILE) {
            for (uint256 d = 0; d < rank; ++d) c[d] = o[d] % inShape[d];
        } else {
            // resize_nearest: in_d = min(floor(out_d / scale_d), size_d − 1), the division in binary64.
            uint64[] memory scales = StepCodec.param(s, "scales");
            if (scales.length != rank) revert StepMalformed(s.paramsOffset);
            for (uint256 d = 0; d < rank; ++d) {
                int64 q = StepMaps.floorDiv(uint64(o[d]), scales[d]);
                int256 last = int256(uint256(inShape[d])) - 1;
                int256 v = int256(q) < last ? int256(q) : last;
                if (v < 0) revert StepMalformed(s.paramsOffset);
                c[d] = uint256(v);
            }
        }
        return (true, Read(0, uint64(StepIndex.flat(c, inShape))));
    }

    /// @notice gather: x[o_<axis, indices[j], o_>axis+r], j the row-major index of the r index axes of o.
    function gatherSource(StepCodec.Step memory s, uint256[] memory o, uint32[] memory inShape)
        private
        pure
        returns (uint256)
    {
        uint256 rank = inShape.length;
        uint256 axis = uint256(StepCodec.intParam(s, "axis", 1)[0]);
        if (axis >= rank || o.length + 1 < rank) revert StepMalformed(s.paramsOffset);
        uint256 r = o.length + 1 - rank;
        uint256 j = 0;
        uint256 n = 1;
        for (uint256 d = axis; d < axis + r; ++d) {
            j = j * s.outShape[d] + o[d];
            n *= s.outShape[d];
        }
        if (StepCodec.size(s, "indices") != n) revert StepMalformed(s.paramsOffset);
        uint256[] memory c = new uint256[](rank);
        for (uint256 d = 0; d < axis; ++d) c[d] = o[d];
        c[axis] = inRange(s, StepCodec.toInt(s, StepCodec.valueAt(s, "indices", j)), inShape[axis]);
        for (uint256 d = axis + 1; d < rank; ++d) c[d] = o[d + r - 1];
        return StepIndex.flat(c, inShape);
    }

    /// @notice pad [mode, pads, value]: c_d = o_d − begin_d; outside the input mode 0 (constant) reads
    /// nothing (false), 1 reflects, 2 (edge) clamps. Writes the source coordinates into c.
    function padSource(StepCodec.Step memory s, uint256[] memory o, uint32[] memory inShape, uint256[] memory c)
        private
        pure
        returns (bool)
    {
        uint256 rank = inShape.length;
        int256 mode = StepCodec.intParam(s, "mode", 1)[0];
        int256[] memory pads = StepCodec.intParam(s, "pads", 2 * rank);
        if (mode < 0 || mode > 2) revert StepMalformed(s.paramsOffset);
        for (uint256 d = 0; d < rank; ++d) {
            int256 v = int256(o[d]) - pads[d];
            int256 n = int256(uint256(inShape[d]));
            if (v < 0 || v >= n) {
                if (mode == 0) return false;
                if (mode == 2) v = v < 0 ? int256(0) : n - 1;
                else v = v < 0 ? -v : 2 * (n - 1) - v;
            }
            c[d] = inRange(s, v, inShape[d]);
        }
        return true;
    }

    /// @notice v as an index of an axis of size n (StepMalformed outside [0, n)).
    function inRange(StepCodec.Step memory s, int256 v, uint32 n) private pure returns (uint256) {
        if (v < 0 || v >= int256(uint256(n))) revert StepMalformed(s.paramsOffset);
        return uint256(v);
    }

    /// @notice kernels.ts evalMapElement's routing: quantize/requantize → quantElement; a float → integer
    /// cast → castToInt; a float output or a float operand → the binary64 map (a bool result 1.0/0.0
    /// written as 1/0); else the integer map.
    function mapValue(StepCodec.Step memory s, uint64[] calldata values, uint8 precision) private pure returns (uint64) {
        uint256 n = values.length;
        uint8 op = s.op;
        bool floatOperand = false;
        // Operands as binary64: a float32 element is exact; an integer converts exactly.
        uint64[] memory x = new uint64[](n);
        for (uint256 k = 0; k < n; ++k) {
            bool isFloat = s.operands[k].dtype == FLOAT32;
            floatOperand = floatOperand || isFloat;
            x[k] = isFloat ? values[k] : StepMaps.fromInt64(int64(values[k]));
        }
        if (op == CanonicalStep.QUANTIZE || op == CanonicalStep.REQUANTIZE) {
            // (x or acc, scale or m[, zp]) → integer; zp an integer operand, 0 when absent.
            if (s.outDtype == FLOAT32 || n < 2 || n > 3 || s.operands[1].dtype != FLOAT32 || (n == 3 && s.operands[2].dtype == FLOAT32)) {
                revert StepMalformed(s.paramsOffset);
            }
            return uint64(StepMaps.quantElement(op, s.outDtype, x[0], x[1], n == 3 ? int64(values[2]) : int64(0)));
        }
        if (op == CanonicalStep.CAST && n == 1 && floatOperand && s.outDtype != FLOAT32) {
            return uint64(StepMaps.castToInt(values[0], s.outDtype));
        }
        if (s.outDtype == FLOAT32 || floatOperand) {
            uint64 v = StepMaps.floatMap(op, floatParams(s), x, precision);
            if (s.outDtype == FLOAT32) return v;
            // Float operands of a bool-valued map (comparisons, logical ops): 1.0 or 0.0.
            if (s.outDtype != BOOL || op < CanonicalStep.EQUAL || op > CanonicalStep.XOR) {
                revert StepUnsupported("float operand of an integer map");
            }
            return v == 0 ? 0 : 1;
        }
        int64[] memory xi = new int64[](n);
        for (uint256 k = 0; k < n; ++k) xi[k] = int64(values[k]);
        int64[] memory pi = new int64[](0);
        if (op == CanonicalStep.CLIP) {
            pi = new int64[](2);
            pi[0] = int64(StepCodec.toInt(s, first(s, "min")));
            pi[1] = int64(StepCodec.toInt(s, first(s, "max")));
        } else if (op == CanonicalStep.FILL) {
            pi = new int64[](1);
            pi[0] = int64(StepCodec.toInt(s, first(s, "value")));
        }
        return uint64(StepMaps.intMap(op, s.outDtype, pi, xi));
    }

    /// @notice canonical/partial.ts MAP_PARAMS: a float map's parameters in CanonicalStep's order.
    function floatParams(StepCodec.Step memory s) private pure returns (uint64[] memory p) {
        uint8 op = s.op;
        if (op == CanonicalStep.CLIP) {
            p = new uint64[](2);
            p[0] = first(s, "min");
            p[1] = first(s, "max");
        } else if (op == CanonicalStep.HARDSIGMOID) {
            p = new uint64[](2);
            p[0] = first(s, "alpha");
            p[1] = first(s, "beta");
        } else if (op == CanonicalStep.LEAKYRELU) {
            p = new uint64[](1);
            p[0] = first(s, "alpha");
        } else if (op == CanonicalStep.BN_SCALE || op == CanonicalStep.LN_APPLY) {
            p = new uint64[](1);
            p[0] = first(s, "epsilon");
        } else if (op == CanonicalStep.SCALE) {
            p = new uint64[](1);
            p[0] = first(s, "k");
        } else if (op == CanonicalStep.FILL) {
            p = new uint64[](1);
            p[0] = first(s, "value");
        }
    }

    function first(StepCodec.Step memory s, bytes memory name) private pure returns (uint64) {
        uint64[] memory v = StepCodec.param(s, name);
        if (v.length == 0) revert StepMalformed(s.paramsOffset);
        return v[0];
    }
}
