// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IZkVerifier} from "../interfaces/IZkVerifier.sol";

/// @notice TEST ONLY, NOT A ZK VERIFIER: accepts the "proof" keccak256(abi.encode(modelHash, inputHash,
/// outputHash)), which anyone can compute. It exists to test the oracle's ZK-tier plumbing until the
/// Groth16 adapter lands. Never approve it in a registry that holds real value.
contract TestZkVerifier is IZkVerifier {
    function verifyInference(bytes32 modelHash, bytes32 inputHash, bytes32 outputHash, bytes calldata proof)
        external
        pure
        returns (bool)
    {
        return proof.length == 32 && bytes32(proof) == keccak256(abi.encode(modelHash, inputHash, outputHash));
    }
}
