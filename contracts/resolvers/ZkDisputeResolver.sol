// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DisputeContext, IDisputeOracle, IDisputeResolverV2, Ruling} from "../interfaces/IDisputeGame.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IZkVerifier} from "../interfaces/IZkVerifier.sol";
import {RequestId} from "../types/RequestId.sol";

/// @title ZkDisputeResolver
/// @notice Disputes on OPTIMISTIC results of zk-capable models, settled by a proof instead of a
/// trusted arbiter. A challenged result is presumed wrong (the worker is at fault by default); anyone
/// (usually the worker) can answer the challenge within `answerWithin` with a Groth16 proof that the
/// challenged outputHash is model(input). A proof that the model's approved IZkVerifier accepts ends
/// the dispute for the worker (WorkerRight: the joiners' bonds, less the burn, go to it); no valid answer
/// by the deadline lets anyone call `oracle.resolveDisputeByDefault`, which applies the default
/// WorkerFault: the worker is slashed and the request reopens or is refunded. The verifier is read from the registry when the answer arrives, so a revoked verifier
/// cannot clear a worker.
contract ZkDisputeResolver is IDisputeResolverV2 {
    struct Dispute {
        bytes32 modelHash;
        bytes32 inputHash;
        bytes32 outputHash;
    }

    event DisputeOpened(
        RequestId indexed requestId,
        bytes32 indexed modelHash,
        bytes32 inputHash,
        bytes32 outputHash,
        address worker,
        uint8 attempt
    );
    event ChallengeAnswered(RequestId indexed requestId, address indexed prover);

    error ZkResolverOnlyOracle(address caller);
    error ZkResolverUnknownDispute(RequestId requestId);
    error ZkResolverNoVerifier(bytes32 modelHash);
    error ZkResolverProofInvalid(RequestId requestId);
    error ZkResolverZeroAddress();

    IDisputeOracle public immutable oracle;
    IModelRegistry public immutable registry;
    /// @notice Seconds a challenged worker has to answer with a proof.
    uint64 public immutable answerWithin;
    /// @notice The challenged statement of each open dispute (modelHash zero: none).
    mapping(RequestId => Dispute) public disputes;

    constructor(address oracle_, address registry_, uint64 answerWithin_) {
        if (oracle_ == address(0) || registry_ == address(0)) revert ZkResolverZeroAddress();
        oracle = IDisputeOracle(oracle_);
        registry = IModelRegistry(registry_);
        answerWithin = answerWithin_;
    }

    /// @inheritdoc IDisputeResolverV2
    function canDispute(bytes32 modelHash) external view returns (bool) {
        return registry.terms(modelHash).zkVerifier != address(0);
    }

    /// @inheritdoc IDisputeResolverV2
    function onDisputeOpened(DisputeContext calldata ctx) external returns (uint64, Ruling) {
        // INVARIANT: only the oracle opens disputes.
        if (msg.sender != address(oracle)) revert ZkResolverOnlyOracle(msg.sender);
        disputes[ctx.requestId] = Dispute(ctx.modelHash, ctx.inputHash, ctx.outputHash);
        emit DisputeOpened(ctx.requestId, ctx.modelHash, ctx.inputHash, ctx.outputHash, ctx.worker, ctx.attempt);
        // Unanswered, the challengers are right: the worker could have proven its result and did not.
        return (answerWithin, Ruling.WorkerFault);
    }

    /// @notice Answers an open challenge with `proof` (the model's IZkVerifier encoding) that the
    /// challenged output is correct; the oracle enforces the dispute deadline.
    function answer(RequestId requestId, bytes calldata proof) external {
        Dispute memory d = disputes[requestId];
        // INVARIANT: only disputes the oracle opened here can be answered, once.
        if (d.modelHash == bytes32(0)) revert ZkResolverUnknownDispute(requestId);
        address verifier = registry.terms(d.modelHash).zkVerifier;
        // INVARIANT: only the model's currently approved verifier can clear a worker.
        if (verifier == address(0)) revert ZkResolverNoVerifier(d.modelHash);
        bool ok;
        try IZkVerifier(verifier).verifyInference(d.modelHash, d.inputHash, d.outputHash, proof) returns (bool valid) {
            ok = valid;
        // A verifier that reverts is a verifier that did not accept: ok stays false.
        // solhint-disable-next-line no-empty-blocks
        } catch {}
        // INVARIANT: a worker is cleared only by a proof of exactly the challenged statement.
        if (!ok) revert ZkResolverProofInvalid(requestId);
        delete disputes[requestId];
        emit ChallengeAnswered(requestId, msg.sender);
        oracle.resolveDispute(requestId, Ruling.WorkerRight);
    }
}
