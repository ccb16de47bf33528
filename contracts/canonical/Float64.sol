// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Assembly on the binary64 hot paths (decode, round, fast add/mul/div), golden-tested against IEEE 754; measured in bench/canonical-gas.ts.
// solhint-disable no-inline-assembly

/// @title Float64
/// @notice Canonical IEEE-754 binary64 arithmetic over bit patterns (`uint64`), bit for bit the same as
/// canonical/float.ts and JS Number arithmetic (docs/V2.md §1, docs/CANONICAL-NUMBERS.md).
/// - `add sub mul div sqrt` are correctly rounded (round to nearest, ties to even), subnormals
///   included, overflow to ±Inf, IEEE signed zeros. No fused multiply-add exists here on purpose.
/// - Every NaN this library writes is the canonical quiet NaN `0x7ff8000000000000` (JS may keep
///   payloads; canonical values never do).
/// - Narrow formats (fp32, fp16, bf16, tf32) are reached by one rounding (RNE, subnormals kept,
///   overflow to ±Inf, canonical NaNs) and widened back exactly.
/// @dev Every finite operand is decoded EXACTLY as `m · 2^e` (m < 2^53); each operation computes an
/// exact integer significand (or one whose lowest bit is a sticky bit standing for a nonzero
/// remainder far below the rounding point) and rounds it once in `round64` (binary64) or `roundPack`
/// (any narrower format). add, mul and div decode and compute in assembly on their common path (both
/// operands finite and nonzero); special values take the Solidity paths.
library Float64 {
    /// @notice The canonical quiet NaN.
    uint64 internal constant NAN = 0x7ff8000000000000;
    uint64 internal constant POS_INF = 0x7ff0000000000000;
    uint64 internal constant NEG_INF = 0xfff0000000000000;
    uint64 internal constant NEG_ZERO = 0x8000000000000000;
    uint64 internal constant ONE = 0x3ff0000000000000;
    uint64 internal constant SIGN = 0x8000000000000000;
    uint64 internal constant ABS_MASK = 0x7fffffffffffffff;
    uint64 internal constant FRAC_MASK = 0x000fffffffffffff;

    /// @notice Canonical NaNs of the narrow formats.
    uint32 internal constant NAN32 = 0x7fc00000;
    uint16 internal constant NAN16 = 0x7e00;
    uint16 internal constant NAN_BF16 = 0x7fc0;

    /// @notice `pow2(k)` outside the normal binary64 range -1022..1023.
    error Float64ExponentOutOfRange(int256 k);

    // ---------------------------------------------------------------- classification

    function isNaN(uint64 x) internal pure returns (bool) {
        return x & ABS_MASK > POS_INF;
    }

    function isInf(uint64 x) internal pure returns (bool) {
        return x & ABS_MASK == POS_INF;
    }

    function isFinite(uint64 x) internal pure returns (bool) {
        return x & ABS_MASK < POS_INF;
    }

    function isZero(uint64 x) internal pure returns (bool) {
        return x & ABS_MASK == 0;
    }

    function isNegative(uint64 x) internal pure returns (bool) {
        return x & SIGN != 0;
    }

    // ---------------------------------------------------------------- core

    /// @notice Number of significant bits of `x` (0 for 0).
    function bitLength(uint256 x) internal pure returns (uint256 r) {
        if (x == 0) return 0;
        assembly {
            r := shl(7, lt(0xffffffffffffffffffffffffffffffff, x))
            r := or(r, shl(6, lt(0xffffffffffffffff, shr(r, x))))
            r := or(r, shl(5, lt(0xffffffff, shr(r, x))))
            r := or(r, shl(4, lt(0xffff, shr(r, x))))
            r := or(r, shl(3, lt(0xff, shr(r, x))))
            // the last three halvings at once: floor(log2) of the remaining byte from a table (Solady's log2)
            r := or(r, byte(and(0x1f, shr(shr(r, x), 0x8421084210842108cc6318c6db6d54be)), 0x0706060506020504060203020504030106050205030304010505030400000000))
            r := add(r, 1)
        }
    }

    /// @notice A finite binary64 magnitude as `m · 2^e` exactly (m < 2^53; m = 0 for ±0).
    function decode(uint64 x) internal pure returns (uint256 m, int256 e) {
        // Assembly for gas. Bits of x above 63 (Solidity does not promise they are clean here) never
        // reach the result: both fields are masked.
        assembly ("memory-safe") {
            let biased := and(shr(52, x), 0x7ff)
            m := and(x, 0xfffffffffffff)
            switch biased
            case 0 { e := sub(0, 1074) }
            default {
                m := or(m, 0x10000000000000)
                e := sub(biased, 1075)
            }
        }
    }

    /// @notice `sign | m · 2^e` rounded to nearest-even in the binary format with `p` significand bits
    /// and normal exponents `emin..emax` (subnormals kept, overflow to ±Inf), returned as the binary64
    /// bits of the rounded value (exact: every such format here lies within binary64).
    /// @dev Callers keep m < 2^256 and |e| < 2^200; a lowest "sticky" bit of m is allowed when m's true
    /// value lies strictly between m - 1 and m + 1 and at least two bits are shifted out below it.
    function roundPack(uint64 sign, uint256 m, int256 e, uint256 p, int256 emin, int256 emax) internal pure returns (uint64 result) {
        // Assembly for gas (every rounding operation's hot path; about 140 gas less than the Solidity
        // form). EVM shifts by 256 or more give 0, so a shift of exactly 256 needs no special
        // case: the mask below becomes all ones and `half` 2^255. Exponents stay far inside int256 (see
        // @dev), so no addition here can wrap.
        assembly ("memory-safe") {
            function bitlen(x) -> r {
                r := shl(7, lt(0xffffffffffffffffffffffffffffffff, x))
                r := or(r, shl(6, lt(0xffffffffffffffff, shr(r, x))))
                r := or(r, shl(5, lt(0xffffffff, shr(r, x))))
                r := or(r, shl(4, lt(0xffff, shr(r, x))))
                r := or(r, shl(3, lt(0xff, shr(r, x))))
                // the last three halvings at once: floor(log2) of the remaining byte from a table
                r := or(r, byte(and(0x1f, shr(shr(r, x), 0x8421084210842108cc6318c6db6d54be)), 0x0706060506020504060203020504030106050205030304010505030400000000))
                r := add(r, 1)
            }
            sign := and(sign, 0x8000000000000000)
            result := sign
            if m {
                // q: exponent of the last kept bit (at least that of the format's smallest subnormal)
                let q := sub(add(e, bitlen(m)), p)
                let qmin := add(sub(emin, p), 1)
                if slt(q, qmin) { q := qmin }
                let r := 0
                let live := 1
                switch sgt(q, e)
                case 0 { r := shl(sub(e, q), m) } // exact
                default {
                    let shift := sub(q, e)
                    // shift > 256: the value is below 2^(q-1), half a quantum: it rounds to zero
                    if gt(shift, 256) { live := 0 }
                    if live {
                        r := shr(shift, m)
                        let rem := and(m, sub(shl(shift, 1), 1))
                        let half := shl(sub(shift, 1), 1)
                        if or(gt(rem, half), and(eq(rem, half), and(r, 1))) {
                            r := add(r, 1)
                            if shr(p, r) {
                                r := shr(1, r)
                                q := add(q, 1)
                            }
                        }
                        if iszero(r) { live := 0 }
                    }
                }
                if live {
                    // top: exponent of the leading bit (r has p bits unless it is subnormal in the format)
                    let top := add(q, sub(p, 1))
                    if iszero(shr(sub(p, 1), r)) { top := sub(add(q, bitlen(r)), 1) }
                    switch sgt(top, emax)
                    case 1 { result := or(sign, 0x7ff0000000000000) }
                    default {
                        switch slt(top, sub(0, 1022))
                        case 1 { result := or(sign, shl(add(q, 1074), r)) } // binary64 subnormal
                        default {
                            let sig := shl(sub(52, sub(top, q)), r)
                            result := or(sign, or(shl(52, add(top, 1023)), and(sig, 0xfffffffffffff)))
                        }
                    }
                }
            }
        }
    }

    /// @notice roundPack for binary64 itself (p = 53, emin = -1022, emax = 1023): the same steps with the
    /// format's constants folded in, for the gas of the arithmetic's hot path. Kept in step with
    /// roundPack by hand; the golden tests check both (binary64 arithmetic, narrow rounding).
    function round64(uint64 sign, uint256 m, int256 e) private pure returns (uint64 result) {
        assembly ("memory-safe") {
            function bitlen(x) -> r {
                r := shl(7, lt(0xffffffffffffffffffffffffffffffff, x))
                r := or(r, shl(6, lt(0xffffffffffffffff, shr(r, x))))
                r := or(r, shl(5, lt(0xffffffff, shr(r, x))))
                r := or(r, shl(4, lt(0xffff, shr(r, x))))
                r := or(r, shl(3, lt(0xff, shr(r, x))))
                // the last three halvings at once: floor(log2) of the remaining byte from a table
                r := or(r, byte(and(0x1f, shr(shr(r, x), 0x8421084210842108cc6318c6db6d54be)), 0x0706060506020504060203020504030106050205030304010505030400000000))
                r := add(r, 1)
            }
            result := and(sign, 0x8000000000000000)
            if m {
                let q := sub(add(e, bitlen(m)), 53)
                if slt(q, sub(0, 1074)) { q := sub(0, 1074) }
                let r := 0
                let live := 1
                switch sgt(q, e)
                case 0 { r := shl(sub(e, q), m) }
                default {
                    let shift := sub(q, e)
                    if gt(shift, 256) { live := 0 }
                    if live {
                        r := shr(shift, m)
                        let rem := and(m, sub(shl(shift, 1), 1))
                        let half := shl(sub(shift, 1), 1)
                        if or(gt(rem, half), and(eq(rem, half), and(r, 1))) {
                            r := add(r, 1)
                            if shr(53, r) {
                                r := shr(1, r)
                                q := add(q, 1)
                            }
                        }
                        if iszero(r) { live := 0 }
                    }
                }
                if live {
                    switch shr(52, r)
                    case 0 { result := or(result, r) } // subnormal: q = -1074, the fraction is r
                    default {
                        // normal: biased exponent q + 1075 (2047 or more overflows to Inf)
                        switch sgt(q, 971)
                        case 1 { result := or(result, 0x7ff0000000000000) }
                        default { result := or(result, or(shl(52, add(q, 1075)), and(r, 0xfffffffffffff))) }
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- arithmetic

    /// @notice a + b, correctly rounded.
    function add(uint64 a, uint64 b) internal pure returns (uint64) {
        uint256 m;
        int256 e;
        uint64 sign;
        bool fast;
        // Fast path for gas, both operands finite and nonzero (absX - 1 < 0x7fefffffffffffff), decoded
        // inline as in `decode` (biased exponent ea: value ma·2^(ea-1075)); every other case below.
        assembly ("memory-safe") {
            a := and(a, 0xffffffffffffffff)
            b := and(b, 0xffffffffffffffff)
            let absA := and(a, 0x7fffffffffffffff)
            let absB := and(b, 0x7fffffffffffffff)
            fast := and(lt(sub(absA, 1), 0x7fefffffffffffff), lt(sub(absB, 1), 0x7fefffffffffffff))
            if fast {
                if lt(absA, absB) {
                    let t := a
                    a := b
                    b := t
                    t := absA
                    absA := absB
                    absB := t
                }
                // A subnormal (biased exponent 0) has the smallest normal's exponent, 1, and no hidden bit.
                let ea := shr(52, absA)
                let ma := or(and(absA, 0xfffffffffffff), shl(52, iszero(iszero(ea))))
                ea := add(ea, iszero(ea))
                let eb := shr(52, absB)
                let mb := or(and(absB, 0xfffffffffffff), shl(52, iszero(iszero(eb))))
                eb := add(eb, iszero(eb))
                // Exact alignment (ma << 200 < 2^253, so the sum fits; |a| >= |b| keeps the difference
                // non-negative), or, when b is below 2^-147 of a, a sticky unit one place below
                // 2^130·ma: b then only decides the rounding direction, which the unit decides alike.
                let d := sub(ea, eb)
                switch gt(d, 200)
                case 1 {
                    ma := shl(130, ma)
                    mb := 1
                    e := sub(ea, 1205)
                }
                default {
                    ma := shl(d, ma)
                    e := sub(eb, 1075)
                }
                sign := and(a, 0x8000000000000000)
                switch and(xor(a, b), 0x8000000000000000)
                case 0 { m := add(ma, mb) }
                default { m := sub(ma, mb) }
            }
        }
        if (fast) return m == 0 ? 0 : round64(sign, m, e); // x - x = +0
        return addSpecial(a, b);
    }

    /// @notice a + b when an operand is ±0, ±Inf or NaN (the fast path in `add` takes all others).
    function addSpecial(uint64 a, uint64 b) private pure returns (uint64) {
        uint64 absA = a & ABS_MASK;
        uint64 absB = b & ABS_MASK;
        if (absA > POS_INF || absB > POS_INF) return NAN;
        if (absA == POS_INF) return (absB == POS_INF && (a ^ b) & SIGN != 0) ? NAN : a;
        if (absB == POS_INF) return b;
        if (absA == 0) return absB == 0 ? a & b : b; // -0 + -0 = -0, any other sum of zeros is +0
        return a; // b is ±0
    }

    /// @notice a - b, correctly rounded.
    function sub(uint64 a, uint64 b) internal pure returns (uint64) {
        return add(a, b ^ SIGN);
    }

    /// @notice a · b, correctly rounded.
    function mul(uint64 a, uint64 b) internal pure returns (uint64) {
        uint256 m;
        int256 e;
        uint64 sign;
        bool fast;
        // Fast path for gas, both operands finite and nonzero (absX - 1 < 0x7fefffffffffffff), decoded
        // inline as in `decode` (biased exponent ea: value ma·2^(ea-1075)); every other case below.
        assembly ("memory-safe") {
            a := and(a, 0xffffffffffffffff)
            b := and(b, 0xffffffffffffffff)
            let absA := and(a, 0x7fffffffffffffff)
            let absB := and(b, 0x7fffffffffffffff)
            fast := and(lt(sub(absA, 1), 0x7fefffffffffffff), lt(sub(absB, 1), 0x7fefffffffffffff))
            if fast {
                // A subnormal (biased exponent 0) has the smallest normal's exponent, 1, and no hidden bit.
                let ea := shr(52, absA)
                let ma := or(and(absA, 0xfffffffffffff), shl(52, iszero(iszero(ea))))
                ea := add(ea, iszero(ea))
                let eb := shr(52, absB)
                let mb := or(and(absB, 0xfffffffffffff), shl(52, iszero(iszero(eb))))
                eb := add(eb, iszero(eb))
                sign := and(xor(a, b), 0x8000000000000000)
                m := mul(ma, mb)
                e := sub(add(ea, eb), 2150)
            }
        }
        if (fast) return round64(sign, m, e);
        // An operand is ±0, ±Inf or NaN.
        uint64 absA = a & ABS_MASK;
        uint64 absB = b & ABS_MASK;
        if (absA > POS_INF || absB > POS_INF) return NAN;
        sign = (a ^ b) & SIGN;
        if (absA == POS_INF || absB == POS_INF) return (absA == 0 || absB == 0) ? NAN : sign | POS_INF;
        return sign; // a zero operand
    }

    /// @notice a / b, correctly rounded.
    function div(uint64 a, uint64 b) internal pure returns (uint64) {
        uint256 m;
        int256 e;
        uint64 sign;
        bool fast;
        // Fast path for gas, both operands finite and nonzero (absX - 1 < 0x7fefffffffffffff), decoded
        // inline as in `decode` (biased exponent ea: value ma·2^(ea-1075)); every other case below.
        // The same decode as mul's, kept inline: a shared private function measured +54 gas on mul and
        // +124 on div (5-11 %, `npm run bench:canonical-gas`), paid by every fold and map of a dispute.
        assembly ("memory-safe") {
            a := and(a, 0xffffffffffffffff)
            b := and(b, 0xffffffffffffffff)
            let absA := and(a, 0x7fffffffffffffff)
            let absB := and(b, 0x7fffffffffffffff)
            fast := and(lt(sub(absA, 1), 0x7fefffffffffffff), lt(sub(absB, 1), 0x7fefffffffffffff))
            if fast {
                // A subnormal (biased exponent 0) has the smallest normal's exponent, 1, and no hidden bit.
                let ea := shr(52, absA)
                let ma := or(and(absA, 0xfffffffffffff), shl(52, iszero(iszero(ea))))
                ea := add(ea, iszero(ea))
                let eb := shr(52, absB)
                let mb := or(and(absB, 0xfffffffffffff), shl(52, iszero(iszero(eb))))
                eb := add(eb, iszero(eb))
                sign := and(xor(a, b), 0x8000000000000000)
                // ma << 180 < 2^233; the quotient has at least 128 bits (ma >= 1, mb < 2^53), so the
                // sticky bit standing for a nonzero remainder sits far below the rounding point.
                let n := shl(180, ma)
                m := or(shl(1, div(n, mb)), iszero(iszero(mod(n, mb))))
                e := sub(sub(ea, eb), 181)
            }
        }
        if (fast) return round64(sign, m, e);
        // An operand is ±0, ±Inf or NaN.
        uint64 absA = a & ABS_MASK;
        uint64 absB = b & ABS_MASK;
        if (absA > POS_INF || absB > POS_INF) return NAN;
        sign = (a ^ b) & SIGN;
        if (absA == POS_INF) return absB == POS_INF ? NAN : sign | POS_INF;
        if (absB == POS_INF) return sign;
        if (absB == 0) return absA == 0 ? NAN : sign | POS_INF;
        return sign; // a is ±0
    }

    /// @notice √a, correctly rounded (√-0 = -0; negative operands give NaN).
    function sqrt(uint64 a) internal pure returns (uint64) {
        if (a & ABS_MASK == 0) return a;
        if (a > POS_INF) return NAN; // any NaN, or any negative number (sign bit set)
        if (a == POS_INF) return a;
        (uint256 m, int256 e) = decode(a);
        // Unchecked: m << 121 < 2^174; its root has at least 60 bits (m >= 1), far more than 55.
        unchecked {
            uint256 k = (e - 120) % 2 == 0 ? 120 : 121;
            uint256 n = m << k;
            uint256 r = isqrt(n);
            uint256 sticky = r * r == n ? 0 : 1;
            return round64(0, (r << 1) | sticky, (e - int256(k)) / 2 - 1);
        }
    }

    /// @notice floor(√n) for n < 2^254 (Newton's iteration from above).
    function isqrt(uint256 n) internal pure returns (uint256 x) {
        if (n == 0) return 0;
        // Unchecked: x starts at 2^ceil(bits/2) >= √n and only decreases; x + n/x < 2^256 for n < 2^254.
        unchecked {
            x = 1 << ((bitLength(n) + 1) / 2);
            while (true) {
                uint256 y = (x + n / x) >> 1;
                if (y >= x) return x;
                x = y;
            }
        }
    }

    /// @notice -a (NaN stays the canonical NaN).
    function neg(uint64 a) internal pure returns (uint64) {
        return isNaN(a) ? NAN : a ^ SIGN;
    }

    /// @notice |a| (NaN stays the canonical NaN).
    function abs(uint64 a) internal pure returns (uint64) {
        return isNaN(a) ? NAN : a & ABS_MASK;
    }

    // ---------------------------------------------------------------- comparisons

    /// @notice A key whose signed order is the numeric order of non-NaN values (±0 both map to 0).
    function orderKey(uint64 a) private pure returns (int256) {
        int256 mag = int256(uint256(a & ABS_MASK));
        return a & SIGN != 0 ? -mag : mag;
    }

    /// @notice a == b (false when either is NaN; +0 == -0).
    function eq(uint64 a, uint64 b) internal pure returns (bool) {
        if (isNaN(a) || isNaN(b)) return false;
        return orderKey(a) == orderKey(b);
    }

    /// @notice a < b (false when either is NaN).
    function lt(uint64 a, uint64 b) internal pure returns (bool) {
        if (isNaN(a) || isNaN(b)) return false;
        return orderKey(a) < orderKey(b);
    }

    /// @notice a <= b (false when either is NaN).
    function le(uint64 a, uint64 b) internal pure returns (bool) {
        if (isNaN(a) || isNaN(b)) return false;
        return orderKey(a) <= orderKey(b);
    }

    /// @notice a > b (false when either is NaN).
    function gt(uint64 a, uint64 b) internal pure returns (bool) {
        return lt(b, a);
    }

    /// @notice a >= b (false when either is NaN).
    function ge(uint64 a, uint64 b) internal pure returns (bool) {
        return le(b, a);
    }

    // ---------------------------------------------------------------- integers

    /// @notice a rounded toward zero to an integer (Math.trunc: the sign of zero kept).
    function trunc(uint64 a) internal pure returns (uint64) {
        uint64 absA = a & ABS_MASK;
        if (absA > POS_INF) return NAN;
        uint256 biased = absA >> 52;
        if (biased >= 1075) return a; // already an integer (or ±Inf)
        if (biased < 1023) return a & SIGN; // |a| < 1
        // Unchecked: 1023 <= biased < 1075, so 0 < fractionBits <= 52.
        unchecked {
            uint256 fractionBits = 1075 - biased;
            return a & ~uint64((uint256(1) << fractionBits) - 1);
        }
    }

    /// @notice The largest integer <= a (Math.floor: floor(-0) = -0, floor(-0.5) = -1).
    function floor(uint64 a) internal pure returns (uint64) {
        uint64 t = trunc(a);
        if (t == a || a & SIGN == 0 || t == NAN) return t;
        return sub(t, ONE); // exact: t is an integer of magnitude < 2^52
    }

    /// @notice 2^k exactly, for the normal exponents -1022 <= k <= 1023 (float.ts pow2).
    function pow2(int256 k) internal pure returns (uint64) {
        if (k < -1022 || k > 1023) revert Float64ExponentOutOfRange(k);
        // Unchecked: 1 <= k + 1023 <= 2046.
        unchecked {
            return uint64(uint256(k + 1023) << 52);
        }
    }

    /// @notice a · 2^k, correctly rounded (exact unless the result leaves the normal range), for any k
    /// (float.ts scale).
    function ldexp(uint64 a, int256 k) internal pure returns (uint64) {
        uint64 absA = a & ABS_MASK;
        if (absA > POS_INF) return NAN;
        if (absA == POS_INF || absA == 0) return a;
        if (k > 4096) k = 4096; // beyond any finite range: the result is ±Inf either way
        if (k < -4096) k = -4096; // ... or ±0
        (uint256 m, int256 e) = decode(absA);
        // Unchecked: |e| <= 1075 and |k| <= 4096.
        unchecked {
            return round64(a & SIGN, m, e + k);
        }
    }

    /// @notice The binary64 nearest (ties to even) to a signed 64-bit integer (float.ts fromInt64).
    function fromInt64(int64 n) internal pure returns (uint64) {
        if (n == 0) return 0;
        // Unchecked: |int64.min| = 2^63 fits in uint256.
        unchecked {
            int256 w = n;
            return n < 0 ? round64(SIGN, uint256(-w), 0) : round64(0, uint256(w), 0);
        }
    }

    /// @notice a truncated toward zero to a signed 64-bit integer, saturating at the int64 range;
    /// NaN gives 0 (float.ts toInt64; WebAssembly's trunc_sat).
    function toInt64(uint64 a) internal pure returns (int64) {
        uint64 absA = a & ABS_MASK;
        if (absA > POS_INF) return 0;
        bool negative = a & SIGN != 0;
        uint256 biased = absA >> 52;
        if (biased >= 1023 + 63) return negative ? type(int64).min : type(int64).max; // |a| >= 2^63
        if (biased < 1023) return 0;
        (uint256 m, int256 e) = decode(absA);
        // Unchecked: 0 <= biased - 1023 <= 62, so the magnitude is < 2^63.
        unchecked {
            uint256 mag = e >= 0 ? m << uint256(e) : m >> uint256(-e);
            return negative ? -int64(int256(mag)) : int64(int256(mag));
        }
    }

    // ---------------------------------------------------------------- narrow formats

    /// @notice a rounded to fp32, as binary64 (float.ts roundTo(x, FP32) = Math.fround).
    function roundFp32(uint64 a) internal pure returns (uint64) {
        return roundFormat(a, 24, -126, 127);
    }

    /// @notice a rounded to fp16 (IEEE binary16), as binary64.
    function roundFp16(uint64 a) internal pure returns (uint64) {
        return roundFormat(a, 11, -14, 15);
    }

    /// @notice a rounded to bfloat16, as binary64.
    function roundBf16(uint64 a) internal pure returns (uint64) {
        return roundFormat(a, 8, -126, 127);
    }

    /// @notice a rounded to TensorFloat-32 (fp32's range, 11 significant bits), as binary64.
    function roundTf32(uint64 a) internal pure returns (uint64) {
        return roundFormat(a, 11, -126, 127);
    }

    /// @notice a rounded to the format (p, emin, emax): NaN gives the canonical NaN, ±0 and ±Inf pass.
    function roundFormat(uint64 a, uint256 p, int256 emin, int256 emax) internal pure returns (uint64) {
        uint64 absA = a & ABS_MASK;
        if (absA > POS_INF) return NAN;
        if (absA == POS_INF || absA == 0) return a;
        (uint256 m, int256 e) = decode(absA);
        return roundPack(a & SIGN, m, e, p, emin, emax);
    }

    /// @notice The fp32 bit pattern of a rounded to fp32.
    function toFp32(uint64 a) internal pure returns (uint32) {
        return uint32(encodeNarrow(roundFp32(a), 23, 8, NAN32));
    }

    /// @notice The fp16 bit pattern of a rounded to fp16.
    function toFp16(uint64 a) internal pure returns (uint16) {
        return uint16(encodeNarrow(roundFp16(a), 10, 5, NAN16));
    }

    /// @notice The bf16 bit pattern of a rounded to bf16.
    function toBf16(uint64 a) internal pure returns (uint16) {
        return uint16(encodeNarrow(roundBf16(a), 7, 8, NAN_BF16));
    }

    /// @notice The fp32 bit pattern (low 13 mantissa bits zero) of a rounded to tf32.
    function toTf32(uint64 a) internal pure returns (uint32) {
        return uint32(encodeNarrow(roundTf32(a), 23, 8, NAN32));
    }

    /// @notice The binary64 value of fp32 bits (exact; NaN gives the canonical NaN).
    function fromFp32(uint32 bits) internal pure returns (uint64) {
        return decodeNarrow(bits, 23, 8);
    }

    /// @notice The binary64 value of fp16 bits (exact; NaN gives the canonical NaN).
    function fromFp16(uint16 bits) internal pure returns (uint64) {
        return decodeNarrow(bits, 10, 5);
    }

    /// @notice The binary64 value of bf16 bits (exact; NaN gives the canonical NaN).
    function fromBf16(uint16 bits) internal pure returns (uint64) {
        return decodeNarrow(bits, 7, 8);
    }

    /// @notice Bits of a binary64 value already representable in a narrow IEEE-style format with
    /// `fracBits` stored fraction bits and `expBits` exponent bits.
    function encodeNarrow(uint64 v, uint256 fracBits, uint256 expBits, uint256 nan) private pure returns (uint256) {
        // Unchecked: narrow exponents (|e| <= 2^(expBits-1) + fracBits <= 160) and fractions (< 2^53)
        // are small; v is exactly representable, so every shifted-out bit is zero.
        unchecked {
            uint256 signBit = uint256(v >> 63) << (fracBits + expBits);
            uint64 absV = v & ABS_MASK;
            if (absV > POS_INF) return nan;
            uint256 expMax = (uint256(1) << expBits) - 1;
            if (absV == POS_INF) return signBit | (expMax << fracBits);
            if (absV == 0) return signBit;
            int256 bias = int256((uint256(1) << (expBits - 1)) - 1);
            int256 top = int256(uint256(absV >> 52)) - 1023; // v is normal in binary64
            uint256 sig = uint256(absV & FRAC_MASK) | (1 << 52);
            if (top >= 1 - bias) {
                return signBit | (uint256(top + bias) << fracBits) | ((sig & FRAC_MASK) >> (52 - fracBits));
            }
            // Subnormal in the narrow format: value = frac · 2^(1 - bias - fracBits).
            uint256 shift = uint256(int256(52 - fracBits) + (1 - bias) - top);
            return signBit | (sig >> shift);
        }
    }

    /// @notice The binary64 value of narrow-format bits (exact).
    function decodeNarrow(uint256 bits, uint256 fracBits, uint256 expBits) private pure returns (uint64) {
        // Unchecked: as encodeNarrow.
        unchecked {
            uint64 sign = uint64((bits >> (fracBits + expBits)) & 1) << 63;
            uint256 expMax = (uint256(1) << expBits) - 1;
            uint256 biased = (bits >> fracBits) & expMax;
            uint256 frac = bits & ((uint256(1) << fracBits) - 1);
            int256 bias = int256((uint256(1) << (expBits - 1)) - 1);
            if (biased == expMax) return frac == 0 ? sign | POS_INF : NAN;
            if (biased == 0) {
                if (frac == 0) return sign;
                return round64(sign, frac, 1 - bias - int256(fracBits)); // exact
            }
            return round64(sign, frac | (uint256(1) << fracBits), int256(biased) - bias - int256(fracBits)); // exact
        }
    }
}
