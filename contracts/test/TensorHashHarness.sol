// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TensorHash} from "../libraries/TensorHash.sol";

/// @notice Test-only: exposes TensorHash so golden vectors can check it against protocol/tensor.ts.
contract TensorHashHarness {
    function hash(bytes memory encoded) external pure returns (bytes32) {
        return TensorHash.hash(encoded);
    }

    function check(bytes memory encoded) external pure returns (uint256) {
        return TensorHash.check(encoded);
    }

    function tryHash(bytes memory encoded) external pure returns (uint256 code, bytes32 tensorHash) {
        return TensorHash.tryHash(encoded);
    }

    function merkleRoot(bytes32[] memory leaves) external pure returns (bytes32) {
        return TensorHash.merkleRoot(leaves);
    }

    function rootFromPath(bytes32 leaf, uint256 index, bytes32[] memory path) external pure returns (bytes32) {
        return TensorHash.rootFromPath(leaf, index, path);
    }

    function dataRoot(bytes memory encoded, uint256 offset) external pure returns (bytes32) {
        return TensorHash.dataRoot(encoded, offset);
    }
}
