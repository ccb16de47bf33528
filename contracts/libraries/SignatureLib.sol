// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice EIP-712 digests and strict ECDSA recovery (65-byte signatures, low s, v in {27, 28}), so a
/// signature has exactly one valid encoding and cannot be replayed in a malleated form.
library SignatureLib {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    /// @dev secp256k1n / 2: signatures with a larger s have a twin (n - s) and are refused.
    uint256 internal constant HALF_CURVE_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    function domainSeparator(bytes32 nameHash, bytes32 versionHash, address verifyingContract)
        internal
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, nameHash, versionHash, block.chainid, verifyingContract));
    }

    /// @notice keccak256("\x19\x01" || domainSeparator || structHash)
    function typedDataDigest(bytes32 separator, bytes32 structHash) internal pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, hex"1901")
            mstore(add(p, 2), separator)
            mstore(add(p, 34), structHash)
            digest := keccak256(p, 66)
        }
    }

    /// @notice The signer of `digest`, or address(0) when the signature is malformed, malleable or invalid.
    function recover(bytes32 digest, bytes calldata signature) internal view returns (address signer) {
        if (signature.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint256 v;
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 32))
            v := byte(0, calldataload(add(signature.offset, 64)))
        }
        if (uint256(s) > HALF_CURVE_ORDER) return address(0);
        if (v != 27 && v != 28) return address(0);
        // The ecrecover precompile (address 1), called on scratch memory (restored after): it returns
        // nothing for an invalid signature, and then `signer` stays zero.
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, digest)
            mstore(add(p, 32), v)
            mstore(add(p, 64), r)
            mstore(add(p, 96), s)
            mstore(0x00, 0)
            if staticcall(gas(), 1, p, 128, 0x00, 32) { signer := mload(0x00) }
        }
    }
}
