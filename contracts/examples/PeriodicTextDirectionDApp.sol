// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ISubscriptionConsumer} from "../subscriptions/ISubscriptionConsumer.sol";
import {RequestId} from "../types/RequestId.sol";

/// @title PeriodicTextDirectionDApp
/// @notice Example subscription consumer: a periodic check of whether the current image of a feed (a
/// scanned page its operator updates with `setImage`) is upside down, by the PP-OCR text-direction
/// classifier (softmax float32[1, 2] over 0 and 180 degrees). Subscribe through InferenceSubscriptions
/// with this contract as consumer and `inputFromConsumer`: each round asks `subscriptionInput` for the
/// image of the moment, and `onSubscriptionResult` records the verdict.
contract PeriodicTextDirectionDApp is ISubscriptionConsumer {
    struct Check {
        bool received;
        bool decoded;
        bool rotated180;
        RequestId requestId;
        bytes32 inputHash;
        bytes32 outputHash;
    }

    /// @dev Canonical header of a float32 [1, 2] tensor: "VIOT", version 1, dtype 1, rank 2, 0, dims 1 and 2.
    bytes16 internal constant OUTPUT_HEADER = 0x56494f54010102000000000100000002;
    uint256 internal constant OUTPUT_BYTES = 24;

    error OnlySubscriptions(address caller);
    error OnlyOperator(address caller);

    event ImageSet(bytes32 indexed inputHash, string inputURI);
    event DirectionChecked(uint256 indexed subId, uint32 round, bool decoded, bool rotated180, bytes32 outputHash);

    address public immutable subscriptions;
    address public immutable operator;
    bytes32 public imageHash;
    string public imageURI;
    uint256 public checks;
    uint256 public rotatedCount;
    mapping(uint256 subId => mapping(uint32 round => Check)) internal _checks;
    /// @dev The image each round was asked about (recorded at delivery from the input at trigger time).
    mapping(uint256 subId => mapping(uint32 round => bytes32)) public askedAbout;

    constructor(address subscriptions_, bytes32 imageHash_, string memory imageURI_) {
        subscriptions = subscriptions_;
        operator = msg.sender;
        imageHash = imageHash_;
        imageURI = imageURI_;
    }

    /// @notice Points later rounds at a new image.
    function setImage(bytes32 inputHash, string calldata inputURI) external {
        if (msg.sender != operator) revert OnlyOperator(msg.sender);
        imageHash = inputHash;
        imageURI = inputURI;
        emit ImageSet(inputHash, inputURI);
    }

    /// @inheritdoc ISubscriptionConsumer
    function subscriptionInput(uint256, uint32) external view returns (bytes32, string memory) {
        return (imageHash, imageURI);
    }

    /// @inheritdoc ISubscriptionConsumer
    function onSubscriptionResult(uint256 subId, uint32 round, RequestId requestId, bytes32 outputHash, bytes calldata output)
        external
    {
        // INVARIANT: verdicts are believed only from the subscriptions contract (which believes only the oracle).
        if (msg.sender != subscriptions) revert OnlySubscriptions(msg.sender);
        Check storage c = _checks[subId][round];
        c.received = true;
        c.requestId = requestId;
        c.outputHash = outputHash;
        if (output.length == OUTPUT_BYTES && bytes16(output[0:16]) == OUTPUT_HEADER) {
            c.decoded = true;
            c.rotated180 = _floatKey(_littleEndian32(output[20:24])) > _floatKey(_littleEndian32(output[16:20]));
            if (c.rotated180) ++rotatedCount;
        }
        ++checks;
        emit DirectionChecked(subId, round, c.decoded, c.rotated180, outputHash);
    }

    function check(uint256 subId, uint32 round) external view returns (Check memory) {
        return _checks[subId][round];
    }

    function _littleEndian32(bytes calldata b) internal pure returns (uint32) {
        return uint32(uint8(b[0])) | (uint32(uint8(b[1])) << 8) | (uint32(uint8(b[2])) << 16) | (uint32(uint8(b[3])) << 24);
    }

    /// @dev Maps IEEE-754 float32 bits to an unsigned key with the same order as the floats (NaN aside).
    function _floatKey(uint32 bits) internal pure returns (uint32) {
        return bits & 0x80000000 != 0 ? ~bits : bits | 0x80000000;
    }
}
