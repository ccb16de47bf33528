// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SingleModelDApp} from "./SingleModelDApp.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";

/// @title DigitClassifierDApp
/// @notice Example consumer of the ZK-tier MNIST model (models/mnist-mlp.onnx): sends a 7x7 int8 digit
/// inline and stores the predicted digit (argmax of the int8 logits int8[1, 10]). With the ZK tier the
/// result arrives, proven, in the same transaction that submits it.
contract DigitClassifierDApp is SingleModelDApp {
    struct Prediction {
        bool received;
        bool decoded;
        uint8 digit;
        int8 score;
        bytes32 outputHash;
    }

    /// @dev Canonical header of an int8 [1, 10] tensor: "VIOT", version 1, dtype 3, rank 2, 0, dims 1 and 10.
    bytes16 internal constant OUTPUT_HEADER = 0x5649_4f54_0103_0200_0000_0001_0000_000a;
    uint256 internal constant OUTPUT_BYTES = 26;

    event DigitRequested(RequestId indexed requestId, address indexed requester, bytes32 inputHash);
    event DigitClassified(RequestId indexed requestId, uint8 digit, bytes32 outputHash);

    mapping(RequestId => Prediction) internal _predictions;

    constructor(address oracle_, bytes32 modelHash_, IInferenceOracle.Tier tier_, uint32 callbackGasLimit_)
        SingleModelDApp(oracle_, modelHash_, tier_, callbackGasLimit_)
    {}

    /// @notice Requests the digit in `image`, a canonical int8 [1, 7, 7] tensor sent inline (the oracle
    /// hashes it); msg.value is the fee.
    function classify(bytes calldata image, uint64 deadline) external payable returns (RequestId requestId) {
        requestId = _request(bytes32(0), image, "", deadline);
        emit DigitRequested(requestId, msg.sender, oracle.getRequest(requestId).inputHash);
    }

    function prediction(RequestId requestId) external view returns (Prediction memory) {
        return _predictions[requestId];
    }

    function _onResult(RequestId requestId, bytes32 outputHash, bytes calldata output) internal override {
        Prediction storage p = _predictions[requestId];
        p.received = true;
        p.outputHash = outputHash;
        if (output.length == OUTPUT_BYTES && bytes16(output[0:16]) == OUTPUT_HEADER) {
            uint8 best;
            int8 bestScore = type(int8).min;
            for (uint8 i = 0; i < 10; ++i) {
                int8 s = int8(uint8(output[16 + i]));
                if (s > bestScore) (best, bestScore) = (i, s);
            }
            p.decoded = true;
            p.digit = best;
            p.score = bestScore;
        }
        ++resultCount;
        emit DigitClassified(requestId, p.digit, outputHash);
    }
}
