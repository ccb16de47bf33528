// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {IOracleTokenFees} from "../interfaces/IOracleTokenFees.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {CanonicalTerms} from "../interfaces/IDisputeGame.sol";
import {ExactGasCall} from "../libraries/ExactGasCall.sol";
import {TokenPull} from "../libraries/TokenPull.sol";
import {TensorHash} from "../libraries/TensorHash.sol";
import {RequestId} from "../types/RequestId.sol";
import {IRedundantConsumer} from "./IRedundantConsumer.sol";
import {OutputComparator} from "./OutputComparator.sol";

/// @title RedundantInference
/// @notice Redundancy (like Ritual Infernet's `redundancy`): one request answered by k
/// independent workers. A periphery contract over the oracle (which it does not change): a job makes k
/// ordinary OPTIMISTIC oracle requests on the same input, each paying one worker, each challengeable,
/// a wrong one slashed by the dispute game and the request reopened and re-served.
///
/// Independence: the oracle's callback does not say which worker answered, but every accepted
/// OPTIMISTIC result is a leaf of a committed batch root (oracle.resultLeaf + oracle.isBatchRoot). An
/// answer counts only once someone (the relayer's attester, the SDK, anyone) `attest`s it with that
/// leaf's record and Merkle proof, and only if its worker is not the worker of an answer already
/// counted for the job: a duplicate worker's answer is not counted, and `replace` requests a new
/// answer from the prepaid reserve (at most `reserve` extra requests).
///
/// Agreement: once k distinct attested answers are fulfilled (after their challenge windows, so the
/// game has already overturned any wrong one the watchers saw), the job is decided: Agreed when the
/// k output hashes are equal. Otherwise it is Comparing: anyone calls `decide` with the k outputs'
/// bytes (checked against their hashes), compared element by element within the model's τ_out
/// (recorded at request time from the registry's canonical terms; exact without them) against the
/// first counted answer, both ways (OutputAgreement.sol): all within → Agreed on the first counted
/// answer's output, else Disagreed (every answer's hash kept; the dispute game on each OPTIMISTIC
/// answer is where a wrong one is slashed). Default: a Comparing job nobody decides within
/// DECIDE_WINDOW is closed (`close`) as Disagreed, the outcome its hashes already show. `deliver`
/// (anyone) pushes the outcome to the requester's IRedundantConsumer with exactly `consumerGas` (a
/// revert is recorded, never blocking).
///
/// Attester reward: the requester prepays `attestReward` for each of the job's possible attestations
/// (k + reserve) and for one `decide`; whoever makes one is credited it, so the relayer's attester is
/// paid for its gas. What is not earned is credited back to the requester when the job ends.
///
/// Default outcome: a job not decided by `closeAt` (the last request deadline + the challenge window
/// + ATTEST_GRACE) is closed by anyone (`close`): Incomplete, the unused reserve and rewards credited
/// to the requester, nothing pushed. Refunds of the job's oracle requests (expired, rejected) are
/// credited to the requester as they arrive. Credits are pulled (`withdraw`).
///
/// Paid in a token (`requestWithToken`; docs/FEATURES.md, "ERC-20 fees across features"): `fee` is an
/// amount of a token the model's owner accepts, the k + reserve fees pulled exactly up front (an EIP-2612
/// permit makes it one transaction; fee-on-transfer tokens are refused), and each answer is an oracle
/// token request whose callback gas is paid in wei (`callbackFee` each, with the attest rewards, from
/// msg.value). A token request's refund carries nothing: `collectTokenRefund` (anyone) claims its token fee
/// and callback wei back from the oracle and credits them to the requester. The unused reserve goes back
/// in the token. Token credits are pulled with `withdrawToken`, wei ones with `withdraw`.
contract RedundantInference is IInferenceConsumer, ReentrancyGuardTransient {
    uint256 public constant MAX_K = 8;
    uint256 public constant MAX_RESERVE = 8;
    /// @notice Callback gas of every answer: recording its hash and emitting its output (up to 4 KiB).
    uint32 public constant ANSWER_CALLBACK_GAS = 80_000;
    /// @notice Time after the requests' deadline plus challenge window left for settling, disputes
    /// resolving and attesting before a job can be closed.
    uint256 public constant ATTEST_GRACE = 3 days;
    /// @notice Time a Comparing job waits for `decide` before anyone may close it as Disagreed.
    uint256 public constant DECIDE_WINDOW = 1 days;

    enum JobStatus {
        None,
        /// @notice Answers are being collected and attested.
        Open,
        /// @notice k distinct workers gave the same output hash, or outputs within τ_out of the first (`decide`).
        Agreed,
        /// @notice k distinct workers answered, not all within τ_out of the first (or nobody decided by decideBy).
        Disagreed,
        /// @notice Closed at closeAt with fewer than k distinct attested answers.
        Incomplete,
        /// @notice k distinct workers answered with different hashes: waiting for `decide` (within τ_out?).
        Comparing
    }

    enum AnswerStatus {
        None,
        /// @notice Requested at the oracle, not fulfilled (as far as this contract saw).
        Requested,
        /// @notice The oracle delivered the answer; its worker is not attested yet.
        Delivered,
        /// @notice Attested, from a worker distinct from the job's other counted answers.
        Counted,
        /// @notice Attested, from a worker already counted: not counted; `replace` may re-request it.
        Duplicate,
        /// @notice The oracle refunded the request (fee credited to the requester).
        Refunded,
        /// @notice A Duplicate or Refunded answer whose replacement was requested.
        Replaced
    }

    /// @param fee wei each oracle request is paid (model fee + worker fee + ANSWER_CALLBACK_GAS at the gas
    /// price); msg.value must be (k + reserve) x fee + (k + reserve + 1) x attestReward
    /// @param consumerGas gas for the requester's IRedundantConsumer.onRedundantResult; 0: no push
    /// @param attestReward wei credited to whoever makes each attestation and the `decide` (0: none)
    struct JobRequest {
        bytes32 modelHash;
        bytes32 inputHash;
        bytes input;
        string inputURI;
        uint8 k;
        uint8 reserve;
        uint96 fee;
        uint64 deadline;
        uint32 consumerGas;
        uint96 attestReward;
    }

    struct Job {
        address requester;
        uint40 deadline;
        uint40 closeAt;
        uint8 k;
        uint8 reserveLeft;
        uint8 counted;
        JobStatus status;
        bool inputInline;
        bool delivered;
        bool callbackSucceeded;
        uint96 fee;
        uint32 consumerGas;
        /// @notice Rewards (attestations and the decide) not yet paid.
        uint8 rewardsLeft;
        /// @notice When a Comparing job may be closed as Disagreed (0 while not Comparing).
        uint40 decideBy;
        /// @notice The model's τ_out (binary64 bits) when the job was requested; 0: exact.
        uint64 tauOutAbs;
        uint64 tauOutRel;
        uint96 attestReward;
        /// @notice The fee token (zero: ETH) and, for a token job, the wei each answer's callback is paid.
        address token;
        uint96 callbackFee;
        bytes32 modelHash;
        bytes32 inputHash;
        bytes32 outputHash;
        string inputURI;
    }

    struct Answer {
        RequestId requestId;
        AnswerStatus status;
        address worker;
        bytes32 outputHash;
    }

    event JobRequested(uint256 indexed jobId, address indexed requester, uint8 k, uint8 reserve, uint256 totalFee, uint64 deadline);
    /// @notice The k counted answers differ by hash: `decide` compares them within τ_out until decideBy.
    event JobComparing(uint256 indexed jobId, uint40 decideBy);
    /// @notice `account` was credited an attestation (or decide) reward.
    event RewardPaid(uint256 indexed jobId, address indexed account, uint256 amount);
    event AnswerRequested(uint256 indexed jobId, uint256 index, RequestId indexed requestId);
    /// @notice The oracle delivered an answer; `output` is its bytes (empty when delivered as hash only).
    event AnswerDelivered(uint256 indexed jobId, uint256 index, RequestId indexed requestId, bytes32 outputHash, bytes output);
    event AnswerAttested(uint256 indexed jobId, uint256 index, RequestId indexed requestId, address indexed worker, bool counted);
    event AnswerRefunded(uint256 indexed jobId, uint256 index, RequestId indexed requestId, uint8 reason, uint256 amount);
    /// @param reserveRefund the unused reserve and rewards credited to the requester now, in wei (a token
    /// job's reserve fees are credited in its token: tokenBalanceOf)
    event JobDecided(uint256 indexed jobId, bool agreed, bytes32 outputHash, uint256 reserveRefund);
    event JobDelivered(uint256 indexed jobId, bool callbackSucceeded);
    event JobClosed(uint256 indexed jobId, uint8 counted, uint256 reserveRefund);
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice A token job: its `totalFee` (k + reserve fees) was pulled in `token`; `callbackFee` wei pay each answer's callback.
    event JobPaidWithToken(uint256 indexed jobId, address indexed token, uint256 totalFee, uint96 callbackFee);
    /// @notice A refunded token answer's fee (`amount` of the job's token) and `callbackFee` wei were credited to the requester.
    event AnswerTokenRefunded(uint256 indexed jobId, uint256 index, RequestId indexed requestId, uint256 amount, uint256 callbackFee);
    event TokenWithdrawn(address indexed account, address indexed token, uint256 amount);

    error RedundancyOnlyOracle(address caller);
    error RedundancyBadK(uint256 k, uint256 reserve);
    error RedundancyFeeMismatch(uint256 sent, uint256 expected);
    error RedundancyDeadlineInvalid(uint64 deadline, uint256 now_);
    error RedundancyConsumerGasTooHigh(uint256 gas, uint256 maximum);
    error RedundancyUnknownRequest(RequestId requestId);
    error RedundancyJobNotOpen(uint256 jobId, JobStatus status);
    /// @notice The answer cannot be attested in its state (already attested, refunded, replaced).
    error RedundancyAnswerState(RequestId requestId, AnswerStatus status);
    /// @notice The oracle has not fulfilled the request (a result in its challenge window may still fall).
    error RedundancyNotFulfilled(RequestId requestId, IInferenceOracle.RequestStatus status);
    /// @notice The record and proof do not lead to a committed batch root for this request's attempt.
    error RedundancyAttestationInvalid(RequestId requestId);
    error RedundancyAttestTooLate(uint256 jobId, uint256 closeAt);
    error RedundancyNothingToReplace(uint256 jobId);
    error RedundancyReserveSpent(uint256 jobId);
    error RedundancyInputMismatch(uint256 jobId, bytes32 expected, bytes32 computed);
    error RedundancyNotDecided(uint256 jobId, JobStatus status);
    error RedundancyAlreadyDelivered(uint256 jobId);
    error RedundancyOutputMismatch(uint256 jobId, bytes32 expected, bytes32 computed);
    error RedundancyTooEarly(uint256 jobId, uint256 closeAt);
    error RedundancyNothingToWithdraw(address account);
    error RedundancyTransferFailed(address account, uint256 amount);
    error RedundancyNotComparing(uint256 jobId, JobStatus status);
    /// @notice `decide` got a number of outputs other than the job's counted answers.
    error RedundancyOutputCount(uint256 jobId, uint256 given, uint256 expected);
    /// @notice Not a refunded token answer of a job, or its refund was collected already.
    error RedundancyNoTokenRefund(RequestId requestId);
    /// @notice Only the oracle sends this contract wei outside a request (its pull balance, withdrawn).
    error RedundancyUnexpectedValue(address sender);

    IInferenceOracle public immutable oracle;
    /// @notice The OutputAgreement copy `decide` calls, deployed by the constructor (keeps this contract small).
    OutputComparator public immutable comparator;

    uint256 public jobCount;
    mapping(uint256 jobId => Job) internal _jobs;
    mapping(uint256 jobId => Answer[]) internal _answers;
    /// @notice The job (and answer index + 1) an oracle request was made for (0: none).
    mapping(RequestId => uint256) public jobOf;
    mapping(RequestId => uint256) internal _indexOf;
    /// @notice Whether `worker` already has a counted answer in `jobId`.
    mapping(uint256 jobId => mapping(address worker => bool)) public countedWorker;
    /// @notice Credits of each requester (refunds, unused reserve), pulled with `withdraw`.
    mapping(address => uint256) public balanceOf;
    /// @notice Token credits of each account (refunded token answers, unused token reserve), pulled with `withdrawToken`.
    mapping(address account => mapping(address token => uint256)) public tokenBalanceOf;
    /// @notice Whether a refunded token answer's fee was collected and credited.
    mapping(RequestId => bool) public tokenRefundCollected;

    modifier onlyOracle() {
        // INVARIANT: answers and refunds are believed only when the oracle delivers them.
        if (msg.sender != address(oracle)) revert RedundancyOnlyOracle(msg.sender);
        _;
    }

    constructor(address oracle_) {
        oracle = IInferenceOracle(oracle_);
        comparator = new OutputComparator();
    }

    /// @notice Receives the oracle's pull balance (a refunded token answer's callback fee) only.
    receive() external payable {
        if (msg.sender != address(oracle)) revert RedundancyUnexpectedValue(msg.sender);
    }

    // ------------------------------------------------------------------ requesting

    /// @notice Requests k answers from distinct workers: msg.value = (k + reserve) x fee. The k oracle
    /// requests are made now (OPTIMISTIC); a refusal by the oracle reverts the whole job.
    function request(JobRequest calldata r) external payable nonReentrant returns (uint256 jobId) {
        if (r.k < 2 || r.k > MAX_K || r.reserve > MAX_RESERVE) revert RedundancyBadK(r.k, r.reserve);
        uint256 total = (uint256(r.k) + r.reserve) * r.fee + (uint256(r.k) + r.reserve + 1) * r.attestReward;
        // INVARIANT: the job's escrow is exactly what it was paid.
        if (msg.value != total) revert RedundancyFeeMismatch(msg.value, total);
        jobId = _open(r, address(0), 0, total);
    }

    /// @notice Requests k answers paid in `token`: `r.fee` is each answer's fee in the token, (k + reserve) x
    /// fee pulled exactly from the caller now (after its EIP-2612 `permit` for this contract, abi.encode(
    /// IOracleTokenFees.Permit), or empty: an allowance); msg.value = (k + reserve) x callbackFee + (k +
    /// reserve + 1) x attestReward, callbackFee being the wei each answer's callback is paid (the oracle
    /// requires at least ANSWER_CALLBACK_GAS at its gas price). The oracle refuses a token the model does not
    /// accept or a fee below its token terms (the whole job reverts); a fee-on-transfer token is refused.
    function requestWithToken(JobRequest calldata r, address token, uint96 callbackFee, bytes calldata permit)
        external
        payable
        nonReentrant
        returns (uint256 jobId)
    {
        if (r.k < 2 || r.k > MAX_K || r.reserve > MAX_RESERVE) revert RedundancyBadK(r.k, r.reserve);
        uint256 n = uint256(r.k) + r.reserve;
        uint256 wei_ = n * callbackFee + (n + 1) * r.attestReward;
        // INVARIANT: the job's wei escrow is exactly what it was paid; its token escrow is pulled exactly.
        if (msg.value != wei_) revert RedundancyFeeMismatch(msg.value, wei_);
        TokenPull.pullExact(token, msg.sender, n * r.fee, permit);
        jobId = _open(r, token, callbackFee, n * r.fee);
        emit JobPaidWithToken(jobId, token, n * r.fee, callbackFee);
    }

    function _open(JobRequest calldata r, address token, uint96 callbackFee, uint256 total) internal returns (uint256 jobId) {
        if (r.deadline <= block.timestamp || r.deadline > type(uint40).max / 2) revert RedundancyDeadlineInvalid(r.deadline, block.timestamp);
        IInferenceOracle.Params memory p = oracle.params();
        // INVARIANT: a delivery needs no more gas than any oracle callback may have.
        if (r.consumerGas > p.maxCallbackGasLimit) revert RedundancyConsumerGasTooHigh(r.consumerGas, p.maxCallbackGasLimit);

        jobId = ++jobCount;
        Job storage j = _jobs[jobId];
        j.requester = msg.sender;
        j.deadline = uint40(r.deadline);
        j.closeAt = uint40(r.deadline + p.challengeWindow + ATTEST_GRACE);
        j.k = r.k;
        j.reserveLeft = r.reserve;
        j.status = JobStatus.Open;
        j.inputInline = r.input.length != 0;
        j.fee = r.fee;
        j.consumerGas = r.consumerGas;
        j.rewardsLeft = r.k + r.reserve + 1;
        j.attestReward = r.attestReward;
        j.token = token;
        j.callbackFee = callbackFee;
        _recordTau(j, r.modelHash);
        j.modelHash = r.modelHash;
        j.inputHash = r.input.length != 0 ? bytes32(0) : r.inputHash;
        if (r.input.length == 0) j.inputURI = r.inputURI;
        emit JobRequested(jobId, msg.sender, r.k, r.reserve, total, r.deadline);
        for (uint256 i = 0; i < r.k; ++i) {
            RequestId id = _ask(jobId, j, r.inputHash, r.input, r.inputURI);
            // The oracle computed the inline input's hash; keep it for replacements.
            if (i == 0 && j.inputInline) j.inputHash = oracle.getRequest(id).inputHash;
        }
    }

    /// @notice Requests a replacement, from the reserve, for an answer that does not count (a duplicate
    /// worker's, or one the oracle refunded). Anyone may call. `input` is the job's inline input (checked
    /// against its hash), or empty for an input by URI.
    function replace(uint256 jobId, uint256 index, bytes calldata input) external nonReentrant returns (RequestId id) {
        Job storage j = _jobs[jobId];
        if (j.status != JobStatus.Open) revert RedundancyJobNotOpen(jobId, j.status);
        Answer[] storage answers = _answers[jobId];
        if (index >= answers.length) revert RedundancyNothingToReplace(jobId);
        Answer storage a = answers[index];
        if (a.status != AnswerStatus.Duplicate && a.status != AnswerStatus.Refunded) revert RedundancyAnswerState(a.requestId, a.status);
        if (j.reserveLeft == 0) revert RedundancyReserveSpent(jobId);
        if (j.inputInline) {
            (uint256 code, bytes32 computed) = TensorHash.tryHash(input);
            if (code != 0 || computed != j.inputHash) revert RedundancyInputMismatch(jobId, j.inputHash, computed);
        } else if (input.length != 0) {
            revert RedundancyInputMismatch(jobId, j.inputHash, bytes32(0));
        }
        a.status = AnswerStatus.Replaced;
        j.reserveLeft -= 1;
        // The oracle's refusal (deadline passed, fee too low at today's gas price) reverts: nothing changed.
        id = _ask(jobId, j, j.inputHash, input, j.inputURI);
    }

    // ------------------------------------------------------------------ attesting

    /// @notice Proves which worker gave an answer: `record` (worker, relayer, outputHash) is the
    /// request's accepted result, a leaf (at the request's current attempt) of a batch root the oracle
    /// committed, `proof` its Merkle proof (protocol/batch.ts proofFromLogs). The oracle must have
    /// fulfilled the request. The answer counts if its worker has no counted answer in the job yet;
    /// k counted answers decide the job. Anyone may call, until the job's closeAt.
    function attest(RequestId requestId, IInferenceOracle.ResultRecord calldata record, bytes32[] calldata proof) external nonReentrant {
        uint256 jobId = jobOf[requestId];
        if (jobId == 0) revert RedundancyUnknownRequest(requestId);
        Job storage j = _jobs[jobId];
        if (j.status != JobStatus.Open) revert RedundancyJobNotOpen(jobId, j.status);
        if (block.timestamp > j.closeAt) revert RedundancyAttestTooLate(jobId, j.closeAt);
        uint256 index = _indexOf[requestId];
        Answer storage a = _answers[jobId][index];
        // Requested: the oracle's callback to us failed; the oracle's own state decides below.
        if (a.status != AnswerStatus.Delivered && a.status != AnswerStatus.Requested) revert RedundancyAnswerState(requestId, a.status);
        _verify(requestId, record, proof);
        if (a.status == AnswerStatus.Delivered && a.outputHash != record.outputHash) revert RedundancyAttestationInvalid(requestId);
        a.outputHash = record.outputHash;
        a.worker = record.worker;
        _reward(jobId, j);
        // INVARIANT: one worker counts once per job, however many of its requests it answered.
        bool counts = !countedWorker[jobId][record.worker];
        if (!counts) {
            a.status = AnswerStatus.Duplicate;
            emit AnswerAttested(jobId, index, requestId, record.worker, false);
            return;
        }
        countedWorker[jobId][record.worker] = true;
        a.status = AnswerStatus.Counted;
        emit AnswerAttested(jobId, index, requestId, record.worker, true);
        if (++j.counted == j.k) _decide(jobId, j);
    }

    // ------------------------------------------------------------------ comparing

    /// @notice Decides a Comparing job: `outputs` are the bytes of its counted answers, in countedHashes
    /// order, each checked against its hash; each is compared element by element with the first within
    /// the job's τ_out, both ways (OutputAgreement.sol, through the `comparator` this contract deployed).
    /// All agree: Agreed on the first counted answer's output hash; else Disagreed. Anyone may call (and is
    /// credited the decide reward) until the job is closed; reverts, changing nothing, on an output that
    /// does not match its hash.
    function decide(uint256 jobId, bytes[] calldata outputs) external nonReentrant {
        Job storage j = _jobs[jobId];
        if (j.status != JobStatus.Comparing) revert RedundancyNotComparing(jobId, j.status);
        bytes32[] memory hashes = _counted(jobId);
        if (outputs.length != hashes.length) revert RedundancyOutputCount(jobId, outputs.length, hashes.length);
        for (uint256 i = 0; i < outputs.length; ++i) {
            (uint256 code, bytes32 computed) = TensorHash.tryHash(outputs[i]);
            // INVARIANT: only the bytes the workers signed (their committed output hashes) are compared.
            if (code != 0 || computed != hashes[i]) revert RedundancyOutputMismatch(jobId, hashes[i], computed);
        }
        bool agreed = true;
        for (uint256 i = 1; i < outputs.length && agreed; ++i) {
            agreed = comparator.agree(outputs[0], outputs[i], j.tauOutAbs, j.tauOutRel);
        }
        _reward(jobId, j);
        _finish(jobId, j, agreed, hashes[0]);
    }

    // ------------------------------------------------------------------ delivering, closing, withdrawing

    /// @notice Pushes a decided job's outcome to the requester's IRedundantConsumer (once; anyone may
    /// call) with exactly consumerGas. `output` is the agreed output's bytes (checked against its hash)
    /// or empty (hash only; always empty for a Disagreed job). A consumer revert is recorded.
    function deliver(uint256 jobId, bytes calldata output) external nonReentrant {
        Job storage j = _jobs[jobId];
        if (j.status != JobStatus.Agreed && j.status != JobStatus.Disagreed) revert RedundancyNotDecided(jobId, j.status);
        if (j.delivered) revert RedundancyAlreadyDelivered(jobId);
        if (output.length != 0) {
            (uint256 code, bytes32 computed) = TensorHash.tryHash(output);
            if (j.status != JobStatus.Agreed || code != 0 || computed != j.outputHash) {
                revert RedundancyOutputMismatch(jobId, j.outputHash, computed);
            }
        }
        j.delivered = true;
        bool ok;
        if (j.consumerGas != 0) {
            // ExactGasCall (libraries/ExactGasCall.sol): exactly consumerGas or revert for lack of gas;
            // the consumer's revert is recorded, never bubbled; return data never copied.
            // solhint-disable-next-line avoid-low-level-calls
            ok = ExactGasCall.call(
                j.requester,
                j.consumerGas,
                0,
                abi.encodeCall(IRedundantConsumer.onRedundantResult, (jobId, j.status == JobStatus.Agreed, j.outputHash, _counted(jobId), output))
            );
            j.callbackSucceeded = ok;
        }
        emit JobDelivered(jobId, ok);
    }

    /// @notice The default outcomes. An Open job past its closeAt: Incomplete. A Comparing job past its
    /// decideBy (nobody showed its answers agree within τ_out): Disagreed, as its hashes say. The unused
    /// reserve and rewards are credited to the requester. Anyone may call.
    function close(uint256 jobId) external nonReentrant {
        Job storage j = _jobs[jobId];
        if (j.status == JobStatus.Comparing) {
            if (block.timestamp <= j.decideBy) revert RedundancyTooEarly(jobId, j.decideBy);
            _finish(jobId, j, false, bytes32(0));
            return;
        }
        if (j.status != JobStatus.Open) revert RedundancyJobNotOpen(jobId, j.status);
        if (block.timestamp <= j.closeAt) revert RedundancyTooEarly(jobId, j.closeAt);
        j.status = JobStatus.Incomplete;
        uint256 refund = _releaseReserve(j);
        emit JobClosed(jobId, j.counted, refund);
    }

    /// @notice Sends the caller its credits.
    function withdraw() external nonReentrant {
        (uint256 amount, bool ok) = TokenPull.payWeiCredit(balanceOf);
        if (amount == 0) revert RedundancyNothingToWithdraw(msg.sender);
        if (!ok) revert RedundancyTransferFailed(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @notice Sends the caller its token credits in `token`.
    function withdrawToken(address token) external nonReentrant {
        uint256 amount = TokenPull.payTokenCredit(tokenBalanceOf, token);
        if (amount == 0) revert RedundancyNothingToWithdraw(msg.sender);
        emit TokenWithdrawn(msg.sender, token, amount);
    }

    /// @notice Credits the requester a refunded token answer's fee (in the job's token) and callback fee (wei),
    /// claimed back from the oracle (a token request's refund carries nothing; claiming it costs more than the
    /// oracle's REFUND_GAS). Anyone may call (the relayer's attester does); once per answer. A refund whose
    /// push did not reach this contract is recorded here too (the answer becomes Refunded: replaceable).
    function collectTokenRefund(RequestId requestId) external nonReentrant {
        uint256 jobId = jobOf[requestId];
        Job storage j = _jobs[jobId];
        address token = j.token;
        // INVARIANT: one credit per refunded token request, only once the oracle refunded it.
        if (
            token == address(0) || tokenRefundCollected[requestId]
                || oracle.state(requestId) != IInferenceOracle.RequestStatus.Refunded
        ) revert RedundancyNoTokenRefund(requestId);
        tokenRefundCollected[requestId] = true;
        uint256 index = _indexOf[requestId];
        Answer storage a = _answers[jobId][index];
        if (a.status == AnswerStatus.Requested) a.status = AnswerStatus.Refunded;
        uint256 callbackFee = oracle.getRequest(requestId).callbackFee;
        TokenPull.collectRefund(IOracleTokenFees(address(oracle)), requestId, token);
        // The callback fee was credited to this contract at the oracle: pull it (with any other).
        if (oracle.balanceOf(address(this)) != 0) oracle.withdraw();
        // Credited from the job's books (what it paid), not from what arrived: the tokens of several refunds
        // may arrive in one withdrawal.
        tokenBalanceOf[j.requester][token] += j.fee;
        balanceOf[j.requester] += callbackFee;
        emit AnswerTokenRefunded(jobId, index, requestId, j.fee, callbackFee);
    }

    // ------------------------------------------------------------------ oracle callbacks

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(RequestId requestId, bytes32 outputHash, bytes calldata output) external onlyOracle {
        uint256 jobId = jobOf[requestId];
        if (jobId == 0) revert RedundancyUnknownRequest(requestId);
        uint256 index = _indexOf[requestId];
        Answer storage a = _answers[jobId][index];
        if (a.status != AnswerStatus.Requested) revert RedundancyAnswerState(requestId, a.status);
        a.status = AnswerStatus.Delivered;
        a.outputHash = outputHash;
        emit AnswerDelivered(jobId, index, requestId, outputHash, output);
    }

    /// @inheritdoc IInferenceConsumer
    /// @dev Runs within the oracle's REFUND_GAS (50,000): two lookups, one slot write, one credit, one event.
    function onInferenceRefunded(RequestId requestId, uint8 reason) external payable onlyOracle {
        uint256 jobId = jobOf[requestId];
        if (jobId == 0) revert RedundancyUnknownRequest(requestId);
        uint256 index = _indexOf[requestId];
        _answers[jobId][index].status = AnswerStatus.Refunded;
        balanceOf[_jobs[jobId].requester] += msg.value;
        emit AnswerRefunded(jobId, index, requestId, reason, msg.value);
    }

    // ------------------------------------------------------------------ views

    function getJob(uint256 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    function getAnswers(uint256 jobId) external view returns (Answer[] memory) {
        return _answers[jobId];
    }

    /// @notice The output hashes of the job's counted answers, in the order they were requested.
    function countedHashes(uint256 jobId) external view returns (bytes32[] memory) {
        return _counted(jobId);
    }

    // ------------------------------------------------------------------ internals

    function _ask(uint256 jobId, Job storage j, bytes32 inputHash, bytes calldata input, string memory inputURI) internal returns (RequestId id) {
        IInferenceOracle.RequestParams memory p = IInferenceOracle.RequestParams({
            modelHash: j.modelHash,
            inputHash: inputHash,
            input: input,
            inputURI: inputURI,
            tier: IInferenceOracle.Tier.OPTIMISTIC,
            callbackGasLimit: ANSWER_CALLBACK_GAS,
            deadline: j.deadline,
            maxInlineOutput: 0
        });
        address token = j.token;
        if (token == address(0)) {
            id = oracle.requestInference{value: j.fee}(p);
        } else {
            // The oracle pulls exactly the fee (allowance back to 0); the callback's gas is paid in wei.
            TokenPull.approveExact(token, address(oracle), j.fee);
            id = IOracleTokenFees(address(oracle)).requestInferenceWithToken{value: j.callbackFee}(p, token, j.fee, "");
        }
        Answer[] storage answers = _answers[jobId];
        jobOf[id] = jobId;
        _indexOf[id] = answers.length;
        emit AnswerRequested(jobId, answers.length, id);
        answers.push(Answer({requestId: id, status: AnswerStatus.Requested, worker: address(0), outputHash: bytes32(0)}));
    }

    function _verify(RequestId requestId, IInferenceOracle.ResultRecord calldata record, bytes32[] calldata proof) internal view {
        IInferenceOracle.RequestStatus s = oracle.state(requestId);
        if (s != IInferenceOracle.RequestStatus.Fulfilled) revert RedundancyNotFulfilled(requestId, s);
        uint8 attempt = oracle.getRequest(requestId).attempt;
        // INVARIANT: the oracle accepts one result per attempt, and commits it as this leaf: a record that
        // is not the fulfilled result (another request's, another attempt's, another worker's) has no
        // path to a committed root.
        bytes32 root = MerkleProof.processProofCalldata(proof, oracle.resultLeaf(requestId, attempt, record));
        if (!oracle.isBatchRoot(root)) revert RedundancyAttestationInvalid(requestId);
    }

    /// @dev INVARIANT: τ_out is fixed at request time (canonical terms are set once; none: 0, exact agreement).
    function _recordTau(Job storage j, bytes32 modelHash) internal {
        IModelRegistry registry = IModelRegistry(oracle.registry());
        if (!registry.hasCanonicalTerms(modelHash)) return;
        CanonicalTerms memory t = registry.canonicalTerms(modelHash);
        (j.tauOutAbs, j.tauOutRel) = (t.tauOutAbs, t.tauOutRel);
    }

    /// @dev k counted answers: Agreed when their hashes are equal, else Comparing until decideBy.
    function _decide(uint256 jobId, Job storage j) internal {
        bytes32[] memory hashes = _counted(jobId);
        for (uint256 i = 1; i < hashes.length; ++i) {
            if (hashes[i] != hashes[0]) {
                j.status = JobStatus.Comparing;
                j.decideBy = uint40(block.timestamp + DECIDE_WINDOW);
                emit JobComparing(jobId, j.decideBy);
                return;
            }
        }
        _finish(jobId, j, true, hashes[0]);
    }

    /// @dev Final outcome: Agreed on `outputHash`, or Disagreed; what the job no longer needs goes back.
    function _finish(uint256 jobId, Job storage j, bool agreed, bytes32 outputHash) internal {
        j.status = agreed ? JobStatus.Agreed : JobStatus.Disagreed;
        if (agreed) j.outputHash = outputHash;
        uint256 refund = _releaseReserve(j);
        emit JobDecided(jobId, agreed, j.outputHash, refund);
    }

    /// @dev Credits the requester the unused reserve and rewards (the job makes no more requests or payments).
    /// Returns the wei credited; a token job's reserve fees are credited in its token (its callback fees in wei).
    function _releaseReserve(Job storage j) internal returns (uint256 refund) {
        uint256 reserve = j.reserveLeft;
        refund = uint256(j.rewardsLeft) * j.attestReward;
        address token = j.token;
        if (token == address(0)) {
            refund += reserve * j.fee;
        } else {
            refund += reserve * j.callbackFee;
            if (reserve != 0) tokenBalanceOf[j.requester][token] += reserve * j.fee;
        }
        j.reserveLeft = 0;
        j.rewardsLeft = 0;
        if (refund != 0) balanceOf[j.requester] += refund;
    }

    /// @dev Credits the caller one reward while any is left (k + reserve attestations and one decide are prepaid).
    function _reward(uint256 jobId, Job storage j) internal {
        if (j.rewardsLeft == 0 || j.attestReward == 0) return;
        j.rewardsLeft -= 1;
        balanceOf[msg.sender] += j.attestReward;
        emit RewardPaid(jobId, msg.sender, j.attestReward);
    }

    function _counted(uint256 jobId) internal view returns (bytes32[] memory hashes) {
        Answer[] storage answers = _answers[jobId];
        hashes = new bytes32[](_jobs[jobId].counted);
        uint256 n;
        for (uint256 i = 0; i < answers.length; ++i) {
            if (answers[i].status == AnswerStatus.Counted) hashes[n++] = answers[i].outputHash;
        }
    }
}
