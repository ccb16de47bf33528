// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SingleModelDApp} from "./SingleModelDApp.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";

/// @title TextDirectionDApp
/// @notice Example consumer: asks the PP-OCR text-direction classifier whether a text-line image is
/// upside down. The model outputs softmax probabilities float32[1, 2] over (0 deg, 180 deg).
contract TextDirectionDApp is SingleModelDApp {
    struct Classification {
        bool received;
        bool decoded;
        bool rotated180;
        bytes32 outputHash;
        uint32 prob0Bits;
        uint32 prob1Bits;
    }

    /// @dev Canonical header of a float32 [1, 2] tensor: "VIOT", version 1, dtype 1, rank 2, 0, dims 1 and 2.
    bytes16 internal constant OUTPUT_HEADER = 0x56494f54010102000000000100000002;
    uint256 internal constant OUTPUT_BYTES = 24;

    event ClassificationRequested(RequestId indexed requestId, address indexed requester, bytes32 inputHash);
    event ClassificationReceived(RequestId indexed requestId, bool rotated180, bytes32 outputHash);

    mapping(RequestId => Classification) internal _classifications;

    constructor(address oracle_, bytes32 modelHash_, IInferenceOracle.Tier tier_, uint32 callbackGasLimit_)
        SingleModelDApp(oracle_, modelHash_, tier_, callbackGasLimit_)
    {}

    /// @notice Requests a classification of the image tensor with hash `inputHash` stored at `inputURI`;
    /// msg.value is the fee.
    function classify(bytes32 inputHash, string calldata inputURI, uint64 deadline)
        external
        payable
        returns (RequestId requestId)
    {
        requestId = _request(inputHash, "", inputURI, deadline);
        emit ClassificationRequested(requestId, msg.sender, inputHash);
    }

    function classification(RequestId requestId) external view returns (Classification memory) {
        return _classifications[requestId];
    }

    function _onResult(RequestId requestId, bytes32 outputHash, bytes calldata output) internal override {
        Classification storage c = _classifications[requestId];
        c.received = true;
        c.outputHash = outputHash;
        if (output.length == OUTPUT_BYTES && bytes16(output[0:16]) == OUTPUT_HEADER) {
            uint32 p0 = _littleEndian32(output[16:20]);
            uint32 p1 = _littleEndian32(output[20:24]);
            c.decoded = true;
            c.prob0Bits = p0;
            c.prob1Bits = p1;
            c.rotated180 = _floatKey(p1) > _floatKey(p0);
        }
        ++resultCount;
        emit ClassificationReceived(requestId, c.rotated180, outputHash);
    }

    function _littleEndian32(bytes calldata b) internal pure returns (uint32) {
        return uint32(uint8(b[0])) | (uint32(uint8(b[1])) << 8) | (uint32(uint8(b[2])) << 16) | (uint32(uint8(b[3])) << 24);
    }

    /// @dev Maps IEEE-754 float32 bits to an unsigned key with the same order as the floats (NaN aside).
    function _floatKey(uint32 bits) internal pure returns (uint32) {
        return bits & 0x80000000 != 0 ? ~bits : bits | 0x80000000;
    }
}
