// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Float64} from "../canonical/Float64.sol";

/// @title OutputAgreement
/// @notice Whether two workers' outputs (canonical tensor encodings, libraries/TensorHash.sol, or bundles of
/// named tensors) agree within a model's τ_out, element by element, with the semantics of
/// dispute/OutputTolerance.sol `within`: float elements (1 float32, 10 float16, 11 double, widened exactly to
/// binary64) agree when both are NaN, or both are the same infinity, or |a − b| ≤ abs + rel·|b| evaluated in
/// binary64, AND the same with a and b swapped (the relative term is one-sided: agreement is checked both
/// ways, so the order of the answers never matters). Integer and bool elements agree only when equal. Two
/// tensors of different dtype or shape never agree; two bundles agree when they name the same tensors in the
/// same order and every pair agrees. The encodings must already be well-formed (the caller checked their
/// hashes with TensorHash.tryHash, which validates them).
/// @dev Cost is linear in the element count (a few thousand gas per float element): meant for the small
/// outputs that are delivered inline (a classifier's logits), not for megabyte tensors.
library OutputAgreement {
    using Float64 for uint64;

    uint256 private constant HEADER_FIXED_BYTES = 8;
    bytes4 private constant BUNDLE_MAGIC = 0x56494f42; // "VIOB"

    /// @notice A range read past an encoding's end (a malformed encoding; callers validate first).
    error OutputAgreementOutOfRange(uint256 at, uint256 length, uint256 size);

    /// @notice τ_out as binary64 bit patterns: |w − c| ≤ abs + rel·|c|.
    struct Tau {
        uint64 abs;
        uint64 rel;
    }

    /// @notice Whether the encodings `a` and `b` agree within (abs, rel) (binary64 bit patterns), both ways.
    function agree(bytes memory a, bytes memory b, uint64 abs_, uint64 rel) internal pure returns (bool) {
        Tau memory tau = Tau(abs_, rel);
        if (_isBundle(a) || _isBundle(b)) {
            if (!_isBundle(a) || !_isBundle(b)) return false;
            return _bundlesAgree(a, b, tau);
        }
        return a.length == b.length && _tensorsAgree(a, b, 0, 0, a.length, tau);
    }

    /// @notice OutputTolerance.within: w within (abs, rel) of c, in binary64.
    function within(uint64 w, uint64 c, uint64 abs_, uint64 rel) internal pure returns (bool) {
        if (w.isNaN() || c.isNaN()) return w.isNaN() && c.isNaN();
        if (w.isInf() || c.isInf()) return w == c;
        return w.sub(c).abs().le(abs_.add(rel.mul(c.abs())));
    }

    function _isBundle(bytes memory x) private pure returns (bool) {
        return x.length >= 4 && bytes4(_word(x, 0)) == BUNDLE_MAGIC;
    }

    /// @dev Bundle: "VIOB" | version | count n | 0 | 0 | n x (L | name (L bytes) | uint32 BE length T | tensor (T bytes)).
    function _bundlesAgree(bytes memory a, bytes memory b, Tau memory tau) private pure returns (bool) {
        uint256 n = uint8(a[5]);
        if (uint8(b[5]) != n) return false;
        uint256 pa = HEADER_FIXED_BYTES;
        uint256 pb = HEADER_FIXED_BYTES;
        bool ok;
        for (uint256 i = 0; i < n; ++i) {
            (ok, pa, pb) = _entryAgree(a, pa, b, pb, tau);
            if (!ok) return false;
        }
        return true;
    }

    /// @dev One bundle entry of each at a[pa] and b[pb]: the same name and agreeing tensors; returns where the next entries start.
    function _entryAgree(bytes memory a, uint256 pa, bytes memory b, uint256 pb, Tau memory tau) private pure returns (bool, uint256, uint256) {
        uint256 nameLength = uint8(a[pa]);
        if (uint8(b[pb]) != nameLength || _hashRange(a, pa + 1, nameLength) != _hashRange(b, pb + 1, nameLength)) return (false, 0, 0);
        pa += 5 + nameLength;
        pb += 5 + nameLength;
        uint256 length = _beUint32(a, pa - 4);
        if (_beUint32(b, pb - 4) != length || !_tensorsAgree(a, b, pa, pb, length, tau)) return (false, 0, 0);
        return (true, pa + length, pb + length);
    }

    /// @dev The tensors a[offA : offA + len] and b[offB : offB + len] (each a well-formed VIOT encoding).
    function _tensorsAgree(bytes memory a, bytes memory b, uint256 offA, uint256 offB, uint256 len, Tau memory tau) private pure returns (bool) {
        uint256 header = HEADER_FIXED_BYTES + 4 * uint256(uint8(a[offA + 6]));
        // Same dtype, rank and dims: the headers are byte-equal.
        if (_hashRange(a, offA, header) != _hashRange(b, offB, header)) return false;
        uint8 dtype = uint8(a[offA + 5]);
        uint256 size = dtype == 1 ? 4 : dtype == 10 ? 2 : dtype == 11 ? 8 : 0;
        // Integer and bool dtypes are exact.
        if (size == 0) return _hashRange(a, offA + header, len - header) == _hashRange(b, offB + header, len - header);
        for (uint256 p = header; p < len; p += size) {
            uint256 xa = _leUint(a, offA + p, size);
            uint256 xb = _leUint(b, offB + p, size);
            // Bit-equal elements agree (the common case between honest runtimes): no arithmetic.
            if (xa != xb && !withinBothWays(_float(dtype, xa), _float(dtype, xb), tau.abs, tau.rel)) return false;
        }
        return true;
    }

    /// @notice within(x, y) && within(y, x), with one subtraction: |x − y| is the same both ways (RNE is
    /// symmetric) and abs + rel·|c| grows with |c| (rounding is monotone), so both hold exactly when
    /// |x − y| ≤ abs + rel·min(|x|, |y|).
    function withinBothWays(uint64 x, uint64 y, uint64 abs_, uint64 rel) internal pure returns (bool) {
        // INVARIANT: agreement is symmetric: each element is within τ_out of the other, both ways.
        if (x.isNaN() || y.isNaN()) return x.isNaN() && y.isNaN();
        if (x.isInf() || y.isInf()) return x == y;
        uint64 ax = x.abs();
        uint64 ay = y.abs();
        return x.sub(y).abs().le(abs_.add(rel.mul(ax.lt(ay) ? ax : ay)));
    }

    function _float(uint8 dtype, uint256 bits) private pure returns (uint64) {
        if (dtype == 1) return Float64.fromFp32(uint32(bits));
        if (dtype == 10) return Float64.fromFp16(uint16(bits));
        return uint64(bits);
    }

    function _word(bytes memory x, uint256 at) private pure returns (bytes32 w) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            w := mload(add(add(x, 32), at))
        }
    }

    /// @dev Little-endian unsigned integer of `size` bytes at x[at]; the caller keeps at + size within x.
    function _leUint(bytes memory x, uint256 at, uint256 size) private pure returns (uint256 v) {
        uint256 w = uint256(_word(x, at));
        for (uint256 i = 0; i < size; ++i) v |= ((w >> (248 - 8 * i)) & 0xff) << (8 * i);
    }

    /// @dev Big-endian uint32 at x[at] (type(uint256).max past x's end: never a real length).
    function _beUint32(bytes memory x, uint256 at) private pure returns (uint256) {
        if (at + 4 > x.length) return type(uint256).max;
        return uint256(_word(x, at)) >> 224;
    }

    /// @dev keccak256 of x[at : at + len] (reverts past x's end).
    function _hashRange(bytes memory x, uint256 at, uint256 len) private pure returns (bytes32 h) {
        if (at + len > x.length) revert OutputAgreementOutOfRange(at, len, x.length);
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            h := keccak256(add(add(x, 32), at), len)
        }
    }
}
