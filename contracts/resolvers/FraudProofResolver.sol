// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DisputeContext, IDisputeOracle, IDisputeResolverV2, Ruling} from "../interfaces/IDisputeGame.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestBook} from "../libraries/RequestBook.sol";
import {BatchMerkle} from "../libraries/BatchMerkle.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {RequestId} from "../types/RequestId.sol";
import {OneStepVerifier} from "../fraud/OneStepVerifier.sol";
import {OpEntry} from "../fraud/OpEntry.sol";
import {TraceLib} from "../fraud/TraceLib.sol";
import {TensorHash} from "../libraries/TensorHash.sol";
import {ChunkProof, StepContext, StepProof, Verdict} from "../fraud/FraudTypes.sol";

/// @title FraudProofResolver
/// @notice Resolves OPTIMISTIC disputes with one-step fraud proofs (docs/OPTIMISTIC.md), the v1 resolver
/// under the v2 oracle (IDisputeResolverV2). The challengers must prove: the default ruling is WorkerRight.
/// - `bindTrace` (anyone, once per dispute): the disputed result's record and batch proof, which give the
///   traceRoot the worker signed (the oracle does not store it; every proof below needs it).
/// - `proveFraud` (any challenger who joined the dispute in the oracle: `isChallenger`): a one-step proof
///   of one element. A wrong element rules WorkerFault; a correct one reverts and changes nothing, so a
///   worker's sock that opened the dispute cannot end it for the worker by proving a right element
///   (issue 11, scenario 1): any honest joiner still proves until the deadline.
/// - `proveOutputMismatch` / `proveManifestMismatch` / `proveTypeFault` (anyone): the signed output
///   hash is not the trace's last tensor, the manifest does not have the model's trace count, or a
///   trace tensor has another dtype or shape than committed.
/// - Data availability: within `daRequestWindow` of the opening a challenger may name (once per dispute) up to
///   MAX_DA_CHUNKS chunks (of the manifest or of trace tensors) it could not fetch; anyone holding the
///   data reveals them on-chain (proven against the traceRoot; emitted for the challenger) before the
///   DA deadline, else anyone calls `slashWithheld` and the worker is at fault.
contract FraudProofResolver is IDisputeResolverV2 {
    uint32 public constant MANIFEST = type(uint32).max;
    uint256 public constant MAX_DA_CHUNKS = 16;

    struct Dispute {
        bytes32 modelHash;
        bytes32 commitmentRoot;
        bytes32 inputHash;
        bytes32 outputHash;
        bytes32 traceRoot;
        address worker;
        uint64 openedAt;
        uint64 daDeadline;
        uint32 pending;
        uint64 nonce;
        uint8 attempt;
    }

    /// @notice A chunk named in a data-availability challenge: chunk `chunk` of trace tensor `traceIndex`
    /// (or of the manifest: traceIndex = MANIFEST).
    struct DataRef {
        uint32 traceIndex;
        uint32 chunk;
    }

    /// @notice A revealed chunk: the manifest (traceCount, manifestRoot) under the traceRoot, and for a
    /// trace tensor its manifest row chunk, header and data root.
    struct Reveal {
        uint32 traceIndex;
        uint32 traceCount;
        bytes32 manifestRoot;
        ChunkProof row;
        bytes header;
        bytes32 dataRoot;
        ChunkProof chunk;
    }

    /// @notice A trace tensor whose published hash is of a tensor of another dtype or shape than the
    /// commitment says: the operator entry that outputs it, and that tensor's header and data root.
    struct TypeFaultProof {
        uint32 opIndex;
        bytes entry;
        bytes32[] opPath;
        bytes32 weightsRoot;
        bytes32 opsRoot;
        uint8 output;
        uint32 traceCount;
        bytes32 manifestRoot;
        ChunkProof row;
        bytes header;
        bytes32 dataRoot;
    }

    event DisputeRecorded(RequestId indexed requestId, uint8 attempt, address indexed worker, bytes32 outputHash);
    event TraceBound(RequestId indexed requestId, bytes32 traceRoot);
    event TraceCountSet(bytes32 indexed modelHash, uint32 traceCount);
    event FraudProven(RequestId indexed requestId, uint32 opIndex, uint256 element, bool workerAtFault);
    event OutputMismatchProven(RequestId indexed requestId, bytes32 traceOutputHash, bytes32 signedOutputHash);
    event ManifestMismatchProven(RequestId indexed requestId, uint32 traceCount, uint32 committedTraceCount);
    event AvailabilityChallenged(RequestId indexed requestId, DataRef[] refs, uint64 daDeadline);
    event ChunkRevealed(RequestId indexed requestId, uint32 traceIndex, uint32 chunk, bytes data);
    event TypeFaultProven(RequestId indexed requestId, uint32 traceIndex);
    event ChunkNonexistent(RequestId indexed requestId, uint32 traceIndex, uint32 chunk);
    event WithheldSlashed(RequestId indexed requestId, uint32 missing);

    error FraudOnlyOracle(address caller);
    error FraudOnlyChallenger(RequestId requestId, address caller);
    error FraudStepCorrect(RequestId requestId, uint32 opIndex, uint256 element);
    error FraudTraceUnbound(RequestId requestId);
    error FraudTraceAlreadyBound(RequestId requestId);
    error FraudRecordMismatch(RequestId requestId);
    error FraudTraceCountAlreadySet(bytes32 modelHash, uint32 traceCount);
    error FraudUnknownDispute(RequestId requestId);
    error FraudZeroAddress();
    error FraudInvalidTimes();
    error FraudNotModelOwner(bytes32 modelHash, address caller);
    error FraudTraceCountUnset(bytes32 modelHash);
    error FraudTraceCountMismatch(uint32 given, uint32 committed);
    error FraudOutputMatches(RequestId requestId);
    error FraudManifestMatches(RequestId requestId);
    error FraudCommitmentUnset(bytes32 modelHash);
    error FraudDaWindowClosed(RequestId requestId);
    error FraudDaAlreadyChallenged(RequestId requestId);
    error FraudDaBadRefs(uint256 count);
    error FraudDaDuplicateRef(uint32 traceIndex, uint32 chunk);
    error FraudDaNotRequested(uint32 traceIndex, uint32 chunk);
    error FraudDaDeadlinePassed(RequestId requestId, uint64 daDeadline);
    error FraudDaDeadlineNotReached(RequestId requestId, uint64 daDeadline);
    error FraudDaNothingWithheld(RequestId requestId);
    error FraudHeaderMismatch(uint32 traceIndex);
    error FraudHeaderMalformed();
    error FraudTypeMatches(uint32 traceIndex);
    error FraudOutputOutOfRange(uint256 output);

    IInferenceOracle public immutable oracle;
    IModelRegistry public immutable registry;
    OneStepVerifier public immutable verifier;
    /// @notice Seconds from opening until the default outcome (worker not at fault) applies.
    uint64 public immutable disputeDuration;
    /// @notice Seconds after opening during which the challenger may open a data-availability challenge.
    uint64 public immutable daRequestWindow;
    /// @notice Seconds the worker (or anyone) has to reveal the named chunks.
    uint64 public immutable daResponseTime;

    /// @notice The model's trace tensor count (the manifest's n), set once by the model's owner next to its
    /// commitment root and checkable the same way (scripts/model-commitment.ts). Set once (issue 11,
    /// scenario 6): an owner changing it under open results could make an honest manifest "mismatch".
    mapping(bytes32 modelHash => uint32) public traceCount;
    mapping(RequestId => Dispute) private disputes;
    /// @dev 1: requested, 2: revealed; keyed by (requestId, dispute nonce, traceIndex, chunk).
    mapping(bytes32 => uint8) private daState;
    uint64 private nonces;

    constructor(address oracle_, address registry_, address verifier_, uint64 disputeDuration_, uint64 daRequestWindow_, uint64 daResponseTime_) {
        if (oracle_ == address(0) || registry_ == address(0) || verifier_ == address(0)) revert FraudZeroAddress();
        // The challenger keeps time to prove after the last possible reveal.
        if (daRequestWindow_ == 0 || daResponseTime_ == 0 || uint256(daRequestWindow_) + daResponseTime_ >= disputeDuration_) revert FraudInvalidTimes();
        oracle = IInferenceOracle(oracle_);
        registry = IModelRegistry(registry_);
        verifier = OneStepVerifier(verifier_);
        disputeDuration = disputeDuration_;
        daRequestWindow = daRequestWindow_;
        daResponseTime = daResponseTime_;
    }

    function setTraceCount(bytes32 modelHash, uint32 count) external {
        address owner = registry.model(modelHash).owner;
        if (msg.sender != owner) revert FraudNotModelOwner(modelHash, msg.sender);
        uint32 current = traceCount[modelHash];
        // INVARIANT: a model's trace count is a pure function of its file: set once, never changed.
        if (current != 0) revert FraudTraceCountAlreadySet(modelHash, current);
        traceCount[modelHash] = count;
        emit TraceCountSet(modelHash, count);
    }

    /// @inheritdoc IDisputeResolverV2
    /// @dev One-step proofs check a trace against the model's trace count, set by its owner.
    function canDispute(bytes32 modelHash) external view returns (bool) {
        return traceCount[modelHash] != 0;
    }

    /// @inheritdoc IDisputeResolverV2
    function onDisputeOpened(DisputeContext calldata ctx) external returns (uint64, Ruling) {
        // INVARIANT: only the oracle opens disputes.
        if (msg.sender != address(oracle)) revert FraudOnlyOracle(msg.sender);
        disputes[ctx.requestId] = Dispute({
            modelHash: ctx.modelHash,
            commitmentRoot: registry.model(ctx.modelHash).commitmentRoot,
            inputHash: ctx.inputHash,
            outputHash: ctx.outputHash,
            traceRoot: bytes32(0),
            worker: ctx.worker,
            openedAt: uint64(block.timestamp),
            daDeadline: 0,
            pending: 0,
            nonce: ++nonces,
            attempt: ctx.attempt
        });
        emit DisputeRecorded(ctx.requestId, ctx.attempt, ctx.worker, ctx.outputHash);
        return (disputeDuration, Ruling.WorkerRight);
    }

    /// @notice Binds the disputed result's traceRoot: `record` and `proof` must lead from the disputed
    /// result's leaf (this attempt, this worker, this output) to a committed batch root. Anyone, once.
    function bindTrace(RequestId requestId, IInferenceOracle.ResultRecord calldata record, bytes32[] calldata proof) external {
        Dispute storage d = open(requestId);
        // INVARIANT: the trace of a dispute is the one its worker signed, bound once.
        if (d.traceRoot != bytes32(0)) revert FraudTraceAlreadyBound(requestId);
        if (
            record.worker != d.worker || record.outputHash != d.outputHash || record.traceRoot == bytes32(0)
                || !oracle.isBatchRoot(BatchMerkle.process(RequestBook.leaf(requestId, d.attempt, record), proof))
        ) revert FraudRecordMismatch(requestId);
        d.traceRoot = record.traceRoot;
        emit TraceBound(requestId, record.traceRoot);
    }

    function getDispute(RequestId requestId) external view returns (Dispute memory) {
        return disputes[requestId];
    }

    function open(RequestId requestId) private view returns (Dispute storage d) {
        d = disputes[requestId];
        if (d.openedAt == 0) revert FraudUnknownDispute(requestId);
    }

    /// @dev An open dispute whose traceRoot is bound.
    function traced(RequestId requestId) private view returns (Dispute storage d) {
        d = open(requestId);
        if (d.traceRoot == bytes32(0)) revert FraudTraceUnbound(requestId);
    }

    function onlyChallenger(RequestId requestId) private view {
        // INVARIANT: only a challenger who posted a bond in the oracle's dispute moves in it.
        if (!oracle.isChallenger(requestId, msg.sender)) revert FraudOnlyChallenger(requestId, msg.sender);
    }

    /// @dev Every proof here shows the worker at fault; the oracle applies WorkerFault.
    function ruleFault(RequestId requestId) private {
        delete disputes[requestId];
        oracle.resolveDispute(requestId, Ruling.WorkerFault);
    }

    /// @notice The context a step proof of this dispute is checked against.
    function stepContext(RequestId requestId) public view returns (StepContext memory) {
        Dispute storage d = traced(requestId);
        if (d.commitmentRoot == bytes32(0)) revert FraudCommitmentUnset(d.modelHash);
        return StepContext({commitmentRoot: d.commitmentRoot, inputHash: d.inputHash, traceRoot: d.traceRoot});
    }

    /// @notice A challenger's one-step proof: a wrong element rules WorkerFault; a right one reverts
    /// (FraudStepCorrect) and leaves the dispute open for every other challenger.
    function proveFraud(RequestId requestId, StepProof calldata proof) external {
        onlyChallenger(requestId);
        Verdict memory v = verifier.verify(proof, stepContext(requestId));
        if (!v.faulty) revert FraudStepCorrect(requestId, proof.opIndex, proof.element);
        emit FraudProven(requestId, proof.opIndex, proof.element, true);
        ruleFault(requestId);
    }

    /// @notice The trace's last tensor (the model output) is not the output the worker signed.
    function proveOutputMismatch(RequestId requestId, uint32 count, bytes32 manifestRoot, ChunkProof calldata row) external {
        Dispute storage d = traced(requestId);
        uint32 committed = committedTraceCount(d.modelHash);
        if (count != committed) revert FraudTraceCountMismatch(count, committed);
        TraceLib.checkManifest(d.traceRoot, count, manifestRoot);
        bytes32 h = TraceLib.rowHash(count, manifestRoot, count - 1, row);
        if (h == d.outputHash) revert FraudOutputMatches(requestId);
        emit OutputMismatchProven(requestId, h, d.outputHash);
        ruleFault(requestId);
    }

    /// @notice The trace root is a manifest with the wrong number of tensors.
    function proveManifestMismatch(RequestId requestId, uint32 count, bytes32 manifestRoot) external {
        Dispute storage d = traced(requestId);
        uint32 committed = committedTraceCount(d.modelHash);
        if (count == committed) revert FraudManifestMatches(requestId);
        TraceLib.checkManifest(d.traceRoot, count, manifestRoot);
        emit ManifestMismatchProven(requestId, count, committed);
        ruleFault(requestId);
    }

    /// @notice A trace tensor has another dtype or shape than committed. Anyone may call.
    function proveTypeFault(RequestId requestId, TypeFaultProof calldata p) external {
        Dispute storage d = traced(requestId);
        StepContext memory c = stepContext(requestId);
        bytes32 root = sha256(abi.encodePacked(uint8(3), p.weightsRoot, p.opsRoot));
        if (root != c.commitmentRoot) revert OneStepVerifier.StepCommitmentMismatch(root, c.commitmentRoot);
        if (p.opPath.length > 32 || (uint256(p.opIndex) >> p.opPath.length) != 0 || TensorHash.rootFromPath(sha256(abi.encodePacked(uint8(4), p.entry)), p.opIndex, p.opPath) != p.opsRoot) {
            revert OneStepVerifier.StepOperatorPath(p.opIndex);
        }
        OpEntry.Entry memory e = OpEntry.parse(p.entry);
        if (e.index != p.opIndex) revert OneStepVerifier.StepOperatorIndex(e.index, p.opIndex);
        if (p.output >= e.outputs.length) revert FraudOutputOutOfRange(p.output);
        OpEntry.IO memory o = e.outputs[p.output];
        TraceLib.checkManifest(d.traceRoot, p.traceCount, p.manifestRoot);
        bytes32 h = TraceLib.rowHash(p.traceCount, p.manifestRoot, o.index, p.row);
        if (sha256(abi.encodePacked(uint8(2), p.header, p.dataRoot)) != h) revert FraudHeaderMismatch(o.index);
        if (keccak256(p.header) == keccak256(TraceLib.header(o.dtype, o.shape))) revert FraudTypeMatches(o.index);
        emit TypeFaultProven(requestId, o.index);
        ruleFault(requestId);
    }

    function committedTraceCount(bytes32 modelHash) private view returns (uint32 c) {
        c = traceCount[modelHash];
        if (c == 0) revert FraudTraceCountUnset(modelHash);
    }

    // ---------------------------------------------------------------- data availability

    function daKey(RequestId requestId, uint64 nonce, uint32 traceIndex, uint32 chunk) private pure returns (bytes32) {
        return keccak256(abi.encode(requestId, nonce, traceIndex, chunk));
    }

    /// @notice A challenger names chunks it could not fetch; the DA deadline starts.
    function challengeAvailability(RequestId requestId, DataRef[] calldata refs) external {
        Dispute storage d = traced(requestId);
        onlyChallenger(requestId);
        if (block.timestamp >= d.openedAt + daRequestWindow) revert FraudDaWindowClosed(requestId);
        if (d.daDeadline != 0) revert FraudDaAlreadyChallenged(requestId);
        if (refs.length == 0 || refs.length > MAX_DA_CHUNKS) revert FraudDaBadRefs(refs.length);
        for (uint256 i = 0; i < refs.length; ++i) {
            bytes32 key = daKey(requestId, d.nonce, refs[i].traceIndex, refs[i].chunk);
            if (daState[key] != 0) revert FraudDaDuplicateRef(refs[i].traceIndex, refs[i].chunk);
            daState[key] = 1;
        }
        d.pending = uint32(refs.length);
        d.daDeadline = uint64(block.timestamp) + daResponseTime;
        emit AvailabilityChallenged(requestId, refs, d.daDeadline);
    }

    /// @notice Reveals one requested chunk, proven against the dispute's traceRoot. Anyone may call.
    function reveal(RequestId requestId, Reveal calldata r) external {
        Dispute storage d = traced(requestId);
        bytes32 key = daKey(requestId, d.nonce, r.traceIndex, r.chunk.index);
        if (daState[key] != 1) revert FraudDaNotRequested(r.traceIndex, r.chunk.index);
        if (block.timestamp >= d.daDeadline) revert FraudDaDeadlinePassed(requestId, d.daDeadline);
        TraceLib.checkManifest(d.traceRoot, r.traceCount, r.manifestRoot);
        // A named chunk that does not exist (a trace index or chunk past the committed data) is answered
        // by proving its range: an honest worker can always answer whatever the challenger names.
        bool exists;
        if (r.traceIndex == MANIFEST) {
            uint256 bytesLen = uint256(r.traceCount) * 32;
            exists = r.chunk.index < TraceLib.chunkCount(bytesLen);
            if (exists) TraceLib.checkChunk(r.chunk, r.manifestRoot, bytesLen, MANIFEST);
        } else if (r.traceIndex < r.traceCount) {
            bytes32 h = TraceLib.rowHash(r.traceCount, r.manifestRoot, r.traceIndex, r.row);
            if (sha256(abi.encodePacked(uint8(2), r.header, r.dataRoot)) != h) revert FraudHeaderMismatch(r.traceIndex);
            uint256 bytesLen = dataBytes(r.header);
            exists = r.chunk.index < TraceLib.chunkCount(bytesLen);
            if (exists) TraceLib.checkChunk(r.chunk, r.dataRoot, bytesLen, r.traceIndex);
        }
        daState[key] = 2;
        d.pending -= 1;
        if (exists) emit ChunkRevealed(requestId, r.traceIndex, r.chunk.index, r.chunk.data);
        else emit ChunkNonexistent(requestId, r.traceIndex, r.chunk.index);
    }

    /// @notice Data bytes of a tensor with canonical header `h` ("VIOT" | 1 | dtype | rank | 0 | dims).
    function dataBytes(bytes calldata h) private pure returns (uint256 n) {
        if (h.length < 8 || bytes4(h[0:4]) != bytes4(0x56494f54) || uint8(h[4]) != 1 || uint8(h[7]) != 0) revert FraudHeaderMalformed();
        uint256 rank = uint8(h[6]);
        uint256 size = OpEntry.elementSize(uint8(h[5]));
        if (size == 0 || rank > 8 || h.length != 8 + 4 * rank) revert FraudHeaderMalformed();
        n = size;
        for (uint256 i = 0; i < rank; ++i) n *= uint32(bytes4(h[8 + 4 * i:12 + 4 * i]));
    }

    /// @notice After the DA deadline with chunks still unrevealed, the worker is at fault. Anyone may call.
    function slashWithheld(RequestId requestId) external {
        Dispute storage d = open(requestId);
        if (d.daDeadline == 0 || d.pending == 0) revert FraudDaNothingWithheld(requestId);
        if (block.timestamp < d.daDeadline) revert FraudDaDeadlineNotReached(requestId, d.daDeadline);
        emit WithheldSlashed(requestId, d.pending);
        ruleFault(requestId);
    }
}
