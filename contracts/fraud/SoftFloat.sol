// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice A soft float: value = m * 2^e, m a signed 120-bit mantissa (|m| in [2^119, 2^120), or 0),
/// e a signed exponent, packed into one word (m in the high 128 bits, e in the low 128 bits).
type F is uint256;

/// @title SoftFloat
/// @notice Wide soft-float arithmetic for the one-step verifier (docs/OPTIMISTIC.md, "The float
/// argument"). Every float32 is decoded EXACTLY (24-bit mantissa, subnormals included); a product
/// of two float32 is exact (48 bits). `add` is exact before its final normalisation; each
/// normalisation truncates toward zero, so every operation's relative error is below 2^-118 and a
/// result is never larger in magnitude than the exact value it stands for. The verifier's own error
/// on any element is therefore at most k * 2^-117 * Σ|terms| after k operations (k < 2^16), i.e.
/// below 2^-100 * Σ|terms|, while the tolerance it enforces is at least 2^-23 * Σ|terms|; the
/// verifier also widens the tolerance by a relative 2^-40 before ruling against a worker.
library SoftFloat {
    uint256 internal constant P = 120;
    /// ln 2, 120 bits: floor(ln2 * 2^120) * 2^-120.
    int256 internal constant LN2_M = 921350637599661305226344307672478454;
    int256 internal constant LN2_E = -120;

    error SoftFloatNonFinite(uint32 bits);
    error SoftFloatDivisionByZero();
    error SoftFloatNegativeSqrt();
    error SoftFloatOutOfRange();

    function pack(int256 m, int256 e) private pure returns (F) {
        return F.wrap((uint256(uint128(int128(m))) << 128) | uint256(uint128(int128(e))));
    }

    function unpack(F x) internal pure returns (int256 m, int256 e) {
        uint256 v = F.unwrap(x);
        m = int256(int128(uint128(v >> 128)));
        e = int256(int128(uint128(v)));
    }

    /// @notice floor(log2 x) for x > 0.
    function log2(uint256 x) internal pure returns (uint256 r) {
        assembly {
            r := shl(7, lt(0xffffffffffffffffffffffffffffffff, x))
            r := or(r, shl(6, lt(0xffffffffffffffff, shr(r, x))))
            r := or(r, shl(5, lt(0xffffffff, shr(r, x))))
            r := or(r, shl(4, lt(0xffff, shr(r, x))))
            r := or(r, shl(3, lt(0xff, shr(r, x))))
            r := or(r, shl(2, lt(0xf, shr(r, x))))
            r := or(r, shl(1, lt(0x3, shr(r, x))))
            r := or(r, lt(0x1, shr(r, x)))
        }
    }

    /// @notice m * 2^e normalised to a P-bit mantissa (truncating toward zero).
    function norm(int256 m, int256 e) internal pure returns (F) {
        if (m == 0) return F.wrap(0);
        // Unchecked: |m| < 2^250 at every call site, and e is kept within int64 below.
        unchecked {
            uint256 a = m < 0 ? uint256(-m) : uint256(m);
            uint256 l = log2(a) + 1;
            if (l > P) {
                a >>= (l - P);
                e += int256(l - P);
            } else if (l < P) {
                a <<= (P - l);
                e -= int256(P - l);
            }
            if (e > type(int64).max || e < type(int64).min) revert SoftFloatOutOfRange();
            return pack(m < 0 ? -int256(a) : int256(a), e);
        }
    }

    function isFinite32(uint32 bits) internal pure returns (bool) {
        return (bits >> 23) & 0xff != 0xff;
    }

    /// @notice The exact value of float32 `bits` (reverts on NaN / Inf).
    function fromF32(uint32 bits) internal pure returns (F) {
        uint256 ex = (bits >> 23) & 0xff;
        int256 m = int256(uint256(bits & 0x7fffff));
        if (ex == 0xff) revert SoftFloatNonFinite(bits);
        int256 e = -149;
        if (ex != 0) {
            m |= 0x800000;
            e = int256(ex) - 150;
        }
        return norm(bits >> 31 == 1 ? -m : m, e);
    }

    function fromInt(int256 v) internal pure returns (F) {
        return norm(v, 0);
    }

    function zero() internal pure returns (F) {
        return F.wrap(0);
    }

    function one() internal pure returns (F) {
        return pack(int256(1 << (P - 1)), 1 - int256(P));
    }

    function isZero(F x) internal pure returns (bool) {
        return F.unwrap(x) == 0;
    }

    function neg(F x) internal pure returns (F) {
        (int256 m, int256 e) = unpack(x);
        return m == 0 ? x : pack(-m, e);
    }

    function abs(F x) internal pure returns (F) {
        (int256 m, int256 e) = unpack(x);
        return m < 0 ? pack(-m, e) : x;
    }

    function sign(F x) internal pure returns (int256) {
        (int256 m,) = unpack(x);
        return m > 0 ? int256(1) : m < 0 ? -1 : int256(0);
    }

    function add(F a, F b) internal pure returns (F) {
        (int256 am, int256 ae) = unpack(a);
        (int256 bm, int256 be) = unpack(b);
        if (am == 0) return b;
        if (bm == 0) return a;
        if (ae < be) (am, ae, bm, be) = (bm, be, am, ae);
        uint256 d = uint256(ae - be);
        // |b| < 2^(1-d) |a|: dropping it changes the sum by less than 2^-(P+1) relative, and never its sign.
        if (d > P + 2) return pack(am, ae);
        unchecked {
            return norm(am * int256(1 << d) + bm, be); // |am| < 2^120, d <= 122: < 2^243
        }
    }

    function sub(F a, F b) internal pure returns (F) {
        return add(a, neg(b));
    }

    function mul(F a, F b) internal pure returns (F) {
        (int256 am, int256 ae) = unpack(a);
        (int256 bm, int256 be) = unpack(b);
        if (am == 0 || bm == 0) return F.wrap(0);
        unchecked {
            return norm(am * bm, ae + be); // < 2^240; exponents within int64
        }
    }

    function div(F a, F b) internal pure returns (F) {
        (int256 am, int256 ae) = unpack(a);
        (int256 bm, int256 be) = unpack(b);
        if (bm == 0) revert SoftFloatDivisionByZero();
        if (am == 0) return F.wrap(0);
        return norm((am * int256(1 << P)) / bm, ae - be - int256(P));
    }

    /// @notice x * 2^k, exact.
    function mulPow2(F x, int256 k) internal pure returns (F) {
        (int256 m, int256 e) = unpack(x);
        return m == 0 ? x : norm(m, e + k);
    }

    function sqrt(F x) internal pure returns (F) {
        (int256 m, int256 e) = unpack(x);
        if (m < 0) revert SoftFloatNegativeSqrt();
        if (m == 0) return x;
        uint256 s = (e & 1) == 0 ? P : P + 1;
        uint256 r = isqrt(uint256(m) << s);
        return norm(int256(r), (e - int256(s)) / 2);
    }

    function isqrt(uint256 a) internal pure returns (uint256 x) {
        if (a == 0) return 0;
        x = uint256(1) << ((log2(a) >> 1) + 1); // >= sqrt(a)
        while (true) {
            uint256 y = (x + a / x) >> 1;
            if (y >= x) return x;
            x = y;
        }
    }

    /// @notice sign(a - b): exact.
    function cmp(F a, F b) internal pure returns (int256) {
        return sign(sub(a, b));
    }

    function gt(F a, F b) internal pure returns (bool) {
        return cmp(a, b) > 0;
    }

    function eq(F a, F b) internal pure returns (bool) {
        return F.unwrap(a) == F.unwrap(b);
    }

    function max(F a, F b) internal pure returns (F) {
        return cmp(a, b) >= 0 ? a : b;
    }

    function min(F a, F b) internal pure returns (F) {
        return cmp(a, b) <= 0 ? a : b;
    }

    /// @notice floor(x) as an integer (|x| < 2^200).
    function floorInt(F x) internal pure returns (int256) {
        (int256 m, int256 e) = unpack(x);
        if (m == 0) return 0;
        if (e >= 0) {
            if (e > 80) revert SoftFloatOutOfRange();
            return m * int256(1 << uint256(e));
        }
        if (e < -255) return m < 0 ? -1 : int256(0);
        return m >> uint256(-e); // arithmetic shift: rounds toward -infinity
    }

    /// @notice e^x for x <= 0, relative error below 2^-100 (x < -4096 gives 0: e^x < 2^-5909 there).
    /// x = k ln2 + r, |r| <= 0.35 + 2^-100; e^r by 30 Taylor terms (remainder < 0.35^31/31! < 2^-160).
    function expNonPositive(F x) internal pure returns (F) {
        if (isZero(x)) return one();
        if (sign(x) > 0) revert SoftFloatOutOfRange();
        if (gt(fromInt(-4096), x)) return F.wrap(0);
        F ln2 = pack(LN2_M, LN2_E);
        int256 k = floorInt(add(div(x, ln2), pack(int256(1 << (P - 1)), -int256(P)))); // round(x / ln2)
        F r = sub(x, mul(ln2, fromInt(k)));
        F term = one();
        F sum = term;
        for (uint256 j = 1; j <= 30; ++j) {
            term = div(mul(term, r), fromInt(int256(j)));
            sum = add(sum, term);
        }
        return mulPow2(sum, k);
    }
}
