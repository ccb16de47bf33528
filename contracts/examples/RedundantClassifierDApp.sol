// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IRedundantConsumer} from "../redundancy/IRedundantConsumer.sol";
import {RedundantInference} from "../redundancy/RedundantInference.sol";

/// @title RedundantClassifierDApp
/// @notice Example consumer of a redundant request (RedundantInference): a classification believed only
/// when k distinct staked workers agree. It stores each job's outcome: agreed (with the output hash and
/// the output's bytes when delivered inline) or disagreed (with every worker's output hash). Refunds
/// and the unused reserve are credited to this contract in RedundantInference; `withdrawCredits`
/// forwards them to the dApp's owner.
contract RedundantClassifierDApp is IRedundantConsumer {
    struct Outcome {
        bool received;
        bool agreed;
        bytes32 outputHash;
        bytes output;
        bytes32[] outputHashes;
    }

    /// @notice Gas for onRedundantResult (storing an output of up to ~1 KiB and k hashes, with margin).
    uint32 public constant CONSUMER_GAS = 900_000;

    error ClassifierOnlyRedundant(address caller);
    error ClassifierOnlyOwner(address caller);
    error ClassifierTransferFailed(address to, uint256 amount);

    event ClassifierRequested(uint256 indexed jobId, address indexed requester);
    event ClassifierResult(uint256 indexed jobId, bool agreed, bytes32 outputHash);

    RedundantInference public immutable redundant;
    bytes32 public immutable modelHash;
    address public immutable owner;
    mapping(uint256 jobId => Outcome) internal _outcomes;

    constructor(address redundant_, bytes32 modelHash_) {
        redundant = RedundantInference(payable(redundant_));
        modelHash = modelHash_;
        owner = msg.sender;
    }

    /// @notice Credits forwarded from RedundantInference.withdraw.
    receive() external payable {}

    /// @notice Classifies an input (canonical tensor: inline `input`, or `inputHash` + `inputURI`) with k
    /// distinct workers and `reserve` prepaid replacements; msg.value = (k + reserve) x fee.
    function classify(bytes32 inputHash, bytes calldata input, string calldata inputURI, uint8 k, uint8 reserve, uint96 fee, uint64 deadline)
        external
        payable
        returns (uint256 jobId)
    {
        jobId = redundant.request{value: msg.value}(
            RedundantInference.JobRequest({
                modelHash: modelHash,
                inputHash: inputHash,
                input: input,
                inputURI: inputURI,
                k: k,
                reserve: reserve,
                fee: fee,
                deadline: deadline,
                consumerGas: CONSUMER_GAS,
                // No attester reward: this dApp's owner runs (or trusts) a relayer that attests for free.
                attestReward: 0
            })
        );
        emit ClassifierRequested(jobId, msg.sender);
    }

    /// @inheritdoc IRedundantConsumer
    function onRedundantResult(uint256 jobId, bool agreed, bytes32 outputHash, bytes32[] calldata outputHashes, bytes calldata output)
        external
    {
        if (msg.sender != address(redundant)) revert ClassifierOnlyRedundant(msg.sender);
        Outcome storage o = _outcomes[jobId];
        o.received = true;
        o.agreed = agreed;
        o.outputHash = outputHash;
        o.output = output;
        o.outputHashes = outputHashes;
        emit ClassifierResult(jobId, agreed, outputHash);
    }

    /// @notice Pulls this dApp's credits (refunds, unused reserve) from RedundantInference to its owner.
    function withdrawCredits() external {
        if (msg.sender != owner) revert ClassifierOnlyOwner(msg.sender);
        redundant.withdraw();
        uint256 amount = address(this).balance;
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok,) = owner.call{value: amount}("");
        if (!ok) revert ClassifierTransferFailed(owner, amount);
    }

    function outcome(uint256 jobId) external view returns (Outcome memory) {
        return _outcomes[jobId];
    }
}
