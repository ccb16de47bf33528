// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {DisputeContext, IDisputeResolverV2, Ruling} from "../interfaces/IDisputeGame.sol";
import {RequestId} from "../types/RequestId.sol";
import {RequestBook} from "./RequestBook.sol";
import {StakeLedger} from "./StakeLedger.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @notice The oracle's dispute section (docs/V2.md §5, "Oracle side"), a linked library so that
/// InferenceOracle stays under EIP-170. Its functions run by DELEGATECALL on the oracle's storage (passed
/// as storage references) and emit the oracle's events; the oracle holds the reentrancy lock.
///
/// Open disputes: the first challenge of a result opens a dispute (one per request attempt) and tells the
/// request's resolver; later challengers join it with the same bond until its deadline. Rulings are O(1)
/// whatever the number of joiners: WorkerFault/OutputMinor fix one `share` per joiner, which each joiner
/// pulls with `claim`; WorkerRight pays the joiners' bonds (less the burn) to the worker at once.
///
/// Conservation: every wei a ruling takes (slash, bonds) goes to the worker's pull balance, the joiners'
/// shares (claimable once each), or `totalBurned` (rounding dust included), to the wei.
library DisputeBook {
    using StakeLedger for StakeLedger.Worker;

    uint256 internal constant BPS = 10_000;
    /// @notice A resolver cannot hold a dispute open longer than this.
    uint64 internal constant MAX_DISPUTE_DURATION = 180 days;

    /// @dev Four slots. Keyed by (requestId, attempt): a WorkerFault reopens the request with attempt + 1,
    /// whose result may be disputed again while the joiners of the earlier dispute still claim.
    struct Dispute {
        address worker;
        uint64 deadline;
        uint32 joiners;
        address resolver;
        uint96 bond;
        address opener;
        Ruling defaultRuling;
        Ruling ruling;
        uint256 share;
    }

    struct Book {
        mapping(RequestId => mapping(uint8 attempt => Dispute)) disputes;
        /// @dev true from a challenger's bond until its claim (WorkerFault/OutputMinor) or for ever (WorkerRight)
        mapping(RequestId => mapping(uint8 attempt => mapping(address => bool))) joined;
        uint256 totalBurned;
    }

    /// @notice The request's params that decide a ruling (its params version's).
    struct Terms {
        uint256 resultBond;
        uint256 burnBps;
        uint256 tolerancePenaltyBps;
    }

    /// @notice What a ruling leaves for the oracle to do: refund the request (and why) or nothing.
    enum After {
        Nothing,
        RefundAfterDeadline,
        RefundTooManyFaults
    }

    /// @notice Opens a dispute on the request's current result, or joins the open one (see
    /// IInferenceOracle.challenge). `bond` is the request's challengeBond, `resolver` its resolver.
    function challenge(
        Book storage book,
        RequestBook.Request storage r,
        mapping(bytes32 => bool) storage batchRoots,
        mapping(address => StakeLedger.Worker) storage workers,
        mapping(address => address) storage operatorOf,
        RequestId requestId,
        IInferenceOracle.ResultRecord calldata record,
        bytes32[] calldata proof,
        uint256 bond,
        address resolver,
        uint64 now_
    ) external {
        uint8 attempt = r.attempt;
        IInferenceOracle.RequestStatus status = r.status;
        if (status != IInferenceOracle.RequestStatus.Challenged) {
            _requireStatus(requestId, status, IInferenceOracle.RequestStatus.Submitted);
            // INVARIANT: a result can be challenged only inside its challenge window.
            if (now_ >= r.timeout) revert IInferenceOracle.OracleDeadlinePassed(requestId, r.timeout);
        }
        // INVARIANT: every challenger names exactly the result that was accepted (a join that raced a
        // ruling and a new result cannot land on another result's dispute).
        if (!batchRoots[MerkleProof.processProofCalldata(proof, RequestBook.leaf(requestId, attempt, record))]) {
            revert IInferenceOracle.OracleResultRecordMismatch(requestId);
        }
        if (status == IInferenceOracle.RequestStatus.Challenged) {
            _join(book, operatorOf, requestId, attempt, now_);
            return;
        }
        // INVARIANT: every challenger puts exactly the request's challengeBond at risk (so shares are equal).
        if (msg.value != bond) revert IInferenceOracle.OracleChallengeBondInvalid(msg.value, bond);
        address worker = record.worker;
        _checkNotWorker(operatorOf, requestId, worker);
        // INVARIANT: a dispute goes to the resolver fixed when the request was made (never zero for OPTIMISTIC).
        if (resolver == address(0)) revert IInferenceOracle.OracleTierUnsupported(r.modelHash, IInferenceOracle.Tier.OPTIMISTIC);

        // Everything but the resolver's answer is written before calling it (it may ask isChallenger).
        r.status = IInferenceOracle.RequestStatus.Challenged;
        Dispute storage d = book.disputes[requestId][attempt];
        d.worker = worker;
        d.joiners = 1;
        d.resolver = resolver;
        // Exact: bond is a uint96 params field.
        d.bond = uint96(bond);
        d.opener = msg.sender;
        book.joined[requestId][attempt][msg.sender] = true;
        (uint64 duration, Ruling defaultRuling) = IDisputeResolverV2(resolver).onDisputeOpened(
            DisputeContext({
                requestId: requestId,
                attempt: attempt,
                modelHash: r.modelHash,
                inputHash: r.inputHash,
                outputHash: record.outputHash,
                worker: worker,
                signer: workers[worker].signer,
                paramsVersion: r.paramsVersion
            })
        );
        // INVARIANT: every dispute has a default ruling that decides it.
        if (defaultRuling == Ruling.None) revert IInferenceOracle.OracleInvalidRuling(requestId);
        if (duration > MAX_DISPUTE_DURATION) duration = MAX_DISPUTE_DURATION;
        // Cannot overflow: now_ < 2^40 (it is below r.timeout) and duration <= MAX_DISPUTE_DURATION.
        uint64 deadline;
        unchecked {
            deadline = now_ + duration;
        }
        r.timeout = uint40(deadline);
        d.deadline = deadline;
        d.defaultRuling = defaultRuling;
        emit IInferenceOracle.ChallengeOpened(requestId, msg.sender, worker, bond, deadline);
    }

    /// @dev A later challenger joins the open dispute: same bond, nothing else moves.
    function _join(
        Book storage book,
        mapping(address => address) storage operatorOf,
        RequestId requestId,
        uint8 attempt,
        uint64 now_
    ) private {
        Dispute storage d = book.disputes[requestId][attempt];
        uint64 deadline = d.deadline;
        // INVARIANT: joins end with the dispute's deadline (fixed at opening: a join never moves it).
        if (now_ >= deadline) revert IInferenceOracle.OracleDeadlinePassed(requestId, deadline);
        uint256 bond = d.bond;
        // INVARIANT: every joiner puts exactly the opener's bond at risk.
        if (msg.value != bond) revert IInferenceOracle.OracleChallengeBondInvalid(msg.value, bond);
        _checkNotWorker(operatorOf, requestId, d.worker);
        mapping(address => bool) storage joined = book.joined[requestId][attempt];
        // INVARIANT: one bond, one share per challenger.
        if (joined[msg.sender]) revert IInferenceOracle.OracleAlreadyJoined(requestId, msg.sender);
        joined[msg.sender] = true;
        uint32 joiners = d.joiners + 1;
        d.joiners = joiners;
        emit IInferenceOracle.DisputeJoined(requestId, attempt, msg.sender, joiners);
    }

    /// @dev The worker (its operator, or its current signer key) never challenges its own result. A sock
    /// can: the burn makes that a loss (docs/OPTIMISTIC.md).
    function _checkNotWorker(mapping(address => address) storage operatorOf, RequestId requestId, address worker) private view {
        // INVARIANT: neither the worker's operator nor its signer opens or joins a dispute on its result.
        if (msg.sender == worker || operatorOf[msg.sender] == worker) {
            revert IInferenceOracle.OracleSelfChallenge(requestId, worker);
        }
    }

    /// @notice Applies the resolver's ruling (byDefault false: only the resolver, before the deadline) or
    /// the default one (byDefault true: anyone, at or after it). Returns whether the oracle must refund.
    function resolve(
        Book storage book,
        RequestBook.Request storage r,
        mapping(address => StakeLedger.Worker) storage workers,
        mapping(RequestId => mapping(address => bool)) storage disqualified,
        mapping(address => uint256) storage balances,
        RequestId requestId,
        Ruling ruling,
        bool byDefault,
        Terms calldata t,
        uint64 now_
    ) external returns (After) {
        _requireStatus(requestId, r.status, IInferenceOracle.RequestStatus.Challenged);
        uint8 attempt = r.attempt;
        Dispute storage d = book.disputes[requestId][attempt];
        if (byDefault) {
            // INVARIANT: the default ruling applies only once the resolver's time is up.
            if (now_ < d.deadline) revert IInferenceOracle.OracleDeadlineNotReached(requestId, d.deadline);
            ruling = d.defaultRuling;
        } else {
            // INVARIANT: only the resolver the dispute was opened with rules on it.
            if (msg.sender != d.resolver) revert IInferenceOracle.OracleNotResolver(requestId, msg.sender, d.resolver);
            // INVARIANT: after the dispute deadline only the default ruling applies.
            if (now_ >= d.deadline) revert IInferenceOracle.OracleDeadlinePassed(requestId, d.deadline);
            // INVARIANT: a ruling decides the dispute.
            if (ruling == Ruling.None) revert IInferenceOracle.OracleInvalidRuling(requestId);
        }
        d.ruling = ruling;
        address worker = d.worker;
        // Cannot overflow: joiners < 2^32 and bond < 2^96.
        uint256 pot = uint256(d.joiners) * d.bond;
        if (ruling == Ruling.WorkerRight) {
            // Each joiner's bond: burnBps burned, the rest to the worker; the result settles at once.
            uint256 burned = uint256(d.joiners) * (uint256(d.bond) * t.burnBps / BPS);
            book.totalBurned += burned;
            _credit(balances, worker, pot - burned);
            r.status = IInferenceOracle.RequestStatus.Submitted;
            r.timeout = uint40(now_);
            emit IInferenceOracle.DisputeResolved(requestId, attempt, ruling, byDefault, 0, burned, 0);
            return After.Nothing;
        }
        // WorkerFault: the whole result bond; OutputMinor: tolerancePenaltyBps of it (the rest is unlocked).
        uint256 slashed = ruling == Ruling.WorkerFault ? t.resultBond : t.resultBond * t.tolerancePenaltyBps / BPS;
        StakeLedger.Worker storage w = workers[worker];
        w.release(t.resultBond);
        // Keeps locked + unbonding <= stake: release took resultBond >= slashed out of locked.
        w.stake -= uint128(slashed);
        disqualified[requestId][worker] = true;
        uint256 burnedSlash = slashed * t.burnBps / BPS;
        uint256 pool = slashed - burnedSlash + pot;
        uint256 share = pool / d.joiners;
        // The rounding dust (< joiners wei) is burned with the slash's burn share.
        uint256 burnedAll = pool - share * d.joiners + burnedSlash;
        book.totalBurned += burnedAll;
        d.share = share;
        emit IInferenceOracle.WorkerSlashed(worker, slashed, d.opener);
        emit IInferenceOracle.DisputeResolved(requestId, attempt, ruling, byDefault, slashed, burnedAll, share);
        return _reopen(r, requestId, worker, now_);
    }

    /// @notice Credits the caller's share of a WorkerFault/OutputMinor dispute, once.
    function claim(Book storage book, mapping(address => uint256) storage balances, RequestId requestId, uint8 attempt)
        external
    {
        Dispute storage d = book.disputes[requestId][attempt];
        Ruling ruling = d.ruling;
        mapping(address => bool) storage joined = book.joined[requestId][attempt];
        // INVARIANT: only a joiner of a dispute the worker lost claims, and once.
        if ((ruling != Ruling.WorkerFault && ruling != Ruling.OutputMinor) || !joined[msg.sender]) {
            revert IInferenceOracle.OracleNothingToClaim(requestId, attempt, msg.sender);
        }
        joined[msg.sender] = false;
        uint256 share = d.share;
        _credit(balances, msg.sender, share);
        emit IInferenceOracle.DisputeClaimed(requestId, attempt, msg.sender, share);
    }

    function view_(Book storage book, RequestId requestId, uint8 attempt) external view returns (IInferenceOracle.DisputeView memory v) {
        Dispute storage d = book.disputes[requestId][attempt];
        v.opener = d.opener;
        v.worker = d.worker;
        v.resolver = d.resolver;
        v.bond = d.bond;
        v.deadline = d.deadline;
        v.joiners = d.joiners;
        v.defaultRuling = d.defaultRuling;
        v.ruling = d.ruling;
        v.share = d.share;
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
