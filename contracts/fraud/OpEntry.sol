// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {F, SoftFloat} from "./SoftFloat.sol";
import {Operand} from "./FraudTypes.sol";

/// @title OpEntry
/// @notice Parses encodeOperatorEntry (protocol/commitment.ts, docs/OPTIMISTIC.md) and reads operand
/// elements out of proven chunks. All entry integers are big-endian; tensor data is little-endian.
library OpEntry {
    uint8 internal constant SOURCE_ABSENT = 0;
    uint8 internal constant SOURCE_INPUT = 1;
    uint8 internal constant SOURCE_WEIGHT = 2;
    uint8 internal constant SOURCE_TRACE = 3;

    uint8 internal constant FLOAT = 1;
    uint8 internal constant UINT8 = 2;
    uint8 internal constant INT8 = 3;
    uint8 internal constant UINT16 = 4;
    uint8 internal constant INT16 = 5;
    uint8 internal constant INT32 = 6;
    uint8 internal constant INT64 = 7;
    uint8 internal constant BOOL = 9;
    uint8 internal constant UINT32 = 12;
    uint8 internal constant UINT64 = 13;

    uint8 internal constant ATTR_FLOAT = 1;
    uint8 internal constant ATTR_INT = 2;
    uint8 internal constant ATTR_STRING = 3;
    uint8 internal constant ATTR_TENSOR = 4;
    uint8 internal constant ATTR_FLOATS = 6;
    uint8 internal constant ATTR_INTS = 7;
    uint8 internal constant ATTR_STRINGS = 8;

    error EntryMalformed(uint256 offset);
    error EntryAttributeType(string name, uint8 found);
    error OperandMissingChunk(uint256 operand, uint256 chunk);
    error OperandMissing(uint256 operand);
    error OperandDtypeUnsupported(uint256 operand, uint8 dtype);
    error OperandNonFinite(uint256 operand, uint256 element);

    struct IO {
        uint8 source;
        uint32 index;
        uint8 dtype;
        uint256[] shape;
    }

    struct Entry {
        uint32 index;
        string opType;
        string domain;
        uint16 opset;
        uint256 attrStart;
        uint256 attrCount;
        IO[] inputs;
        IO[] outputs;
    }

    // ---- raw big-endian reads with bounds checks ----

    function readUint(bytes memory b, uint256 off, uint256 n) internal pure returns (uint256 v) {
        if (off + n > b.length) revert EntryMalformed(off);
        assembly {
            v := shr(sub(256, mul(8, n)), mload(add(add(b, 32), off)))
        }
    }

    function readString(bytes memory b, uint256 off) internal pure returns (string memory s, uint256 next) {
        uint256 len = readUint(b, off, 2);
        if (off + 2 + len > b.length) revert EntryMalformed(off);
        bytes memory out = new bytes(len);
        for (uint256 i = 0; i < len; ++i) out[i] = b[off + 2 + i];
        return (string(out), off + 2 + len);
    }

    function readIO(bytes memory b, uint256 off, bool isInput) private pure returns (IO memory io, uint256 next) {
        if (isInput) {
            io.source = uint8(readUint(b, off, 1));
            off += 1;
        } else {
            io.source = SOURCE_TRACE;
        }
        io.index = uint32(readUint(b, off, 4));
        io.dtype = uint8(readUint(b, off + 4, 1));
        uint256 rank = readUint(b, off + 5, 1);
        off += 6;
        io.shape = new uint256[](rank);
        for (uint256 i = 0; i < rank; ++i) io.shape[i] = readUint(b, off + 4 * i, 4);
        next = off + 4 * rank;
    }

    /// @notice Length in bytes of an attribute's value of type `t` at `off`.
    function attrValueLength(bytes memory b, uint256 off, uint8 t) private pure returns (uint256) {
        if (t == ATTR_FLOAT) return 4;
        if (t == ATTR_INT) return 8;
        if (t == ATTR_STRING) return 4 + readUint(b, off, 4);
        if (t == ATTR_TENSOR) return 32;
        if (t == ATTR_FLOATS) return 4 + 4 * readUint(b, off, 4);
        if (t == ATTR_INTS) return 4 + 8 * readUint(b, off, 4);
        if (t == ATTR_STRINGS) {
            uint256 n = readUint(b, off, 4);
            uint256 p = off + 4;
            for (uint256 i = 0; i < n; ++i) p += 4 + readUint(b, p, 4);
            return p - off;
        }
        revert EntryMalformed(off);
    }

    function parse(bytes memory b) internal pure returns (Entry memory e) {
        if (readUint(b, 0, 1) != 1) revert EntryMalformed(0);
        e.index = uint32(readUint(b, 1, 4));
        uint256 off;
        (e.opType, off) = readString(b, 5);
        (e.domain, off) = readString(b, off);
        e.opset = uint16(readUint(b, off, 2));
        e.attrCount = readUint(b, off + 2, 2);
        off += 4;
        e.attrStart = off;
        for (uint256 i = 0; i < e.attrCount; ++i) {
            off += 2 + readUint(b, off, 2);
            uint8 t = uint8(readUint(b, off, 1));
            off += 1;
            off += attrValueLength(b, off, t);
        }
        uint256 n = readUint(b, off, 2);
        off += 2;
        e.inputs = new IO[](n);
        for (uint256 i = 0; i < n; ++i) (e.inputs[i], off) = readIO(b, off, true);
        n = readUint(b, off, 2);
        off += 2;
        e.outputs = new IO[](n);
        for (uint256 i = 0; i < n; ++i) (e.outputs[i], off) = readIO(b, off, false);
        if (off != b.length) revert EntryMalformed(off);
    }

    function isOp(Entry memory e, string memory name) internal pure returns (bool) {
        return keccak256(bytes(e.opType)) == keccak256(bytes(name));
    }

    /// @notice Finds attribute `name`; returns its type and the offset of its value (type 0: absent).
    function attr(bytes memory b, Entry memory e, string memory name) internal pure returns (uint8 t, uint256 valueOff) {
        bytes32 want = keccak256(bytes(name));
        uint256 off = e.attrStart;
        for (uint256 i = 0; i < e.attrCount; ++i) {
            string memory n;
            (n, off) = readString(b, off);
            t = uint8(readUint(b, off, 1));
            off += 1;
            if (keccak256(bytes(n)) == want) return (t, off);
            off += attrValueLength(b, off, t);
        }
        return (0, 0);
    }

    function attrInt(bytes memory b, Entry memory e, string memory name, int256 dflt) internal pure returns (int256) {
        (uint8 t, uint256 off) = attr(b, e, name);
        if (t == 0) return dflt;
        if (t != ATTR_INT) revert EntryAttributeType(name, t);
        return int256(int64(uint64(readUint(b, off, 8))));
    }

    function attrFloat(bytes memory b, Entry memory e, string memory name, uint32 dfltBits) internal pure returns (F) {
        (uint8 t, uint256 off) = attr(b, e, name);
        if (t == 0) return SoftFloat.fromF32(dfltBits);
        if (t != ATTR_FLOAT) revert EntryAttributeType(name, t);
        return SoftFloat.fromF32(uint32(readUint(b, off, 4)));
    }

    function attrFloatOr(bytes memory b, Entry memory e, string memory name) internal pure returns (bool found, F v) {
        (uint8 t, uint256 off) = attr(b, e, name);
        if (t == 0) return (false, v);
        if (t != ATTR_FLOAT) revert EntryAttributeType(name, t);
        return (true, SoftFloat.fromF32(uint32(readUint(b, off, 4))));
    }

    /// @notice An ints attribute, or `fill` repeated `n` times when absent.
    function attrInts(bytes memory b, Entry memory e, string memory name, uint256 n, int256 fill) internal pure returns (int256[] memory out, bool found) {
        (uint8 t, uint256 off) = attr(b, e, name);
        if (t == 0) {
            out = new int256[](n);
            for (uint256 i = 0; i < n; ++i) out[i] = fill;
            return (out, false);
        }
        if (t != ATTR_INTS) revert EntryAttributeType(name, t);
        uint256 len = readUint(b, off, 4);
        out = new int256[](len);
        for (uint256 i = 0; i < len; ++i) out[i] = int256(int64(uint64(readUint(b, off + 4 + 8 * i, 8))));
        return (out, true);
    }

    /// @notice True when a string attribute `name` is absent or equals `value`.
    function attrStringIs(bytes memory b, Entry memory e, string memory name, string memory value) internal pure returns (bool) {
        (uint8 t, uint256 off) = attr(b, e, name);
        if (t == 0) return true;
        if (t != ATTR_STRING) revert EntryAttributeType(name, t);
        uint256 len = readUint(b, off, 4);
        bytes memory v = bytes(value);
        if (len != v.length) return false;
        for (uint256 i = 0; i < len; ++i) if (b[off + 4 + i] != v[i]) return false;
        return true;
    }

    // ---- shapes ----

    function numel(uint256[] memory shape) internal pure returns (uint256 n) {
        n = 1;
        for (uint256 i = 0; i < shape.length; ++i) n *= shape[i];
    }

    function numelFrom(uint256[] memory shape, uint256 from) internal pure returns (uint256 n) {
        n = 1;
        for (uint256 i = from; i < shape.length; ++i) n *= shape[i];
    }

    /// @notice Flat index into `inShape` of flat output index `flat` of `outShape` (numpy broadcasting).
    function broadcastIndex(uint256[] memory outShape, uint256[] memory inShape, uint256 flat) internal pure returns (uint256 idx) {
        uint256 offset = outShape.length - inShape.length;
        uint256 outStride = 1;
        uint256 inStride = 1;
        for (uint256 i = outShape.length; i > 0; --i) {
            uint256 d = i - 1;
            uint256 coord = (flat / outStride) % outShape[d];
            outStride *= outShape[d];
            if (d >= offset) {
                uint256 inDim = inShape[d - offset];
                if (inDim != 1) idx += coord * inStride;
                inStride *= inDim;
            }
        }
    }

    function elementSize(uint8 dtype) internal pure returns (uint256) {
        if (dtype == UINT8 || dtype == INT8 || dtype == BOOL) return 1;
        if (dtype == UINT16 || dtype == INT16) return 2;
        if (dtype == FLOAT || dtype == INT32 || dtype == UINT32) return 4;
        if (dtype == INT64 || dtype == UINT64) return 8;
        return 0;
    }

    // ---- operand elements ----

    /// @notice `size` little-endian bytes at element `k` of operand `j` (chunks ascending by index).
    /// @dev The proven chunk `chunk` of operand `j` (binary search: chunks are ascending).
    function chunkAt(Operand[] calldata ops, uint256 j, uint256 chunk) private pure returns (bytes calldata) {
        if (j >= ops.length) revert OperandMissing(j);
        uint32[] calldata idx = ops[j].index;
        uint256 lo = 0;
        uint256 hi = idx.length;
        unchecked {
            while (lo < hi) {
                uint256 mid = (lo + hi) >> 1;
                if (idx[mid] < chunk) lo = mid + 1;
                else hi = mid;
            }
        }
        if (lo == idx.length || idx[lo] != chunk) revert OperandMissingChunk(j, chunk);
        return ops[j].data[lo];
    }

    function readRaw(Operand[] calldata ops, uint256 j, uint256 size, uint256 k) internal pure returns (uint256 v) {
        uint256 byteOff = k * size;
        bytes calldata d = chunkAt(ops, j, byteOff >> 10);
        uint256 o = byteOff & 1023;
        if (o + size > d.length) revert OperandMissingChunk(j, byteOff >> 10);
        uint256 w;
        assembly {
            w := shr(sub(256, shl(3, size)), calldataload(add(d.offset, o)))
        }
        return littleEndian(w, size);
    }

    /// @dev Reverses the low `size` bytes of `w`.
    function littleEndian(uint256 w, uint256 size) private pure returns (uint256 v) {
        unchecked {
            for (uint256 i = 0; i < size; ++i) v |= ((w >> (8 * (size - 1 - i))) & 0xff) << (8 * i);
        }
    }

    /// @notice Integer element `k` of operand `j` of dtype `dtype` (signed types sign-extended).
    function readInt(Operand[] calldata ops, uint256 j, uint8 dtype, uint256 k) internal pure returns (int256) {
        uint256 size = elementSize(dtype);
        if (size == 0 || dtype == FLOAT) revert OperandDtypeUnsupported(j, dtype);
        uint256 v = readRaw(ops, j, size, k);
        if (dtype == INT8) return int256(int8(uint8(v)));
        if (dtype == INT16) return int256(int16(uint16(v)));
        if (dtype == INT32) return int256(int32(uint32(v)));
        if (dtype == INT64) return int256(int64(uint64(v)));
        return int256(v);
    }

    /// @notice Element `k` of operand `j` as a soft float (exact for float32 and integers).
    function read(Operand[] calldata ops, uint256 j, uint8 dtype, uint256 k) internal pure returns (F) {
        if (dtype == FLOAT) {
            uint32 bits = uint32(readRaw(ops, j, 4, k));
            if (!SoftFloat.isFinite32(bits)) revert OperandNonFinite(j, k);
            return SoftFloat.fromF32(bits);
        }
        return SoftFloat.fromInt(readInt(ops, j, dtype, k));
    }

    /// @notice Decodes a claimed output element (raw little-endian bytes).
    function decodeClaimed(bytes calldata raw, uint8 dtype) internal pure returns (F value, bool finite) {
        uint256 v;
        for (uint256 i = 0; i < raw.length; ++i) v |= uint256(uint8(raw[i])) << (8 * i);
        if (dtype == FLOAT) {
            if (!SoftFloat.isFinite32(uint32(v))) return (value, false);
            return (SoftFloat.fromF32(uint32(v)), true);
        }
        int256 s;
        if (dtype == INT8) s = int256(int8(uint8(v)));
        else if (dtype == INT16) s = int256(int16(uint16(v)));
        else if (dtype == INT32) s = int256(int32(uint32(v)));
        else if (dtype == INT64) s = int256(int64(uint64(v)));
        else s = int256(v);
        return (SoftFloat.fromInt(s), true);
    }
}
