// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";

/// @title InferenceConsumer
/// @notice Base for dApps that request inferences: forwards requests with their fee and accepts
/// results and refunds only from the oracle. Override `_onResult` and `_onRefund`; keep them within
/// the callback gas limit you request, since the oracle never retries a failed callback.
abstract contract InferenceConsumer is IInferenceConsumer {
    error ConsumerOnlyOracle(address caller);

    IInferenceOracle public immutable oracle;

    modifier onlyOracle() {
        // INVARIANT: results and refunds are believed only when the oracle delivers them.
        if (msg.sender != address(oracle)) revert ConsumerOnlyOracle(msg.sender);
        _;
    }

    constructor(address oracle_) {
        oracle = IInferenceOracle(oracle_);
    }

    /// @notice Refunds the oracle could not push arrive through `oracle.withdraw()` as plain transfers.
    receive() external payable onlyOracle {}

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(RequestId requestId, bytes32 outputHash, bytes calldata output) external onlyOracle {
        _onResult(requestId, outputHash, output);
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceRefunded(RequestId requestId, uint8 reason) external payable onlyOracle {
        _onRefund(requestId, reason);
    }

    /// @dev Sends a request with `fee` wei of this contract's balance (usually the caller's msg.value).
    function _requestInference(IInferenceOracle.RequestParams memory params, uint256 fee)
        internal
        returns (RequestId)
    {
        return oracle.requestInference{value: fee}(params);
    }

    /// @dev Pulls whatever the oracle credited to this contract (refunds whose push failed).
    function _withdrawFromOracle() internal {
        oracle.withdraw();
    }

    function _onResult(RequestId requestId, bytes32 outputHash, bytes calldata output) internal virtual;

    function _onRefund(RequestId requestId, uint8 reason) internal virtual;
}
