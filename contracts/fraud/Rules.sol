// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {F, SoftFloat} from "./SoftFloat.sol";
import {OpEntry} from "./OpEntry.sol";
import {Verdict} from "./FraudTypes.sol";

/// @title Rules
/// @notice The tolerance rule (docs/OPTIMISTIC.md, challenger/ops.ts) in soft float:
///   |claimed - recomputed| <= absTol + relTol * Σ|terms|,
///   relTol = 2γ(n+1) = 2(n+1) / (2^24 - (n+1)),  absTol = (n+1) * 2^-126,
/// widened by a relative 2^-40 (far above the verifier's own error, < 2^-100 Σ|terms|) before a
/// worker is found at fault: every doubt goes to the worker. Exact operators must match exactly.
library Rules {
    using SoftFloat for F;

    error RulesTooManyTerms(uint256 terms);

    function bound(F magnitude, uint256 terms) internal pure returns (F) {
        uint256 n1 = terms + 1;
        if (n1 >= 1 << 23) revert RulesTooManyTerms(terms);
        F absTol = SoftFloat.norm(int256(n1), -126);
        F relTol = SoftFloat.fromInt(int256(2 * n1)).div(SoftFloat.fromInt(int256((1 << 24) - n1)));
        return absTol.add(relTol.mul(magnitude));
    }

    /// @notice Float element: `value` from `terms` roundings over terms of total magnitude `magnitude`.
    function floatVerdict(bytes calldata claimedRaw, F value, F magnitude, uint256 terms) internal pure returns (Verdict memory v) {
        (F c, bool finite) = OpEntry.decodeClaimed(claimedRaw, OpEntry.FLOAT);
        v.recomputed = value;
        v.bound = bound(magnitude, terms);
        F wide = v.bound.add(v.bound.mulPow2(-40));
        if (!finite) {
            // Inf/NaN from finite inputs: a fault unless an honest rounding could overflow (|x| near 2^128).
            v.faulty = SoftFloat.norm(1, 127).gt(value.abs().add(wide));
            return v;
        }
        v.claimed = c;
        v.faulty = c.sub(value).abs().gt(wide);
    }

    /// @notice Exact element (integer arithmetic, selection, data movement): claimed must equal value.
    function exactVerdict(bytes calldata claimedRaw, uint8 dtype, F value) internal pure returns (Verdict memory v) {
        (F c, bool finite) = OpEntry.decodeClaimed(claimedRaw, dtype);
        v.exact = true;
        v.recomputed = value;
        v.claimed = c;
        v.faulty = !finite || !c.eq(value);
    }

    /// @notice Wraps an integer to `dtype`'s width (two's complement), as ONNX integer arithmetic does.
    function wrap(int256 x, uint8 dtype) internal pure returns (int256) {
        if (dtype == OpEntry.INT32) return int256(int32(x));
        if (dtype == OpEntry.INT64) return int256(int64(x));
        if (dtype == OpEntry.INT16) return int256(int16(x));
        if (dtype == OpEntry.INT8) return int256(int8(x));
        if (dtype == OpEntry.UINT8) return int256(uint256(uint8(uint256(x))));
        if (dtype == OpEntry.UINT16) return int256(uint256(uint16(uint256(x))));
        if (dtype == OpEntry.UINT32) return int256(uint256(uint32(uint256(x))));
        if (dtype == OpEntry.UINT64) return int256(uint256(uint64(uint256(x))));
        if (dtype == OpEntry.BOOL) return x == 0 ? int256(0) : int256(1);
        return x;
    }
}
