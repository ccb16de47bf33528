// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TensorHash} from "../libraries/TensorHash.sol";
import {ChunkProof} from "./FraudTypes.sol";

/// @title TraceLib
/// @notice Proofs against a trace root (protocol/trace.ts): the manifest is the canonical uint8
/// [n, 32] tensor of the trace tensors' hashes, traceRoot = sha256(0x02 || header || manifestRoot);
/// a tensor's data is proven chunk by chunk against its own data root.
library TraceLib {
    uint256 internal constant CHUNK = 1024;
    uint256 internal constant ROWS_PER_CHUNK = 32;

    error TraceManifestMismatch(bytes32 traceRoot);
    error TraceIndexOutOfRange(uint256 traceIndex, uint256 traceCount);
    error TraceRowChunkMismatch(uint256 traceIndex, uint256 chunk);
    error TraceChunkOutOfRange(uint256 operand, uint256 chunk, uint256 chunks);
    error TraceChunkOrder(uint256 operand, uint256 chunk);
    error TraceChunkLength(uint256 operand, uint256 chunk, uint256 length, uint256 expected);
    error TraceChunkPath(uint256 operand, uint256 chunk);

    /// @notice The canonical tensor header for `dtype` and `shape` (protocol/tensor.ts encodeHeader).
    function header(uint8 dtype, uint256[] memory shape) internal pure returns (bytes memory h) {
        h = abi.encodePacked(bytes4(0x56494f54), uint8(1), dtype, uint8(shape.length), uint8(0));
        for (uint256 i = 0; i < shape.length; ++i) h = bytes.concat(h, bytes4(uint32(shape[i])));
    }

    function tensorHash(uint8 dtype, uint256[] memory shape, bytes32 dataRoot) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(uint8(2), header(dtype, shape), dataRoot));
    }

    function manifestHash(uint256 traceCount, bytes32 manifestRoot) internal pure returns (bytes32) {
        uint256[] memory shape = new uint256[](2);
        (shape[0], shape[1]) = (traceCount, 32);
        return tensorHash(2, shape, manifestRoot);
    }

    function checkManifest(bytes32 traceRoot, uint256 traceCount, bytes32 manifestRoot) internal pure {
        if (manifestHash(traceCount, manifestRoot) != traceRoot) revert TraceManifestMismatch(traceRoot);
    }

    /// @notice Number of 1 KiB chunks of `bytesLen` data bytes (at least one).
    function chunkCount(uint256 bytesLen) internal pure returns (uint256) {
        return bytesLen == 0 ? 1 : (bytesLen + CHUNK - 1) / CHUNK;
    }

    /// @notice Checks one chunk of `bytesLen` data bytes against `dataRoot`; `operand` only labels errors.
    function checkChunk(ChunkProof calldata c, bytes32 dataRoot, uint256 bytesLen, uint256 operand) internal pure {
        uint256 chunks = chunkCount(bytesLen);
        if (c.index >= chunks) revert TraceChunkOutOfRange(operand, c.index, chunks);
        uint256 start = uint256(c.index) * CHUNK;
        uint256 expected = bytesLen - start < CHUNK ? bytesLen - start : CHUNK;
        if (c.data.length != expected) revert TraceChunkLength(operand, c.index, c.data.length, expected);
        if (c.path.length > 40 || TensorHash.rootFromPath(sha256(abi.encodePacked(uint8(0), c.data)), c.index, c.path) != dataRoot) {
            revert TraceChunkPath(operand, c.index);
        }
    }

    /// @notice Tensor hash of trace tensor `traceIndex`: row `traceIndex` of the manifest, from its chunk `row`.
    function rowHash(uint256 traceCount, bytes32 manifestRoot, uint256 traceIndex, ChunkProof calldata row) internal pure returns (bytes32 h) {
        if (traceIndex >= traceCount) revert TraceIndexOutOfRange(traceIndex, traceCount);
        if (row.index != traceIndex / ROWS_PER_CHUNK) revert TraceRowChunkMismatch(traceIndex, row.index);
        checkChunk(row, manifestRoot, traceCount * 32, type(uint256).max);
        uint256 o = (traceIndex % ROWS_PER_CHUNK) * 32;
        h = bytes32(row.data[o:o + 32]);
    }
}
