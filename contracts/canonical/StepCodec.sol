// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IStepVerifier} from "../interfaces/IStepVerifier.sol";

/// @title StepCodec
/// @notice Decodes `encodeStep` v1 (canonical/commitment.ts) from calldata into memory:
///
///   u8 version=1 | u32 index | u8 kind (0 map, 1 move, 2 reduce) | str op
///   u16 #operands: u8 source (1 model input, 2 weight, 3 step) | u32 index (input: 0..254) | type
///   type of the output
///   u16 #params: str name | u32 n | n × f64
///
/// with type = u8 ONNX dtype | u8 rank | rank × u32 dims and str = u16 length | UTF-8, all big-endian.
/// A byte string that is not exactly such an encoding (short, trailing bytes, a bad version, kind,
/// source or dtype, a rank above 8, an element count of 2^64 or more, an op of another kind) reverts
/// `StepMalformed(offset)`; an op this codec does not know reverts `StepUnsupported(op)`.
library StepCodec {
    uint8 internal constant KIND_MAP = 0;
    uint8 internal constant KIND_MOVE = 1;
    uint8 internal constant KIND_REDUCE = 2;
    uint256 internal constant MAX_RANK = 8;

    // MOVE_OPS codes (canonical/program.ts).
    uint8 internal constant RESHAPE = 0;
    uint8 internal constant TRANSPOSE = 1;
    uint8 internal constant SLICE = 2;
    uint8 internal constant CONCAT = 3;
    uint8 internal constant EXPAND = 4;
    uint8 internal constant RESIZE_NEAREST = 5;
    uint8 internal constant GATHER = 6;
    uint8 internal constant GATHER_ELEMENTS = 7;
    uint8 internal constant PAD = 8;
    uint8 internal constant TILE = 9;
    uint8 internal constant CONSTANT = 10;

    // REDUCE_OPS codes (canonical/program.ts).
    uint8 internal constant CONV = 0;
    uint8 internal constant CONVTRANSPOSE = 1;
    uint8 internal constant MATMUL = 2;
    uint8 internal constant POOL = 3;
    uint8 internal constant REDUCE = 4;
    uint8 internal constant CONV3D = 5;
    uint8 internal constant POOL3D = 6;
    uint8 internal constant RESIZE_LINEAR = 7;
    uint8 internal constant CONVTRANSPOSE3D = 8;

    struct Param {
        bytes32 nameHash;
        /// calldata offset of the parameter (its name), for StepMalformed
        uint256 offset;
        /// the values (binary64 bit patterns) when there are at most MAX_INLINE of them, else empty
        uint64[] values;
        /// absolute calldata offset of the first value (8 bytes each, big-endian) in the decoding
        /// contract's calldata: a parameter of more than MAX_INLINE values (a `constant` step's values, a
        /// gather's indices) is never copied, only read one value at a time (valueAt), so a step that
        /// carries thousands decodes in O(#params). Only the contract that decoded the step may read it
        /// (a linked library's delegatecall has other calldata): param/tryParam refuse such a parameter.
        uint256 valuesAt;
        uint256 count;
    }

    /// @notice The most values a parameter has in memory after decode (every parameter but a constant
    /// step's values and a gather's indices has at most 2 × MAX_RANK).
    uint256 internal constant MAX_INLINE = 64;

    struct Step {
        uint32 index;
        uint8 kind;
        /// the op's index in MAP_OPS, MOVE_OPS or REDUCE_OPS (by kind)
        uint8 op;
        IStepVerifier.Operand[] operands;
        uint8 outDtype;
        uint32[] outShape;
        uint64 numel;
        Param[] params;
        /// calldata offset of the parameter count, for a missing parameter
        uint256 paramsOffset;
    }

    function decode(bytes calldata b) internal pure returns (Step memory s) {
        uint256 at = 0;
        if (u8(b, 0) != 1) revert IStepVerifier.StepMalformed(0);
        s.index = uint32(uN(b, 1, 4));
        s.kind = u8(b, 5);
        at = 6;
        uint256 len = uN(b, at, 2);
        at += 2;
        need(b, at, len);
        s.op = opCode(s.kind, b[at:at + len], at);
        at += len;
        uint256 n = uN(b, at, 2);
        at += 2;
        s.operands = new IStepVerifier.Operand[](n);
        for (uint256 k = 0; k < n; ++k) {
            IStepVerifier.Operand memory o = s.operands[k];
            o.source = u8(b, at);
            if (o.source < 1 || o.source > 3) revert IStepVerifier.StepMalformed(at);
            o.index = uint32(uN(b, at + 1, 4));
            // A model input is entry `index` of the input bundle (canonical name order): at most 255 inputs.
            if (o.source == 1 && o.index > 254) revert IStepVerifier.StepMalformed(at + 1);
            (o.dtype, o.shape, , at) = readType(b, at + 5);
        }
        (s.outDtype, s.outShape, s.numel, at) = readType(b, at);
        s.paramsOffset = at;
        n = uN(b, at, 2);
        at += 2;
        s.params = new Param[](n);
        for (uint256 k = 0; k < n; ++k) {
            Param memory p = s.params[k];
            p.offset = at;
            len = uN(b, at, 2);
            need(b, at + 2, len);
            p.nameHash = keccak256(b[at + 2:at + 2 + len]);
            at += 2 + len;
            uint256 nv = uN(b, at, 4);
            at += 4;
            need(b, at, nv * 8);
            uint256 abs;
            // A calldata slice's absolute offset has no Solidity spelling.
            // solhint-disable-next-line no-inline-assembly
            assembly {
                abs := add(b.offset, at)
            }
            p.valuesAt = abs;
            p.count = nv;
            if (nv <= MAX_INLINE) {
                p.values = new uint64[](nv);
                for (uint256 i = 0; i < nv; ++i) p.values[i] = word(abs + 8 * i);
            }
            at += 8 * nv;
        }
        if (at != b.length) revert IStepVerifier.StepMalformed(at);
    }

    /// @notice The values of parameter `name`; a missing one reverts StepMalformed (the params offset).
    function param(Step memory s, bytes memory name) internal pure returns (uint64[] memory) {
        (bool found, uint64[] memory values) = tryParam(s, name);
        if (!found) revert IStepVerifier.StepMalformed(s.paramsOffset);
        return values;
    }

    function tryParam(Step memory s, bytes memory name) internal pure returns (bool, uint64[] memory v) {
        (bool found, Param memory p) = find(s, name);
        if (!found) return (false, new uint64[](0));
        // A parameter this long is read by valueAt only (see Param.valuesAt).
        if (p.count > MAX_INLINE) revert IStepVerifier.StepMalformed(p.offset);
        return (true, p.values);
    }

    /// @notice The number of values of parameter `name`; a missing one reverts StepMalformed.
    function size(Step memory s, bytes memory name) internal pure returns (uint256) {
        (bool found, Param memory p) = find(s, name);
        if (!found) revert IStepVerifier.StepMalformed(s.paramsOffset);
        return p.count;
    }

    /// @notice Value i of parameter `name`, read from calldata alone (O(1) in the parameter's length); a
    /// missing parameter or i past its values reverts StepMalformed.
    function valueAt(Step memory s, bytes memory name, uint256 i) internal pure returns (uint64) {
        (bool found, Param memory p) = find(s, name);
        if (!found || i >= p.count) revert IStepVerifier.StepMalformed(s.paramsOffset);
        return p.count <= MAX_INLINE ? p.values[i] : word(p.valuesAt + 8 * i);
    }

    function find(Step memory s, bytes memory name) private pure returns (bool, Param memory) {
        bytes32 h = keccak256(name);
        for (uint256 k = 0; k < s.params.length; ++k) {
            if (s.params[k].nameHash == h) return (true, s.params[k]);
        }
        return (false, Param(0, 0, new uint64[](0), 0, 0));
    }

    /// @notice The big-endian 8-byte word at absolute calldata offset `at` (decode checked its bounds).
    function word(uint256 at) private pure returns (uint64 v) {
        // One value read where it lies, not the whole parameter copied.
        // solhint-disable-next-line no-inline-assembly
        assembly {
            v := shr(192, calldataload(at))
        }
    }

    /// @notice Parameter `name` as integers, with exactly `count` values (0: any count). A value that is
    /// not an integer (or is −0) reverts StepMalformed.
    function intParam(Step memory s, bytes memory name, uint256 count) internal pure returns (int256[] memory out) {
        uint64[] memory v = param(s, name);
        if (count != 0 && v.length != count) revert IStepVerifier.StepMalformed(s.paramsOffset);
        out = new int256[](v.length);
        for (uint256 i = 0; i < v.length; ++i) out[i] = toInt(s, v[i]);
    }

    /// @notice An integral binary64 parameter value below 2^62 in magnitude, exactly (−0, fractions,
    /// NaN and infinities revert StepMalformed).
    function toInt(Step memory s, uint64 bits) internal pure returns (int256) {
        if (bits == 0) return 0;
        uint256 biased = (bits >> 52) & 0x7ff;
        if (biased < 1023 || biased > 1023 + 61) revert IStepVerifier.StepMalformed(s.paramsOffset);
        uint256 m = (uint256(bits) & 0xfffffffffffff) | (1 << 52);
        uint256 v;
        if (biased >= 1075) {
            v = m << (biased - 1075);
        } else {
            uint256 drop = 1075 - biased;
            if (m & ((1 << drop) - 1) != 0) revert IStepVerifier.StepMalformed(s.paramsOffset);
            v = m >> drop;
        }
        return bits >> 63 == 1 ? -int256(v) : int256(v);
    }

    function readType(bytes calldata b, uint256 at)
        private
        pure
        returns (uint8 dtype, uint32[] memory shape, uint64 numel, uint256 next)
    {
        dtype = u8(b, at);
        if (!(dtype >= 1 && dtype <= 6) && dtype != 9 && dtype != 12) revert IStepVerifier.StepMalformed(at);
        uint256 rank = u8(b, at + 1);
        if (rank > MAX_RANK) revert IStepVerifier.StepMalformed(at + 1);
        need(b, at + 2, 4 * rank);
        shape = new uint32[](rank);
        uint256 total = 1;
        for (uint256 d = 0; d < rank; ++d) {
            shape[d] = uint32(bytes4(b[at + 2 + 4 * d:at + 6 + 4 * d]));
            // Cannot overflow: total < 2^64 before and a dim < 2^32.
            total *= shape[d];
            if (total > type(uint64).max) revert IStepVerifier.StepMalformed(at + 2 + 4 * d);
        }
        numel = uint64(total);
        next = at + 2 + 4 * rank;
    }

    function opCode(uint8 kind, bytes calldata name, uint256 at) private pure returns (uint8) {
        bytes32 h = keccak256(name);
        int256 c = -1;
        if (kind == KIND_MAP) c = mapCode(h);
        else if (kind == KIND_MOVE) c = moveCode(h);
        else if (kind == KIND_REDUCE) c = reduceCode(h);
        else revert IStepVerifier.StepMalformed(5);
        if (c >= 0) return uint8(uint256(c));
        // A known op of another kind: the kind byte is wrong.
        if (mapCode(h) >= 0 || moveCode(h) >= 0 || reduceCode(h) >= 0) revert IStepVerifier.StepMalformed(5);
        if (name.length == 0) revert IStepVerifier.StepMalformed(at);
        revert IStepVerifier.StepUnsupported(string(name));
    }

    function mapCode(bytes32 h) private pure returns (int256) {
        bytes32[48] memory names = [
            keccak256("add"), keccak256("sub"), keccak256("mul"), keccak256("div"), keccak256("max"),
            keccak256("min"), keccak256("pow"), keccak256("neg"), keccak256("abs"), keccak256("relu"),
            keccak256("sqrt"), keccak256("exp"), keccak256("log"), keccak256("sigmoid"), keccak256("tanh"),
            keccak256("erf"), keccak256("reciprocal"), keccak256("floor"), keccak256("ceil"), keccak256("clip"),
            keccak256("hardsigmoid"), keccak256("hardswish"), keccak256("leakyrelu"), keccak256("bn_scale"),
            keccak256("bn_apply"), keccak256("exp_sub"), keccak256("ln_apply"), keccak256("scale"),
            keccak256("gelu"), keccak256("gelu_tanh"), keccak256("cast"), keccak256("where"), keccak256("equal"),
            keccak256("less"), keccak256("greater"), keccak256("less_equal"), keccak256("greater_equal"),
            keccak256("not"), keccak256("and"), keccak256("or"), keccak256("xor"), keccak256("prelu"),
            keccak256("fill"), keccak256("quantize"), keccak256("dequantize"), keccak256("qscale"),
            keccak256("requantize"), keccak256("dql_scale")
        ];
        for (uint256 i = 0; i < names.length; ++i) if (names[i] == h) return int256(i);
        return -1;
    }

    function moveCode(bytes32 h) private pure returns (int256) {
        if (h == keccak256("reshape")) return int256(uint256(RESHAPE));
        if (h == keccak256("transpose")) return int256(uint256(TRANSPOSE));
        if (h == keccak256("slice")) return int256(uint256(SLICE));
        if (h == keccak256("concat")) return int256(uint256(CONCAT));
        if (h == keccak256("expand")) return int256(uint256(EXPAND));
        if (h == keccak256("resize_nearest")) return int256(uint256(RESIZE_NEAREST));
        if (h == keccak256("gather")) return int256(uint256(GATHER));
        if (h == keccak256("gather_elements")) return int256(uint256(GATHER_ELEMENTS));
        if (h == keccak256("pad")) return int256(uint256(PAD));
        if (h == keccak256("tile")) return int256(uint256(TILE));
        if (h == keccak256("constant")) return int256(uint256(CONSTANT));
        return -1;
    }

    function reduceCode(bytes32 h) private pure returns (int256) {
        if (h == keccak256("conv")) return int256(uint256(CONV));
        if (h == keccak256("convtranspose")) return int256(uint256(CONVTRANSPOSE));
        if (h == keccak256("matmul")) return int256(uint256(MATMUL));
        if (h == keccak256("pool")) return int256(uint256(POOL));
        if (h == keccak256("reduce")) return int256(uint256(REDUCE));
        if (h == keccak256("conv3d")) return int256(uint256(CONV3D));
        if (h == keccak256("pool3d")) return int256(uint256(POOL3D));
        if (h == keccak256("resize_linear")) return int256(uint256(RESIZE_LINEAR));
        if (h == keccak256("convtranspose3d")) return int256(uint256(CONVTRANSPOSE3D));
        return -1;
    }

    function need(bytes calldata b, uint256 at, uint256 len) private pure {
        if (at + len > b.length) revert IStepVerifier.StepMalformed(at);
    }

    function u8(bytes calldata b, uint256 at) private pure returns (uint8) {
        need(b, at, 1);
        return uint8(b[at]);
    }

    function uN(bytes calldata b, uint256 at, uint256 n) private pure returns (uint256 v) {
        need(b, at, n);
        for (uint256 i = 0; i < n; ++i) v = (v << 8) | uint8(b[at + i]);
    }
}
