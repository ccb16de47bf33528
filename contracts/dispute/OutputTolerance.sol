// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Float64} from "../canonical/Float64.sol";

/// @notice How far a signed output element is from the canonical one, against a model's tolerances (docs/V2.md
/// §5, IDisputeGame.sol CanonicalTerms). FraudGame deploys its own copy in its constructor (binary64 arithmetic is
/// large; this keeps FraudGame under EIP-170).
contract OutputTolerance {
    using Float64 for uint64;

    /// @return 0 within τ_out, 1 beyond τ_out (within τ_major), 2 beyond τ_major. Float dtypes (1 float32,
    /// 10 float16, 11 double; values are binary64 bits): within τ when both are NaN, or both the same infinity, or
    /// |w − c| ≤ abs + rel·|c| evaluated in binary64. Integer dtypes are exact: any difference is beyond τ_major.
    function magnitude(uint8 dtype, uint64 w, uint64 c, uint64 outAbs, uint64 outRel, uint64 majorAbs, uint64 majorRel)
        external
        pure
        returns (uint8)
    {
        bool isFloat = dtype == 1 || dtype == 10 || dtype == 11;
        if (!isFloat) return w == c ? 0 : 2;
        if (!within(w, c, majorAbs, majorRel)) return 2;
        if (!within(w, c, outAbs, outRel)) return 1;
        return 0;
    }

    function within(uint64 w, uint64 c, uint64 abs_, uint64 rel) public pure returns (bool) {
        if (w.isNaN() || c.isNaN()) return w.isNaN() && c.isNaN();
        if (w.isInf() || c.isInf()) return w == c;
        return w.sub(c).abs().le(abs_.add(rel.mul(c.abs())));
    }
}
