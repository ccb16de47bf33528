// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice One element of one canonical step, recomputed on-chain bit for bit as canonical/element.ts does
/// (docs/CANONICAL.md, docs/V2.md §2 and §5). The fraud game proves every value it passes in (a step's
/// encoding against programRoot, operand elements against the input hash, weightsRoot or the worker's
/// trace) and asks this contract what the element (or the next partial state) must be.
///
/// `step` is `encodeStep` v1 (canonical/commitment.ts). Element values are uint64: the binary64 bit
/// pattern of a float element (a float32 element widened exactly), or the two's-complement int64 of an
/// integer element (bool 0/1). Operands are numbered by their position in the step's operand list.
interface IStepVerifier {
    struct Operand {
        /// 1 model input, 2 weight, 3 earlier step (encodeStep's source codes)
        uint8 source;
        /// the weight index, the step index, or the input's entry in the input bundle (0 for a one-input model)
        uint32 index;
        uint8 dtype;
        uint32[] shape;
    }

    struct StepInfo {
        uint32 index;
        /// 0 map, 1 move, 2 reduce
        uint8 kind;
        uint8 outDtype;
        uint32[] outShape;
        uint64 numel;
        /// reduce: K, the number of terms of every element; 0 for map and move
        uint64 terms;
        Operand[] operands;
    }

    /// @notice One operand element read: operand position in the step, flat element index in that operand.
    struct Read {
        uint16 operand;
        uint64 index;
    }

    error StepMalformed(uint256 offset);
    error StepUnsupported(string op);
    error StepIndexOutOfRange(uint64 index, uint64 bound);
    error StepReadsMismatch(uint256 expected, uint256 given);

    function info(bytes calldata step) external pure returns (StepInfo memory);

    /// @notice The v1 tensor header ("VIOT" | 1 | dtype | rank | 0 | dims) the step's output tensor must have.
    function outputHeader(bytes calldata step) external pure returns (bytes memory);

    /// @notice map/move: the operand elements element `e` reads, in the order `elementValue` takes them.
    function reads(bytes calldata step, uint64 e) external pure returns (Read[] memory);

    /// @notice map/move: element `e` from the values of `reads(step, e)`.
    function elementValue(bytes calldata step, uint64 e, uint64[] calldata values, uint8 precision)
        external
        pure
        returns (uint64);

    /// @notice reduce: the operand elements the init of element `e` reads (a bias element, or none).
    function initReads(bytes calldata step, uint64 e) external pure returns (Read[] memory);

    /// @notice reduce: the 32-byte partial-state record before any term (canonical/partial.ts), from the
    /// values of `initReads(step, e)`.
    function initRecord(bytes calldata step, uint64 e, uint64[] calldata values) external pure returns (bytes32);

    /// @notice reduce: the operand elements term `t` (< K) of element `e` reads (none for a padding term).
    function termReads(bytes calldata step, uint64 e, uint64 t) external pure returns (Read[] memory);

    /// @notice reduce: the record after folding term `t` of element `e` into `prev` (the record after t terms).
    function foldTerm(bytes calldata step, uint64 e, uint64 t, bytes32 prev, uint64[] calldata values, uint8 precision)
        external
        pure
        returns (bytes32);

    /// @notice reduce: the element value from the record after all K terms.
    function finalize(bytes calldata step, bytes32 last, uint8 precision) external pure returns (uint64);

    /// @notice An element's uint64 value from its little-endian bytes in a tensor of `dtype`.
    function decodeElement(uint8 dtype, bytes calldata raw) external pure returns (uint64);

    /// @notice Whether a worker's element value equals the canonical value (any NaN equals any NaN).
    function sameValue(uint8 dtype, uint64 a, uint64 b) external pure returns (bool);
}
