// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Identifies one inference request: keccak256(chainid, oracle address, sequence number).
type RequestId is bytes32;

using {eq as ==, neq as !=} for RequestId global;

function eq(RequestId a, RequestId b) pure returns (bool) {
    return RequestId.unwrap(a) == RequestId.unwrap(b);
}

function neq(RequestId a, RequestId b) pure returns (bool) {
    return RequestId.unwrap(a) != RequestId.unwrap(b);
}

library RequestIdLib {
    /// @dev Unique across chains and oracle deployments because both are hashed in.
    function derive(address oracle, uint256 sequence) internal view returns (RequestId) {
        return RequestId.wrap(keccak256(abi.encode(block.chainid, oracle, sequence)));
    }
}
