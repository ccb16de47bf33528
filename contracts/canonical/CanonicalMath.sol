// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Float64} from "./Float64.sol";

/// @title CanonicalMath
/// @notice The canonical transcendental functions of canonical/math.ts (semantics version 1), replicated
/// operation for operation over Float64, so the chain computes the same bits as the canonical runtime
/// (docs/V2.md §1, docs/CANONICAL-NUMBERS.md). Each function's comment names its math.ts twin; any
/// change there is a change here, checked by test/canonical/math.golden.test.ts.
library CanonicalMath {
    using Float64 for uint64;

    uint64 internal constant ZERO = 0;
    uint64 internal constant HALF = 0x3fe0000000000000;
    uint64 internal constant ONE = 0x3ff0000000000000;
    uint64 internal constant TWO = 0x4000000000000000;
    uint64 internal constant TWENTY = 0x4034000000000000;
    uint64 internal constant NEG_ONE = 0xbff0000000000000;
    /// @notice 2^-27: below it tanh(x) = x in binary64.
    uint64 internal constant TANH_TINY = 0x3e40000000000000;

    uint64 internal constant LN2_HI = 0x3fe62e42fee00000;
    uint64 internal constant LN2_LO = 0x3dea39ef35793c76;
    uint64 internal constant INV_LN2 = 0x3ff71547652b82fe;
    uint64 internal constant SQRT2 = 0x3ff6a09e667f3bcd;
    uint64 internal constant TWO_OVER_SQRT_PI = 0x3ff20dd750429b6d;
    uint64 internal constant ONE_OVER_SQRT_PI = 0x3fe20dd750429b6d;
    uint64 internal constant EXP_OVERFLOW = 0x40862e42fefa39ef;
    uint64 internal constant EXP_UNDERFLOW = 0xc0874910d52d3051;

    /// @notice math.ts EXP_DEGREE and EXPM1_DEGREE.
    uint256 internal constant EXP_DEGREE = 13;
    uint256 internal constant EXPM1_DEGREE = 16;

    /// @notice 1/n! for n = 0..16 (math.ts EXP_COEFFS), four 64-bit patterns per word, n = 0 first.
    uint256 private constant EXP_C0 = 0x3ff00000000000003ff00000000000003fe00000000000003fc5555555555555;
    uint256 private constant EXP_C1 = 0x3fa55555555555553f811111111111113f56c16c16c16c173f2a01a01a01a01a;
    uint256 private constant EXP_C2 = 0x3efa01a01a01a01a3ec71de3a556c7343e927e4fb7789f5c3e5ae64567f544e4;
    uint256 private constant EXP_C3 = 0x3e21eed8eff8d8983de6124613a86d093da93974a8c07c9d3d6ae7f3e733b81f;
    uint256 private constant EXP_C4 = 0x3d2ae7f3e733b81f000000000000000000000000000000000000000000000000;
    /// @notice 2/(2k+1) for k = 1..9 (math.ts LOG_COEFFS), index 0 first.
    uint256 private constant LOG_C0 = 0x3fe55555555555553fd999999999999a3fd24924924924923fcc71c71c71c71c;
    uint256 private constant LOG_C1 = 0x3fc745d1745d17463fc3b13b13b13b143fc11111111111113fbe1e1e1e1e1e1e;
    uint256 private constant LOG_C2 = 0x3fbaf286bca1af28000000000000000000000000000000000000000000000000;

    function word64(uint256 w, uint256 slot) private pure returns (uint64) {
        // Unchecked: slot < 4, so the shift is at most 192.
        unchecked {
            return uint64(w >> (192 - 64 * slot));
        }
    }

    /// @notice 1/i! (math.ts EXP_COEFFS[i]), i <= 16.
    function expCoeff(uint256 i) internal pure returns (uint64) {
        uint256 w = i < 4 ? EXP_C0 : i < 8 ? EXP_C1 : i < 12 ? EXP_C2 : i < 16 ? EXP_C3 : EXP_C4;
        return word64(w, i % 4);
    }

    /// @notice 2/(2i+3) (math.ts LOG_COEFFS[i]), i <= 8.
    function logCoeff(uint256 i) internal pure returns (uint64) {
        uint256 w = i < 4 ? LOG_C0 : i < 8 ? LOG_C1 : LOG_C2;
        return word64(w, i % 4);
    }

    /// @notice The binary64 value of a small non-negative integer n < 2^53 (exact, cheaper than fromInt64).
    function smallInt(uint256 n) internal pure returns (uint64) {
        if (n == 0) return 0;
        // Unchecked: 1 <= bitLength(n) <= 53.
        unchecked {
            uint256 len = Float64.bitLength(n);
            return uint64(((len + 1022) << 52) | ((n << (53 - len)) & Float64.FRAC_MASK));
        }
    }

    /// @notice floor(log2 |x|) of a finite nonzero x, subnormals included (float.ts exponentOf).
    function exponentOf(uint64 x) internal pure returns (int256) {
        uint256 biased = (x >> 52) & 0x7ff;
        // Unchecked: biased <= 2046; a subnormal's fraction has 1..52 bits.
        unchecked {
            if (biased != 0) return int256(biased) - 1023;
            return -1075 + int256(Float64.bitLength(x & Float64.FRAC_MASK));
        }
    }

    /// @notice math.ts ldexp: a · 2^trunc(k/2) · 2^(k − trunc(k/2)), two multiplications, |k| <= 2046
    /// (exact but for the second rounding at math.ts's call sites; Float64.ldexp is the general scaling).
    function ldexp(uint64 a, int256 k) internal pure returns (uint64) {
        int256 k1 = k / 2; // truncates toward zero, as Math.trunc(k / 2)
        return a.mul(Float64.pow2(k1)).mul(Float64.pow2(k - k1));
    }

    /// @notice math.ts cexp.
    function cexp(uint64 x) internal pure returns (uint64) {
        if (x.isNaN()) return Float64.NAN;
        if (x.gt(EXP_OVERFLOW)) return Float64.POS_INF;
        if (x.lt(EXP_UNDERFLOW)) return ZERO;
        uint64 k = x.mul(INV_LN2).add(HALF).floor();
        uint64 r = x.sub(k.mul(LN2_HI)).sub(k.mul(LN2_LO));
        uint64 p = expCoeff(EXP_DEGREE);
        for (uint256 i = EXP_DEGREE; i > 0; i--) p = p.mul(r).add(expCoeff(i - 1));
        return ldexp(p, k.toInt64());
    }

    /// @notice math.ts clog.
    function clog(uint64 x) internal pure returns (uint64) {
        if (x.isNaN() || x.lt(ZERO)) return Float64.NAN;
        if (x.isZero()) return Float64.NEG_INF;
        if (x == Float64.POS_INF) return x;
        int256 e = exponentOf(x);
        uint64 m = ldexp(x, -e); // exact: m in [1, 2)
        if (m.gt(SQRT2)) {
            m = m.mul(HALF);
            e += 1;
        }
        uint64 f = m.sub(ONE);
        uint64 s = f.div(TWO.add(f));
        uint64 z = s.mul(s);
        uint64 q = logCoeff(8);
        for (uint256 i = 8; i > 0; i--) q = q.mul(z).add(logCoeff(i - 1));
        uint64 logm = TWO.mul(s).add(s.mul(z.mul(q)));
        uint64 ef = Float64.fromInt64(int64(e));
        return ef.mul(LN2_HI).add(logm.add(ef.mul(LN2_LO)));
    }

    /// @notice math.ts csigmoid: 1 / (1 + exp(−x)).
    function csigmoid(uint64 x) internal pure returns (uint64) {
        return ONE.div(ONE.add(cexp(x.neg())));
    }

    /// @notice math.ts cexpm1.
    function cexpm1(uint64 x) internal pure returns (uint64) {
        if (x.isNaN()) return Float64.NAN;
        if (x.abs().ge(HALF)) return cexp(x).sub(ONE);
        uint64 p = expCoeff(EXPM1_DEGREE);
        for (uint256 i = EXPM1_DEGREE - 1; i >= 1; i--) p = p.mul(x).add(expCoeff(i));
        return x.mul(p);
    }

    /// @notice math.ts ctanh.
    function ctanh(uint64 x) internal pure returns (uint64) {
        if (x.isNaN()) return Float64.NAN;
        uint64 a = x.abs();
        if (a.lt(TANH_TINY)) return x;
        if (a.gt(TWENTY)) return x.lt(ZERO) ? NEG_ONE : ONE;
        uint64 m = cexpm1(TWO.mul(x));
        return m.div(m.add(TWO));
    }

    /// @notice math.ts cerf.
    function cerf(uint64 x) internal pure returns (uint64) {
        if (x.isNaN()) return Float64.NAN;
        if (x.isZero()) return x;
        uint64 a = x.abs();
        uint64 y;
        if (a.lt(TWO)) {
            uint64 z = a.mul(a);
            uint64 term = a;
            uint64 sum = a;
            for (uint256 n = 1; n < 40; n++) {
                term = term.neg().mul(z).div(smallInt(n));
                sum = sum.add(term.div(smallInt(2 * n + 1)));
            }
            y = TWO_OVER_SQRT_PI.mul(sum);
        } else if (a.lt(0x4018000000000000)) {
            // 2 <= a < 6
            uint64 t = a;
            for (uint256 k = 50; k >= 1; k--) t = a.add(smallInt(k).mul(HALF).div(t));
            uint64 erfc = cexp(a.mul(a).neg()).mul(ONE_OVER_SQRT_PI).div(t);
            y = ONE.sub(erfc);
        } else {
            y = ONE;
        }
        return x.lt(ZERO) ? y.neg() : y;
    }

    /// @notice math.ts isInteger: a finite integral value.
    function isInteger(uint64 y) internal pure returns (bool) {
        return y.eq(y.floor()) && !y.isInf();
    }

    /// @notice math.ts isOddInteger.
    function isOddInteger(uint64 y) internal pure returns (bool) {
        return isInteger(y) && !isInteger(y.mul(HALF));
    }

    /// @notice math.ts cpow.
    function cpow(uint64 x, uint64 y) internal pure returns (uint64) {
        if (y.eq(ZERO) || x.eq(ONE)) return ONE;
        if (x.isNaN() || y.isNaN()) return Float64.NAN;
        if (y.isInf()) {
            uint64 ax = x.abs();
            if (ax.eq(ONE)) return ONE;
            return ax.lt(ONE) == y.lt(ZERO) ? Float64.POS_INF : ZERO;
        }
        if (y.eq(ONE)) return x;
        if (y.eq(TWO)) return x.mul(x);
        if (y.eq(HALF) && x.gt(ZERO)) return x.sqrt();
        if (y.eq(NEG_ONE)) return ONE.div(x);
        if (x.isZero()) {
            bool odd = isOddInteger(y);
            if (y.gt(ZERO)) return odd ? x : ZERO;
            return odd && x == Float64.NEG_ZERO ? Float64.NEG_INF : Float64.POS_INF;
        }
        if (x == Float64.NEG_INF) {
            bool odd = isOddInteger(y);
            if (y.gt(ZERO)) return odd ? Float64.NEG_INF : Float64.POS_INF;
            return odd ? Float64.NEG_ZERO : ZERO;
        }
        if (x.lt(ZERO)) {
            if (!isInteger(y)) return Float64.NAN;
            uint64 r = cexp(y.mul(clog(x.neg())));
            return isOddInteger(y) ? r.neg() : r;
        }
        return cexp(y.mul(clog(x)));
    }
}
