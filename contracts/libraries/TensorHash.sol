// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Assembly copies a byte slice word by word: Solidity has no slice of a memory array.
// solhint-disable no-inline-assembly

/// @notice The canonical tensor encoding and its hash, mirrored by protocol/tensor.ts and
/// protocol/merkle.ts and pinned by golden vectors (test/protocol/golden.test.ts).
///
/// Encoding: "VIOT" | version=1 | dtype (ONNX code) | rank | 0 | rank x uint32 big-endian dims |
///           data, little-endian, exactly numel * elementSize bytes.
/// Hash:     leaf_i  = sha256(0x00 || data[i*1024 : (i+1)*1024])   (at least one leaf, the last may be short)
///           node    = sha256(0x01 || left || right); at each level an odd last node is paired with bytes32(0)
///           tensor  = sha256(0x02 || header || dataRoot)
/// Bundle (several named tensors, protocol/bundle.ts, docs/PROTOCOL.md "Tensor bundles"):
///           "VIOB" | version=1 | count n (2..255) | 0 | 0 | n x (L | name (L bytes) | uint32 BE length T | tensor (T bytes)),
///           names non-empty and strictly ascending by bytes;
///           bundle  = sha256(0x03 || n || n x (L || name || tensorHash))
library TensorHash {
    uint256 internal constant CHUNK_BYTES = 1024;
    uint256 internal constant HEADER_FIXED_BYTES = 8;
    uint256 internal constant MAX_RANK = 8;
    bytes4 internal constant MAGIC = 0x56494f54; // "VIOT"
    uint8 internal constant VERSION = 1;

    // Malformed-tensor codes, shared with protocol/tensor.ts (TensorFormatCode).
    uint256 internal constant ERR_TOO_SHORT = 1;
    uint256 internal constant ERR_BAD_MAGIC = 2;
    uint256 internal constant ERR_BAD_VERSION = 3;
    uint256 internal constant ERR_BAD_DTYPE = 4;
    uint256 internal constant ERR_BAD_RANK = 5;
    uint256 internal constant ERR_BAD_LENGTH = 6;
    // Bundle codes, shared with protocol/bundle.ts (BundleFormatCode).
    uint256 internal constant ERR_BUNDLE_HEADER = 7;
    uint256 internal constant ERR_BUNDLE_NAME = 8;
    uint256 internal constant ERR_BUNDLE_LENGTH = 9;
    bytes4 internal constant BUNDLE_MAGIC = 0x56494f42; // "VIOB"

    error TensorMalformed(uint256 code);

    /// @notice Bytes per element of an ONNX dtype, or 0 if the dtype is not supported.
    function elementSize(uint8 dtype) internal pure returns (uint256) {
        // FLOAT=1 UINT8=2 INT8=3 UINT16=4 INT16=5 INT32=6 INT64=7 BOOL=9 FLOAT16=10 DOUBLE=11 UINT32=12 UINT64=13
        if (dtype == 2 || dtype == 3 || dtype == 9) return 1;
        if (dtype == 4 || dtype == 5 || dtype == 10) return 2;
        if (dtype == 1 || dtype == 6 || dtype == 12) return 4;
        if (dtype == 7 || dtype == 11 || dtype == 13) return 8;
        return 0;
    }

    /// @notice Checks the header and length; returns the header length. Reverts TensorMalformed(code).
    function validate(bytes memory encoded) internal pure returns (uint256 headerBytes) {
        uint256 code = check(encoded);
        if (code != 0) revert TensorMalformed(code);
        return HEADER_FIXED_BYTES + 4 * uint8(encoded[6]);
    }

    /// @notice 0 when `encoded` is a well-formed tensor, else the error code.
    function check(bytes memory encoded) internal pure returns (uint256 code) {
        if (encoded.length < HEADER_FIXED_BYTES) return ERR_TOO_SHORT;
        if (bytes4(bytes.concat(encoded[0], encoded[1], encoded[2], encoded[3])) != MAGIC) return ERR_BAD_MAGIC;
        if (uint8(encoded[4]) != VERSION || uint8(encoded[7]) != 0) return ERR_BAD_VERSION;
        uint256 size = elementSize(uint8(encoded[5]));
        if (size == 0) return ERR_BAD_DTYPE;
        uint256 rank = uint8(encoded[6]);
        if (rank > MAX_RANK) return ERR_BAD_RANK;
        uint256 headerBytes = HEADER_FIXED_BYTES + 4 * rank;
        if (encoded.length < headerBytes) return ERR_TOO_SHORT;
        uint256 numel = 1;
        for (uint256 i = 0; i < rank; ++i) {
            uint256 o = HEADER_FIXED_BYTES + 4 * i;
            uint256 dim = (uint256(uint8(encoded[o])) << 24) | (uint256(uint8(encoded[o + 1])) << 16)
                | (uint256(uint8(encoded[o + 2])) << 8) | uint256(uint8(encoded[o + 3]));
            // Cannot overflow: numel <= encoded.length before this step and dim < 2^32.
            numel *= dim;
            if (numel > encoded.length) return ERR_BAD_LENGTH;
        }
        if (encoded.length != headerBytes + numel * size) return ERR_BAD_LENGTH;
        return 0;
    }

    /// @notice The tensor hash of a canonical encoding. Reverts TensorMalformed on a bad encoding.
    function hash(bytes memory encoded) internal pure returns (bytes32) {
        return hashValidated(encoded, validate(encoded));
    }

    /// @notice Like `hash`, but returns the malformed-tensor code (and a zero hash) instead of reverting,
    /// so a batch can skip one bad item. Also hashes a bundle of named tensors (a several-input or
    /// several-output model's input or output): its bundle hash.
    function tryHash(bytes memory encoded) internal pure returns (uint256 code, bytes32 tensorHash) {
        if (encoded.length >= 4 && bytes4(bytes.concat(encoded[0], encoded[1], encoded[2], encoded[3])) == BUNDLE_MAGIC) {
            return tryHashBundle(encoded);
        }
        code = check(encoded);
        if (code != 0) return (code, bytes32(0));
        tensorHash = hashValidated(encoded, HEADER_FIXED_BYTES + 4 * uint256(uint8(encoded[6])));
    }

    /// @notice The bundle hash of a VIOB encoding, or its malformed code (a bundle code, or an entry's tensor code).
    function tryHashBundle(bytes memory encoded) internal pure returns (uint256 code, bytes32 bundleHash) {
        if (encoded.length < 8) return (ERR_TOO_SHORT, bytes32(0));
        uint256 count = uint8(encoded[5]);
        if (uint8(encoded[4]) != VERSION || encoded[6] != 0 || encoded[7] != 0 || count < 2) return (ERR_BUNDLE_HEADER, bytes32(0));
        bytes memory preimage = abi.encodePacked(uint8(3), uint8(count));
        bytes memory previous;
        uint256 at = 8;
        for (uint256 i = 0; i < count; ++i) {
            bytes memory name;
            bytes32 h;
            (code, name, h, at) = _bundleEntry(encoded, at);
            if (code != 0) return (code, bytes32(0));
            if (i != 0 && !_ascending(previous, name)) return (ERR_BUNDLE_NAME, bytes32(0));
            previous = name;
            preimage = abi.encodePacked(preimage, uint8(name.length), name, h);
        }
        if (at != encoded.length) return (ERR_BUNDLE_LENGTH, bytes32(0));
        return (0, sha256(preimage));
    }

    /// @dev One bundle entry at `at`: its name, its tensor hash and where the next entry starts, or a code.
    function _bundleEntry(bytes memory encoded, uint256 at)
        private
        pure
        returns (uint256 code, bytes memory name, bytes32 tensorHash, uint256 next)
    {
        uint256 len = encoded.length;
        if (at + 1 > len) return (ERR_BUNDLE_LENGTH, name, bytes32(0), 0);
        uint256 nameEnd = at + 1 + uint8(encoded[at]);
        if (nameEnd == at + 1) return (ERR_BUNDLE_NAME, name, bytes32(0), 0);
        if (nameEnd + 4 > len) return (ERR_BUNDLE_LENGTH, name, bytes32(0), 0);
        name = slice(encoded, at + 1, nameEnd);
        next = nameEnd + 4 + ((uint256(uint8(encoded[nameEnd])) << 24) | (uint256(uint8(encoded[nameEnd + 1])) << 16)
            | (uint256(uint8(encoded[nameEnd + 2])) << 8) | uint256(uint8(encoded[nameEnd + 3])));
        if (next > len) return (ERR_BUNDLE_LENGTH, name, bytes32(0), 0);
        (code, tensorHash) = tryHashTensor(slice(encoded, nameEnd + 4, next));
    }

    /// @dev tryHash of a bare tensor (no bundle).
    function tryHashTensor(bytes memory encoded) private pure returns (uint256 code, bytes32 tensorHash) {
        code = check(encoded);
        if (code != 0) return (code, bytes32(0));
        tensorHash = hashValidated(encoded, HEADER_FIXED_BYTES + 4 * uint256(uint8(encoded[6])));
    }

    /// @dev a < b in byte order (a shorter prefix sorts first).
    function _ascending(bytes memory a, bytes memory b) private pure returns (bool) {
        uint256 n = a.length < b.length ? a.length : b.length;
        for (uint256 i = 0; i < n; ++i) {
            if (a[i] != b[i]) return uint8(a[i]) < uint8(b[i]);
        }
        return a.length < b.length;
    }

    /// @dev `encoded` must already have passed `check`, and `headerBytes` be its header length.
    function hashValidated(bytes memory encoded, uint256 headerBytes) private pure returns (bytes32) {
        return sha256(abi.encodePacked(uint8(2), slice(encoded, 0, headerBytes), dataRoot(encoded, headerBytes)));
    }

    /// @notice Merkle root over 1024-byte chunks of encoded[offset:].
    function dataRoot(bytes memory encoded, uint256 offset) internal pure returns (bytes32) {
        uint256 len = encoded.length - offset;
        uint256 leaves = len == 0 ? 1 : (len + CHUNK_BYTES - 1) / CHUNK_BYTES;
        bytes32[] memory level = new bytes32[](leaves);
        for (uint256 i = 0; i < leaves; ++i) {
            uint256 start = offset + i * CHUNK_BYTES;
            uint256 end = start + CHUNK_BYTES;
            if (end > encoded.length) end = encoded.length;
            level[i] = sha256(abi.encodePacked(uint8(0), slice(encoded, start, end)));
        }
        return merkleRoot(level);
    }

    /// @notice Root of the tree over `leaves` (an odd last node pairs with bytes32(0)). Overwrites `leaves`.
    function merkleRoot(bytes32[] memory leaves) internal pure returns (bytes32) {
        uint256 n = leaves.length;
        if (n == 0) return bytes32(0);
        while (n > 1) {
            uint256 half = (n + 1) / 2;
            for (uint256 i = 0; i < half; ++i) {
                bytes32 left = leaves[2 * i];
                bytes32 right = 2 * i + 1 < n ? leaves[2 * i + 1] : bytes32(0);
                leaves[i] = sha256(abi.encodePacked(uint8(1), left, right));
            }
            n = half;
        }
        return leaves[0];
    }

    /// @notice Recomputes a root from a leaf, its index and its sibling path (bottom-up).
    function rootFromPath(bytes32 leaf, uint256 index, bytes32[] memory path) internal pure returns (bytes32 node) {
        node = leaf;
        for (uint256 i = 0; i < path.length; ++i) {
            node = (index >> i) & 1 == 0
                ? sha256(abi.encodePacked(uint8(1), node, path[i]))
                : sha256(abi.encodePacked(uint8(1), path[i], node));
        }
    }

    function slice(bytes memory data, uint256 start, uint256 end) private pure returns (bytes memory out) {
        out = new bytes(end - start);
        assembly {
            // Whole words: the last one may spill up to 31 bytes past `out`'s length, still inside the
            // word-rounded allocation that `new bytes` made, and those bytes are never read.
            let src := add(add(data, 32), start)
            let dst := add(out, 32)
            for { let i := 0 } lt(i, sub(end, start)) { i := add(i, 32) } { mstore(add(dst, i), mload(add(src, i))) }
        }
    }
}
