// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {IDisputeResolver} from "../interfaces/IDisputeResolver.sol";
import {RequestId} from "../types/RequestId.sol";
import {RequestBook} from "./RequestBook.sol";
import {StakeLedger} from "./StakeLedger.sol";
import {BatchMerkle} from "./BatchMerkle.sol";

/// @notice The oracle's dispute section (challenge, rulings), a linked library so that InferenceOracle
/// stays under EIP-170. Its functions run by DELEGATECALL on the oracle's storage (passed as storage
/// references) and emit the oracle's events (IInferenceOracle); the oracle holds the reentrancy lock.
library DisputeBook {
    using StakeLedger for StakeLedger.Worker;

    /// @notice A resolver cannot hold a dispute open longer than this.
    uint64 internal constant MAX_DISPUTE_DURATION = 180 days;

    /// @notice What a ruling leaves for the oracle to do: refund the request (and why) or nothing.
    enum After {
        Nothing,
        RefundAfterDeadline,
        RefundTooManyFaults
    }

    /// @notice Opens a dispute on the request's current result (see IInferenceOracle.challenge).
    function challenge(
        mapping(RequestId => RequestBook.Dispute) storage disputes,
        RequestBook.Request storage r,
        mapping(bytes32 => bool) storage batchRoots,
        RequestId requestId,
        IInferenceOracle.ResultRecord calldata record,
        bytes32[] calldata proof,
        uint256 minBond,
        address resolver,
        uint64 now_
    ) external {
        _requireStatus(requestId, r.status, IInferenceOracle.RequestStatus.Submitted);
        // INVARIANT: a result can be challenged only inside its challenge window.
        if (now_ >= r.timeout) revert IInferenceOracle.OracleDeadlinePassed(requestId, r.timeout);
        // INVARIANT: the challenger names exactly the result that was accepted.
        if (!batchRoots[BatchMerkle.process(RequestBook.leaf(requestId, r.attempt, record), proof)]) {
            revert IInferenceOracle.OracleResultRecordMismatch(requestId);
        }
        // INVARIANT: a challenge puts at least challengeBond at risk.
        if (msg.value < minBond) revert IInferenceOracle.OracleChallengeBondTooLow(msg.value, minBond);
        // INVARIANT: the bond fits the packed uint96 slot.
        if (msg.value > type(uint96).max) revert IInferenceOracle.OracleFeeTooHigh(msg.value);
        // INVARIANT: a worker cannot challenge its own result to escape slashing.
        if (msg.sender == record.worker) revert IInferenceOracle.OracleSelfChallenge(requestId, record.worker);
        // INVARIANT: a dispute goes to the resolver fixed when the request was made (never zero for OPTIMISTIC).
        if (resolver == address(0)) revert IInferenceOracle.OracleTierUnsupported(r.modelHash, IInferenceOracle.Tier.OPTIMISTIC);

        r.status = IInferenceOracle.RequestStatus.Challenged;
        (uint64 duration, bool workerAtFaultByDefault) = IDisputeResolver(resolver).onDisputeOpened(
            IDisputeResolver.DisputeContext({
                requestId: requestId,
                modelHash: r.modelHash,
                inputHash: r.inputHash,
                outputHash: record.outputHash,
                traceRoot: record.traceRoot,
                worker: record.worker,
                challenger: msg.sender
            })
        );
        if (duration > MAX_DISPUTE_DURATION) duration = MAX_DISPUTE_DURATION;
        // Cannot overflow: now_ < 2^40 (it is below r.timeout) and duration <= MAX_DISPUTE_DURATION.
        uint64 deadline;
        unchecked {
            deadline = now_ + duration;
        }
        r.timeout = uint40(deadline);
        disputes[requestId] = RequestBook.Dispute({
            challenger: msg.sender,
            bond: uint96(msg.value),
            worker: record.worker,
            deadline: deadline,
            workerAtFaultByDefault: workerAtFaultByDefault,
            resolver: resolver
        });
        emit IInferenceOracle.ChallengeOpened(requestId, msg.sender, record.worker, msg.value, deadline);
    }

    /// @notice Applies the resolver's ruling (byDefault false: only the resolver, before the deadline) or
    /// the default one (byDefault true: anyone, after it). Returns whether the oracle must refund.
    function resolve(
        mapping(RequestId => RequestBook.Dispute) storage disputes,
        RequestBook.Request storage r,
        mapping(address => StakeLedger.Worker) storage workers,
        mapping(RequestId => mapping(address => bool)) storage disqualified,
        mapping(address => uint256) storage balances,
        RequestId requestId,
        bool workerAtFault,
        bool byDefault,
        uint256 resultBond,
        uint64 now_
    ) external returns (After) {
        _requireStatus(requestId, r.status, IInferenceOracle.RequestStatus.Challenged);
        RequestBook.Dispute memory d = disputes[requestId];
        if (byDefault) {
            // INVARIANT: the default outcome applies only once the resolver's time is up.
            if (now_ < d.deadline) revert IInferenceOracle.OracleDeadlineNotReached(requestId, d.deadline);
            workerAtFault = d.workerAtFaultByDefault;
        } else {
            // INVARIANT: only the resolver the dispute was opened with rules on it.
            if (msg.sender != d.resolver) revert IInferenceOracle.OracleNotResolver(requestId, msg.sender, d.resolver);
            // INVARIANT: after the dispute deadline only the default outcome applies.
            if (now_ >= d.deadline) revert IInferenceOracle.OracleDeadlinePassed(requestId, d.deadline);
        }
        delete disputes[requestId];
        if (!workerAtFault) {
            r.status = IInferenceOracle.RequestStatus.Submitted;
            r.timeout = uint40(now_);
            _credit(balances, d.worker, d.bond);
            emit IInferenceOracle.DisputeResolved(requestId, false, byDefault, d.worker, d.bond);
            return After.Nothing;
        }
        workers[d.worker].slash(resultBond);
        disqualified[requestId][d.worker] = true;
        uint256 payout = uint256(d.bond) + resultBond;
        _credit(balances, d.challenger, payout);
        emit IInferenceOracle.WorkerSlashed(d.worker, resultBond, d.challenger);
        emit IInferenceOracle.DisputeResolved(requestId, true, byDefault, d.challenger, payout);
        return _reopen(r, requestId, d.worker, now_);
    }

    /// @dev Reopens the request for other workers with a new attempt, or says why it must be refunded.
    function _reopen(RequestBook.Request storage r, RequestId requestId, address worker, uint64 now_) private returns (After) {
        uint40 deadline = r.deadline;
        uint8 attempt = r.attempt;
        if (now_ >= deadline) return After.RefundAfterDeadline;
        // INVARIANT: the attempt counter never wraps, so an overturned result's leaf stays dead.
        if (attempt == type(uint8).max) return After.RefundTooManyFaults;
        r.status = IInferenceOracle.RequestStatus.Requested;
        r.timeout = deadline;
        // Cannot overflow: checked above. The new attempt retires the overturned result's leaf.
        unchecked {
            r.attempt = attempt + 1;
        }
        emit IInferenceOracle.RequestReopened(requestId, worker, deadline);
        return After.Nothing;
    }

    function _credit(mapping(address => uint256) storage balances, address account, uint256 amount) private {
        if (amount == 0) return;
        balances[account] += amount;
        emit IInferenceOracle.BalanceCredited(account, amount);
    }

    function _requireStatus(RequestId requestId, IInferenceOracle.RequestStatus current, IInferenceOracle.RequestStatus expected)
        private
        pure
    {
        // INVARIANT: every transition starts from the one state it is defined for.
        if (current == expected) return;
        if (current == IInferenceOracle.RequestStatus.None) revert IInferenceOracle.OracleRequestNotFound(requestId);
        revert IInferenceOracle.UnexpectedRequestState(requestId, current, expected);
    }
}
