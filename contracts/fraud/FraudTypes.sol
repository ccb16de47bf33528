// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {F} from "./SoftFloat.sol";

/// @notice One 1 KiB chunk of a tensor's data (or of the trace manifest) and its path to the data root.
struct ChunkProof {
    uint32 index;
    bytes data;
    bytes32[] path;
}

/// @notice A tensor an operator reads or writes, proven against its source, with the chunks the step reads.
/// The tensor's header is rebuilt from the committed dtype and shape, so only its data root travels:
/// tensorHash = sha256(0x02 || header || dataRoot). A trace tensor's hash is row `traceIndex` of the
/// manifest (`row`: the manifest chunk holding it); a weight's hash is leaf `index` of weightsRoot
/// (`weightPath`); the model input's hash is the request's inputHash.
struct TensorProof {
    bytes32 dataRoot;
    ChunkProof row;
    bytes32[] weightPath;
    ChunkProof[] chunks;
}

/// @notice A one-step fraud proof: element `element` of output `output` of operator `opIndex`.
struct StepProof {
    uint32 opIndex;
    bytes entry;
    bytes32[] opPath;
    bytes32 weightsRoot;
    bytes32 opsRoot;
    /// @notice Data root of the trace manifest: traceRoot = sha256(0x02 || header(uint8, [n, 32]) || manifestRoot).
    bytes32 manifestRoot;
    uint32 traceCount;
    /// @notice One per operator input (an absent input: an empty proof).
    TensorProof[] inputs;
    uint8 output;
    uint256 element;
    TensorProof out;
}

/// @notice What the step is checked against: the model's registered commitment root and the disputed result.
struct StepContext {
    bytes32 commitmentRoot;
    bytes32 inputHash;
    bytes32 traceRoot;
}

/// @notice The chunks of one operand, ascending by index, already proven by the verifier.
struct Operand {
    uint32[] index;
    bytes[] data;
}

/// @notice The ruling on one element. Floats and integers alike are soft floats (integers up to 64
/// bits are exact). `bound` is the tolerance before the verifier's 2^-40 widening (0 for exact ops).
struct Verdict {
    bool faulty;
    bool exact;
    F claimed;
    F recomputed;
    F bound;
}

/// @notice An operator family: recomputes one output element from proven operand chunks.
interface IOpFamily {
    function evaluate(bytes calldata entry, Operand[] calldata operands, uint256 output, uint256 element, bytes calldata claimed)
        external
        view
        returns (Verdict memory);
}
