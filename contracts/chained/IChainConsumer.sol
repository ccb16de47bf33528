// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Implemented by contracts that request chains from ChainedInference and want the last step's
/// output pushed to them. Called with exactly the chain's `consumerGas`; a revert or running out of gas
/// is recorded (`ChainView.callbackSucceeded`) and never blocks the chain's settlement.
interface IChainConsumer {
    /// @notice The chain's last step was fulfilled. `output` is its canonical tensor encoding, or empty when
    /// it was too large to deliver inline (then fetch it by `outputHash` from the blob store).
    function onChainResult(uint256 chainId, bytes32 outputHash, bytes calldata output) external;
}
