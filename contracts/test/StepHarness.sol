// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CanonicalStep} from "../canonical/CanonicalStep.sol";

/// @notice Test-only: CanonicalStep over batches of elements in one call (test/canonical/step.golden.test.ts),
/// and the gas of each call alone.
/// Map records: `u8 op | u8 precision | u8 #operands | u8 #params | #operands × u64 | #params × u64`
/// (big-endian binary64 bits); results: one u64 per record.
contract StepHarness {
    error StepHarnessBadInput(uint256 offset);

    function readMap(bytes calldata input, uint256 at)
        private
        pure
        returns (uint256 op, uint8 precision, uint64[] memory operands, uint64[] memory params, uint256 next)
    {
        if (at + 4 > input.length) revert StepHarnessBadInput(at);
        op = uint8(input[at]);
        precision = uint8(input[at + 1]);
        uint256 n = uint8(input[at + 2]);
        uint256 np = uint8(input[at + 3]);
        next = at + 4 + 8 * (n + np);
        if (next > input.length) revert StepHarnessBadInput(at);
        operands = new uint64[](n);
        params = new uint64[](np);
        for (uint256 k = 0; k < n; k++) operands[k] = uint64(bytes8(input[at + 4 + 8 * k:at + 12 + 8 * k]));
        for (uint256 k = 0; k < np; k++) params[k] = uint64(bytes8(input[at + 4 + 8 * (n + k):at + 12 + 8 * (n + k)]));
    }

    /// @notice CanonicalStep.mapElement of each record.
    function evalMap(bytes calldata input) external pure returns (bytes memory out) {
        uint256 at = 0;
        while (at < input.length) {
            (uint256 op, uint8 precision, uint64[] memory operands, uint64[] memory params, uint256 next) = readMap(input, at);
            out = bytes.concat(out, bytes8(CanonicalStep.mapElement(op, params, operands, precision)));
            at = next;
        }
    }

    /// @notice Gas of each CanonicalStep.mapElement call alone (operands already in memory).
    function gasMap(bytes calldata input) external view returns (uint256[] memory gas, uint256 count) {
        gas = new uint256[](input.length / 12 + 1);
        uint256 at = 0;
        while (at < input.length) {
            (uint256 op, uint8 precision, uint64[] memory operands, uint64[] memory params, uint256 next) = readMap(input, at);
            uint256 g = gasleft();
            CanonicalStep.mapElement(op, params, operands, precision);
            gas[count++] = g - gasleft();
            at = next;
        }
    }

    /// @notice fold(records[i], terms[i]) for each i.
    function evalFold(bytes32[] calldata records, uint64[] calldata terms) external pure returns (bytes32[] memory out) {
        out = new bytes32[](records.length);
        for (uint256 i = 0; i < records.length; i++) out[i] = CanonicalStep.fold(records[i], terms[i]);
    }

    /// @notice Gas of each fold alone.
    function gasFold(bytes32[] calldata records, uint64[] calldata terms) external view returns (uint256[] memory gas) {
        gas = new uint256[](records.length);
        for (uint256 i = 0; i < records.length; i++) {
            uint256 g = gasleft();
            CanonicalStep.fold(records[i], terms[i]);
            gas[i] = g - gasleft();
        }
    }

    /// @notice finalize(records[i], precisions[i]) for each i.
    function evalFinalize(bytes32[] calldata records, uint8[] calldata precisions) external pure returns (uint64[] memory out) {
        out = new uint64[](records.length);
        for (uint256 i = 0; i < records.length; i++) out[i] = CanonicalStep.finalize(records[i], precisions[i]);
    }

    /// @notice Gas of each finalize alone.
    function gasFinalize(bytes32[] calldata records, uint8[] calldata precisions) external view returns (uint256[] memory gas) {
        gas = new uint256[](records.length);
        for (uint256 i = 0; i < records.length; i++) {
            uint256 g = gasleft();
            CanonicalStep.finalize(records[i], precisions[i]);
            gas[i] = g - gasleft();
        }
    }

    /// @notice term(a[i], b[i], precision) for each i.
    function evalTerm(uint64[] calldata a, uint64[] calldata b, uint8 precision) external pure returns (uint64[] memory out) {
        out = new uint64[](a.length);
        for (uint256 i = 0; i < a.length; i++) out[i] = CanonicalStep.term(a[i], b[i], precision);
    }

    /// @notice Integer maps: records `u8 op | u8 dtype | u8 fromFloat | u8 #operands | u8 #params |
    /// #operands × u64 | #params × u64` (int64 two's complement; a float → int cast's operand as binary64
    /// bits); results: one int64 per record.
    function evalIntMap(bytes calldata input) external pure returns (bytes memory out) {
        uint256 at = 0;
        while (at < input.length) {
            uint256 op = uint8(input[at]);
            uint8 dtype = uint8(input[at + 1]);
            bool fromFloat = uint8(input[at + 2]) == 1;
            uint256 n = uint8(input[at + 3]);
            uint256 np = uint8(input[at + 4]);
            int64[] memory x = new int64[](n);
            int64[] memory params = new int64[](np);
            for (uint256 k = 0; k < n; k++) x[k] = int64(uint64(bytes8(input[at + 5 + 8 * k:at + 13 + 8 * k])));
            for (uint256 k = 0; k < np; k++) params[k] = int64(uint64(bytes8(input[at + 5 + 8 * (n + k):at + 13 + 8 * (n + k)])));
            int64 r = fromFloat ? CanonicalStep.castToInt(uint64(x[0]), dtype) : CanonicalStep.mapIntElement(op, dtype, params, x);
            out = bytes.concat(out, bytes8(uint64(r)));
            at += 5 + 8 * (n + np);
        }
    }

    /// @notice CanonicalStep.quantElement of each record `u8 op | u8 dtype | u64 a | u64 b | u64 zp` (a, b
    /// binary64 bits; zp int64); results: one int64 per record.
    function evalQuant(bytes calldata input) external pure returns (bytes memory out) {
        for (uint256 at = 0; at + 26 <= input.length; at += 26) {
            uint256 op = uint8(input[at]);
            uint8 dtype = uint8(input[at + 1]);
            uint64 a = uint64(bytes8(input[at + 2:at + 10]));
            uint64 b = uint64(bytes8(input[at + 10:at + 18]));
            int64 zp = int64(uint64(bytes8(input[at + 18:at + 26])));
            out = bytes.concat(out, bytes8(uint64(CanonicalStep.quantElement(op, dtype, a, b, zp))));
        }
    }

    /// @notice The record of an init state.
    function initRecord(uint8 kind, uint32 divisor, uint64 init) external pure returns (bytes32) {
        return CanonicalStep.initRecord(kind, divisor, init);
    }
}
