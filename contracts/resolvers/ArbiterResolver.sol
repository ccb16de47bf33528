// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IDisputeResolver} from "../interfaces/IDisputeResolver.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";

/// @title ArbiterResolver
/// @notice The bootstrap dispute resolver: a trusted arbiter (a multisig, say) re-runs the disputed
/// inference off chain and rules. If it does not rule within `ruleWithin`, the oracle applies
/// `workerAtFaultByDefault`. Later resolvers replace trust with zk proofs or one-step fraud proofs.
contract ArbiterResolver is IDisputeResolver {
    event DisputeRecorded(
        RequestId indexed requestId, address indexed worker, address indexed challenger, bytes32 outputHash, bytes32 traceRoot
    );
    event Ruled(RequestId indexed requestId, bool workerAtFault, address indexed arbiter);
    event ArbiterTransferred(address indexed previousArbiter, address indexed newArbiter);

    error ArbiterOnlyOracle(address caller);
    error ArbiterOnlyArbiter(address caller);
    error ArbiterUnknownDispute(RequestId requestId);
    error ArbiterZeroAddress();

    IInferenceOracle public immutable oracle;
    uint64 public immutable ruleWithin;
    bool public immutable workerAtFaultByDefault;
    address public arbiter;
    /// @notice When each open dispute was opened (0: none open). The disputed result is in DisputeRecorded.
    mapping(RequestId => uint256 openedAt) public openedAt;

    constructor(address oracle_, address arbiter_, uint64 ruleWithin_, bool workerAtFaultByDefault_) {
        if (oracle_ == address(0) || arbiter_ == address(0)) revert ArbiterZeroAddress();
        oracle = IInferenceOracle(oracle_);
        arbiter = arbiter_;
        ruleWithin = ruleWithin_;
        workerAtFaultByDefault = workerAtFaultByDefault_;
        emit ArbiterTransferred(address(0), arbiter_);
    }

    modifier onlyArbiter() {
        // INVARIANT: only the arbiter rules or hands over the role.
        if (msg.sender != arbiter) revert ArbiterOnlyArbiter(msg.sender);
        _;
    }

    /// @inheritdoc IDisputeResolver
    function onDisputeOpened(DisputeContext calldata ctx) external returns (uint64, bool) {
        // INVARIANT: only the oracle opens disputes.
        if (msg.sender != address(oracle)) revert ArbiterOnlyOracle(msg.sender);
        openedAt[ctx.requestId] = block.timestamp;
        emit DisputeRecorded(ctx.requestId, ctx.worker, ctx.challenger, ctx.outputHash, ctx.traceRoot);
        return (ruleWithin, workerAtFaultByDefault);
    }

    /// @notice Rules on an open dispute; the oracle enforces the dispute deadline.
    function rule(RequestId requestId, bool workerAtFault) external onlyArbiter {
        // INVARIANT: the arbiter rules only on disputes the oracle opened here, once each.
        if (openedAt[requestId] == 0) revert ArbiterUnknownDispute(requestId);
        delete openedAt[requestId];
        emit Ruled(requestId, workerAtFault, msg.sender);
        oracle.resolveDispute(requestId, workerAtFault);
    }

    function transferArbiter(address newArbiter) external onlyArbiter {
        if (newArbiter == address(0)) revert ArbiterZeroAddress();
        emit ArbiterTransferred(arbiter, newArbiter);
        arbiter = newArbiter;
    }
}
