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
        bytes4 malformed = IInferenceOracle.OracleMalformedBatch.selector;
        // Cannot overflow: at < packed.length < 2^64 (calldata), and both lengths are below 2^24.
        assembly ("memory-safe") {
            let left := sub(packed.length, at)
            let p := add(packed.offset, at)
            let lens := shr(208, calldataload(add(p, 64)))
            let outLen := shr(24, lens)
            let proofLen := and(lens, 0xffffff)
            // The lengths were read from calldata that may lie past the batch (zeros or other arguments):
            // they are used only once the header is known to be inside it.
            if or(lt(left, ITEM_HEADER), lt(sub(left, ITEM_HEADER), add(outLen, proofLen))) {
                mstore(0x00, malformed)
                mstore(0x04, at)
                revert(0x00, 0x24)
            }
            requestId := calldataload(p)
            outputHash := calldataload(add(p, 32))
            output.offset := add(p, ITEM_HEADER)
            output.length := outLen
            proof.offset := add(output.offset, outLen)
            proof.length := proofLen
            next := add(add(at, ITEM_HEADER), add(outLen, proofLen))
        }
    }

    /// @notice The signed leaf of every item (RequestBook.resultLeaf: keccak256(abi.encode(RESULT_LEAF_TAG,
    /// requestId, outputHash))) in batch order, and the batch's item count. Reverts OracleEmptyBatch,
    /// OracleMalformedBatch(offset) (as `item`) or OracleBatchTooLarge.
    function signedLeaves(bytes calldata packed) internal pure returns (bytes32[] memory leaves, uint256 count) {
        uint256 end = packed.length;
        if (end == 0) revert IInferenceOracle.OracleEmptyBatch();
        // At most one item per ITEM_HEADER bytes: the array is allocated once at that bound, then shortened.
        uint256 bound = end / ITEM_HEADER;
        if (bound > MAX_ITEMS) bound = MAX_ITEMS + 1;
        leaves = new bytes32[](bound);
        bytes32 tag = RequestBook.RESULT_LEAF_TAG;
        bytes4 malformed = IInferenceOracle.OracleMalformedBatch.selector;
        bool tooLarge;
        // One pass over the headers, as `item` reads them; the leaf preimage is built in the scratch words
        // past the free memory pointer (never allocated, so nothing else is overwritten).
        assembly ("memory-safe") {
            let scratch := mload(0x40)
            mstore(scratch, tag)
            let slot := add(leaves, 32)
            for { let at := 0 } lt(at, end) {} {
                if eq(count, MAX_ITEMS) {
                    tooLarge := 1
                    break
                }
                let left := sub(end, at)
                let p := add(packed.offset, at)
                let lens := shr(208, calldataload(add(p, 64)))
                let body := add(shr(24, lens), and(lens, 0xffffff))
                if or(lt(left, ITEM_HEADER), lt(sub(left, ITEM_HEADER), body)) {
                    mstore(0x00, malformed)
                    mstore(0x04, at)
                    revert(0x00, 0x24)
                }
                calldatacopy(add(scratch, 32), p, 64)
                mstore(slot, keccak256(scratch, 96))
                slot := add(slot, 32)
                count := add(count, 1)
                at := add(add(at, ITEM_HEADER), body)
            }
            mstore(leaves, count)
        }
        if (tooLarge) revert IInferenceOracle.OracleBatchTooLarge(MAX_ITEMS + 1, MAX_ITEMS);
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
