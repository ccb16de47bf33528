// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Test harness: assembly packs results into a bytes buffer without per-element abi.encode.
// solhint-disable no-inline-assembly

import {Float64} from "../canonical/Float64.sol";
import {CanonicalMath} from "../canonical/CanonicalMath.sol";

/// @notice Test-only: evaluates packed arrays of canonical operations in one call, so thousands of
/// golden vectors run against canonical/float.ts in a few calls (test/canonical/), and measures the gas
/// of each operation alone (bench/canonical-gas.ts).
/// Input: records of 17 bytes, `u8 op || u64 a || u64 b` (big-endian); output: one u64 per record.
/// Operation codes: the order of `floatTable` (mirrored in test/canonical/harness.ts `Op`).
contract CanonicalHarness {
    uint256 private constant RECORD = 17;

    error HarnessBadInput(uint256 length);
    error HarnessUnknownOp(uint256 op, uint256 count);

    /// @notice results[i] = op_i(a_i, b_i) (booleans as 0/1, integers as 64-bit two's complement).
    function evalFloat(bytes calldata input) external pure returns (bytes memory) {
        return run(input, floatTable());
    }

    /// @notice Gas of each op_i(a_i, b_i) alone: the internal call through a function pointer (the
    /// `Nop` code measures that overhead).
    function gasFloat(bytes calldata input) external view returns (uint256[] memory) {
        return measure(input, floatTable());
    }

    /// @notice results[i] = fn_i(a_i, b_i) for the transcendentals (codes: the order of `mathTable`).
    function evalMath(bytes calldata input) external pure returns (bytes memory) {
        return run(input, mathTable());
    }

    /// @notice Gas of each transcendental call alone (as gasFloat).
    function gasMath(bytes calldata input) external view returns (uint256[] memory) {
        return measure(input, mathTable());
    }

    function mathTable() private pure returns (function(uint64, uint64) pure returns (uint64)[] memory t) {
        t = new function(uint64, uint64) pure returns (uint64)[](8);
        t[0] = cexp_;
        t[1] = cexpm1_;
        t[2] = clog_;
        t[3] = csigmoid_;
        t[4] = ctanh_;
        t[5] = cerf_;
        t[6] = CanonicalMath.cpow;
        t[7] = nop_;
    }

    function cexp_(uint64 a, uint64) private pure returns (uint64) {
        return CanonicalMath.cexp(a);
    }

    function cexpm1_(uint64 a, uint64) private pure returns (uint64) {
        return CanonicalMath.cexpm1(a);
    }

    function clog_(uint64 a, uint64) private pure returns (uint64) {
        return CanonicalMath.clog(a);
    }

    function csigmoid_(uint64 a, uint64) private pure returns (uint64) {
        return CanonicalMath.csigmoid(a);
    }

    function ctanh_(uint64 a, uint64) private pure returns (uint64) {
        return CanonicalMath.ctanh(a);
    }

    function cerf_(uint64 a, uint64) private pure returns (uint64) {
        return CanonicalMath.cerf(a);
    }

    /// @notice Float64.pow2 (reverts outside the normal exponents).
    function pow2(int256 k) external pure returns (uint64) {
        return Float64.pow2(k);
    }

    function floatTable() private pure returns (function(uint64, uint64) pure returns (uint64)[] memory t) {
        t = new function(uint64, uint64) pure returns (uint64)[](27);
        t[0] = Float64.add;
        t[1] = Float64.sub;
        t[2] = Float64.mul;
        t[3] = Float64.div;
        t[4] = sqrt_;
        t[5] = eq_;
        t[6] = lt_;
        t[7] = le_;
        t[8] = neg_;
        t[9] = abs_;
        t[10] = floor_;
        t[11] = trunc_;
        t[12] = ldexp_;
        t[13] = fromInt64_;
        t[14] = toInt64_;
        t[15] = roundFp32_;
        t[16] = roundFp16_;
        t[17] = roundBf16_;
        t[18] = roundTf32_;
        t[19] = toFp32_;
        t[20] = toFp16_;
        t[21] = toBf16_;
        t[22] = toTf32_;
        t[23] = fromFp32_;
        t[24] = fromFp16_;
        t[25] = fromBf16_;
        t[26] = nop_;
    }

    function run(bytes calldata input, function(uint64, uint64) pure returns (uint64)[] memory table) private pure returns (bytes memory out) {
        if (input.length % RECORD != 0) revert HarnessBadInput(input.length);
        uint256 n = input.length / RECORD;
        out = new bytes(n * 8 + 32); // 32 spare bytes: each result is written with a 32-byte mstore
        for (uint256 i = 0; i < n; i++) {
            (uint256 op, uint64 a, uint64 b) = record(input, i);
            if (op >= table.length) revert HarnessUnknownOp(op, table.length);
            uint64 r = table[op](a, b);
            assembly {
                mstore(add(add(out, 32), mul(i, 8)), shl(192, r))
            }
        }
        assembly {
            mstore(out, mul(n, 8))
        }
    }

    function measure(bytes calldata input, function(uint64, uint64) pure returns (uint64)[] memory table) private view returns (uint256[] memory gas) {
        if (input.length % RECORD != 0) revert HarnessBadInput(input.length);
        uint256 n = input.length / RECORD;
        gas = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            (uint256 op, uint64 a, uint64 b) = record(input, i);
            if (op >= table.length) revert HarnessUnknownOp(op, table.length);
            function(uint64, uint64) pure returns (uint64) f = table[op];
            uint256 before = gasleft();
            f(a, b);
            gas[i] = before - gasleft();
        }
    }

    function record(bytes calldata input, uint256 i) private pure returns (uint256 op, uint64 a, uint64 b) {
        uint256 off = i * RECORD;
        op = uint8(input[off]);
        a = uint64(bytes8(input[off + 1:off + 9]));
        b = uint64(bytes8(input[off + 9:off + 17]));
    }

    function sqrt_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.sqrt(a);
    }

    function eq_(uint64 a, uint64 b) private pure returns (uint64) {
        return Float64.eq(a, b) ? 1 : 0;
    }

    function lt_(uint64 a, uint64 b) private pure returns (uint64) {
        return Float64.lt(a, b) ? 1 : 0;
    }

    function le_(uint64 a, uint64 b) private pure returns (uint64) {
        return Float64.le(a, b) ? 1 : 0;
    }

    function neg_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.neg(a);
    }

    function abs_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.abs(a);
    }

    function floor_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.floor(a);
    }

    function trunc_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.trunc(a);
    }

    function ldexp_(uint64 a, uint64 k) private pure returns (uint64) {
        return Float64.ldexp(a, int64(k));
    }

    function fromInt64_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.fromInt64(int64(a));
    }

    function toInt64_(uint64 a, uint64) private pure returns (uint64) {
        return uint64(Float64.toInt64(a));
    }

    function roundFp32_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.roundFp32(a);
    }

    function roundFp16_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.roundFp16(a);
    }

    function roundBf16_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.roundBf16(a);
    }

    function roundTf32_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.roundTf32(a);
    }

    function toFp32_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.toFp32(a);
    }

    function toFp16_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.toFp16(a);
    }

    function toBf16_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.toBf16(a);
    }

    function toTf32_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.toTf32(a);
    }

    function fromFp32_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.fromFp32(uint32(a));
    }

    function fromFp16_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.fromFp16(uint16(a));
    }

    function fromBf16_(uint64 a, uint64) private pure returns (uint64) {
        return Float64.fromBf16(uint16(a));
    }

    function nop_(uint64 a, uint64) private pure returns (uint64) {
        return a;
    }
}
