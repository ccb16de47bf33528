// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Identifies one inference request:
/// keccak256(abi.encode(REQUEST_TAG, chainid, oracle, sequence, modelHash, inputHash)) (docs/V2.md §3).
type RequestId is bytes32;

using {eq as ==, neq as !=} for RequestId global;

function eq(RequestId a, RequestId b) pure returns (bool) {
    return RequestId.unwrap(a) == RequestId.unwrap(b);
}

function neq(RequestId a, RequestId b) pure returns (bool) {
    return RequestId.unwrap(a) != RequestId.unwrap(b);
}

library RequestIdLib {
    /// @notice Domain tag of a request id, so an id can never be mistaken for any other hash.
    bytes32 internal constant REQUEST_TAG = keccak256("VerifiableInferenceOracle.RequestId.v2");

    /// @dev Unique across chains and oracle deployments because both are hashed in; binds the model and
    /// the input, so anything signed over a request id (a result, a rejection) names them too: a job
    /// forged with another input hash has another id.
    function derive(address oracle, uint256 sequence, bytes32 modelHash, bytes32 inputHash) internal view returns (RequestId) {
        return RequestId.wrap(keccak256(abi.encode(REQUEST_TAG, block.chainid, oracle, sequence, modelHash, inputHash)));
    }
}
