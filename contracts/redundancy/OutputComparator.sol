// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {OutputAgreement} from "./OutputAgreement.sol";

/// @notice OutputAgreement as a contract: RedundantInference deploys its own copy in its constructor and calls it
/// from `decide` (binary64 arithmetic is large; this keeps RedundantInference well under EIP-170, as FraudGame
/// does with OutputTolerance).
contract OutputComparator {
    /// @notice Whether the encodings `a` and `b` agree within τ_out (binary64 bits abs, rel), both ways.
    function agree(bytes calldata a, bytes calldata b, uint64 abs_, uint64 rel) external pure returns (bool) {
        return OutputAgreement.agree(a, b, abs_, rel);
    }
}
