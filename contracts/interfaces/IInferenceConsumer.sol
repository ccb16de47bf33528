// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RequestId} from "../types/RequestId.sol";

/// @notice Implemented by contracts that request inferences. The oracle calls these with the gas
/// limit the request asked for; a revert or running out of gas is recorded and never blocks settlement.
interface IInferenceConsumer {
    /// @notice Delivers a final result. `output` is the canonical tensor encoding (inline: at most the
    /// request's `maxInlineOutput` bytes), or empty: delivered as its hash only (longer than
    /// `maxInlineOutput`, or its bytes withheld past OUTPUT_GRACE). Then the bytes are at
    /// `<relayer>/blobs/<outputHash>` (content-addressed); fetch and check them off chain (the SDK's
    /// `fetchOutput`) or recompute them with the canonical runtime (docs/PROTOCOL.md "Large outputs").
    function onInferenceResult(RequestId requestId, bytes32 outputHash, bytes calldata output) external;

    /// @notice Delivers a refund (the fee comes as msg.value). `reason` is an `IInferenceOracle.RefundReason`.
    /// Runs with a fixed 50,000 gas (the oracle's REFUND_GAS), not the request's callbackGasLimit; if it
    /// fails, the fee waits in the oracle's pull balance of this contract (`IInferenceOracle.withdraw`).
    function onInferenceRefunded(RequestId requestId, uint8 reason) external payable;
}
