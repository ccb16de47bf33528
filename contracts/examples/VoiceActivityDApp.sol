// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {InferenceConsumer} from "../consumer/InferenceConsumer.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";

/// @title VoiceActivityDApp
/// @notice Example consumer of a stateful model with several named inputs and outputs
/// (models/vad-gru.onnx, built by scripts/stateful-model.ts): each request sends one audio frame, the
/// recurrent state the previous result returned, and the sample rate as an int64 scalar; each result
/// carries the speech probability and the next state. The dApp keeps the state on chain, so frame n's
/// request is built from frame n-1's output bundle (docs/PROTOCOL.md "Tensor bundles"). One request is
/// in flight at a time (the next frame needs this one's state).
///
/// Input bundle (names in byte order):  input float32[1,64], sr int64[], state float32[1,1,8].
/// Output bundle:                       output float32[1,1], stateN float32[1,1,8].
contract VoiceActivityDApp is InferenceConsumer {
    error VadRequestPending(RequestId pending);
    error VadBadFrame(uint256 length);

    /// @dev The frame's canonical header: "VIOT" 1, float32, rank 2, 0, dims 1 and 64.
    bytes16 internal constant FRAME_HEADER = 0x56494f54010102000000000100000040;
    uint256 internal constant FRAME_BYTES = 16 + 64 * 4;
    /// @dev The state's canonical header: "VIOT" 1, float32, rank 3, 0, dims 1, 1, 8 (32 data bytes).
    bytes20 internal constant STATE_HEADER = bytes20(hex"56494f5401010300000000010000000100000008");
    uint256 internal constant STATE_BYTES = 20 + 8 * 4;
    /// @dev The output bundle, 102 bytes: "VIOB" 1, 2 tensors, 0, 0 | 6 "output" | uint32 20 | the output's
    /// header float32[1,1] (16 bytes) | 4 data bytes | 6 "stateN" | uint32 52 | the state (52 bytes).
    bytes32 internal constant OUTPUT_PREFIX_HASH =
        keccak256(hex"56494f4201020000066f75747075740000001456494f54010102000000000100000001");
    bytes32 internal constant STATE_PREFIX_HASH = keccak256(hex"0673746174654e0000003456494f5401010300000000010000000100000008");
    uint256 internal constant OUTPUT_BUNDLE_BYTES = 102;

    event FrameRequested(RequestId indexed requestId, uint256 frame);
    /// @param probabilityBits the speech probability, float32 bits
    event FrameScored(RequestId indexed requestId, uint256 frame, uint32 probabilityBits, bytes32 outputHash);
    /// @notice The result came without its bytes (above the oracle's inline cap): fetch it by hash.
    event FrameOutOfLine(RequestId indexed requestId, bytes32 outputHash);
    event FrameRefunded(RequestId indexed requestId, uint8 reason);

    bytes32 public immutable modelHash;
    uint32 public immutable callbackGasLimit;
    /// @dev The sample rate as an int64 scalar tensor ("VIOT" 1, int64, rank 0, 0 | 8 bytes little-endian).
    bytes16 internal immutable _srTensor;

    /// @notice The recurrent state the next frame is sent with: the canonical float32[1,1,8] tensor.
    bytes public state;
    RequestId public pending;
    uint256 public framesScored;
    uint32 public lastProbabilityBits;
    mapping(RequestId => uint32) public probabilityBitsOf;

    constructor(address oracle_, bytes32 modelHash_, uint64 sampleRate, uint32 callbackGasLimit_) InferenceConsumer(oracle_) {
        modelHash = modelHash_;
        callbackGasLimit = callbackGasLimit_;
        uint64 le;
        for (uint64 i = 0; i < 8; ++i) le |= ((sampleRate >> (8 * i)) & 0xff) << (8 * (7 - i));
        _srTensor = bytes16(abi.encodePacked(bytes8(0x56494f5401070000), le));
        state = abi.encodePacked(STATE_HEADER, new bytes(32));
    }

    /// @notice Scores one audio frame (its canonical float32[1,64] tensor) with the state carried from the
    /// previous frame; msg.value is the fee. The input bundle is built here and sent inline.
    function pushFrame(bytes calldata frame, uint64 deadline) external payable returns (RequestId requestId) {
        if (RequestId.unwrap(pending) != bytes32(0)) revert VadRequestPending(pending);
        if (frame.length != FRAME_BYTES || bytes16(frame[0:16]) != FRAME_HEADER) revert VadBadFrame(frame.length);
        bytes memory input = abi.encodePacked(
            bytes8(0x56494f4201030000),
            abi.encodePacked(uint8(5), "input", uint32(FRAME_BYTES), frame),
            abi.encodePacked(uint8(2), "sr", uint32(16), _srTensor),
            abi.encodePacked(uint8(5), "state", uint32(STATE_BYTES), state)
        );
        requestId = _requestInference(
            IInferenceOracle.RequestParams({
                modelHash: modelHash,
                inputHash: bytes32(0),
                input: input,
                inputURI: "",
                tier: IInferenceOracle.Tier.NONE,
                callbackGasLimit: callbackGasLimit,
                deadline: deadline,
                maxInlineOutput: 0
            }),
            msg.value
        );
        pending = requestId;
        emit FrameRequested(requestId, framesScored);
    }

    function _onResult(RequestId requestId, bytes32 outputHash, bytes calldata output) internal override {
        if (RequestId.unwrap(requestId) == RequestId.unwrap(pending)) pending = RequestId.wrap(bytes32(0));
        // The oracle checked that `output` hashes to the signed outputHash; its layout is the model's.
        if (
            output.length != OUTPUT_BUNDLE_BYTES || keccak256(output[0:35]) != OUTPUT_PREFIX_HASH
                || keccak256(output[39:70]) != STATE_PREFIX_HASH
        ) {
            emit FrameOutOfLine(requestId, outputHash);
            return;
        }
        uint32 p = uint32(uint8(output[35])) | (uint32(uint8(output[36])) << 8) | (uint32(uint8(output[37])) << 16)
            | (uint32(uint8(output[38])) << 24);
        // The next frame's input state is this frame's output state, byte for byte.
        state = output[50:102];
        probabilityBitsOf[requestId] = p;
        lastProbabilityBits = p;
        emit FrameScored(requestId, framesScored, p, outputHash);
        ++framesScored;
    }

    function _onRefund(RequestId requestId, uint8 reason) internal override {
        if (RequestId.unwrap(requestId) == RequestId.unwrap(pending)) pending = RequestId.wrap(bytes32(0));
        emit FrameRefunded(requestId, reason);
    }
}
