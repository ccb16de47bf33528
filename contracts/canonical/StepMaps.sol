// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CanonicalStep} from "./CanonicalStep.sol";
import {Float64} from "./Float64.sol";

/// @title StepMaps
/// @notice CanonicalStep's element arithmetic (maps, contraction terms, folds, finalize) behind public (linked, DELEGATECALLed) functions, so that
/// StepVerifier, which also decodes steps and indexes every operator, stays under EIP-170's code size
/// limit: the transcendental functions of CanonicalMath alone are most of a contract's worth of code.
/// Deploy it once and link it into StepVerifier (`libraries: { StepMaps: address }`).
library StepMaps {
    using Float64 for uint64;

    /// @notice CanonicalStep.mapElement: a float map element, rounded to the precision's storage format.
    function floatMap(uint256 op, uint64[] memory params, uint64[] memory operands, uint8 precision)
        public
        pure
        returns (uint64)
    {
        return CanonicalStep.mapElement(op, params, operands, precision);
    }

    /// @notice CanonicalStep.mapIntElement: an integer map element, wrapped to the output dtype.
    function intMap(uint256 op, uint8 dtype, int64[] memory params, int64[] memory operands)
        public
        pure
        returns (int64)
    {
        return CanonicalStep.mapIntElement(op, dtype, params, operands);
    }

    /// @notice CanonicalStep.term: the exact product of two contraction operands at the precision.
    function term(uint64 a, uint64 b, uint8 precision) public pure returns (uint64) {
        return CanonicalStep.term(a, b, precision);
    }

    /// @notice CanonicalStep.fold: the record after folding one term.
    function fold(bytes32 record, uint64 value) public pure returns (bytes32) {
        return CanonicalStep.fold(record, value);
    }

    /// @notice CanonicalStep.finalize: the element from the last record.
    function finalize(bytes32 record, uint8 precision) public pure returns (uint64) {
        return CanonicalStep.finalize(record, precision);
    }

    /// @notice CanonicalStep.quantElement: a quantize or requantize element (integer output).
    function quantElement(uint256 op, uint8 dtype, uint64 a, uint64 b, int64 zp) public pure returns (int64) {
        return CanonicalStep.quantElement(op, dtype, a, b, zp);
    }

    /// @notice CanonicalStep.castToInt: a float → integer cast.
    function castToInt(uint64 a, uint8 dtype) public pure returns (int64) {
        return CanonicalStep.castToInt(a, dtype);
    }

    /// @notice The binary64 value of an int64 (exact for |n| <= 2^53).
    function fromInt64(int64 n) public pure returns (uint64) {
        return Float64.fromInt64(n);
    }

    /// @notice The binary64 value of fp32 bits (exact; NaN gives the canonical NaN).
    function fromFp32(uint32 bits) public pure returns (uint64) {
        return Float64.fromFp32(bits);
    }

    /// @notice floor(n / scale) in binary64 (the division rounded once), truncated to int64 (saturating).
    function floorDiv(uint64 n, uint64 scale) public pure returns (int64) {
        return Float64.floor(Float64.div(Float64.fromInt64(int64(n)), scale)).toInt64();
    }
}
