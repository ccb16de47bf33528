// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Assembly is the only way to forward an exact gas amount and copy no return data (return bombs).
// solhint-disable no-inline-assembly

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";

/// @notice Calls into untrusted contracts (result callbacks, refund pushes) with an exact gas budget and
/// without copying return data, so the callee can neither starve nor return-bomb the caller.
library ExactGasCall {
    /// @dev Covers what the CALL opcode itself charges besides the forwarded gas: a cold account access
    /// (2,600), a value transfer (9,000) and, at worst, creating the recipient account (25,000).
    uint256 internal constant CALL_OVERHEAD = 40_000;

    /// @notice Calls `target` with exactly `gasLimit` gas. Reverts OracleInsufficientGasForCallback when
    /// less than that could be forwarded, so a caller cannot make the call fail by sending too little gas.
    /// @return success false when the callee reverted or ran out of gas; never reverts for that.
    function call(address target, uint256 gasLimit, uint256 value, bytes memory data) internal returns (bool success) {
        // EIP-150 forwards at most 63/64 of what is left, so the callee gets gasLimit only if we hold
        // gasLimit * 64 / 63 plus what the CALL opcode charges. gasLimit < 2^32: cannot overflow.
        uint256 required = gasLimit * 64 / 63 + CALL_OVERHEAD;
        uint256 available = gasleft();
        if (available < required) revert IInferenceOracle.OracleInsufficientGasForCallback(available, required);
        assembly ("memory-safe") {
            // out size 0: return data is never copied (return-bomb safe).
            success := call(gasLimit, target, value, add(data, 32), mload(data), 0, 0)
        }
    }
}
