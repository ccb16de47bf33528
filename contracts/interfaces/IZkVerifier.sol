// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Checks a zero-knowledge proof that outputHash = model(inputHash) for one model.
/// Implemented by adapters around generated Groth16 verifiers (ZK tier).
interface IZkVerifier {
    function verifyInference(bytes32 modelHash, bytes32 inputHash, bytes32 outputHash, bytes calldata proof)
        external
        view
        returns (bool);
}
