// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {InferenceConsumer} from "../consumer/InferenceConsumer.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";

/// @title LargeOutputDApp
/// @notice Example consumer of large outputs (docs/FEATURES.md "Large outputs"). `detect` asks
/// a model with a large output (e.g. PP-OCR det's probability map, float32[1,1,H,W]) for the hash only
/// (maxInlineOutput 1: never inline): the callback stores the output hash, and the bytes are fetched
/// off-chain from `<relayer>/blobs/<outputHash>` and checked against it (the SDK's `fetchOutput`).
/// `classify` asks a model with a small output (e.g. PP-OCR cls, 24 bytes) with the oracle's default
/// threshold (maxInlineOutput 0: the params' cap), so its bytes arrive inline and are kept on chain.
contract LargeOutputDApp is InferenceConsumer {
    struct Delivery {
        bool received;
        /// @dev whether the output bytes came with the callback (else only the hash)
        bool isInline;
        bytes32 outputHash;
        /// @dev the output bytes when inline (small ones only)
        bytes output;
    }

    bytes32 public immutable largeModel;
    bytes32 public immutable smallModel;
    IInferenceOracle.Tier public immutable tier;
    uint32 public immutable callbackGasLimit;

    mapping(RequestId => Delivery) internal _deliveries;

    event Delivered(RequestId indexed requestId, bytes32 outputHash, bool isInline, uint256 bytesInline);

    constructor(address oracle_, bytes32 largeModel_, bytes32 smallModel_, IInferenceOracle.Tier tier_, uint32 callbackGasLimit_)
        InferenceConsumer(oracle_)
    {
        largeModel = largeModel_;
        smallModel = smallModel_;
        tier = tier_;
        callbackGasLimit = callbackGasLimit_;
    }

    /// @notice Asks the large-output model; the result comes as its hash only.
    function detect(bytes32 inputHash, string calldata inputURI, uint64 deadline) external payable returns (RequestId) {
        return _ask(largeModel, inputHash, inputURI, deadline, 1);
    }

    /// @notice Asks the small-output model; the result comes inline (the oracle's default threshold).
    function classify(bytes32 inputHash, string calldata inputURI, uint64 deadline) external payable returns (RequestId) {
        return _ask(smallModel, inputHash, inputURI, deadline, 0);
    }

    function delivery(RequestId requestId) external view returns (Delivery memory) {
        return _deliveries[requestId];
    }

    function _ask(bytes32 modelHash, bytes32 inputHash, string calldata inputURI, uint64 deadline, uint32 maxInlineOutput)
        internal
        returns (RequestId)
    {
        return _requestInference(
            IInferenceOracle.RequestParams({
                modelHash: modelHash,
                inputHash: inputHash,
                input: "",
                inputURI: inputURI,
                tier: tier,
                callbackGasLimit: callbackGasLimit,
                deadline: deadline,
                maxInlineOutput: maxInlineOutput
            }),
            msg.value
        );
    }

    /// @dev Empty `output`: delivered as hash only (larger than the request's maxInlineOutput, or its
    /// bytes withheld past OUTPUT_GRACE); the hash is all the oracle vouches for.
    function _onResult(RequestId requestId, bytes32 outputHash, bytes calldata output) internal override {
        bool isInline = output.length != 0;
        _deliveries[requestId] = Delivery({received: true, isInline: isInline, outputHash: outputHash, output: output});
        emit Delivered(requestId, outputHash, isInline, output.length);
    }

    // Nothing to do on a refund: the fee comes back to this contract.
    // solhint-disable-next-line no-empty-blocks
    function _onRefund(RequestId, uint8) internal override {}
}
