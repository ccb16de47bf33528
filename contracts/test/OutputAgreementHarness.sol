// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {OutputAgreement} from "../redundancy/OutputAgreement.sol";

/// @notice Test harness: exposes OutputAgreement (an internal library) to the tests.
contract OutputAgreementHarness {
    function agree(bytes calldata a, bytes calldata b, uint64 abs_, uint64 rel) external pure returns (bool) {
        return OutputAgreement.agree(a, b, abs_, rel);
    }

    /// @notice (within(x, y) && within(y, x), withinBothWays(x, y)): the tests check they never differ.
    function bothWays(uint64 x, uint64 y, uint64 abs_, uint64 rel) external pure returns (bool, bool) {
        return (
            OutputAgreement.within(x, y, abs_, rel) && OutputAgreement.within(y, x, abs_, rel),
            OutputAgreement.withinBothWays(x, y, abs_, rel)
        );
    }
}
