// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Receives the outcome of a redundant request (contracts/redundancy/RedundantInference.sol).
interface IRedundantConsumer {
    /// @param jobId the redundant request
    /// @param agreed true when every counted answer has the same output hash, or all agree within the model's
    /// τ_out (RedundantInference.decide): then `outputHash` is the first counted answer's and `output` its bytes
    /// when the deliverer supplied them, else empty; false: the answers disagree, `outputHash` is zero and
    /// `outputHashes` says what each distinct worker answered
    /// @param outputHashes every counted answer's output hash, one per distinct attested worker
    function onRedundantResult(uint256 jobId, bool agreed, bytes32 outputHash, bytes32[] calldata outputHashes, bytes calldata output)
        external;
}
