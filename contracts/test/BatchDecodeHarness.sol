// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// The packed form is decoded with calldataload/slices: measuring that decoder is what this harness is for.
// solhint-disable no-inline-assembly

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";

/// @notice Test-only: the cost of reading a result batch's items, in the ABI form `submitBatch` takes and
/// in a packed form (per item: requestId, outputHash, uint16 output length, uint16 proof length, then the
/// output and proof bytes), touching each item's fields as often as `submitBatch` does for an accepted
/// OPTIMISTIC item (bench/gas.ts, docs/PROTOCOL.md "Gas per OPTIMISTIC result"). Both return the same
/// digest of what they read, so a test can check that the two forms read the same batch.
/// Compiled with InferenceOracle's settings (hardhat.config.ts).
contract BatchDecodeHarness {
    error PackedBatchMalformed(uint256 offset);

    function abiForm(IInferenceOracle.ResultBatch calldata batch) external pure returns (uint256 acc) {
        IInferenceOracle.ResultItem[] calldata items = batch.items;
        uint256 count = items.length;
        // submitBatch's first loop: the signed leaf of every item.
        for (uint256 i = 0; i < count; ++i) {
            acc = _mix(acc, RequestId.unwrap(items[i].requestId), items[i].outputHash);
        }
        // Its second loop: each item passed on, its request id, output hash and output read again.
        for (uint256 i = 0; i < count; ++i) {
            acc = _item(acc, items[i]);
        }
        acc ^= batch.signature.length ^ uint160(batch.payee);
    }

    function packedForm(address payee, bytes calldata signature, bytes calldata packed)
        external
        pure
        returns (uint256 acc)
    {
        // Two passes, as submitBatch needs: the signed root over every item first, then each item.
        for (uint256 pass = 0; pass < 2; ++pass) {
            uint256 at = 0;
            while (at < packed.length) {
                bytes32 requestId;
                bytes32 outputHash;
                bytes calldata output;
                (requestId, outputHash, output, at) = _next(packed, at);
                acc = pass == 0 ? _mix(acc, requestId, outputHash) : _fields(acc, requestId, outputHash, output);
            }
        }
        acc ^= signature.length ^ uint160(payee);
    }

    /// @dev The packed item at `at`: its request id, output hash and output, and the next item's offset.
    function _next(bytes calldata packed, uint256 at)
        private
        pure
        returns (bytes32 requestId, bytes32 outputHash, bytes calldata output, uint256 next)
    {
        uint256 end = packed.length;
        // Caller guarantees at < end. The header is 68 bytes; the lengths are checked against what is left
        // before any byte behind them is read, so a bad length never reads past the batch.
        if (end - at < 68) revert PackedBatchMalformed(at);
        uint256 outLen;
        uint256 proofLen;
        assembly ("memory-safe") {
            let p := add(packed.offset, at)
            requestId := calldataload(p)
            outputHash := calldataload(add(p, 32))
            let lens := shr(224, calldataload(add(p, 64)))
            outLen := shr(16, lens)
            proofLen := and(lens, 0xffff)
        }
        at += 68;
        if (end - at < outLen + proofLen) revert PackedBatchMalformed(at);
        assembly ("memory-safe") {
            output.offset := add(packed.offset, at)
            output.length := outLen
        }
        next = at + outLen + proofLen;
    }

    function _item(uint256 acc, IInferenceOracle.ResultItem calldata s) private pure returns (uint256) {
        return _fields(acc, RequestId.unwrap(s.requestId), s.outputHash, s.output);
    }

    function _fields(uint256 acc, bytes32 requestId, bytes32 outputHash, bytes calldata output)
        private
        pure
        returns (uint256)
    {
        return acc ^ uint256(requestId) ^ (uint256(outputHash) >> 1) ^ output.length;
    }

    function _mix(uint256 acc, bytes32 a, bytes32 b) private pure returns (uint256) {
        return uint256(keccak256(abi.encode(acc, a, b)));
    }
}
