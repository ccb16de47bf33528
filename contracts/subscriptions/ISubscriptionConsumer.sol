// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RequestId} from "../types/RequestId.sol";

/// @notice Implemented by contracts that receive subscription deliveries (InferenceSubscriptions).
interface ISubscriptionConsumer {
    /// @notice Delivers round `round` of subscription `subId`: the oracle's final result of `requestId`.
    /// Runs with exactly the subscription's callbackGasLimit; a revert or running out of gas is recorded
    /// (DeliveryFulfilled's callbackSucceeded) and never blocks anything. `output` is empty when the
    /// oracle delivered none (fetch it by `outputHash`).
    function onSubscriptionResult(uint256 subId, uint32 round, RequestId requestId, bytes32 outputHash, bytes calldata output)
        external;

    /// @notice The input of round `round`, for subscriptions made with `inputFromConsumer`. Called as a
    /// static call with INPUT_GAS gas; a revert, a zero hash, a malformed answer or a URI over
    /// MAX_URI_BYTES skips the round (the keeper is still paid, the round's fee stays in the balance).
    function subscriptionInput(uint256 subId, uint32 round) external view returns (bytes32 inputHash, string memory inputURI);
}
