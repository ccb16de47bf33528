// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RequestId} from "../types/RequestId.sol";
import {Ruling} from "../interfaces/IDisputeGame.sol";

/// @notice The canonical fraud game (docs/V2.md §5 "The game"): the worker commits to its canonical trace,
/// joiners bisect its claims down to one step element or one partial state, and a leaf proof recomputes it
/// through the step verifier. Every move has a clock and a default (docs/V2.md §5, "FraudGame ABI").
///
/// Trees (all sha256; node = sha256(0x01 || left || right), an odd last node paired with bytes32(0)):
/// - TRACE: leaves are the tensor hashes of steps 0..n−1 (n = the terms' stepCount), root = traceRoot;
/// - DATA (per step j): leaves sha256(0x00 || 1024-byte chunk) of tensor j's data, root = its dataRoot;
/// - PARTIAL (per reduce element (j, e)): K + 1 leaves sha256(0x00 || 32-byte record), leaf 0 the init;
/// - ELEMENT (j, e): not a tree, the position an element attack lives at (height 0, index 0).
interface IFraudGame {
    /// @notice A node of one of the game's trees. `step` is 0 for TRACE; `element` is 0 unless PARTIAL/ELEMENT.
    /// Height 0 are the leaves; the root of a tree of L leaves has height ceil(log2 L).
    struct Pos {
        uint8 tree;
        uint32 step;
        uint64 element;
        uint8 height;
        uint64 index;
    }

    /// @notice One tensor and one chunk of its data. The tensor hash sha256(0x02 || header || dataRoot) is proven
    /// against a root by `rootPath` (the worker's traceRoot for a step, weightsRoot for a weight; empty for the
    /// model input, the signed output and the final tensor, whose hashes the game knows); `chunk` is the chunk
    /// holding the element in question (index = element · elementSize / 1024), proven under `dataRoot` by `chunkPath`.
    struct TensorChunkProof {
        bytes header;
        bytes32 dataRoot;
        bytes32[] rootPath;
        bytes chunk;
        bytes32[] chunkPath;
    }

    /// @notice Node states: None (unknown), Revealed (hash known, attackable for moveClock), Attacked (awaiting
    /// the worker's answer for responseTime), Answered (children revealed).
    enum NodeState {
        None,
        Revealed,
        Attacked,
        Answered
    }

    struct Node {
        bytes32 hash;
        uint64 revealedAt;
        /// Attacked: the answer deadline. Answered: when it was answered (for a DATA leaf, when its elements
        /// were revealed).
        uint64 clock;
        NodeState state;
    }

    /// @notice A game's public state.
    struct GameView {
        RequestId requestId;
        uint8 attempt;
        bytes32 modelHash;
        bytes32 inputHash;
        bytes32 outputHash;
        address signer;
        uint64 openedAt;
        uint64 lastRevealAt;
        uint32 pending;
        bool committed;
        bool resolved;
        /// 0 none, 1 an output element beyond τ_out, 2 beyond τ_major (or a wrongly typed signed output)
        uint8 toleranceFault;
        Ruling ruling;
        bytes32 traceRoot;
        bytes32 finalHash;
    }

    event GameOpened(RequestId indexed requestId, uint256 indexed gameId, uint8 attempt, uint64 maxDuration);
    event TraceCommitted(RequestId indexed requestId, bytes32 traceRoot, bytes32 finalHash);
    event NodeAttacked(RequestId indexed requestId, bytes32 indexed key, Pos pos, address attacker, uint64 deadline);
    event NodeAnswered(RequestId indexed requestId, bytes32 indexed key, Pos pos, bytes32 left, bytes32 right);
    event TensorRevealed(RequestId indexed requestId, uint32 indexed step, bytes header, bytes32 dataRoot);
    event ChunkRevealed(RequestId indexed requestId, uint32 indexed step, uint64 chunkIndex, bytes chunk);
    event PartialRevealed(RequestId indexed requestId, uint32 indexed step, uint64 element, uint64 terms, bytes32 partialRoot, bytes32 lastRecord);
    /// @notice kind: 1 step element, 2 partial state, 3 header
    event FalseStepProven(RequestId indexed requestId, uint8 kind, uint32 step, uint64 element, address prover);
    event ToleranceFaultRecorded(RequestId indexed requestId, uint64 element, uint8 magnitude, address prover);
    event GameResolved(RequestId indexed requestId, Ruling ruling);

    error FraudGameNotOracle(address caller);
    error FraudGameUnknown(RequestId requestId);
    error FraudGameResolved(RequestId requestId);
    error FraudGameNotCommitted(RequestId requestId);
    error FraudGameAlreadyCommitted(RequestId requestId);
    error FraudGameBadSignature(address recovered, address signer);
    /// @notice A reveal or proof that does not check. Codes: 1 children do not hash to the node; 2 a padding sibling
    /// is not zero; 3 header and dataRoot do not hash to the leaf; 4 the chunk does not hash to its leaf; 5 wrong
    /// chunk length; 6 the step encoding is not the attacked one; 7 the last record does not finalize to the element;
    /// 8 the last record is not leaf K of partialRoot; 9 finalHash is not leaf n−1 of traceRoot; 10 the step encoding
    /// is not leaf `step` of programRoot; 11 the tensor is not leaf `step` of traceRoot; 12 the tensor's header is
    /// not the committed one (prove that with proveHeader); 13 the chunk is not under dataRoot; 14 the chunk is too
    /// short; 15 not one operand proof per read; 16 an operand tensor is not its source's; 17 an operand header is
    /// not the operand's declared type; 18 record is not leaf t; 19 prevRecord is not leaf t−1; 20 the signed
    /// output does not hash to outputHash; 21 the final tensor does not hash to finalHash.
    error FraudGameBadProof(uint256 code);
    error FraudGameLate(uint64 deadline, uint64 nowTime);
    error FraudGameTooEarly(uint64 deadline, uint64 nowTime);
    error FraudGameNotChallenger(address account);
    error FraudGameAttackBudgetSpent(address account, uint32 maxAttacks);
    error FraudGameUnexpectedNodeState(bytes32 key, NodeState current, NodeState expected);
    /// @notice Codes: 1 not attackable (an ELEMENT or a PARTIAL leaf); 2 not an internal node; 3 element out of
    /// range; 4 the element's chunk was not revealed; 5 K is 0 or above 2^20; 6 the element's partial states were
    /// not revealed; 7 t above K.
    error FraudGameBadPosition(uint256 code);
    error FraudGameNotReduce(uint32 step);
    error FraudGameNotMapOrMove(uint32 step);
    error FraudGameNoFault();
    error FraudGameNotEnded(uint32 pending, uint64 endsAfter);
    error FraudGameEnded();
    /// @notice A revealed tensor above 2^32 data bytes (the game's duration bound assumes no larger tensor).
    error FraudGameBadTensor(uint256 byteLength);
    error FraudGameBadImmutables();

    // ------------------------------------------------------------------ moves

    /// @notice Posts the worker's signed TraceCommitment (anyone may submit it) with finalHash's path as leaf n−1.
    function commitTrace(RequestId requestId, bytes32 traceRoot, bytes32 finalHash, bytes32[] calldata finalPath, bytes calldata signature)
        external;

    /// @notice A joiner attacks a revealed TRACE or DATA node (any height) or PARTIAL node (height > 0) within
    /// moveClock of its reveal. Elements are attacked with `attackElement`.
    function attack(RequestId requestId, Pos calldata pos) external;

    /// @notice A joiner attacks element `element` of reduce step `step` within moveClock of the reveal of its chunk.
    function attackElement(RequestId requestId, uint32 step, uint64 element, bytes calldata stepEncoding, bytes32[] calldata programPath)
        external;

    /// @notice Anyone answers an attacked internal node (height > 0) with its children.
    function answerNode(RequestId requestId, Pos calldata pos, bytes32 left, bytes32 right) external;

    /// @notice Anyone answers an attacked TRACE leaf j with tensor j's header and dataRoot.
    function answerTensor(RequestId requestId, uint32 step, bytes calldata header, bytes32 dataRoot) external;

    /// @notice Anyone answers an attacked DATA leaf with the chunk's bytes.
    function answerChunk(RequestId requestId, uint32 step, uint64 chunkIndex, bytes calldata chunk) external;

    /// @notice Anyone answers an attacked element with its partial-state root and last record (leaf K, with its
    /// path), which must finalize to the element held in `chunk` (the element's revealed chunk).
    function answerElement(
        RequestId requestId,
        uint32 step,
        uint64 element,
        bytes calldata stepEncoding,
        bytes calldata chunk,
        bytes32 partialRoot,
        bytes32 lastRecord,
        bytes32[] calldata lastPath
    ) external;

    /// @notice Anyone, after the commitment deadline with no commitment: WorkerFault.
    function timeoutCommitment(RequestId requestId) external;

    /// @notice Anyone, after an attacked node's answer deadline: WorkerFault.
    function timeout(RequestId requestId, Pos calldata pos) external;

    // ------------------------------------------------------------------ leaf proofs (joiners, before the end)

    /// @notice A map/move element of step `step` that differs from its recomputation: WorkerFault.
    /// `claimed` proves the element in the worker's trace; `operands[i]` the value of `reads(step, element)[i]`.
    function proveStep(
        RequestId requestId,
        uint32 step,
        uint64 element,
        bytes calldata stepEncoding,
        bytes32[] calldata programPath,
        TensorChunkProof calldata claimed,
        TensorChunkProof[] calldata operands
    ) external;

    /// @notice Partial state `t` of a revealed reduce element that differs from foldTerm(state t−1, term t−1)
    /// (t = 0: from initRecord): WorkerFault. Leaf t is named by its hash `leaf` (with `path` under the element's
    /// partial root): the worker is at fault iff `partialLeaf(expected record) != leaf`; any t in 0..K can be
    /// proven, as interior leaves are only ever revealed as hashes. `prevRecord` is leaf t−1's record (the
    /// challenger's own: t−1 is the last leaf that agrees), `prevPath` its path. `operands[i]` proves the value
    /// of `termReads(step, element, t−1)[i]` (t = 0: `initReads`). For t = 0, `prevRecord` and `prevPath` are ignored.
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
    ) external;

    /// @notice Tensor j of the worker's trace whose header is not step j's committed output header: WorkerFault.
    function proveHeader(
        RequestId requestId,
        uint32 step,
        bytes calldata header,
        bytes32 dataRoot,
        bytes32[] calldata manifestPath,
        bytes calldata stepEncoding,
        bytes32[] calldata programPath
    ) external;

    /// @notice Opens the request's input (`outputs` false) or output bundle: the tensor hash of each entry, in the
    /// model's registered (canonical) name order. Anyone may call it while the game is live; it reverts
    /// FraudGameBadProof(22) unless registry.bundleHash of the hashes is the request's inputHash (outputHash).
    /// After it, a leaf proof reads input operand i against entry i, and proveOutput proves output member k
    /// (the step its `lastStep` encoding names: step stepCount − n + k) against entry k.
    function openBundle(RequestId requestId, bool outputs, bytes32[] calldata hashes) external;

    /// @notice Records (does not rule) a signed output beyond τ_out of the trace's final tensor at `element`, or a
    /// signed output whose header is not the committed output type (beyond τ_major). `lastStep` is step n−1's
    /// encoding with its programRoot path. A model with several outputs (its output bundle opened by openBundle):
    /// `lastStep` is the encoding of the step computing output k (step stepCount − n + k), the signed output is
    /// bundle entry k and `finalTensor` that step's tensor under the worker's traceRoot (its rootPath).
    function proveOutput(
        RequestId requestId,
        uint64 element,
        TensorChunkProof calldata signedOutput,
        TensorChunkProof calldata finalTensor,
        bytes calldata lastStep,
        bytes32[] calldata programPath
    ) external;

    /// @notice Anyone, once no attacked node awaits an answer and every reveal's moveClock has run out: the
    /// recorded tolerance fault (beyond τ_major: WorkerFault; else OutputMinor) or WorkerRight.
    function resolve(RequestId requestId) external;

    // ------------------------------------------------------------------ views

    function game(RequestId requestId) external view returns (GameView memory);
    function node(RequestId requestId, Pos calldata pos) external view returns (Node memory);
    function nodeKey(Pos calldata pos) external pure returns (bytes32);
    function attacksOf(RequestId requestId, address account) external view returns (uint32);
    /// @notice The deepest descent D for a program of `stepCount` steps; maxDuration is
    /// responseTime + D·(moveClock + responseTime) + moveClock + responseTime.
    function maxDepth(uint32 stepCount) external pure returns (uint256);
    /// @notice The EIP-712 digest the worker's signer signs.
    function traceCommitmentDigest(RequestId requestId, uint8 attempt, bytes32 traceRoot, bytes32 finalHash) external view returns (bytes32);
}
