// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TensorHash} from "../libraries/TensorHash.sol";

/// @notice Tree shapes and encodings the fraud game checks claims against (docs/V2.md §2, §5). Every tree is
/// protocol/merkle.ts's: node = sha256(0x01 || left || right), an odd last node paired with bytes32(0).
library GameTrees {
    /// @dev Largest tensor a game descends into: 2^32 data bytes, 2^22 chunks, a DATA tree of height 22.
    uint256 internal constant MAX_TENSOR_BYTES = 1 << 32;
    uint256 internal constant MAX_DATA_HEIGHT = 22;
    /// @dev Largest K a game descends into: 2^20 terms, K + 1 partial states, a PARTIAL tree of height 21.
    uint256 internal constant MAX_TERMS = 1 << 20;
    uint256 internal constant MAX_PARTIAL_HEIGHT = 21;

    error GameTreesBadHeader(uint256 code);

    /// @notice The smallest h with 2^h ≥ leaves (0 for one leaf): the root's height.
    function height(uint256 leaves) internal pure returns (uint256 h) {
        while ((uint256(1) << h) < leaves) ++h;
    }

    /// @notice How many nodes a tree of `leaves` leaves has at height h (ceil(leaves / 2^h)).
    function levelCount(uint256 leaves, uint256 h) internal pure returns (uint256) {
        return (leaves + (uint256(1) << h) - 1) >> h;
    }

    function node(bytes32 left, bytes32 right) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(uint8(1), left, right));
    }

    function tensorHash(bytes calldata header, bytes32 dataRoot) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(uint8(2), header, dataRoot));
    }

    function chunkLeaf(bytes calldata chunk) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(uint8(0), chunk));
    }

    function partialLeaf(bytes32 record) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(uint8(0), record));
    }

    function stepLeaf(bytes calldata stepEncoding) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(uint8(6), stepEncoding));
    }

    /// @notice Whether `leaf` is leaf `index` under `root` by exactly `path` (bottom-up siblings); the index must fit
    /// the path (a path of another length cannot reach the root: leaves and nodes hash under different prefixes).
    function verify(bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata path) internal pure returns (bool) {
        if (path.length < 256 && (index >> path.length) != 0) return false;
        bytes32 h = leaf;
        for (uint256 i = 0; i < path.length; ++i) {
            h = (index >> i) & 1 == 0 ? node(h, path[i]) : node(path[i], h);
        }
        return h == root;
    }

    /// @notice A v1 tensor header's dtype and data length ("VIOT" | 1 | dtype | rank | 0 | rank × u32 BE dims).
    /// Reverts GameTreesBadHeader on a malformed header.
    function parseHeader(bytes calldata header) internal pure returns (uint8 dtype, uint256 elementSize, uint256 byteLength) {
        if (header.length < TensorHash.HEADER_FIXED_BYTES) revert GameTreesBadHeader(TensorHash.ERR_TOO_SHORT);
        if (bytes4(header[0:4]) != TensorHash.MAGIC) revert GameTreesBadHeader(TensorHash.ERR_BAD_MAGIC);
        if (uint8(header[4]) != TensorHash.VERSION || uint8(header[7]) != 0) revert GameTreesBadHeader(TensorHash.ERR_BAD_VERSION);
        dtype = uint8(header[5]);
        elementSize = TensorHash.elementSize(dtype);
        if (elementSize == 0) revert GameTreesBadHeader(TensorHash.ERR_BAD_DTYPE);
        uint256 rank = uint8(header[6]);
        if (rank > TensorHash.MAX_RANK) revert GameTreesBadHeader(TensorHash.ERR_BAD_RANK);
        if (header.length != TensorHash.HEADER_FIXED_BYTES + 4 * rank) revert GameTreesBadHeader(TensorHash.ERR_BAD_LENGTH);
        uint256 numel = 1;
        for (uint256 i = 0; i < rank; ++i) {
            uint256 o = TensorHash.HEADER_FIXED_BYTES + 4 * i;
            // Cannot overflow: at most 8 factors below 2^32.
            numel *= uint32(bytes4(header[o:o + 4]));
        }
        byteLength = numel * elementSize;
    }

    /// @notice The v1 header of a tensor of `dtype` and `shape`.
    function encodeHeader(uint8 dtype, uint32[] memory shape) internal pure returns (bytes memory h) {
        h = abi.encodePacked(TensorHash.MAGIC, TensorHash.VERSION, dtype, uint8(shape.length), uint8(0));
        for (uint256 i = 0; i < shape.length; ++i) h = bytes.concat(h, bytes4(shape[i]));
    }

    /// @notice Chunks of a tensor's data (at least one, even for empty data).
    function chunkCount(uint256 byteLength) internal pure returns (uint256) {
        return byteLength == 0 ? 1 : (byteLength + TensorHash.CHUNK_BYTES - 1) / TensorHash.CHUNK_BYTES;
    }
}
