// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RequestId} from "../types/RequestId.sol";
import {IDisputeOracle, Ruling} from "./IDisputeGame.sol";

/// @notice The oracle coordinator: request escrow, signed results, challenges, settlement, refunds,
/// and worker staking. Every state has a deadline (`timeout`) after which its default outcome can be
/// applied by anyone: Requested -> refunded, Submitted -> settled, Challenged -> default ruling.
interface IInferenceOracle is IDisputeOracle {
    /// @notice How a result is trusted. NONE: final on submission. OPTIMISTIC: final after the
    /// challenge window. ZK: final on submission with a valid proof.
    enum Tier {
        NONE,
        OPTIMISTIC,
        ZK
    }

    enum RequestStatus {
        None,
        Requested,
        Submitted,
        Challenged,
        Fulfilled,
        Refunded
    }

    enum RefundReason {
        Expired,
        /// @notice `rejectionQuorum` distinct staked workers rejected the request.
        RejectedByWorker,
        WorkerFaultAfterDeadline,
        /// @notice 255 results on this request were overturned; it is not reopened again.
        TooManyFaults,
        /// @notice The requester cancelled the request after a worker rejected it (`cancelRequest`).
        CancelledByRequester,
        /// @notice A worker proved the input is not of the model's committed input type.
        InputTypeMismatch
    }

    /// @param inputHash tensor hash of the input (see docs/PROTOCOL.md); must match `input` when inline
    /// @param input canonical tensor encoding, inline (at most maxInlineInputBytes), or empty
    /// @param inputURI where workers fetch the input when it is not inline
    /// @param deadline unix time by which a result must be submitted, else the fee is refunded
    /// @param maxInlineOutput the largest output (canonical encoding, bytes) the callback gets inline; a
    /// longer one comes as its hash only (empty `output`), the bytes at the blob store under that hash
    /// (docs/PROTOCOL.md, "Large outputs"). 0: the params' maxInlineOutputBytes (what callers that predate
    /// the field get); above it the request reverts OracleInlineOutputTooHigh. 1 (no canonical tensor is
    /// that short): hash only, always.
    struct RequestParams {
        bytes32 modelHash;
        bytes32 inputHash;
        bytes input;
        string inputURI;
        Tier tier;
        uint32 callbackGasLimit;
        uint64 deadline;
        uint32 maxInlineOutput;
    }

    /// @notice An accepted OPTIMISTIC result; `worker` is the operator behind the batch's signer, `relayer`
    /// the payee the worker signed (the operator when it signed none), not the submitter. The oracle keeps
    /// no copy: each submitted batch commits the OPTIMISTIC items it accepted as the leaves of one Merkle
    /// root (RequestBook.leaf, binding the request's attempt; docs/PROTOCOL.md, "Result batches"), and
    /// settle/challenge name a result by this record plus a Merkle proof. Skipped items are no leaves.
    struct ResultRecord {
        address worker;
        address relayer;
        bytes32 outputHash;
    }

    /// @param proof the Merkle proof of the result's leaf in its batch root (siblings, leaf upwards;
    /// empty for a batch of one)
    struct Settlement {
        RequestId requestId;
        ResultRecord record;
        bytes output;
        bytes32[] proof;
    }

    struct RequestView {
        address requester;
        RequestStatus status;
        Tier tier;
        uint96 fee;
        uint96 ownerFee;
        uint32 callbackGasLimit;
        uint64 deadline;
        uint64 timeout;
        bytes32 modelHash;
        bytes32 inputHash;
        /// @dev results overturned on this request so far; part of the current result's leaf
        uint8 attempt;
        /// @dev the params version fixed when the request was made (fee split, bonds, windows)
        uint32 paramsVersion;
        /// @dev the dispute resolver fixed when the request was made (OPTIMISTIC only, else zero)
        address resolver;
        /// @dev the part of `fee` that pays for the callback's gas (callbackGasLimit x max(basefee,
        /// minGasPrice) at request time), paid to whoever executes the callback
        uint96 callbackFee;
        /// @dev the largest output the callback gets inline (RequestParams.maxInlineOutput, 0 resolved to
        /// the cap of the request's params version); longer outputs are delivered as hash only
        uint32 maxInlineOutput;
    }

    /// @notice One dispute, on one attempt of a request (a WorkerFault ruling reopens the request with
    /// attempt + 1, and its result can be disputed again).
    /// @param opener the first challenger; @param bond every joiner's bond (the request's challengeBond)
    /// @param joiners how many challengers posted `bond` (the opener included)
    /// @param defaultRuling what resolveDisputeByDefault applies once `deadline` has passed
    /// @param ruling None while open; then the ruling applied
    /// @param share what each joiner claims (claimDispute) after WorkerFault or OutputMinor
    struct DisputeView {
        address opener;
        address worker;
        address resolver;
        uint96 bond;
        uint64 deadline;
        uint32 joiners;
        Ruling defaultRuling;
        Ruling ruling;
        uint256 share;
    }

    struct WorkerView {
        address signer;
        uint256 stake;
        uint256 locked;
        uint256 unbonding;
        uint64 unbondingReadyAt;
        uint64 openResults;
    }

    /// @notice Protocol parameters, versioned. The owner schedules a new version (`scheduleParams`); it
    /// takes effect `paramsDelay` (of the version in effect when it was scheduled) later, and only for
    /// requests made from then on: every request stores the version in effect when it was made and is
    /// served, bonded, challenged and paid under it. minStake and unbondingDelay are worker-wide and
    /// follow the version in effect at the time of the staking action.
    struct Params {
        uint96 minStake;
        uint96 resultBond;
        uint96 challengeBond;
        uint96 minWorkerFee;
        uint32 challengeWindow;
        uint32 unbondingDelay;
        uint16 relayerFeeBps;
        uint32 maxInlineInputBytes;
        uint32 maxInlineOutputBytes;
        uint32 maxCallbackGasLimit;
        /// @dev how long a scheduled change waits before it applies to new requests
        uint32 paramsDelay;
        /// @dev the least gas price a callback's gas is priced at (the block's basefee when higher)
        uint64 minGasPrice;
        /// @dev how many distinct staked workers must reject a request before it is refunded (1..64)
        uint16 rejectionQuorum;
        /// @dev share of every slash (and of every losing joiner's bond) burned: kept in the oracle for
        /// ever (`totalBurned`), so a worker never breaks even on its own proven fault; 1..10000
        uint16 burnBps;
        /// @dev share of the result bond slashed on an OutputMinor ruling (output beyond τ_out, trace
        /// right); 0..10000
        uint16 tolerancePenaltyBps;
    }

    // ---------------------------------------------------------------- events
    event InferenceRequested(
        RequestId indexed requestId,
        address indexed requester,
        bytes32 indexed modelHash,
        bytes32 inputHash,
        Tier tier,
        uint256 fee,
        uint64 deadline,
        uint32 callbackGasLimit,
        bytes input,
        string inputURI
    );
    /// @notice A worker-signed batch was submitted: `resultsRoot` is the root its worker signed, `worker`
    /// the operator behind the signer, `payee` who gets the relayer share of its fees (whoever submitted).
    /// `records` holds one 71-byte record per accepted item, in batch order (PackedBatch, protocol/batch-wire.ts):
    /// requestId (32) | outputHash (32) | time (uint40) | attempt (uint8) | flags (uint8). An OPTIMISTIC
    /// result (flags bit 0) carries the end of its challenge window and is a leaf of `acceptedRoot`, the
    /// Merkle root of the batch's accepted OPTIMISTIC results (RequestBook.leaf, in record order; zero when
    /// none). A NONE/ZK result carries the submission time and is final at once (its RequestFulfilled was
    /// emitted earlier in the same call). `items` counts every item; those not accepted have a ResultSkipped
    /// each. One event per batch instead of one per result: 8 gas per byte of record, not a log per result.
    event ResultBatchSubmitted(
        bytes32 indexed resultsRoot,
        address indexed worker,
        address indexed payee,
        uint256 items,
        bytes32 acceptedRoot,
        bytes records
    );
    /// @notice A batch item that was not accepted; `reason` is the selector of the error it would revert with.
    event ResultSkipped(RequestId indexed requestId, bytes4 reason);
    /// @notice A staked worker's signed rejection was recorded (RejectionRecorded follows with the count,
    /// or RequestRefunded when it proved an input type mismatch).
    event RequestRejected(RequestId indexed requestId, address indexed worker, uint16 reason);
    /// @notice `rejections` distinct staked workers have now rejected the request; it is refunded
    /// (RequestRefunded, RejectedByWorker) when that reaches `quorum`, else it stays open.
    event RejectionRecorded(RequestId indexed requestId, address indexed worker, uint16 rejections, uint16 quorum);
    event RequestRefunded(RequestId indexed requestId, address indexed requester, uint256 amount, RefundReason reason, bool pushed);
    event RequestFulfilled(RequestId indexed requestId, bytes32 outputHash, bool callbackSucceeded, bool outputDelivered);
    event RequestReopened(RequestId indexed requestId, address indexed disqualifiedWorker, uint64 deadline);
    /// @notice The first challenge of a result opened a dispute on attempt `attempt` of the request.
    event ChallengeOpened(RequestId indexed requestId, address indexed challenger, address indexed worker, uint256 bond, uint64 deadline);
    /// @notice A later challenger joined the open dispute with the same bond; `joiners` counts the opener.
    event DisputeJoined(RequestId indexed requestId, uint8 attempt, address indexed challenger, uint32 joiners);
    /// @notice A dispute was ruled (by its resolver, or by default after its deadline). `slashed` left the
    /// worker's stake; `burned` stays in the oracle for ever; `share` is what each joiner claims.
    event DisputeResolved(
        RequestId indexed requestId, uint8 attempt, Ruling ruling, bool byDefault, uint256 slashed, uint256 burned, uint256 share
    );
    /// @notice A joiner claimed its share of a WorkerFault/OutputMinor dispute (credited to its pull balance).
    event DisputeClaimed(RequestId indexed requestId, uint8 attempt, address indexed challenger, uint256 amount);
    event WorkerRegistered(address indexed operator, address indexed signer, uint256 stake);
    event SignerChanged(address indexed operator, address indexed previousSigner, address indexed newSigner);
    event StakeAdded(address indexed operator, uint256 amount, uint256 stake);
    event UnbondRequested(address indexed operator, uint256 amount, uint64 readyAt);
    event StakeWithdrawn(address indexed operator, uint256 amount);
    event WorkerSlashed(address indexed operator, uint256 amount, address indexed beneficiary);
    event BalanceCredited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice A params version was scheduled; requests made at or after `effectiveAt` use it. A
    /// version scheduled while another was still pending replaces it (same version number).
    event ParamsScheduled(uint32 indexed version, Params params, uint64 effectiveAt);

    // ---------------------------------------------------------------- errors
    error UnexpectedRequestState(RequestId requestId, RequestStatus current, RequestStatus expected);
    error OracleRequestNotFound(RequestId requestId);
    error OracleModelNotFound(bytes32 modelHash);
    error OracleModelInactive(bytes32 modelHash);
    error OracleTierUnsupported(bytes32 modelHash, Tier tier);
    /// @notice The model's resolver could not decide a dispute on its results now (the FraudGame: no canonical
    /// terms set; the ZK resolver: no verifier): an OPTIMISTIC result would settle unchallengeable.
    error OracleModelNotDisputable(bytes32 modelHash, address resolver);
    error OracleFeeTooLow(uint256 fee, uint256 minimum);
    error OracleFeeTooHigh(uint256 fee);
    error OracleDeadlineInvalid(uint64 deadline, uint64 now_);
    error OracleCallbackGasTooHigh(uint32 requested, uint32 maximum);
    error OracleInputTooLarge(uint256 size, uint256 maximum);
    error OracleInputMissing();
    error OracleInputHashMismatch(bytes32 declared, bytes32 computed);
    error OracleOutputTooLarge(uint256 size, uint256 maximum);
    error OracleOutputHashMismatch(bytes32 declared, bytes32 computed);
    /// @notice A request asked for a larger inline output than its params allow (maxInlineOutputBytes).
    error OracleInlineOutputTooHigh(uint32 requested, uint32 maximum);
    /// @notice A size proof ("VIOH" || header || dataRoot) for an output of `size` bytes, which the request
    /// wants inline (at most `maxInline`): the callback must get the bytes.
    error OracleOutputInlineRequired(uint256 size, uint256 maxInline);
    /// @notice A request with a callback is delivered only with the output bytes that hash to the signed
    /// outputHash, or, for an output longer than the request's maxInlineOutput, its size proof (NONE/ZK:
    /// in the submission; OPTIMISTIC: in the settlement until `availableAt`, the end of the challenge
    /// window plus OUTPUT_GRACE; after that, a settlement may carry neither, the bytes having been
    /// withheld, and the callback gets empty bytes).
    error OracleOutputMissing(RequestId requestId, uint64 availableAt);
    error OracleMalformedTensor(uint256 code);
    error OracleInvalidSignature();
    error OracleUnknownSigner(address signer);
    error OracleWorkerDisqualified(RequestId requestId, address worker);
    error OracleDeadlinePassed(RequestId requestId, uint64 deadline);
    error OracleDeadlineNotReached(RequestId requestId, uint64 timeout);
    /// @notice The record and Merkle proof do not lead from the request's current result leaf to a
    /// committed batch root: a wrong record, a wrong proof, or a result that was since overturned.
    error OracleResultRecordMismatch(RequestId requestId);
    error OracleProofRequired(RequestId requestId);
    error OracleProofInvalid(RequestId requestId);
    /// @notice Every challenger (opener or joiner) posts exactly the request's challengeBond.
    error OracleChallengeBondInvalid(uint256 bond, uint256 required);
    error OracleAlreadyJoined(RequestId requestId, address challenger);
    /// @notice Nothing to claim: the dispute was not ruled WorkerFault/OutputMinor, or `account` did not
    /// join it, or already claimed.
    error OracleNothingToClaim(RequestId requestId, uint8 attempt, address account);
    /// @notice A resolver returned or applied Ruling.None.
    error OracleInvalidRuling(RequestId requestId);
    error OracleNotResolver(RequestId requestId, address caller, address resolver);
    error OracleInsufficientGasForCallback(uint256 available, uint256 required);
    error OracleInvalidParams(string reason);
    error OracleTransferFailed(address to, uint256 amount);
    error OracleNothingToWithdraw(address account);
    /// @notice The worker that produced a result (its operator or its signer) cannot open or join a dispute on it.
    error OracleSelfChallenge(RequestId requestId, address worker);
    /// @notice A submitted batch has no items.
    error OracleEmptyBatch();
    /// @notice The packed items of a batch end mid-item at byte `offset` (a header or a length past the end).
    error OracleMalformedBatch(uint256 offset);
    /// @notice A batch has more than `maximum` items (PackedBatch.MAX_ITEMS).
    error OracleBatchTooLarge(uint256 items, uint256 maximum);
    /// @notice The operator already rejected this request; each operator counts once.
    error OracleAlreadyRejected(RequestId requestId, address operator);
    /// @notice The header and data root of a type-mismatch proof do not hash to the request's inputHash.
    error OracleInputProofInvalid(RequestId requestId, bytes32 inputHash, bytes32 computed);
    /// @notice The proven input header is of the model's committed input type: nothing to refund.
    error OracleInputTypeMatches(RequestId requestId);
    error OracleNotRequester(RequestId requestId, address caller, address requester);
    /// @notice A request can be cancelled only once a staked worker rejected it.
    error OracleNotRejected(RequestId requestId);
    error StakeBelowMinimum(address operator, uint256 stake, uint256 minimum);
    error StakeInsufficientFree(address operator, uint256 free, uint256 required);
    error StakeWorkerAlreadyRegistered(address operator);
    error StakeWorkerNotRegistered(address operator);
    error StakeSignerInUse(address signer);
    error StakeUnbondingNotReady(address operator, uint64 readyAt);
    error StakeUnbondTooLarge(address operator, uint256 requested, uint256 available);
    error StakeOpenResults(address operator, uint64 openResults);

    // ---------------------------------------------------------------- requests
    function requestInference(RequestParams calldata params) external payable returns (RequestId requestId);
    /// @notice Submits a worker-signed batch (anyone may submit it; the signed payee is paid): one EIP-712
    /// signature over ResultBatch(resultsRoot, payee), resultsRoot being the sorted-pair keccak Merkle root of
    /// the items' leaves keccak256(abi.encode(RESULT_LEAF_TAG, requestId, outputHash)) in batch order, so
    /// the batch is signed and submitted whole: changing, dropping or reordering an item voids the signature.
    /// `packed` is the items back to back (PackedBatch; protocol/batch-wire.ts packBatch): requestId (32) |
    /// outputHash (32) | output length (uint24) | proof length (uint24) | output | proof. The output is
    /// the canonical tensor (an OPTIMISTIC output inline for challengers, or a NONE/ZK output for the
    /// callback in this call), its size proof "VIOH" || header || dataRoot, or empty; the proof is a ZK
    /// request's proof, else empty. The oracle recomputes the root over ALL items and recovers the signer
    /// once (an empty, malformed or oversized batch, a bad signature or an unknown signer reverts), then
    /// accepts every valid item and skips (with ResultSkipped) the rest, so one bad item never blocks a
    /// batch. Returns how many were accepted; ResultBatchSubmitted lists them. Too little gas for a NONE/ZK
    /// item's callback is not a bad item: the whole call reverts with OracleInsufficientGasForCallback.
    function submitBatch(address payee, bytes calldata signature, bytes calldata packed) external returns (uint256 accepted);
    /// @notice Records a staked worker's signed `Rejection(requestId, reason)` (one per operator). The
    /// request is refunded when `rejectionQuorum` distinct staked operators (its params version) rejected
    /// it; until then it stays open to other workers, and its requester may `cancelRequest`.
    function rejectRequest(RequestId requestId, uint16 reason, bytes calldata signature) external;
    /// @notice A signed rejection that proves the input is not of the model's committed input type:
    /// `inputHeader` and `inputDataRoot` hash to the request's inputHash (sha256(0x02 || header ||
    /// dataRoot)) and the header is malformed or differs from the registry's input TensorSpec. Refunds at once.
    function rejectRequestWithProof(
        RequestId requestId,
        uint16 reason,
        bytes calldata signature,
        bytes calldata inputHeader,
        bytes32 inputDataRoot
    ) external;
    /// @notice The requester takes back an open request that at least one staked worker rejected.
    function cancelRequest(RequestId requestId) external;
    /// @notice Pays out a Submitted result once its challenge window is over (anyone may call) and calls the
    /// requester back with exactly its callbackGasLimit; reverts OracleInsufficientGasForCallback when the
    /// transaction could not forward that much, so a caller cannot make the callback fail.
    function settle(Settlement calldata settlement) external;
    /// @notice Settles every ready item and skips the others. Returns how many settled.
    function settleMany(Settlement[] calldata settlements) external returns (uint256 settled);
    /// @notice Refunds every listed request whose deadline passed unserved; others are skipped.
    function refundExpired(RequestId[] calldata requestIds) external returns (uint256 refunded);

    // ---------------------------------------------------------------- disputes
    /// @notice Disputes a Submitted result inside its challenge window, naming it by its record and the
    /// Merkle proof of its leaf in the batch root it was committed in (empty for a batch of one), with
    /// exactly the request's challengeBond: the first challenge opens the dispute (and calls the
    /// request's IDisputeResolverV2), later ones join it until its deadline (naming the same result, so a
    /// join racing a ruling cannot land on another result's dispute). No join moves any deadline. The
    /// worker's operator and its signer can neither open nor join.
    function challenge(RequestId requestId, ResultRecord calldata record, bytes32[] calldata proof) external payable;
    /// @notice Applies the dispute's default ruling once its deadline has passed. Anyone may call.
    function resolveDisputeByDefault(RequestId requestId) external;
    /// @notice Credits the caller's share of a WorkerFault/OutputMinor dispute on attempt `attempt` of
    /// the request to its pull balance (once per joiner).
    function claimDispute(RequestId requestId, uint8 attempt) external;
    /// @notice Wei burned by rulings so far: held by the oracle for ever, never withdrawable.
    function totalBurned() external view returns (uint256);

    // ---------------------------------------------------------------- staking
    function registerWorker(address signer) external payable;
    function addStake() external payable;
    function setSigner(address signer) external;
    function requestUnbond(uint256 amount) external;
    function withdrawStake() external;
    function withdraw() external;

    // ---------------------------------------------------------------- views
    function state(RequestId requestId) external view returns (RequestStatus);
    function getRequest(RequestId requestId) external view returns (RequestView memory);
    /// @notice The dispute on attempt `attempt` of the request (all zero: none).
    function getDispute(RequestId requestId, uint8 attempt) external view returns (DisputeView memory);
    function getWorker(address operator) external view returns (WorkerView memory);
    function operatorOf(address signer) external view returns (address);
    function balanceOf(address account) external view returns (uint256);
    /// @notice The params new requests get now.
    function params() external view returns (Params memory);
    /// @notice The params version new requests get now.
    function paramsVersion() external view returns (uint32);
    /// @notice The params of `version` (all zero for a version never scheduled).
    function paramsAt(uint32 version) external view returns (Params memory);
    function registry() external view returns (address);
    /// @notice The EIP-712 digest a worker signs for a batch: ResultBatch(resultsRoot, payee).
    function batchDigest(bytes32 resultsRoot, address payee) external view returns (bytes32);
    function rejectionDigest(RequestId requestId, uint16 reason) external view returns (bytes32);
    /// @notice How many distinct staked workers rejected the request, and how many refund it.
    function rejections(RequestId requestId) external view returns (uint16 count, uint16 quorum);
    /// @notice Whether `operator` rejected the request.
    function hasRejected(RequestId requestId, address operator) external view returns (bool);
    /// @notice The leaf of an accepted result in its batch's accepted root (docs/PROTOCOL.md, "Result batches").
    function resultLeaf(RequestId requestId, uint8 attempt, ResultRecord calldata record) external pure returns (bytes32);
    /// @notice Whether `root` is a committed root of accepted results.
    function isBatchRoot(bytes32 root) external view returns (bool);

    // ---------------------------------------------------------------- admin (Ownable2Step: owner,
    // transferOwnership, acceptOwnership; the oracle never renounces its owner)
    /// @notice Schedules `newParams` as the next version, effective `paramsDelay` from now for new
    /// requests only; requests already made keep the version they were made with.
    function scheduleParams(Params calldata newParams) external returns (uint32 version, uint64 effectiveAt);
}
