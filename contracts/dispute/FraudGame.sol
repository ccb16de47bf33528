// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {RequestId} from "../types/RequestId.sol";
import {Ruling, DisputeContext, CanonicalTerms, IDisputeResolverV2, IDisputeOracle} from "../interfaces/IDisputeGame.sol";
import {IStepVerifier} from "../interfaces/IStepVerifier.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {OutputTolerance} from "./OutputTolerance.sol";
import {IFraudGame} from "./IFraudGame.sol";
import {GameTrees} from "./GameTrees.sol";

/// @title FraudGame
/// @notice The canonical fraud game (docs/V2.md §5 "The game"; its ABI and clocks: docs/V2.md §5 "FraudGame ABI").
/// The worker commits to its canonical trace; joiners attack revealed nodes of its trees within `moveClock` of
/// their reveal and the worker (anyone may submit the data) answers within `responseTime`; leaf proofs recompute
/// one element or one partial state through the step verifier. Defaults: no commitment or a missed answer →
/// WorkerFault; a false step → WorkerFault at once; at the end → the worst recorded tolerance fault or WorkerRight.
contract FraudGame is IFraudGame, IDisputeResolverV2, EIP712 {
    uint8 internal constant TRACE = 0;
    uint8 internal constant DATA = 1;
    uint8 internal constant PARTIAL = 2;
    uint8 internal constant ELEMENT = 3;

    uint8 internal constant SOURCE_INPUT = 1;
    uint8 internal constant SOURCE_WEIGHT = 2;
    uint8 internal constant SOURCE_STEP = 3;
    uint8 internal constant KIND_REDUCE = 2;

    uint8 internal constant MINOR = 1;
    uint8 internal constant MAJOR = 2;

    bytes32 public constant TRACE_COMMITMENT_TYPEHASH =
        keccak256("TraceCommitment(bytes32 requestId,uint8 attempt,bytes32 traceRoot,bytes32 finalHash)");

    IDisputeOracle public immutable oracle;
    IModelRegistry public immutable registry;
    IStepVerifier public immutable verifier;
    /// @notice Seconds the worker has to commit its trace, and to answer each attack.
    uint64 public immutable responseTime;
    /// @notice Seconds a revealed node stays attackable.
    uint64 public immutable moveClock;
    /// @notice Attacks one joiner may make in one dispute.
    uint32 public immutable maxAttacks;
    /// @notice The binary64 tolerance check, deployed with the game.
    OutputTolerance public immutable tolerance;

    struct Game {
        RequestId requestId;
        bytes32 modelHash;
        bytes32 inputHash;
        bytes32 outputHash;
        bytes32 traceRoot;
        bytes32 finalHash;
        address signer;
        uint64 openedAt;
        uint8 attempt;
        bool committed;
        bool resolved;
        uint8 toleranceFault;
        uint64 lastRevealAt;
        uint32 pending;
        uint32 stepCount;
        uint8 precision;
        Ruling ruling;
        /// @dev A model with several outputs: n, once its output bundle is opened (openBundle).
        uint8 outputCount;
        /// @dev Opened bundles (openBundle): entry i's tensor hash, in canonical name order.
        mapping(uint256 => bytes32) inputMembers;
        mapping(uint256 => bytes32) outputMembers;
    }

    struct Tensor {
        uint8 dtype;
        uint8 elementSize;
        uint64 byteLength;
    }

    struct Element {
        bytes32 stepHash;
        bytes32 partialRoot;
        uint64 terms;
    }

    /// @notice The oracle's cap on a dispute's duration (DisputeBook.MAX_DISPUTE_DURATION): the clocks must let the
    /// deepest game of the largest program (2^32 steps) end within it, or the oracle's default would cut it short.
    uint256 public constant MAX_ORACLE_DURATION = 180 days;

    uint256 public gameCount;
    mapping(RequestId requestId => uint256 gameId) public currentGame;
    mapping(uint256 gameId => Game) internal _games;
    mapping(uint256 gameId => mapping(bytes32 key => Node)) internal _nodes;
    mapping(uint256 gameId => mapping(uint32 step => Tensor)) internal _tensors;
    mapping(uint256 gameId => mapping(bytes32 key => Element)) internal _elements;
    mapping(uint256 gameId => mapping(address joiner => uint32)) internal _attacks;

    constructor(
        address oracle_,
        address registry_,
        address verifier_,
        uint64 responseTime_,
        uint64 moveClock_,
        uint32 maxAttacks_
    ) EIP712("FraudGame", "1") {
        if (oracle_ == address(0) || registry_ == address(0) || verifier_ == address(0)) revert FraudGameBadImmutables();
        if (responseTime_ == 0 || moveClock_ == 0 || maxAttacks_ == 0) revert FraudGameBadImmutables();
        uint256 worst = uint256(responseTime_) + maxDepth(type(uint32).max) * (uint256(moveClock_) + responseTime_) + moveClock_ + responseTime_;
        if (worst > MAX_ORACLE_DURATION) revert FraudGameBadImmutables();
        oracle = IDisputeOracle(oracle_);
        registry = IModelRegistry(registry_);
        verifier = IStepVerifier(verifier_);
        responseTime = responseTime_;
        moveClock = moveClock_;
        maxAttacks = maxAttacks_;
        tolerance = new OutputTolerance();
    }

    // ================================================================== opening

    /// @inheritdoc IDisputeResolverV2
    function canDispute(bytes32 modelHash) external view returns (bool) {
        return registry.hasCanonicalTerms(modelHash);
    }

    /// @inheritdoc IDisputeResolverV2
    function onDisputeOpened(DisputeContext calldata ctx) external returns (uint64 maxDuration, Ruling defaultRuling) {
        // INVARIANT: only the oracle opens games; it does so once per dispute.
        if (msg.sender != address(oracle)) revert FraudGameNotOracle(msg.sender);
        // Reverts when the model has no canonical terms: such a model cannot be disputed through this game.
        CanonicalTerms memory t = registry.canonicalTerms(ctx.modelHash);
        uint256 id = ++gameCount;
        currentGame[ctx.requestId] = id;
        Game storage g = _games[id];
        g.requestId = ctx.requestId;
        g.modelHash = ctx.modelHash;
        g.inputHash = ctx.inputHash;
        g.outputHash = ctx.outputHash;
        g.signer = ctx.signer;
        g.attempt = ctx.attempt;
        g.openedAt = _now();
        g.stepCount = t.stepCount;
        g.precision = t.precision;
        maxDuration = uint64(_maxDuration(t.stepCount));
        emit GameOpened(ctx.requestId, id, ctx.attempt, maxDuration);
        return (maxDuration, Ruling.WorkerRight);
    }

    /// @inheritdoc IFraudGame
    function commitTrace(RequestId requestId, bytes32 traceRoot, bytes32 finalHash, bytes32[] calldata finalPath, bytes calldata signature)
        external
    {
        (, Game storage g) = _live(requestId);
        // INVARIANT: one trace per game, committed within responseTime of the opening.
        if (g.committed) revert FraudGameAlreadyCommitted(requestId);
        uint64 deadline = g.openedAt + responseTime;
        if (_now() > deadline) revert FraudGameLate(deadline, _now());
        address recovered = ECDSA.recover(_digest(requestId, g.attempt, traceRoot, finalHash), signature);
        if (recovered != g.signer) revert FraudGameBadSignature(recovered, g.signer);
        uint256 n = g.stepCount;
        if (finalPath.length != GameTrees.height(n) || !GameTrees.verify(traceRoot, finalHash, n - 1, finalPath)) {
            revert FraudGameBadProof(9);
        }
        g.committed = true;
        g.traceRoot = traceRoot;
        g.finalHash = finalHash;
        _reveal(currentGame[requestId], g, Pos(TRACE, 0, 0, uint8(GameTrees.height(n)), 0), traceRoot);
        emit TraceCommitted(requestId, traceRoot, finalHash);
    }

    // ================================================================== descent

    /// @inheritdoc IFraudGame
    function attack(RequestId requestId, Pos calldata pos) external {
        (uint256 id, Game storage g) = _live(requestId);
        // INVARIANT: elements are attacked through attackElement; partial leaves are proven, never attacked.
        if (pos.tree > PARTIAL || (pos.tree == PARTIAL && pos.height == 0)) revert FraudGameBadPosition(1);
        _spendAttack(id, g);
        bytes32 key = nodeKey(pos);
        Node storage nd = _nodes[id][key];
        if (nd.state != NodeState.Revealed) revert FraudGameUnexpectedNodeState(key, nd.state, NodeState.Revealed);
        uint64 until = nd.revealedAt + moveClock;
        if (_now() > until) revert FraudGameLate(until, _now());
        _markAttacked(g, nd);
        emit NodeAttacked(requestId, key, pos, msg.sender, nd.clock);
    }

    /// @inheritdoc IFraudGame
    function attackElement(RequestId requestId, uint32 step, uint64 element, bytes calldata stepEncoding, bytes32[] calldata programPath)
        external
    {
        (uint256 id, Game storage g) = _live(requestId);
        _spendAttack(id, g);
        Tensor memory tz = _tensors[id][step];
        // INVARIANT: an element is attackable once its chunk's bytes are revealed, for moveClock.
        if (tz.elementSize == 0 || uint256(element + 1) * tz.elementSize > tz.byteLength) revert FraudGameBadPosition(3);
        Node storage chunkNode = _nodes[id][nodeKey(_chunkPos(step, element, tz.elementSize))];
        if (chunkNode.state != NodeState.Answered) revert FraudGameBadPosition(4);
        uint64 until = chunkNode.clock + moveClock;
        if (_now() > until) revert FraudGameLate(until, _now());
        CanonicalTerms memory t = registry.canonicalTerms(g.modelHash);
        _proveStepEncoding(g, t, step, stepEncoding, programPath);
        IStepVerifier.StepInfo memory info = verifier.info(stepEncoding);
        // INVARIANT: only reduce elements have a partial-state tree to answer with.
        if (info.kind != KIND_REDUCE) revert FraudGameNotReduce(step);
        if (info.terms == 0 || info.terms > GameTrees.MAX_TERMS) revert FraudGameBadPosition(5);
        Pos memory pos = Pos(ELEMENT, step, element, 0, 0);
        bytes32 key = nodeKey(pos);
        Node storage nd = _nodes[id][key];
        if (nd.state != NodeState.None) revert FraudGameUnexpectedNodeState(key, nd.state, NodeState.None);
        nd.revealedAt = chunkNode.clock;
        _markAttacked(g, nd);
        _elements[id][key] = Element(keccak256(stepEncoding), bytes32(0), info.terms);
        emit NodeAttacked(requestId, key, pos, msg.sender, nd.clock);
    }

    /// @inheritdoc IFraudGame
    function answerNode(RequestId requestId, Pos calldata pos, bytes32 left, bytes32 right) external {
        (uint256 id, Game storage g) = _live(requestId);
        if (pos.height == 0 || pos.tree > PARTIAL) revert FraudGameBadPosition(2);
        bytes32 key = nodeKey(pos);
        Node storage nd = _attackedInTime(id, key);
        // INVARIANT: the children hash to the attacked node.
        if (GameTrees.node(left, right) != nd.hash) revert FraudGameBadProof(1);
        uint256 leaves = _leaves(id, g, pos);
        uint64 li = pos.index * 2;
        bool hasRight = li + 1 < GameTrees.levelCount(leaves, pos.height - 1);
        // INVARIANT: a padding sibling is bytes32(0), never a claim.
        if (!hasRight && right != bytes32(0)) revert FraudGameBadProof(2);
        _answered(g, nd);
        _reveal(id, g, Pos(pos.tree, pos.step, pos.element, pos.height - 1, li), left);
        if (hasRight) _reveal(id, g, Pos(pos.tree, pos.step, pos.element, pos.height - 1, li + 1), right);
        emit NodeAnswered(requestId, key, pos, left, right);
    }

    /// @inheritdoc IFraudGame
    function answerTensor(RequestId requestId, uint32 step, bytes calldata header, bytes32 dataRoot) external {
        (uint256 id, Game storage g) = _live(requestId);
        Node storage nd = _attackedInTime(id, nodeKey(Pos(TRACE, 0, 0, 0, step)));
        if (GameTrees.tensorHash(header, dataRoot) != nd.hash) revert FraudGameBadProof(3);
        (uint8 dtype, uint256 size, uint256 byteLength) = GameTrees.parseHeader(header);
        // A tensor above the bound cannot be answered: the game's duration bound depends on it.
        if (byteLength > GameTrees.MAX_TENSOR_BYTES) revert FraudGameBadTensor(byteLength);
        _tensors[id][step] = Tensor(dtype, uint8(size), uint64(byteLength));
        _answered(g, nd);
        _reveal(id, g, Pos(DATA, step, 0, uint8(GameTrees.height(GameTrees.chunkCount(byteLength))), 0), dataRoot);
        emit TensorRevealed(requestId, step, header, dataRoot);
    }

    /// @inheritdoc IFraudGame
    function answerChunk(RequestId requestId, uint32 step, uint64 chunkIndex, bytes calldata chunk) external {
        (uint256 id, Game storage g) = _live(requestId);
        Node storage nd = _attackedInTime(id, nodeKey(Pos(DATA, step, 0, 0, chunkIndex)));
        if (GameTrees.chunkLeaf(chunk) != nd.hash) revert FraudGameBadProof(4);
        uint256 byteLength = _tensors[id][step].byteLength;
        uint256 start = uint256(chunkIndex) * 1024;
        uint256 expected = byteLength - start < 1024 ? byteLength - start : 1024;
        if (chunk.length != expected) revert FraudGameBadProof(5);
        _answered(g, nd);
        // The chunk's elements are revealed now: lastRevealAt keeps the game open for their attacks and proofs.
        g.lastRevealAt = _now();
        emit ChunkRevealed(requestId, step, chunkIndex, chunk);
    }

    /// @inheritdoc IFraudGame
    function answerElement(
        RequestId requestId,
        uint32 step,
        uint64 element,
        bytes calldata stepEncoding,
        bytes calldata chunk,
        bytes32 partialRoot,
        bytes32 lastRecord,
        bytes32[] calldata lastPath
    ) external {
        (uint256 id, Game storage g) = _live(requestId);
        bytes32 key = nodeKey(Pos(ELEMENT, step, element, 0, 0));
        Node storage nd = _attackedInTime(id, key);
        Element storage el = _elements[id][key];
        if (keccak256(stepEncoding) != el.stepHash) revert FraudGameBadProof(6);
        Tensor memory tz = _tensors[id][step];
        Pos memory cpos = _chunkPos(step, element, tz.elementSize);
        if (GameTrees.chunkLeaf(chunk) != _nodes[id][nodeKey(cpos)].hash) revert FraudGameBadProof(4);
        uint256 off = (uint256(element) * tz.elementSize) % 1024;
        uint64 claimed = verifier.decodeElement(tz.dtype, chunk[off:off + tz.elementSize]);
        uint64 fin = verifier.finalize(stepEncoding, lastRecord, g.precision);
        // INVARIANT: the revealed partial tree ends in a state that finalizes to the claimed element.
        if (!verifier.sameValue(tz.dtype, fin, claimed)) revert FraudGameBadProof(7);
        uint64 k = el.terms;
        uint256 h = GameTrees.height(uint256(k) + 1);
        if (lastPath.length != h || !GameTrees.verify(partialRoot, GameTrees.partialLeaf(lastRecord), k, lastPath)) {
            revert FraudGameBadProof(8);
        }
        el.partialRoot = partialRoot;
        _answered(g, nd);
        _reveal(id, g, Pos(PARTIAL, step, element, uint8(h), 0), partialRoot);
        emit PartialRevealed(requestId, step, element, k, partialRoot, lastRecord);
    }

    /// @inheritdoc IFraudGame
    function timeoutCommitment(RequestId requestId) external {
        (uint256 id, Game storage g) = _live(requestId);
        if (g.committed) revert FraudGameAlreadyCommitted(requestId);
        uint64 deadline = g.openedAt + responseTime;
        if (_now() <= deadline) revert FraudGameTooEarly(deadline, _now());
        _rule(id, g, Ruling.WorkerFault);
    }

    /// @inheritdoc IFraudGame
    function timeout(RequestId requestId, Pos calldata pos) external {
        (uint256 id, Game storage g) = _live(requestId);
        bytes32 key = nodeKey(pos);
        Node storage nd = _nodes[id][key];
        if (nd.state != NodeState.Attacked) revert FraudGameUnexpectedNodeState(key, nd.state, NodeState.Attacked);
        if (_now() <= nd.clock) revert FraudGameTooEarly(nd.clock, _now());
        _rule(id, g, Ruling.WorkerFault);
    }

    // ================================================================== leaf proofs

    /// @inheritdoc IFraudGame
    function proveStep(
        RequestId requestId,
        uint32 step,
        uint64 element,
        bytes calldata stepEncoding,
        bytes32[] calldata programPath,
        TensorChunkProof calldata claimed,
        TensorChunkProof[] calldata operands
    ) external {
        (uint256 id, Game storage g) = _prover(requestId);
        CanonicalTerms memory t = registry.canonicalTerms(g.modelHash);
        _proveStepEncoding(g, t, step, stepEncoding, programPath);
        IStepVerifier.StepInfo memory info = verifier.info(stepEncoding);
        if (info.kind == KIND_REDUCE) revert FraudGameNotMapOrMove(step);
        // The claimed element, in tensor `step` of the worker's trace, whose header must be the committed one.
        _proveTraceTensor(g, step, claimed);
        if (keccak256(claimed.header) != keccak256(verifier.outputHeader(stepEncoding))) revert FraudGameBadProof(12);
        (uint8 dtype, uint64 value) = _elementOf(claimed, element);
        IStepVerifier.Read[] memory reads = verifier.reads(stepEncoding, element);
        uint64[] memory values = _readValues(g, t, step, info, reads, operands);
        uint64 expected = verifier.elementValue(stepEncoding, element, values, g.precision);
        if (verifier.sameValue(dtype, expected, value)) revert FraudGameNoFault();
        emit FalseStepProven(requestId, 1, step, element, msg.sender);
        _rule(id, g, Ruling.WorkerFault);
    }

    /// @inheritdoc IFraudGame
    function proveFold(
        RequestId requestId,
        uint32 step,
        uint64 element,
        bytes calldata stepEncoding,
        uint64 t,
        bytes32 prevRecord,
        bytes32[] calldata prevPath,
        bytes32 leaf,
        bytes32[] calldata path,
        TensorChunkProof[] calldata operands
    ) external {
        (uint256 id, Game storage g) = _prover(requestId);
        Element memory el = _elements[id][nodeKey(Pos(ELEMENT, step, element, 0, 0))];
        if (el.partialRoot == bytes32(0)) revert FraudGameBadPosition(6);
        if (keccak256(stepEncoding) != el.stepHash) revert FraudGameBadProof(6);
        if (t > el.terms) revert FraudGameBadPosition(7);
        uint256 h = GameTrees.height(uint256(el.terms) + 1);
        if (path.length != h || !GameTrees.verify(el.partialRoot, leaf, t, path)) {
            revert FraudGameBadProof(18);
        }
        CanonicalTerms memory terms = registry.canonicalTerms(g.modelHash);
        IStepVerifier.StepInfo memory info = verifier.info(stepEncoding);
        bytes32 expected;
        if (t == 0) {
            uint64[] memory values = _readValues(g, terms, step, info, verifier.initReads(stepEncoding, element), operands);
            expected = verifier.initRecord(stepEncoding, element, values);
        } else {
            if (prevPath.length != h || !GameTrees.verify(el.partialRoot, GameTrees.partialLeaf(prevRecord), t - 1, prevPath)) {
                revert FraudGameBadProof(19);
            }
            uint64[] memory values = _readValues(g, terms, step, info, verifier.termReads(stepEncoding, element, t - 1), operands);
            expected = verifier.foldTerm(stepEncoding, element, t - 1, prevRecord, values, g.precision);
        }
        // Leaf t is taken as its hash: only leaf K's record is ever revealed, and the honest leaf t is exactly the
        // hash of the expected record, so any other hash is a false partial state.
        if (GameTrees.partialLeaf(expected) == leaf) revert FraudGameNoFault();
        emit FalseStepProven(requestId, 2, step, element, msg.sender);
        _rule(id, g, Ruling.WorkerFault);
    }

    /// @inheritdoc IFraudGame
    function proveHeader(
        RequestId requestId,
        uint32 step,
        bytes calldata header,
        bytes32 dataRoot,
        bytes32[] calldata manifestPath,
        bytes calldata stepEncoding,
        bytes32[] calldata programPath
    ) external {
        (uint256 id, Game storage g) = _prover(requestId);
        CanonicalTerms memory t = registry.canonicalTerms(g.modelHash);
        _proveStepEncoding(g, t, step, stepEncoding, programPath);
        bytes32 leaf = GameTrees.tensorHash(header, dataRoot);
        if (manifestPath.length != GameTrees.height(g.stepCount) || !GameTrees.verify(g.traceRoot, leaf, step, manifestPath)) {
            revert FraudGameBadProof(11);
        }
        if (keccak256(header) == keccak256(verifier.outputHeader(stepEncoding))) revert FraudGameNoFault();
        emit FalseStepProven(requestId, 3, step, 0, msg.sender);
        _rule(id, g, Ruling.WorkerFault);
    }

    /// @inheritdoc IFraudGame
    function proveOutput(
        RequestId requestId,
        uint64 element,
        TensorChunkProof calldata signedOutput,
        TensorChunkProof calldata finalTensor,
        bytes calldata stepEncoding,
        bytes32[] calldata programPath
    ) external {
        (, Game storage g) = _prover(requestId);
        CanonicalTerms memory t = registry.canonicalTerms(g.modelHash);
        uint32 step = g.stepCount - 1;
        bytes32 signedHash = g.outputHash;
        uint256 n = g.outputCount;
        if (n != 0) {
            // An opened output bundle: the step the encoding names (its u32 index, proven below as that programRoot
            // leaf) computes output member step − (stepCount − n) (canonical/lower.ts appends the outputs last).
            step = uint32(bytes4(stepEncoding[1:5]));
            if (step + n < g.stepCount) revert FraudGameBadPosition(8);
            signedHash = g.outputMembers[step + n - g.stepCount];
        }
        _proveStepEncoding(g, t, step, stepEncoding, programPath);
        if (GameTrees.tensorHash(signedOutput.header, signedOutput.dataRoot) != signedHash) revert FraudGameBadProof(20);
        bytes32 committed = keccak256(verifier.outputHeader(stepEncoding));
        uint8 magnitude;
        if (keccak256(signedOutput.header) != committed) {
            magnitude = MAJOR;
        } else {
            if (n != 0) _proveTraceTensor(g, step, finalTensor);
            else if (GameTrees.tensorHash(finalTensor.header, finalTensor.dataRoot) != g.finalHash) revert FraudGameBadProof(21);
            if (keccak256(finalTensor.header) != committed) revert FraudGameBadProof(12);
            (uint8 dtype, uint64 w) = _elementOf(signedOutput, element);
            (, uint64 c) = _elementOf(finalTensor, element);
            magnitude = tolerance.magnitude(dtype, w, c, t.tauOutAbs, t.tauOutRel, t.tauMajorAbs, t.tauMajorRel);
        }
        // INVARIANT: only a worse magnitude is recorded; the end rules on the worst.
        if (magnitude <= g.toleranceFault) revert FraudGameNoFault();
        g.toleranceFault = magnitude;
        emit ToleranceFaultRecorded(requestId, element, magnitude, msg.sender);
    }

    /// @inheritdoc IFraudGame
    function openBundle(RequestId requestId, bool outputs, bytes32[] calldata hashes) external {
        (, Game storage g) = _live(requestId);
        // INVARIANT: only the entries of the request's own bundle are recorded (bundleHash reverts unless the model
        // has n >= 2 such tensors and `hashes` holds n, so a zero or tensor hash never matches).
        if (registry.bundleHash(g.modelHash, outputs, hashes) != (outputs ? g.outputHash : g.inputHash)) revert FraudGameBadProof(22);
        mapping(uint256 => bytes32) storage m = outputs ? g.outputMembers : g.inputMembers;
        for (uint256 i = 0; i < hashes.length; ++i) m[i] = hashes[i];
        if (outputs) g.outputCount = uint8(hashes.length);
    }

    /// @inheritdoc IFraudGame
    function resolve(RequestId requestId) external {
        (uint256 id, Game storage g) = _live(requestId);
        if (!g.committed) {
            uint64 deadline = g.openedAt + responseTime;
            if (_now() <= deadline) revert FraudGameNotEnded(0, deadline);
            _rule(id, g, Ruling.WorkerFault);
            return;
        }
        // INVARIANT: the game ends only when nothing awaits an answer and every reveal's moveClock ran out.
        if (!_ended(g)) revert FraudGameNotEnded(g.pending, g.lastRevealAt + moveClock);
        Ruling r = g.toleranceFault == MAJOR ? Ruling.WorkerFault : g.toleranceFault == MINOR ? Ruling.OutputMinor : Ruling.WorkerRight;
        _rule(id, g, r);
    }

    // ================================================================== views

    /// @inheritdoc IFraudGame
    function game(RequestId requestId) external view returns (GameView memory v) {
        uint256 id = currentGame[requestId];
        if (id == 0) revert FraudGameUnknown(requestId);
        Game storage g = _games[id];
        v = GameView(
            g.requestId,
            g.attempt,
            g.modelHash,
            g.inputHash,
            g.outputHash,
            g.signer,
            g.openedAt,
            g.lastRevealAt,
            g.pending,
            g.committed,
            g.resolved,
            g.toleranceFault,
            g.ruling,
            g.traceRoot,
            g.finalHash
        );
    }

    /// @inheritdoc IFraudGame
    function node(RequestId requestId, Pos calldata pos) external view returns (Node memory) {
        return _nodes[currentGame[requestId]][nodeKey(pos)];
    }

    /// @inheritdoc IFraudGame
    function nodeKey(Pos memory pos) public pure returns (bytes32) {
        return keccak256(abi.encode(pos.tree, pos.step, pos.element, pos.height, pos.index));
    }

    /// @inheritdoc IFraudGame
    function attacksOf(RequestId requestId, address account) external view returns (uint32) {
        return _attacks[currentGame[requestId]][account];
    }

    /// @inheritdoc IFraudGame
    function maxDepth(uint32 stepCount) public pure returns (uint256) {
        // TRACE levels, the header reveal, DATA levels, the chunk reveal, the element's partial root, PARTIAL levels.
        return GameTrees.height(stepCount) + 1 + GameTrees.MAX_DATA_HEIGHT + 1 + 1 + GameTrees.MAX_PARTIAL_HEIGHT;
    }

    /// @inheritdoc IFraudGame
    function traceCommitmentDigest(RequestId requestId, uint8 attempt, bytes32 traceRoot, bytes32 finalHash) external view returns (bytes32) {
        return _digest(requestId, attempt, traceRoot, finalHash);
    }

    // ================================================================== internals

    /// @dev The one clock (tests move it with the chain's time).
    function _now() internal view returns (uint64) {
        return uint64(block.timestamp);
    }

    function _maxDuration(uint32 stepCount) internal view returns (uint256) {
        // The commitment, D levels of attack + answer, the last reveals' moveClock, and one responseTime of slack
        // for whoever calls `timeout` or `resolve` before the oracle's default applies.
        return uint256(responseTime) + maxDepth(stepCount) * (uint256(moveClock) + responseTime) + moveClock + responseTime;
    }

    function _digest(RequestId requestId, uint8 attempt, bytes32 traceRoot, bytes32 finalHash) internal view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(TRACE_COMMITMENT_TYPEHASH, requestId, attempt, traceRoot, finalHash)));
    }

    function _live(RequestId requestId) internal view returns (uint256 id, Game storage g) {
        id = currentGame[requestId];
        if (id == 0) revert FraudGameUnknown(requestId);
        g = _games[id];
        // INVARIANT: a game rules once; nothing moves after.
        if (g.resolved) revert FraudGameResolved(requestId);
    }

    /// @dev A leaf proof: by a joiner, on a committed trace, before the end.
    function _prover(RequestId requestId) internal view returns (uint256 id, Game storage g) {
        (id, g) = _live(requestId);
        if (!g.committed) revert FraudGameNotCommitted(requestId);
        if (_ended(g)) revert FraudGameEnded();
        if (!oracle.isChallenger(requestId, msg.sender)) revert FraudGameNotChallenger(msg.sender);
    }

    function _ended(Game storage g) internal view returns (bool) {
        return g.committed && g.pending == 0 && _now() > g.lastRevealAt + moveClock;
    }

    function _spendAttack(uint256 id, Game storage g) internal {
        // INVARIANT: only joiners attack, each at most maxAttacks times (its bond covers the answers).
        if (!oracle.isChallenger(g.requestId, msg.sender)) revert FraudGameNotChallenger(msg.sender);
        uint32 used = _attacks[id][msg.sender];
        if (used >= maxAttacks) revert FraudGameAttackBudgetSpent(msg.sender, maxAttacks);
        _attacks[id][msg.sender] = used + 1;
    }

    function _markAttacked(Game storage g, Node storage nd) internal {
        nd.state = NodeState.Attacked;
        nd.clock = _now() + responseTime;
        g.pending += 1;
    }

    function _attackedInTime(uint256 id, bytes32 key) internal view returns (Node storage nd) {
        nd = _nodes[id][key];
        // INVARIANT: an answer comes for an attacked node, before its deadline.
        if (nd.state != NodeState.Attacked) revert FraudGameUnexpectedNodeState(key, nd.state, NodeState.Attacked);
        if (_now() > nd.clock) revert FraudGameLate(nd.clock, _now());
    }

    function _answered(Game storage g, Node storage nd) internal {
        nd.state = NodeState.Answered;
        nd.clock = _now();
        g.pending -= 1;
    }

    function _reveal(uint256 id, Game storage g, Pos memory pos, bytes32 hash) internal {
        Node storage nd = _nodes[id][nodeKey(pos)];
        nd.hash = hash;
        nd.revealedAt = _now();
        nd.state = NodeState.Revealed;
        g.lastRevealAt = _now();
    }

    function _leaves(uint256 id, Game storage g, Pos calldata pos) internal view returns (uint256) {
        if (pos.tree == TRACE) return g.stepCount;
        if (pos.tree == DATA) return GameTrees.chunkCount(_tensors[id][pos.step].byteLength);
        return uint256(_elements[id][nodeKey(Pos(ELEMENT, pos.step, pos.element, 0, 0))].terms) + 1;
    }

    function _chunkPos(uint32 step, uint64 element, uint256 elementSize) internal pure returns (Pos memory) {
        return Pos(DATA, step, 0, 0, uint64((uint256(element) * elementSize) / 1024));
    }

    function _proveStepEncoding(Game storage g, CanonicalTerms memory t, uint32 step, bytes calldata enc, bytes32[] calldata path)
        internal
        view
    {
        if (step >= g.stepCount || path.length != GameTrees.height(g.stepCount) || !GameTrees.verify(t.programRoot, GameTrees.stepLeaf(enc), step, path)) {
            revert FraudGameBadProof(10);
        }
    }

    function _proveTraceTensor(Game storage g, uint32 step, TensorChunkProof calldata p) internal view {
        bytes32 leaf = GameTrees.tensorHash(p.header, p.dataRoot);
        if (p.rootPath.length != GameTrees.height(g.stepCount) || !GameTrees.verify(g.traceRoot, leaf, step, p.rootPath)) {
            revert FraudGameBadProof(11);
        }
    }

    /// @dev Element `index` of the tensor `p` proves (its header parsed), from its chunk proven under its dataRoot.
    function _elementOf(TensorChunkProof calldata p, uint64 index) internal view returns (uint8 dtype, uint64 value) {
        (uint8 dt, uint256 size, uint256 byteLength) = GameTrees.parseHeader(p.header);
        uint256 start = uint256(index) * size;
        if (start + size > byteLength) revert FraudGameBadPosition(3);
        uint256 c = start / 1024;
        uint256 h = GameTrees.height(GameTrees.chunkCount(byteLength));
        if (p.chunkPath.length != h || !GameTrees.verify(p.dataRoot, GameTrees.chunkLeaf(p.chunk), c, p.chunkPath)) {
            revert FraudGameBadProof(13);
        }
        uint256 off = start % 1024;
        if (off + size > p.chunk.length) revert FraudGameBadProof(14);
        return (dt, verifier.decodeElement(dt, p.chunk[off:off + size]));
    }

    /// @dev The operand values a step element (or term, or init) reads, each proven against its source: the model
    /// input (ctx.inputHash, or its bundle entry op.index: openBundle), a weight (weightsRoot leaf) or an earlier step (the worker's traceRoot leaf), with the
    /// operand's declared header.
    function _readValues(
        Game storage g,
        CanonicalTerms memory t,
        uint32 step,
        IStepVerifier.StepInfo memory info,
        IStepVerifier.Read[] memory reads,
        TensorChunkProof[] calldata proofs
    ) internal view returns (uint64[] memory values) {
        if (proofs.length != reads.length) revert FraudGameBadProof(15);
        values = new uint64[](reads.length);
        for (uint256 i = 0; i < reads.length; ++i) {
            IStepVerifier.Operand memory op = info.operands[reads[i].operand];
            TensorChunkProof calldata p = proofs[i];
            bytes32 th = GameTrees.tensorHash(p.header, p.dataRoot);
            bool ok;
            if (op.source == SOURCE_INPUT) {
                // A one-input model's input is the bare tensor; entry op.index of an opened input bundle otherwise.
                ok = th == g.inputHash || th == g.inputMembers[op.index];
            } else if (op.source == SOURCE_WEIGHT) {
                ok = GameTrees.verify(t.weightsRoot, th, op.index, p.rootPath);
            } else if (op.source == SOURCE_STEP && op.index < step) {
                ok = p.rootPath.length == GameTrees.height(g.stepCount) && GameTrees.verify(g.traceRoot, th, op.index, p.rootPath);
            }
            if (!ok) revert FraudGameBadProof(16);
            if (keccak256(p.header) != keccak256(GameTrees.encodeHeader(op.dtype, op.shape))) revert FraudGameBadProof(17);
            (, values[i]) = _elementOf(p, reads[i].index);
        }
    }

    function _rule(uint256, Game storage g, Ruling ruling) internal {
        g.resolved = true;
        g.ruling = ruling;
        emit GameResolved(g.requestId, ruling);
        oracle.resolveDispute(g.requestId, ruling);
    }
}
