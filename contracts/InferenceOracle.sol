// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInferenceOracle} from "./interfaces/IInferenceOracle.sol";
import {IOracleTokenFees} from "./interfaces/IOracleTokenFees.sol";
import {IDisputeOracle, Ruling} from "./interfaces/IDisputeGame.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";
import {RequestId} from "./types/RequestId.sol";
import {TensorHash} from "./libraries/TensorHash.sol";
import {StakeLedger} from "./libraries/StakeLedger.sol";
import {RequestBook} from "./libraries/RequestBook.sol";
import {ExactGasCall} from "./libraries/ExactGasCall.sol";
import {BatchMerkle} from "./libraries/BatchMerkle.sol";
import {PackedBatch} from "./libraries/PackedBatch.sol";
import {OracleParams} from "./libraries/OracleParams.sol";
import {OracleRequests} from "./libraries/OracleRequests.sol";
import {OracleStaking} from "./libraries/OracleStaking.sol";
import {OracleRejections} from "./libraries/OracleRejections.sol";
import {DisputeBook} from "./libraries/DisputeBook.sol";
import {TokenFees} from "./libraries/TokenFees.sol";
import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title InferenceOracle
/// @notice Coordinates inference requests: fee escrow, worker-signed results, the optimistic challenge
/// window, disputes through per-model resolvers, settlement, refunds and worker stakes. The rules live
/// in the libraries (StakeLedger, RequestBook, BatchMerkle, ExactGasCall, TensorHash); the
/// cold paths run in linked libraries (OracleRequests: making a request; OracleParams: versioned params;
/// OracleStaking: stakes), deployed once and linked by protocol/deployOracle.ts, so the coordinator stays
/// under EIP-170. Result submission and settlement stay inline (they are the hot paths).
///
/// Results come in worker-signed batches (docs/V2.md §3): one EIP-712 signature over ResultBatch(resultsRoot,
/// payee), recovered once per batch. Accepted OPTIMISTIC results are not stored one by one: each batch
/// commits the OPTIMISTIC items it accepted as one Merkle root of accepted leaves (one storage word per
/// batch; RequestBook.leaf binds request, attempt, worker, payee and output), and settle/challenge prove a
/// result's leaf against it (docs/PROTOCOL.md, "Result batches"). A skipped item is no accepted leaf. Batches
/// come packed (PackedBatch: fixed-width item headers read from calldata, no ABI decoding of a struct
/// array) and are logged as one ResultBatchSubmitted with a 71-byte record per accepted result.
/// No trace root is signed or stored: an OPTIMISTIC dispute asks the worker for its trace (FraudGame).
///
/// Audited primitives (OpenZeppelin): EIP712 (domain "VerifiableInferenceOracle", version "2"), ECDSA
/// tryRecover, MerkleProof.processProofCalldata, ReentrancyGuardTransient, Ownable2Step. The batch roots
/// are built by BatchMerkle.root (OpenZeppelin has no in-memory root builder; same sorted-pair hash).
///
/// Funds conservation: address(this).balance == sum of stakes + fees escrowed by requests in
/// Requested/Submitted/Challenged (the wei fee; for a request paid in a token, its callback fee) + bonds of open disputes (joiners x bond) + unclaimed dispute shares +
/// sum of pull balances + totalBurned (burned wei never leaves). Every payout is
/// credited to a pull balance (`withdraw`), except refund pushes, which leave escrow and balance together.
/// Per ERC-20 token (TokenFees): token balance == sum of its pull balances + amounts of its open requests.
///
/// Gas that others pay for a requester: a refund push gets a fixed stipend
/// (REFUND_GAS), never the requester's callbackGasLimit; the callback's gas is priced into the minimum
/// fee (`callbackFee`) and paid to whoever executes the callback.
///
/// Parameters are versioned (docs/PROTOCOL.md, "Parameters"): the owner (OpenZeppelin Ownable2Step)
/// schedules a version, which applies after `paramsDelay` to new requests only; each request keeps the
/// version and the dispute resolver it was made with.
contract InferenceOracle is IInferenceOracle, IOracleTokenFees, Ownable2Step, EIP712, ReentrancyGuardTransient {
    using StakeLedger for StakeLedger.Worker;

    /// @notice EIP-712 type of the statement a worker signs for a batch of results (docs/V2.md §3).
    bytes32 internal constant RESULT_BATCH_TYPEHASH = keccak256("ResultBatch(bytes32 resultsRoot,address payee)");

    /// @notice Gas a refund push gets, whatever the request's callbackGasLimit: enough for an EOA or a
    /// small bookkeeping hook (one new storage word). A push that fails credits the pull balance instead.
    uint256 internal constant REFUND_GAS = 50_000;
    /// @notice How long after its challenge window only a settlement that carries the output can settle
    /// a request with a callback: until then nobody can deliver the callback without its output.
    uint64 internal constant OUTPUT_GRACE = 1 days;

    /// @dev What the items of one batch share: the params of the version the last item was made under
    /// (read again only when an item of another version comes; the inline output cap is read only for
    /// items with bytes), and the batch's worker: its operator, payee and stake words
    /// (StakeLedger.amountWords), with the bonds locked so far in this batch added to `slot2`. Only this
    /// call's own locks change those words while it runs (every other writer is a nonReentrant entry
    /// point), so a batch reads them once and writes slot 2 once, when it ends (`_flushWorker`). Views
    /// called back during the call (NONE/ZK callbacks) may see slot 2 behind.
    struct SubmitContext {
        uint256 minStake;
        uint256 resultBond;
        uint64 now_;
        uint40 challengeDeadline;
        uint32 version;
        bool dirty;
        address operator;
        address payee;
        uint256 slot1;
        uint256 slot2;
        /// @dev The records of the accepted items so far (PackedBatch), logged once in ResultBatchSubmitted.
        bytes records;
    }

    IModelRegistry internal immutable _registry;

    /// @dev Every params version ever scheduled; versions start at 1 (0 means "none").
    mapping(uint32 version => OracleParams.Stored) internal _paramsAt;
    /// @dev The version in effect, and the next one with the time it takes effect.
    OracleParams.Schedule internal _schedule;
    uint256 internal _sequence;
    mapping(RequestId => RequestBook.Request) internal _requests;
    /// @dev The dispute resolver of each OPTIMISTIC request, fixed when it was made, and its callback fee.
    mapping(RequestId => RequestBook.Extra) internal _extra;
    /// @dev Disputes by (request, attempt), their joiners and the burned total (DisputeBook).
    DisputeBook.Book internal _book;
    mapping(RequestId => mapping(address operator => bool)) internal _disqualified;
    mapping(address operator => StakeLedger.Worker) internal _workers;
    mapping(address signer => address operator) internal _operatorOf;
    mapping(address account => uint256) internal _balances;
    /// @dev Committed roots of accepted results (leaves bind (request, attempt), so roots never repeat).
    mapping(bytes32 root => bool) internal _batchRoots;
    /// @dev The signed rejections of each request (OracleRejections).
    mapping(RequestId => OracleRejections.Tally) internal _rejections;
    /// @dev The token and amount of each request paid in an ERC-20 token (TokenFees), and the pull
    /// balances in each token.
    mapping(RequestId => TokenFees.Fee) internal _tokenFees;
    mapping(address account => mapping(address token => uint256)) internal _tokenBalances;

    // INVARIANT: no state-changing entry point runs inside another one's external call (every one is
    // nonReentrant: OpenZeppelin ReentrancyGuardTransient, one transient slot).

    /// @dev Ownable reverts OwnableInvalidOwner(0) for a zero owner. EIP712 caches the domain separator and
    /// recomputes it after a chain split, so signatures never carry over to the other chain.
    constructor(address registry_, address admin_, Params memory params_)
        Ownable(admin_)
        EIP712("VerifiableInferenceOracle", "2")
    {
        if (registry_ == address(0)) revert OracleInvalidParams("registry is zero");
        _registry = IModelRegistry(registry_);
        OracleParams.init(_paramsAt, _schedule, params_, _now());
    }

    // ============================================================ requests

    /// @inheritdoc IInferenceOracle
    function requestInference(RequestParams calldata p) external payable nonReentrant returns (RequestId requestId) {
        return OracleRequests.create(_requests, _extra, _paramsAt, p, _requestContext());
    }

    /// @inheritdoc IOracleTokenFees
    function requestInferenceWithToken(RequestParams calldata p, address token, uint256 amount, bytes calldata permit)
        external
        payable
        nonReentrant
        returns (RequestId)
    {
        return TokenFees.create(_requests, _extra, _tokenFees, _paramsAt, p, _requestContext(), token, amount, permit);
    }

    /// @dev What making a request passes to the libraries: this request's sequence number (one more).
    function _requestContext() internal returns (OracleRequests.Context memory) {
        uint256 sequence;
        // Cannot overflow: one increment per request.
        unchecked {
            sequence = ++_sequence;
        }
        return OracleRequests.Context({
            registry: _registry, version: _effectiveVersion(), sequence: sequence, value: msg.value, now_: _now()
        });
    }

    /// @inheritdoc IInferenceOracle
    function submitBatch(address payee, bytes calldata signature, bytes calldata packed)
        external
        nonReentrant
        returns (uint256 accepted)
    {
        // INVARIANT: the signature covers every item, valid or not: the root is rebuilt over all of them.
        (bytes32[] memory leaves, uint256 count) = PackedBatch.signedLeaves(packed);
        bytes32 resultsRoot = BatchMerkle.root(leaves, count);
        SubmitContext memory c = _batchContext(resultsRoot, payee, signature);
        c.records = PackedBatch.newRecords(count);
        uint256 n;
        uint256 at;
        for (uint256 i = 0; i < count; ++i) {
            bytes32 leaf;
            (at, leaf) = _submitAt(packed, at, c);
            // The root's leaves were consumed building resultsRoot: the array is reused for the accepted ones.
            // Cannot overflow: bounded by the array length.
            unchecked {
                if (leaf != bytes32(0)) leaves[n++] = leaf;
            }
        }
        _flushWorker(c);
        bytes32 acceptedRoot;
        if (n != 0) {
            acceptedRoot = BatchMerkle.root(leaves, n);
            // Accepted leaves are unique (a request accepts one result per attempt), so a root never repeats.
            _batchRoots[acceptedRoot] = true;
        }
        accepted = c.records.length / PackedBatch.RECORD;
        emit ResultBatchSubmitted(resultsRoot, c.operator, c.payee, count, acceptedRoot, c.records);
    }

    /// @dev Submits the item at byte `at` of the batch, or logs ResultSkipped with the error it would
    /// revert with; returns where the next item starts and the item's accepted leaf (zero: none).
    function _submitAt(bytes calldata packed, uint256 at, SubmitContext memory c)
        internal
        returns (uint256 next, bytes32 leaf)
    {
        (RequestId requestId, bytes32 outputHash, bytes calldata output, bytes calldata proof, uint256 after_) =
            PackedBatch.item(packed, at);
        bytes memory err;
        (err, leaf) = _submit(requestId, outputHash, output, proof, c);
        if (err.length != 0) emit ResultSkipped(requestId, bytes4(err));
        return (after_, leaf);
    }

    /// @dev Recovers the batch's signer (once per batch) and loads its worker into a fresh context.
    function _batchContext(bytes32 resultsRoot, address payee, bytes calldata signature)
        internal
        view
        returns (SubmitContext memory c)
    {
        c.now_ = _now();
        (address signer, ECDSA.RecoverError e,) = ECDSA.tryRecover(_batchDigest(resultsRoot, payee), signature);
        // INVARIANT: only a well-formed, non-malleable signature is attributed to anyone.
        if (e != ECDSA.RecoverError.NoError) revert OracleInvalidSignature();
        address operator = _operatorOf[signer];
        // INVARIANT: only registered workers' signers speak for the oracle.
        if (operator == address(0)) revert OracleUnknownSigner(signer);
        c.operator = operator;
        // Who gets the relayer share: the payee the worker signed, never the submitter (so a copied
        // batch pays the same payee); a worker that signed none keeps the share.
        c.payee = payee == address(0) ? operator : payee;
        (c.slot1, c.slot2) = _workers[operator].amountWords();
    }

    /// @inheritdoc IInferenceOracle
    function rejectRequest(RequestId requestId, uint16 reason, bytes calldata signature) external nonReentrant {
        _reject(requestId, reason, signature, msg.data[0:0], bytes32(0));
    }

    /// @inheritdoc IInferenceOracle
    function rejectRequestWithProof(
        RequestId requestId,
        uint16 reason,
        bytes calldata signature,
        bytes calldata inputHeader,
        bytes32 inputDataRoot
    ) external nonReentrant {
        // INVARIANT: a proof names a header (an empty one would be a plain rejection).
        if (inputHeader.length == 0) revert OracleInputProofInvalid(requestId, _requests[requestId].inputHash, bytes32(0));
        _reject(requestId, reason, signature, inputHeader, inputDataRoot);
    }

    /// @inheritdoc IInferenceOracle
    function cancelRequest(RequestId requestId) external nonReentrant {
        OracleRejections.checkCancel(_requests, _rejections, requestId, msg.sender);
        _refund(requestId, _requests[requestId], RefundReason.CancelledByRequester);
    }

    /// @dev Records a rejection (with a type-mismatch proof when `inputHeader` is not empty) and
    /// refunds the request when the library says so.
    function _reject(RequestId requestId, uint16 reason, bytes calldata signature, bytes calldata inputHeader, bytes32 inputDataRoot)
        internal
    {
        (bool refund, RefundReason why) = OracleRejections.reject(
            _requests,
            _rejections,
            _workers,
            _operatorOf,
            _disqualified,
            _paramsAt,
            OracleRejections.Signed({
                requestId: requestId,
                reason: reason,
                domainSeparator: _domainSeparatorV4(),
                now_: _now(),
                registry: _registry,
                inputDataRoot: inputDataRoot
            }),
            signature,
            inputHeader
        );
        if (refund) _refund(requestId, _requests[requestId], why);
    }

    /// @inheritdoc IInferenceOracle
    function settle(Settlement calldata settlement) external nonReentrant {
        bytes memory err = _settle(settlement);
        if (err.length != 0) _revertWith(err);
    }

    /// @inheritdoc IInferenceOracle
    function settleMany(Settlement[] calldata settlements) external nonReentrant returns (uint256 settled) {
        for (uint256 i = 0; i < settlements.length; ++i) {
            if (_settle(settlements[i]).length == 0) {
                // Cannot overflow: bounded by the array length.
                unchecked {
                    ++settled;
                }
            }
        }
    }

    /// @inheritdoc IInferenceOracle
    function refundExpired(RequestId[] calldata requestIds) external nonReentrant returns (uint256 refunded) {
        uint64 now_ = _now();
        for (uint256 i = 0; i < requestIds.length; ++i) {
            RequestBook.Request storage r = _requests[requestIds[i]];
            if (r.status == RequestStatus.Requested && now_ >= r.timeout) {
                _refund(requestIds[i], r, RefundReason.Expired);
                // Cannot overflow: bounded by the array length.
                unchecked {
                    ++refunded;
                }
            }
        }
    }

    // ============================================================ disputes

    /// @inheritdoc IInferenceOracle
    function challenge(RequestId requestId, ResultRecord calldata record, bytes32[] calldata proof)
        external
        payable
        nonReentrant
    {
        RequestBook.Request storage r = _requests[requestId];
        DisputeBook.challenge(
            _book, r, _batchRoots, _workers, _operatorOf, requestId, record, proof,
            _paramsAt[r.paramsVersion].challengeBond, _extra[requestId].resolver, _now()
        );
    }

    /// @inheritdoc IDisputeOracle
    function resolveDispute(RequestId requestId, Ruling ruling) external nonReentrant {
        _resolve(requestId, ruling, false);
    }

    /// @inheritdoc IInferenceOracle
    function resolveDisputeByDefault(RequestId requestId) external nonReentrant {
        _resolve(requestId, Ruling.None, true);
    }

    /// @inheritdoc IInferenceOracle
    function claimDispute(RequestId requestId, uint8 attempt) external nonReentrant {
        DisputeBook.claim(_book, _balances, requestId, attempt);
    }

    /// @dev Applies a ruling (DisputeBook.resolve) under the request's params, and the refund it may call for.
    function _resolve(RequestId requestId, Ruling ruling, bool byDefault) internal {
        RequestBook.Request storage r = _requests[requestId];
        OracleParams.Stored storage sp = _paramsAt[r.paramsVersion];
        DisputeBook.After next = DisputeBook.resolve(
            _book, r, _workers, _disqualified, _balances, requestId, ruling, byDefault,
            DisputeBook.Terms({resultBond: sp.resultBond, burnBps: sp.burnBps, tolerancePenaltyBps: sp.tolerancePenaltyBps}),
            _now()
        );
        if (next == DisputeBook.After.RefundAfterDeadline) _refund(requestId, r, RefundReason.WorkerFaultAfterDeadline);
        else if (next == DisputeBook.After.RefundTooManyFaults) _refund(requestId, r, RefundReason.TooManyFaults);
    }

    // ============================================================ staking

    /// @inheritdoc IInferenceOracle
    function registerWorker(address signer) external payable nonReentrant {
        OracleStaking.register(_workers, _operatorOf, msg.sender, signer, msg.value, _paramsAt[_effectiveVersion()].minStake);
    }

    /// @inheritdoc IInferenceOracle
    function addStake() external payable nonReentrant {
        OracleStaking.addStake(_workers, msg.sender, msg.value);
    }

    /// @inheritdoc IInferenceOracle
    function setSigner(address signer) external nonReentrant {
        OracleStaking.setSigner(_workers, _operatorOf, msg.sender, signer);
    }

    /// @inheritdoc IInferenceOracle
    function requestUnbond(uint256 amount) external nonReentrant {
        // Cannot overflow: a uint64 timestamp plus a uint32 delay.
        uint64 readyAt;
        unchecked {
            readyAt = _now() + _paramsAt[_effectiveVersion()].unbondingDelay;
        }
        OracleStaking.requestUnbond(_workers, msg.sender, amount, readyAt);
    }

    /// @inheritdoc IInferenceOracle
    function withdrawStake() external nonReentrant {
        _send(msg.sender, OracleStaking.withdrawStake(_workers, msg.sender, _now()));
    }

    /// @inheritdoc IInferenceOracle
    function withdraw() external nonReentrant {
        uint256 amount = _balances[msg.sender];
        // INVARIANT: a withdrawal pays out a positive pull balance exactly once.
        if (amount == 0) revert OracleNothingToWithdraw(msg.sender);
        _balances[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @inheritdoc IOracleTokenFees
    function claimTokenRefund(RequestId requestId) external nonReentrant {
        TokenFees.claimRefund(_requests, _extra, _tokenFees, _balances, _tokenBalances, requestId);
    }

    /// @inheritdoc IOracleTokenFees
    function withdrawToken(address token) external nonReentrant {
        TokenFees.withdraw(_tokenBalances, token);
    }

    // ============================================================ admin

    /// @inheritdoc IInferenceOracle
    function scheduleParams(Params calldata newParams) external onlyOwner returns (uint32 version, uint64 effectiveAt) {
        return OracleParams.schedule(_paramsAt, _schedule, newParams, _now());
    }

    /// @notice The oracle always has an owner: renouncing is refused.
    function renounceOwnership() public view override onlyOwner {
        revert OracleInvalidParams("owner cannot be renounced");
    }

    // ============================================================ views

    /// @inheritdoc IInferenceOracle
    function state(RequestId requestId) external view returns (RequestStatus) {
        return _requests[requestId].status;
    }

    /// @inheritdoc IInferenceOracle
    function getRequest(RequestId requestId) external view returns (RequestView memory) {
        return OracleRequests.view_(_requests, _extra, _paramsAt, requestId);
    }

    /// @inheritdoc IInferenceOracle
    function getDispute(RequestId requestId, uint8 attempt) external view returns (DisputeView memory) {
        return DisputeBook.view_(_book, requestId, attempt);
    }

    /// @inheritdoc IDisputeOracle
    function isChallenger(RequestId requestId, address account) external view returns (bool) {
        RequestBook.Request storage r = _requests[requestId];
        return r.status == RequestStatus.Challenged && _book.joined[requestId][r.attempt][account];
    }

    /// @inheritdoc IInferenceOracle
    function totalBurned() external view returns (uint256) {
        return _book.totalBurned;
    }

    /// @inheritdoc IInferenceOracle
    function getWorker(address operator) external view returns (WorkerView memory) {
        return OracleStaking.view_(_workers, operator);
    }

    /// @inheritdoc IInferenceOracle
    function operatorOf(address signer) external view returns (address) {
        return _operatorOf[signer];
    }

    /// @inheritdoc IInferenceOracle
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    /// @inheritdoc IOracleTokenFees
    function tokenBalanceOf(address account, address token) external view returns (uint256) {
        return _tokenBalances[account][token];
    }

    /// @inheritdoc IInferenceOracle
    function params() external view returns (Params memory) {
        return OracleParams.unpack(_paramsAt, _effectiveVersion());
    }

    /// @inheritdoc IInferenceOracle
    function paramsVersion() external view returns (uint32) {
        return _effectiveVersion();
    }

    /// @inheritdoc IInferenceOracle
    function paramsAt(uint32 version) external view returns (Params memory) {
        return OracleParams.unpack(_paramsAt, version);
    }

    /// @inheritdoc IInferenceOracle
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IInferenceOracle
    function batchDigest(bytes32 resultsRoot, address payee) external view returns (bytes32) {
        return _batchDigest(resultsRoot, payee);
    }

    /// @inheritdoc IInferenceOracle
    function rejectionDigest(RequestId requestId, uint16 reason) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(OracleRejections.REJECTION_TYPEHASH, requestId, reason)));
    }

    /// @inheritdoc IInferenceOracle
    function rejections(RequestId requestId) external view returns (uint16 count, uint16 quorum) {
        return (_rejections[requestId].count, _paramsAt[_requests[requestId].paramsVersion].rejectionQuorum);
    }

    /// @inheritdoc IInferenceOracle
    function hasRejected(RequestId requestId, address operator) external view returns (bool) {
        return _rejections[requestId].rejected[operator];
    }

    /// @inheritdoc IInferenceOracle
    function resultLeaf(RequestId requestId, uint8 attempt, ResultRecord calldata record) external pure returns (bytes32) {
        return RequestBook.leaf(requestId, attempt, record);
    }

    /// @inheritdoc IInferenceOracle
    function isBatchRoot(bytes32 root) external view returns (bool) {
        return _batchRoots[root];
    }

    /// @notice The EIP-712 domain separator for the current chain.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ============================================================ internals: requests

    /// @dev Accepts one item of the batch, or returns the abi-encoded error it would revert with (leaving
    /// no trace). Everything that can fail is checked before the first state change. An accepted OPTIMISTIC
    /// item returns its accepted leaf, which the caller commits in the batch's accepted root; NONE and ZK
    /// results return zero.
    function _submit(
        RequestId requestId,
        bytes32 outputHash,
        bytes calldata output,
        bytes calldata proof,
        SubmitContext memory c
    ) internal returns (bytes memory err, bytes32 leaf) {
        RequestBook.Request storage r = _requests[requestId];
        uint256 head;
        (head, err) = _checkSubmission(requestId, outputHash, output, r, c);
        if (err.length != 0) return (err, leaf);
        if (RequestBook.tierOf(head) == Tier.OPTIMISTIC) {
            return (err, _acceptOptimistic(requestId, outputHash, r, head, c));
        }
        // INVARIANT: a NONE/ZK result, final at once, reaches a callback only with its output.
        if (output.length == 0 && r.callbackGasLimit != 0) {
            return (abi.encodeWithSelector(OracleOutputMissing.selector, requestId, c.now_), leaf);
        }
        IModelRegistry.ModelTerms memory t = _registry.terms(r.modelHash);
        if (r.tier == Tier.ZK) {
            err = OracleRequests.proofError(t.zkVerifier, requestId, r.modelHash, r.inputHash, outputHash, proof);
            if (err.length != 0) return (err, leaf);
        }
        // NONE and ZK results are final at once, so no bond needs to stay locked.
        PackedBatch.push(c.records, requestId, outputHash, uint40(c.now_), RequestBook.attemptOf(head), 0);
        _fulfill(requestId, r, t.owner, c.operator, c.payee, outputHash, output);
    }

    /// @dev Writes the bonds locked for the context's worker (one SSTORE for a run of its results).
    function _flushWorker(SubmitContext memory c) internal {
        if (!c.dirty) return;
        _workers[c.operator].storeLocks(c.slot2);
        c.dirty = false;
    }

    /// @dev Whether `record` is the request's current result: its leaf (bound to the current attempt)
    /// leads through `proof` to a committed batch root.
    function _isAccepted(
        RequestId requestId,
        RequestBook.Request storage r,
        ResultRecord calldata record,
        bytes32[] calldata proof
    ) internal view returns (bool) {
        return _batchRoots[MerkleProof.processProofCalldata(proof, RequestBook.leaf(requestId, r.attempt, record))];
    }

    /// @dev Loads the params of `version` into the context unless they are there already.
    function _loadVersion(SubmitContext memory c, uint32 version) internal view {
        if (c.version == version) return;
        OracleParams.Stored storage sp = _paramsAt[version];
        c.version = version;
        c.minStake = sp.minStake;
        c.resultBond = sp.resultBond;
        // The truncation matches every other timeout: timestamps fit uint40 until the year 36812.
        c.challengeDeadline = uint40(c.now_ + sp.challengeWindow);
    }

    /// @dev Returns the request's slot 3 (RequestBook.head), or the error why the batch's worker cannot
    /// have this item accepted. Writes nothing.
    function _checkSubmission(
        RequestId requestId,
        bytes32 outputHash,
        bytes calldata output,
        RequestBook.Request storage r,
        SubmitContext memory c
    )
        internal
        view
        returns (uint256 head, bytes memory err)
    {
        head = RequestBook.head(r);
        err = _statusError(requestId, RequestBook.statusOf(head), RequestStatus.Requested);
        if (err.length != 0) return (head, err);
        uint40 timeout = RequestBook.timeoutOf(head);
        // INVARIANT: a result counts only before the request's deadline.
        if (c.now_ >= timeout) {
            return (head, abi.encodeWithSelector(OracleDeadlinePassed.selector, requestId, uint64(timeout)));
        }
        // The request is served, bonded and paid under the params version it was made with.
        _loadVersion(c, RequestBook.paramsVersionOf(head));
        address operator = c.operator;
        // INVARIANT: a worker slashed on a request cannot serve it again (none is at attempt 0), so an old
        // batch replayed after the request reopened is skipped for it.
        if (RequestBook.attemptOf(head) != 0 && _disqualified[requestId][operator]) {
            return (head, abi.encodeWithSelector(OracleWorkerDisqualified.selector, requestId, operator));
        }
        // INVARIANT: every accepted result is backed by the minimum stake and a free result bond.
        err = StakeLedger.canBackError(operator, c.slot1, c.slot2, c.minStake, c.resultBond);
        if (err.length != 0) return (head, err);
        // INVARIANT: an inline output is the canonical tensor the worker signed, and a NONE/ZK output is
        // inline exactly when the request wants it so (at most its maxInlineOutput bytes).
        if (output.length == 0) return (head, err);
        bool delivers = RequestBook.tierOf(head) != Tier.OPTIMISTIC && RequestBook.callbackGasLimitOf(head) != 0;
        // The cap shares no slot with the params read above: read only for an item that carries bytes.
        err = _outputError(outputHash, output, _inlineLimit(requestId, _paramsAt[c.version].maxInlineOutputBytes, delivers));
    }

    /// @dev Locks the bond, opens the challenge window and returns the result's leaf (not stored).
    function _acceptOptimistic(
        RequestId requestId,
        bytes32 outputHash,
        RequestBook.Request storage r,
        uint256 head,
        SubmitContext memory c
    ) internal returns (bytes32) {
        // The bond is locked in the context's copy of the worker's slot 2, written by _flushWorker.
        c.slot2 = StakeLedger.withLock(c.slot2, c.resultBond);
        c.dirty = true;
        RequestBook.setSubmitted(r, head, c.challengeDeadline);
        uint8 attempt = RequestBook.attemptOf(head);
        PackedBatch.push(c.records, requestId, outputHash, c.challengeDeadline, attempt, PackedBatch.FLAG_OPTIMISTIC);
        return RequestBook.leaf(requestId, attempt, c.operator, c.payee, outputHash);
    }

    /// @dev Settles one Submitted result whose window is over, or returns the error it would revert with.
    function _settle(Settlement calldata st) internal returns (bytes memory err) {
        RequestId requestId = st.requestId;
        RequestBook.Request storage r = _requests[requestId];
        err = _statusError(requestId, r.status, RequestStatus.Submitted);
        if (err.length != 0) return err;
        // INVARIANT: a result settles only after its challenge window (or its won dispute).
        if (_now() < r.timeout) return abi.encodeWithSelector(OracleDeadlineNotReached.selector, requestId, uint64(r.timeout));
        // INVARIANT: the settler names exactly the result that was accepted.
        if (!_isAccepted(requestId, r, st.record, st.proof)) {
            return abi.encodeWithSelector(OracleResultRecordMismatch.selector, requestId);
        }
        OracleParams.Stored storage sp = _paramsAt[r.paramsVersion];
        // INVARIANT: a callback gets the output, unless nobody delivered it for OUTPUT_GRACE (too large).
        if (st.output.length == 0 && r.callbackGasLimit != 0 && _now() < uint64(r.timeout) + OUTPUT_GRACE) {
            return abi.encodeWithSelector(OracleOutputMissing.selector, requestId, uint64(r.timeout) + OUTPUT_GRACE);
        }
        // INVARIANT: an inline output is the tensor the worker committed to, inline exactly when the request
        // wants it so (a size proof only for an output longer than its maxInlineOutput).
        err = _outputError(
            st.record.outputHash, st.output, _inlineLimit(requestId, sp.maxInlineOutputBytes, r.callbackGasLimit != 0)
        );
        if (err.length != 0) return err;

        _workers[st.record.worker].release(sp.resultBond);
        address owner = _registry.terms(r.modelHash).owner;
        _fulfill(requestId, r, owner, st.record.worker, st.record.relayer, st.record.outputHash, st.output);
    }

    /// @dev Pays the fee out (to pull balances), marks the request Fulfilled, then calls the requester back.
    function _fulfill(
        RequestId requestId,
        RequestBook.Request storage r,
        address owner,
        address worker,
        address relayer,
        bytes32 outputHash,
        bytes calldata output
    ) internal {
        r.status = RequestStatus.Fulfilled;
        _payOut(requestId, r, owner, worker, relayer, _payCallbackFee(requestId, r.callbackGasLimit));
        // A size proof is delivered as hash only: the callback gets empty bytes.
        if (_isSizeProof(output)) output = output[0:0];
        bool callbackSucceeded = _deliverResult(r.requester, r.callbackGasLimit, requestId, outputHash, output);
        emit RequestFulfilled(requestId, outputHash, callbackSucceeded, output.length != 0);
    }

    /// @dev The owner's fee to the owner, the callback's gas to whoever executes it (this transaction's
    /// sender), the rest split between relayer and worker. A request without a wei fee may be paid in a
    /// token: TokenFees pays it (its callback fee, in wei, was credited already).
    function _payOut(
        RequestId requestId,
        RequestBook.Request storage r,
        address owner,
        address worker,
        address relayer,
        uint256 callbackFee
    ) internal {
        if (r.fee == 0) return TokenFees.payOut(_tokenFees, _tokenBalances, _paramsAt, r, requestId, owner, worker, relayer);
        uint256 ownerFee = r.ownerFee;
        // INVARIANT: the fee is split as the params version of the request said when it was made.
        // Cannot underflow in split: fee >= ownerFee + minWorkerFee + callbackFee at request time.
        (uint256 relayerCut, uint256 workerCut) =
            RequestBook.split(r.fee, ownerFee + callbackFee, _paramsAt[r.paramsVersion].relayerFeeBps);
        _credit(owner, ownerFee);
        _credit(relayer, relayerCut);
        _credit(worker, workerCut);
    }

    /// @dev Credits the callback's gas fee to whoever executes the callback (this transaction's sender).
    function _payCallbackFee(RequestId requestId, uint256 callbackGasLimit) internal returns (uint256 callbackFee) {
        if (callbackGasLimit == 0) return 0;
        callbackFee = _extra[requestId].callbackFee;
        _credit(msg.sender, callbackFee);
    }

    function _deliverResult(address requester, uint256 gasLimit, RequestId requestId, bytes32 outputHash, bytes calldata output)
        internal
        returns (bool)
    {
        if (gasLimit == 0) return false;
        // ExactGasCall.call is our gas-exact call (libraries/ExactGasCall.sol), not address.call.
        // solhint-disable-next-line avoid-low-level-calls
        return ExactGasCall.call(
            requester, gasLimit, 0, abi.encodeCall(IInferenceConsumer.onInferenceResult, (requestId, outputHash, output))
        );
    }

    /// @dev Marks the request Refunded and pushes the fee to the requester; if the push fails, the fee
    /// is credited to the requester's pull balance instead (the only write after an external call, and
    /// it depends on nothing the callee can change).
    function _refund(RequestId requestId, RequestBook.Request storage r, RefundReason reason) internal {
        r.status = RequestStatus.Refunded;
        address requester = r.requester;
        // A token request's wei fee is zero: its token amount and callback fee wait for claimTokenRefund.
        uint256 fee = r.fee;
        // INVARIANT: a refund costs its caller at most REFUND_GAS of the requester's code.
        // ExactGasCall.call is our gas-exact call (libraries/ExactGasCall.sol), not address.call.
        // solhint-disable-next-line avoid-low-level-calls
        bool pushed = ExactGasCall.call(
            requester, REFUND_GAS, fee, abi.encodeCall(IInferenceConsumer.onInferenceRefunded, (requestId, uint8(reason)))
        );
        if (!pushed) _credit(requester, fee);
        emit RequestRefunded(requestId, requester, fee, reason, pushed);
    }

    // ============================================================ internals: checks and helpers

    /// @dev The largest output delivered inline: the request's maxInlineOutput when its output reaches a
    /// callback in this call (0: `cap`), else `cap` (params.maxInlineOutputBytes).
    function _inlineLimit(RequestId requestId, uint256 cap, bool delivers) internal view returns (uint256) {
        if (!delivers) return cap;
        uint256 m = _extra[requestId].maxInlineOutput;
        return m == 0 ? cap : m;
    }

    function _isSizeProof(bytes calldata output) internal pure returns (bool) {
        return output.length >= 4 && bytes4(output[0:4]) == OracleRequests.SIZE_PROOF_MAGIC;
    }

    /// @dev Empty output: none. A size proof ("VIOH" || header || dataRoot): it must hash to outputHash and
    /// declare more than `maxBytes` (OracleRequests.sizeProofError). Else a canonical encoding of at most
    /// `maxBytes` that hashes to outputHash.
    function _outputError(bytes32 outputHash, bytes calldata output, uint256 maxBytes) internal pure returns (bytes memory none) {
        if (output.length == 0) return none;
        if (_isSizeProof(output)) return OracleRequests.sizeProofError(outputHash, output, maxBytes);
        if (output.length > maxBytes) return abi.encodeWithSelector(OracleOutputTooLarge.selector, output.length, maxBytes);
        (uint256 code, bytes32 computed) = TensorHash.tryHash(output);
        if (code != 0) return abi.encodeWithSelector(OracleMalformedTensor.selector, code);
        if (computed != outputHash) return abi.encodeWithSelector(OracleOutputHashMismatch.selector, outputHash, computed);
    }

    function _statusError(RequestId requestId, RequestStatus current, RequestStatus expected)
        internal
        pure
        returns (bytes memory none)
    {
        if (current == expected) return none;
        if (current == RequestStatus.None) return abi.encodeWithSelector(OracleRequestNotFound.selector, requestId);
        return abi.encodeWithSelector(UnexpectedRequestState.selector, requestId, current, expected);
    }

    function _requireStatus(RequestId requestId, RequestStatus current, RequestStatus expected) internal pure {
        // INVARIANT: every transition starts from the one state it is defined for.
        if (current == expected) return;
        if (current == RequestStatus.None) revert OracleRequestNotFound(requestId);
        revert UnexpectedRequestState(requestId, current, expected);
    }

    /// @dev The version new requests get now: the pending one once its time has come.
    function _effectiveVersion() internal view returns (uint32) {
        return OracleParams.effectiveVersion(_schedule, _now());
    }

    function _credit(address account, uint256 amount) internal {
        if (amount == 0) return;
        _balances[account] += amount;
        emit BalanceCredited(account, amount);
    }

    /// @dev Sends ether with all remaining gas; callers update state first and hold the reentrancy lock.
    function _send(address to, uint256 amount) internal {
        (bool ok,) = payable(to).call{value: amount}("");
        if (!ok) revert OracleTransferFailed(to, amount);
    }

    /// @dev The EIP-712 digest of ResultBatch(resultsRoot, payee) (OpenZeppelin EIP712: the cached domain
    /// separator, recomputed after a chain split).
    function _batchDigest(bytes32 resultsRoot, address payee) internal view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(RESULT_BATCH_TYPEHASH, resultsRoot, payee)));
    }

    function _revertWith(bytes memory err) internal pure {
        // Assembly: re-raises the callee's revert data unchanged (no Solidity form does that).
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            revert(add(err, 32), mload(err))
        }
    }

    /// @dev The oracle's clock; tests and forks may override it.
    function _now() internal view virtual returns (uint64) {
        return uint64(block.timestamp);
    }
}
