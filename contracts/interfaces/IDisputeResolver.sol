// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RequestId} from "../types/RequestId.sol";

/// @notice A per-model dispute resolver (arbiter, zk proof, one-step fraud proof). The oracle calls
/// `onDisputeOpened` when a result is challenged; the resolver later calls
/// `IInferenceOracle.resolveDispute`. If it has not ruled by the returned deadline, the returned
/// default outcome applies, so no dispute can stay open forever.
interface IDisputeResolver {
    struct DisputeContext {
        RequestId requestId;
        bytes32 modelHash;
        bytes32 inputHash;
        bytes32 outputHash;
        bytes32 traceRoot;
        address worker;
        address challenger;
    }

    /// @return duration seconds the resolver needs before the default outcome applies
    /// @return workerAtFaultByDefault the outcome if the resolver has not ruled by then
    function onDisputeOpened(DisputeContext calldata ctx)
        external
        returns (uint64 duration, bool workerAtFaultByDefault);
}
