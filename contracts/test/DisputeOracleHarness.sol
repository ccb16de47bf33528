// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RequestId} from "../types/RequestId.sol";
import {Ruling, DisputeContext, IDisputeResolverV2, IDisputeOracle} from "../interfaces/IDisputeGame.sol";

/// @notice TEST HARNESS ONLY: the oracle side of a v2 dispute (docs/V2.md §5 "Oracle side"), reduced to what a
/// resolver sees, for testing FraudGame before InferenceOracle implements IDisputeOracle. It opens a dispute by
/// calling the resolver's onDisputeOpened, lets accounts join (the bond is not modelled), accepts exactly one
/// ruling from the request's resolver before the dispute's deadline, and applies the default ruling after it.
contract DisputeOracleHarness is IDisputeOracle {
    struct Dispute {
        address resolver;
        uint64 deadline;
        Ruling defaultRuling;
        Ruling ruling;
        uint256 rulings;
    }

    mapping(RequestId => Dispute) public disputes;
    mapping(RequestId => mapping(address => bool)) internal _joined;

    event Opened(RequestId indexed requestId, uint64 maxDuration, Ruling defaultRuling);
    event Ruled(RequestId indexed requestId, Ruling ruling);

    error HarnessNotResolver(address caller);
    error HarnessAlreadyRuled(RequestId requestId);
    error HarnessPastDeadline(uint64 deadline);
    error HarnessNotOpen(RequestId requestId);

    function open(address resolver, DisputeContext calldata ctx) external {
        (uint64 maxDuration, Ruling def) = IDisputeResolverV2(resolver).onDisputeOpened(ctx);
        disputes[ctx.requestId] = Dispute(resolver, uint64(block.timestamp) + maxDuration, def, Ruling.None, 0);
        _joined[ctx.requestId][msg.sender] = true;
        emit Opened(ctx.requestId, maxDuration, def);
    }

    function join(RequestId requestId) external {
        Dispute storage d = disputes[requestId];
        if (d.resolver == address(0) || d.ruling != Ruling.None) revert HarnessNotOpen(requestId);
        _joined[requestId][msg.sender] = true;
    }

    function resolveDispute(RequestId requestId, Ruling ruling) external {
        Dispute storage d = disputes[requestId];
        if (msg.sender != d.resolver) revert HarnessNotResolver(msg.sender);
        if (d.ruling != Ruling.None) revert HarnessAlreadyRuled(requestId);
        if (block.timestamp > d.deadline) revert HarnessPastDeadline(d.deadline);
        d.ruling = ruling;
        d.rulings += 1;
        emit Ruled(requestId, ruling);
    }

    /// @notice After the deadline with no ruling: the resolver's default.
    function applyDefault(RequestId requestId) external {
        Dispute storage d = disputes[requestId];
        if (d.ruling != Ruling.None) revert HarnessAlreadyRuled(requestId);
        if (block.timestamp <= d.deadline) revert HarnessPastDeadline(d.deadline);
        d.ruling = d.defaultRuling;
        emit Ruled(requestId, d.ruling);
    }

    function isChallenger(RequestId requestId, address account) external view returns (bool) {
        return _joined[requestId][account];
    }
}
