// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Assembly reads fixed-width item headers straight from calldata (no ABI decoding of a struct array) and
// appends fixed-width records to one memory buffer; measured in bench/gas.ts.
// solhint-disable no-inline-assembly

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";
import {RequestBook} from "./RequestBook.sol";

/// @notice The wire forms of result batches (docs/PROTOCOL.md, "Result batches"; the TypeScript twin is
/// protocol/batch-wire.ts). In: the packed items `submitBatch` takes, back to back, each
/// requestId (32) | outputHash (32) | output length (uint24) | proof length (uint24) | output | proof.
/// Out: the 71-byte records of ResultBatchSubmitted, one per accepted item,
/// requestId (32) | outputHash (32) | time (uint40) | attempt (uint8) | flags (uint8).
library PackedBatch {
    /// @notice Bytes of an item before its output and proof.
    uint256 internal constant ITEM_HEADER = 70;
    /// @notice Bytes of one record of ResultBatchSubmitted.
    uint256 internal constant RECORD = 71;
    /// @notice Most items in one batch: a cap that makes an oversized batch revert at once, not run out of gas.
    uint256 internal constant MAX_ITEMS = 1024;
    /// @notice Record flag: an OPTIMISTIC result, a leaf of the batch's accepted root.
    uint256 internal constant FLAG_OPTIMISTIC = 1;

    /// @notice The item at byte `at` of `packed` (caller guarantees at < packed.length): its request id, output
    /// hash, output and proof slices, and where the next item starts. Reverts OracleMalformedBatch(at) when
    /// the header or the bytes its lengths announce run past the end: lengths are checked against what is
    /// left before any byte behind them is read, so a bad length never reads past the batch.
    function item(bytes calldata packed, uint256 at)
        internal
        pure
        returns (RequestId requestId, bytes32 outputHash, bytes calldata output, bytes calldata proof, uint256 next)
    {
        uint256 left = packed.length - at;
        if (left < ITEM_HEADER) revert IInferenceOracle.OracleMalformedBatch(at);
        uint256 outLen;
        uint256 proofLen;
        assembly ("memory-safe") {
            let p := add(packed.offset, at)
            requestId := calldataload(p)
            outputHash := calldataload(add(p, 32))
            let lens := shr(208, calldataload(add(p, 64)))
            outLen := shr(24, lens)
            proofLen := and(lens, 0xffffff)
        }
        // Cannot overflow: both lengths are below 2^24.
        unchecked {
            if (left - ITEM_HEADER < outLen + proofLen) revert IInferenceOracle.OracleMalformedBatch(at);
            uint256 body = at + ITEM_HEADER;
            assembly ("memory-safe") {
                output.offset := add(packed.offset, body)
                output.length := outLen
                proof.offset := add(output.offset, outLen)
                proof.length := proofLen
            }
            next = body + outLen + proofLen;
        }
    }

    /// @notice The signed leaf of every item (RequestBook.resultLeaf) in batch order, in an array of `count`
    /// (the batch's item count). Reverts OracleEmptyBatch, OracleMalformedBatch or OracleBatchTooLarge.
    function signedLeaves(bytes calldata packed) internal pure returns (bytes32[] memory leaves, uint256 count) {
        uint256 end = packed.length;
        if (end == 0) revert IInferenceOracle.OracleEmptyBatch();
        // At most one item per ITEM_HEADER bytes: the array is allocated once at that bound, then shortened.
        uint256 bound = end / ITEM_HEADER;
        if (bound > MAX_ITEMS) bound = MAX_ITEMS + 1;
        leaves = new bytes32[](bound);
        uint256 at = 0;
        while (at < end) {
            if (count == MAX_ITEMS) revert IInferenceOracle.OracleBatchTooLarge(count + 1, MAX_ITEMS);
            RequestId requestId;
            bytes32 outputHash;
            (requestId, outputHash,,, at) = item(packed, at);
            leaves[count] = RequestBook.resultLeaf(requestId, outputHash);
            // Cannot overflow: at most MAX_ITEMS.
            unchecked {
                ++count;
            }
        }
        assembly ("memory-safe") {
            mstore(leaves, count)
        }
    }

    /// @notice An empty records buffer with room for `count` records (and one word of slack, so the last
    /// record's whole-word write stays inside it).
    function newRecords(uint256 count) internal pure returns (bytes memory records) {
        assembly ("memory-safe") {
            records := mload(0x40)
            mstore(records, 0)
            mstore(0x40, add(add(records, 64), mul(count, RECORD)))
        }
    }

    /// @notice Appends one record (caller guarantees room: at most `count` records go into newRecords(count)).
    function push(bytes memory records, RequestId requestId, bytes32 outputHash, uint40 time, uint8 attempt, uint256 flags)
        internal
        pure
    {
        assembly ("memory-safe") {
            let len := mload(records)
            let p := add(add(records, 32), len)
            mstore(p, requestId)
            mstore(add(p, 32), outputHash)
            // time, attempt and flags in the top 7 bytes; the word's other 25 bytes are slack or the next record's.
            mstore(add(p, 64), or(or(shl(216, and(time, 0xffffffffff)), shl(208, and(attempt, 0xff))), shl(200, and(flags, 0xff))))
            mstore(records, add(len, RECORD))
        }
    }
}
