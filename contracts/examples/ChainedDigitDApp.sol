// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ChainedInference} from "../chained/ChainedInference.sol";
import {IChainConsumer} from "../chained/IChainConsumer.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";

/// @title ChainedDigitDApp
/// @notice Example consumer of a chained request (ChainedInference): a 28x28 float32 picture goes to a
/// preprocessing model (4x4 average pooling, quantized to int8 [0, 127]: scripts/chain-models.ts), whose
/// int8 [1, 7, 7] output is the input of the MNIST MLP (models/mnist-mlp.onnx, int8 [1, 10] logits). The
/// dApp stores the predicted digit when the chain's last step is delivered.
contract ChainedDigitDApp is IChainConsumer {
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
    /// @notice Gas for onChainResult (decoding 10 logits and two slot writes, with margin).
    uint32 public constant CONSUMER_GAS = 100_000;

    error DigitOnlyChained(address caller);
    error DigitFeesLength(uint256 length);
    error DigitNothingToClaim(uint256 chainId);
    error DigitTransferFailed(address to, uint256 amount);

    event DigitChainRequested(uint256 indexed chainId, address indexed requester);
    event DigitClassified(uint256 indexed chainId, uint8 digit, bytes32 outputHash);
    event RefundClaimed(uint256 indexed chainId, address indexed requester, uint256 amount);

    ChainedInference public immutable chained;
    bytes32 public immutable preprocessModel;
    bytes32 public immutable classifierModel;
    IInferenceOracle.Tier public immutable tier;

    uint256 public resultCount;
    mapping(uint256 chainId => Prediction) internal _predictions;
    mapping(uint256 chainId => address) public requesterOf;
    mapping(uint256 chainId => bool) public refundClaimed;

    constructor(address payable chained_, bytes32 preprocessModel_, bytes32 classifierModel_, IInferenceOracle.Tier tier_) {
        chained = ChainedInference(chained_);
        preprocessModel = preprocessModel_;
        classifierModel = classifierModel_;
        tier = tier_;
    }

    /// @notice Classifies `picture` (canonical float32 [1, 1, 28, 28], ink high, in [0, 1]) through the
    /// two-model chain; msg.value is the sum of `fees` (one per step). Refunds of an ended chain are
    /// credited to this contract in ChainedInference; `claimRefund` forwards a chain's to its requester.
    function classify(bytes calldata picture, uint64 deadline, uint96[] calldata fees, string calldata blobBaseURI)
        external
        payable
        returns (uint256 chainId)
    {
        if (fees.length != 2) revert DigitFeesLength(fees.length);
        ChainedInference.ChainStep[] memory steps = new ChainedInference.ChainStep[](2);
        steps[0] = ChainedInference.ChainStep({modelHash: preprocessModel, tier: tier, fee: fees[0]});
        steps[1] = ChainedInference.ChainStep({modelHash: classifierModel, tier: tier, fee: fees[1]});
        chainId = chained.requestChain{value: msg.value}(
            ChainedInference.ChainRequest({
                steps: steps,
                inputHash: bytes32(0),
                input: picture,
                inputURI: "",
                deadline: deadline,
                consumerGas: CONSUMER_GAS,
                blobBaseURI: blobBaseURI
            })
        );
        requesterOf[chainId] = msg.sender;
        emit DigitChainRequested(chainId, msg.sender);
    }

    /// @notice ChainedInference credits an ended chain's unused fees to this contract (its requester):
    /// pulls them and forwards this chain's share to whoever asked for it. Anyone may call.
    function claimRefund(uint256 chainId) external {
        uint256 amount = chained.refundOf(chainId);
        address to = requesterOf[chainId];
        if (amount == 0 || to == address(0) || refundClaimed[chainId]) revert DigitNothingToClaim(chainId);
        refundClaimed[chainId] = true;
        if (chained.balanceOf(address(this)) != 0) chained.withdraw();
        // A plain transfer of the requester's own refund, marked claimed first.
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert DigitTransferFailed(to, amount);
        emit RefundClaimed(chainId, to, amount);
    }

    /// @notice Refunds pulled from ChainedInference.
    receive() external payable {
        if (msg.sender != address(chained)) revert DigitOnlyChained(msg.sender);
    }

    function prediction(uint256 chainId) external view returns (Prediction memory) {
        return _predictions[chainId];
    }

    /// @inheritdoc IChainConsumer
    function onChainResult(uint256 chainId, bytes32 outputHash, bytes calldata output) external {
        // INVARIANT: results are believed only when the chain contract delivers them.
        if (msg.sender != address(chained)) revert DigitOnlyChained(msg.sender);
        Prediction storage p = _predictions[chainId];
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
        emit DigitClassified(chainId, p.digit, outputHash);
    }
}
