// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Float64} from "./Float64.sol";
import {CanonicalMath} from "./CanonicalMath.sol";

/// @title CanonicalStep
/// @notice One element of one canonical step on-chain, bit for bit canonical/element.ts (docs/CANONICAL.md,
/// "Partial states and the on-chain step"): a float map element from its operand values, one fold of a
/// reduce element's partial-state record with one term, and the finalize of the last record.
/// - Values are binary64 bit patterns (`uint64`); every NaN written is the canonical NaN.
/// - Map op codes are the indices of canonical/program.ts `MAP_OPS`; each float formula is the
///   `FLOAT_EXPR` entry of canonical/kernels.ts, evaluated operation by operation in the same order.
/// - Precision codes: 0 fp32, 1 tf32, 2 fp16, 3 bf16 (the commitment's). Results are rounded once to
///   the storage format (fp32 for fp32/tf32) and returned as binary64 bits of the rounded value.
/// - The 32-byte partial-state record (canonical/partial.ts `encodePartial`), big-endian:
///   `u8 version=1 | u8 kind (0 float sum, 1 float max, 2 int32 sum) | 2 zero bytes | u32 divisor |
///    u32 t | 4 zero bytes | u64 accumulator | 8 zero bytes`.
library CanonicalStep {
    using Float64 for uint64;

    uint8 internal constant PARTIAL_VERSION = 1;
    uint8 internal constant KIND_SUM = 0;
    uint8 internal constant KIND_MAX = 1;
    uint8 internal constant KIND_ISUM = 2;

    uint8 internal constant FP32 = 0;
    uint8 internal constant TF32 = 1;
    uint8 internal constant FP16 = 2;
    uint8 internal constant BF16 = 3;

    // MAP_OPS codes (canonical/program.ts).
    uint256 internal constant ADD = 0;
    uint256 internal constant SUB = 1;
    uint256 internal constant MUL = 2;
    uint256 internal constant DIV = 3;
    uint256 internal constant MAX = 4;
    uint256 internal constant MIN = 5;
    uint256 internal constant POW = 6;
    uint256 internal constant NEG = 7;
    uint256 internal constant ABS = 8;
    uint256 internal constant RELU = 9;
    uint256 internal constant SQRT = 10;
    uint256 internal constant EXP = 11;
    uint256 internal constant LOG = 12;
    uint256 internal constant SIGMOID = 13;
    uint256 internal constant TANH = 14;
    uint256 internal constant ERF = 15;
    uint256 internal constant RECIPROCAL = 16;
    uint256 internal constant FLOOR = 17;
    uint256 internal constant CEIL = 18;
    uint256 internal constant CLIP = 19;
    uint256 internal constant HARDSIGMOID = 20;
    uint256 internal constant HARDSWISH = 21;
    uint256 internal constant LEAKYRELU = 22;
    uint256 internal constant BN_SCALE = 23;
    uint256 internal constant BN_APPLY = 24;
    uint256 internal constant EXP_SUB = 25;
    uint256 internal constant LN_APPLY = 26;
    uint256 internal constant SCALE = 27;
    uint256 internal constant GELU = 28;
    uint256 internal constant GELU_TANH = 29;
    uint256 internal constant CAST = 30;
    uint256 internal constant WHERE = 31;
    uint256 internal constant EQUAL = 32;
    uint256 internal constant LESS = 33;
    uint256 internal constant GREATER = 34;
    uint256 internal constant LESS_EQUAL = 35;
    uint256 internal constant GREATER_EQUAL = 36;
    uint256 internal constant NOT = 37;
    uint256 internal constant AND = 38;
    uint256 internal constant OR = 39;
    uint256 internal constant XOR = 40;
    uint256 internal constant PRELU = 41;
    uint256 internal constant FILL = 42;
    uint256 internal constant QUANTIZE = 43;
    uint256 internal constant DEQUANTIZE = 44;
    uint256 internal constant QSCALE = 45;
    uint256 internal constant REQUANTIZE = 46;
    uint256 internal constant DQL_SCALE = 47;

    uint64 private constant ZERO = 0;
    uint64 private constant HALF = 0x3fe0000000000000;
    uint64 private constant ONE = 0x3ff0000000000000;
    uint64 private constant SIX = 0x4018000000000000;
    /// 255: DynamicQuantizeLinear's uint8 range.
    uint64 private constant DQL_RANGE = 0x406fe00000000000;
    /// kernels.ts INV_SQRT2, SQRT_2_OVER_PI, GELU_C.
    uint64 private constant INV_SQRT2 = 0x3fe6a09e667f3bcd;
    uint64 private constant SQRT_2_OVER_PI = 0x3fe9884533d43651;
    uint64 private constant GELU_C = 0x3fa6e4e26d4801f7;

    /// @notice A map op this library does not evaluate (its MAP_OPS code), or one called with the wrong
    /// number of operands or parameters.
    error CanonicalStepUnsupportedMap(uint256 op, uint256 operands, uint256 params);
    error CanonicalStepBadPrecision(uint256 precision);
    error CanonicalStepBadDtype(uint256 dtype);
    error CanonicalStepBadRecord(bytes32 record);

    // ---------------------------------------------------------------- map

    /// @notice Element of a float map step: `FLOAT_EXPR[op]` over `operands` (a, b, c, d) and `params`
    /// (canonical/partial.ts MAP_PARAMS order), rounded to the precision's storage format.
    function mapElement(uint256 op, uint64[] memory params, uint64[] memory operands, uint8 precision) internal pure returns (uint64) {
        return store(mapValue(op, params, operands), precision);
    }

    /// @notice The binary64 value of `FLOAT_EXPR[op]` before the storage rounding.
    function mapValue(uint256 op, uint64[] memory params, uint64[] memory x) internal pure returns (uint64) {
        uint256 n = x.length;
        uint256 np = params.length;
        if (n == 2 && np == 0) {
            uint64 a = x[0];
            uint64 b = x[1];
            if (op == ADD) return a.add(b);
            if (op == SUB) return a.sub(b);
            if (op == MUL) return a.mul(b);
            if (op == DIV) return a.div(b);
            if (op == MAX) return a.isNaN() || b.isNaN() ? Float64.NAN : (b.gt(a) ? b : a);
            if (op == MIN) return a.isNaN() || b.isNaN() ? Float64.NAN : (b.lt(a) ? b : a);
            if (op == POW) return CanonicalMath.cpow(a, b);
            if (op == EXP_SUB) return CanonicalMath.cexp(a.sub(b));
            // Comparisons and logical ops write a bool: 1 or 0 (as binary64), NaN compares false.
            if (op == EQUAL) return a.eq(b) ? ONE : ZERO;
            if (op == LESS) return a.lt(b) ? ONE : ZERO;
            if (op == GREATER) return a.gt(b) ? ONE : ZERO;
            if (op == LESS_EQUAL) return a.le(b) ? ONE : ZERO;
            if (op == GREATER_EQUAL) return a.ge(b) ? ONE : ZERO;
            if (op == AND) return !a.isZero() && !b.isZero() ? ONE : ZERO;
            if (op == OR) return !a.isZero() || !b.isZero() ? ONE : ZERO;
            if (op == XOR) return a.isZero() != b.isZero() ? ONE : ZERO;
            if (op == PRELU) return a.lt(ZERO) ? a.mul(b) : canonical(a);
            if (op == DEQUANTIZE) return a.mul(b);
            if (op == DQL_SCALE) {
                uint64 sum = a.add(b);
                return sum.isZero() ? ONE : sum.roundFp32().div(DQL_RANGE).roundFp32();
            }
        } else if (n == 3 && np == 0 && op == WHERE) {
            return x[0].isZero() ? canonical(x[2]) : canonical(x[1]);
        } else if (n == 3 && np == 0 && op == DEQUANTIZE) {
            return x[0].sub(x[2]).mul(x[1]);
        } else if (n == 3 && np == 0 && op == QSCALE) {
            return x[0].mul(x[1]).roundFp32().div(x[2]).roundFp32();
        } else if (n == 0 && np == 1 && op == FILL) {
            return canonical(params[0]);
        } else if (n == 1 && np == 0) {
            uint64 a = x[0];
            if (op == NEG) return a.neg();
            if (op == ABS) return a.abs();
            if (op == RELU) return a.gt(ZERO) ? a : (a.isNaN() ? Float64.NAN : ZERO);
            if (op == SQRT) return a.sqrt();
            if (op == EXP) return CanonicalMath.cexp(a);
            if (op == LOG) return CanonicalMath.clog(a);
            if (op == SIGMOID) return CanonicalMath.csigmoid(a);
            if (op == TANH) return CanonicalMath.ctanh(a);
            if (op == ERF) return CanonicalMath.cerf(a);
            if (op == RECIPROCAL) return ONE.div(a);
            if (op == FLOOR) return a.floor();
            if (op == CEIL) return a.neg().floor().neg();
            if (op == HARDSWISH) return a.mul(clamp01(a.div(SIX).add(HALF)));
            if (op == GELU) return a.mul(ONE.add(CanonicalMath.cerf(a.mul(INV_SQRT2)))).mul(HALF);
            if (op == GELU_TANH) {
                uint64 cube = a.mul(a).mul(a);
                uint64 inner = SQRT_2_OVER_PI.mul(a.add(GELU_C.mul(cube)));
                return a.mul(ONE.add(CanonicalMath.ctanh(inner))).mul(HALF);
            }
            if (op == CAST) return a.isNaN() ? Float64.NAN : a;
            if (op == NOT) return a.isZero() ? ONE : ZERO;
        } else if (n == 1) {
            uint64 a = x[0];
            if (op == CLIP && np == 2) return a.lt(params[0]) ? params[0] : (a.gt(params[1]) ? params[1] : (a.isNaN() ? Float64.NAN : a));
            if (op == HARDSIGMOID && np == 2) return clamp01(params[0].mul(a).add(params[1]));
            if (op == LEAKYRELU && np == 1) return a.lt(ZERO) ? params[0].mul(a) : (a.isNaN() ? Float64.NAN : a);
            if (op == SCALE && np == 1) return a.mul(params[0]);
        } else if (n == 2 && np == 1) {
            if (op == BN_SCALE) return x[0].div(x[1].add(params[0]).sqrt());
        } else if (n == 4 && np == 0) {
            if (op == BN_APPLY) return x[0].sub(x[1]).mul(x[2]).add(x[3]);
        }
        if (op == LN_APPLY && np == 1 && (n == 3 || n == 4)) {
            uint64 v = x[0].div(x[1].add(params[0]).sqrt()).mul(x[2]);
            return n == 4 ? v.add(x[3]) : v;
        }
        revert CanonicalStepUnsupportedMap(op, n, np);
    }

    /// @notice Element of an integer map step (kernels.ts intMap; int → int cast: the wrap) on int64
    /// operand values, wrapped to the output's ONNX dtype (2 uint8, 3 int8, 4 uint16, 5 int16, 6 int32,
    /// 12 uint32): add, sub, mul (wrapping), div (toward zero; a zero divisor gives 0), max, min, neg, abs,
    /// relu, clip [min, max], cast; and (no wrap) where (cond, x, y), fill [value], and the bool-valued
    /// equal, less, greater, less_equal, greater_equal, not, and, or, xor (1 or 0; bool operands 0 or 1).
    /// Other ops revert CanonicalStepUnsupportedMap.
    function mapIntElement(uint256 op, uint8 dtype, int64[] memory params, int64[] memory x) internal pure returns (int64) {
        uint256 n = x.length;
        uint256 np = params.length;
        if (n == 2 && np == 0) {
            int256 a = x[0];
            int256 b = x[1];
            if (op == ADD) return wrapInt(a + b, dtype);
            if (op == SUB) return wrapInt(a - b, dtype);
            if (op == MUL) return wrapInt(a * b, dtype);
            if (op == DIV) return b == 0 ? int64(0) : wrapInt(a / b, dtype);
            if (op == MAX) return b > a ? x[1] : x[0];
            if (op == MIN) return b < a ? x[1] : x[0];
            if (op == EQUAL) return a == b ? int64(1) : int64(0);
            if (op == LESS) return a < b ? int64(1) : int64(0);
            if (op == GREATER) return a > b ? int64(1) : int64(0);
            if (op == LESS_EQUAL) return a <= b ? int64(1) : int64(0);
            if (op == GREATER_EQUAL) return a >= b ? int64(1) : int64(0);
            if (op == AND) return a != 0 && b != 0 ? int64(1) : int64(0);
            if (op == OR) return a != 0 || b != 0 ? int64(1) : int64(0);
            if (op == XOR) return (a != 0) != (b != 0) ? int64(1) : int64(0);
        } else if (n == 3 && np == 0 && op == WHERE) {
            return x[0] != 0 ? x[1] : x[2];
        } else if (n == 0 && np == 1 && op == FILL) {
            return params[0];
        } else if (n == 1 && np == 0) {
            int256 a = x[0];
            if (op == NOT) return a == 0 ? int64(1) : int64(0);
            if (op == NEG) return wrapInt(-a, dtype);
            if (op == ABS) return wrapInt(a < 0 ? -a : a, dtype);
            if (op == RELU) return a > 0 ? x[0] : int64(0);
            if (op == CAST) return wrapInt(a, dtype);
        } else if (n == 1 && np == 2 && op == CLIP) {
            return x[0] < params[0] ? params[0] : (x[0] > params[1] ? params[1] : x[0]);
        }
        revert CanonicalStepUnsupportedMap(op, n, np);
    }

    /// @notice Element of a quantizing map (kernels.ts intMap quantize/requantize), output dtype 2 uint8 or
    /// 3 int8 (or another integer dtype): quantize (x, scale, zp) `v = fl32(x / scale)`; requantize (acc, m,
    /// zp) `v = fl32(fl32(acc) · m)` (acc an int32 as binary64); then NaN → 0, v clamped to [lo − zp, hi − zp],
    /// rounded half to even, plus zp. `a`, `b`: binary64 bits; zp: the zero point (0 when absent).
    function quantElement(uint256 op, uint8 dtype, uint64 a, uint64 b, int64 zp) internal pure returns (int64) {
        uint64 v;
        if (op == QUANTIZE) v = a.div(b).roundFp32();
        else if (op == REQUANTIZE) v = a.roundFp32().mul(b).roundFp32();
        else revert CanonicalStepUnsupportedMap(op, 3, 0);
        (int64 lo, int64 hi) = intRange(dtype);
        if (v.isNaN()) v = ZERO;
        uint64 vlo = Float64.fromInt64(lo - zp);
        uint64 vhi = Float64.fromInt64(hi - zp);
        if (v.lt(vlo)) v = vlo;
        else if (v.gt(vhi)) v = vhi;
        // |v| <= 2^32 here: floor and the difference are exact.
        uint64 f = v.floor();
        uint64 d = v.sub(f);
        int64 r = f.toInt64();
        if (d.gt(HALF) || (d.eq(HALF) && r & 1 != 0)) r += 1;
        return r + zp;
    }

    /// @notice A float → integer cast (kernels.ts castToInt): NaN → 0, truncation toward zero,
    /// saturation at the dtype's range.
    function castToInt(uint64 a, uint8 dtype) internal pure returns (int64) {
        (int64 lo, int64 hi) = intRange(dtype);
        int64 v = a.toInt64();
        return v < lo ? lo : (v > hi ? hi : v);
    }

    function intRange(uint8 dtype) private pure returns (int64 lo, int64 hi) {
        if (dtype == 3) return (-128, 127);
        if (dtype == 2) return (0, 255);
        if (dtype == 5) return (-32768, 32767);
        if (dtype == 4) return (0, 65535);
        if (dtype == 6) return (type(int32).min, type(int32).max);
        if (dtype == 12) return (0, int64(uint64(type(uint32).max)));
        revert CanonicalStepBadDtype(dtype);
    }

    /// @notice Two's-complement wrap of an integer into the dtype (kernels.ts wrapTo).
    function wrapInt(int256 v, uint8 dtype) internal pure returns (int64) {
        if (dtype == 3) return int8(uint8(uint256(v)));
        if (dtype == 2) return int64(uint64(uint8(uint256(v))));
        if (dtype == 5) return int16(uint16(uint256(v)));
        if (dtype == 4) return int64(uint64(uint16(uint256(v))));
        if (dtype == 6) return int32(uint32(uint256(v)));
        if (dtype == 12) return int64(uint64(uint32(uint256(v))));
        revert CanonicalStepBadDtype(dtype);
    }

    /// @notice kernels.ts clamp01: `v < 0 ? 0 : v > 1 ? 1 : v` (NaN passes).
    function clamp01(uint64 v) private pure returns (uint64) {
        if (v.lt(ZERO)) return ZERO;
        if (v.gt(ONE)) return ONE;
        return v.isNaN() ? Float64.NAN : v;
    }

    /// @notice The storage rounding of a float step output (element.ts storeOf): fp32 for fp32 and tf32.
    function store(uint64 v, uint8 precision) internal pure returns (uint64) {
        if (precision == FP32 || precision == TF32) return v.roundFp32();
        if (precision == FP16) return v.roundFp16();
        if (precision == BF16) return v.roundBf16();
        revert CanonicalStepBadPrecision(precision);
    }

    /// @notice A contraction operand at the precision (float.ts roundOperand: tf32 rounds, others keep).
    function operand(uint64 v, uint8 precision) internal pure returns (uint64) {
        return precision == TF32 ? v.roundTf32() : (v.isNaN() ? Float64.NAN : v);
    }

    /// @notice A conv/matmul term: the exact binary64 product of two operands at the precision
    /// (element.ts reduceTerms: `roundOperand(x) · roundOperand(w)`).
    function term(uint64 a, uint64 b, uint8 precision) internal pure returns (uint64) {
        return operand(a, precision).mul(operand(b, precision));
    }

    // ---------------------------------------------------------------- partial states

    /// @notice The record of a fold's init state (t = 0).
    function initRecord(uint8 kind, uint32 divisor, uint64 init) internal pure returns (bytes32) {
        return encode(kind, divisor, 0, kind == KIND_ISUM ? init : canonical(init));
    }

    function encode(uint8 kind, uint32 divisor, uint32 t, uint64 acc) internal pure returns (bytes32) {
        return bytes32(
            (uint256(PARTIAL_VERSION) << 248) | (uint256(kind) << 240) | (uint256(divisor) << 192) | (uint256(t) << 160)
                | (uint256(acc) << 64)
        );
    }

    /// @notice The fields of a well-formed record (reverts on a malformed one).
    function decode(bytes32 record) internal pure returns (uint8 kind, uint32 divisor, uint32 t, uint64 acc) {
        uint256 r = uint256(record);
        kind = uint8(r >> 240);
        divisor = uint32(r >> 192);
        t = uint32(r >> 160);
        acc = uint64(r >> 64);
        // Zero fields: bytes 2..3, 12..15 and 24..31.
        if (uint8(r >> 248) != PARTIAL_VERSION || kind > KIND_ISUM || divisor == 0 || uint16(r >> 224) != 0
            || uint32(r >> 128) != 0 || uint64(r) != 0) revert CanonicalStepBadRecord(record);
        if (kind == KIND_ISUM && int64(acc) != int64(int32(int64(acc)))) revert CanonicalStepBadRecord(record);
        if (kind != KIND_ISUM && acc.isNaN() && acc != Float64.NAN) revert CanonicalStepBadRecord(record);
    }

    /// @notice The state after folding the term `value` into `record` (element.ts foldPartials): float sum
    /// `s + v`; max `(v > s or v is NaN) ? v : s`; int32 sum `(s + v) | 0` (term as int64 two's
    /// complement).
    function fold(bytes32 record, uint64 value) internal pure returns (bytes32) {
        (uint8 kind, uint32 divisor, uint32 t, uint64 s) = decode(record);
        uint64 next;
        if (kind == KIND_SUM) {
            next = s.add(value);
        } else if (kind == KIND_MAX) {
            next = value.isNaN() ? Float64.NAN : (value.gt(s) ? value : s);
        } else {
            // Unchecked: wrapping int32 addition; |s| < 2^31 and the term is any int64.
            unchecked {
                next = uint64(int64(int32(int64(s) + int64(value))));
            }
        }
        return encode(kind, divisor, t + 1, next);
    }

    /// @notice The element a reduce step writes from its last record (element.ts finalizeReduce): the
    /// accumulator ÷ divisor (a mean), rounded to the precision's storage format; an int32 sum as is
    /// (its int64 two's complement bits).
    function finalize(bytes32 record, uint8 precision) internal pure returns (uint64) {
        (uint8 kind, uint32 divisor, , uint64 s) = decode(record);
        if (kind == KIND_ISUM) return s;
        uint64 v = divisor == 1 ? s : s.div(Float64.fromInt64(int64(uint64(divisor))));
        return store(v, precision);
    }

    function canonical(uint64 v) private pure returns (uint64) {
        return v.isNaN() ? Float64.NAN : v;
    }
}
