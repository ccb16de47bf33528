// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {InferenceConsumer} from "../consumer/InferenceConsumer.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";

/// @title SingleModelDApp
/// @notice The part every one-model example dApp shares: the model, tier and callback gas it requests with,
/// who asked for each request, and how many results and refunds came back. A dApp built on it decodes its
/// own output in `_onResult` and calls `_request` with the input inline or by hash and URI.
abstract contract SingleModelDApp is InferenceConsumer {
    event RequestRefunded(RequestId indexed requestId, uint8 reason);

    bytes32 public immutable modelHash;
    IInferenceOracle.Tier public immutable tier;
    uint32 public immutable callbackGasLimit;

    uint256 public resultCount;
    uint256 public refundCount;
    mapping(RequestId => address) public requesterOf;

    constructor(address oracle_, bytes32 modelHash_, IInferenceOracle.Tier tier_, uint32 callbackGasLimit_)
        InferenceConsumer(oracle_)
    {
        modelHash = modelHash_;
        tier = tier_;
        callbackGasLimit = callbackGasLimit_;
    }

    /// @dev Requests one inference of `modelHash` with msg.value as the fee: `input` inline (the oracle hashes
    /// it) or `inputHash` and `inputURI`; the output is delivered in full (no inline cap).
    function _request(bytes32 inputHash, bytes memory input, string memory inputURI, uint64 deadline)
        internal
        returns (RequestId requestId)
    {
        requestId = _requestInference(
            IInferenceOracle.RequestParams({
                modelHash: modelHash,
                inputHash: inputHash,
                input: input,
                inputURI: inputURI,
                tier: tier,
                callbackGasLimit: callbackGasLimit,
                deadline: deadline,
                maxInlineOutput: 0
            }),
            msg.value
        );
        requesterOf[requestId] = msg.sender;
    }

    function _onRefund(RequestId requestId, uint8 reason) internal override {
        ++refundCount;
        emit RequestRefunded(requestId, reason);
    }
}
