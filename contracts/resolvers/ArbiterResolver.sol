// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DisputeContext, IDisputeOracle, IDisputeResolverV2, Ruling} from "../interfaces/IDisputeGame.sol";
import {RequestId} from "../types/RequestId.sol";

/// @title ArbiterResolver
/// @notice The bootstrap dispute resolver: a trusted arbiter (a multisig, say) re-runs the disputed
/// inference off chain and rules. If it does not rule within `ruleWithin`, the oracle applies
/// `defaultRuling`. Later resolvers replace trust with zk proofs or fraud games.
contract ArbiterResolver is IDisputeResolverV2 {
    event DisputeRecorded(RequestId indexed requestId, uint8 attempt, address indexed worker, bytes32 outputHash);
    event Ruled(RequestId indexed requestId, Ruling ruling, address indexed arbiter);
    event ArbiterTransferred(address indexed previousArbiter, address indexed newArbiter);

    error ArbiterOnlyOracle(address caller);
    error ArbiterOnlyArbiter(address caller);
    error ArbiterUnknownDispute(RequestId requestId);
    error ArbiterZeroAddress();
    error ArbiterInvalidRuling();

    IDisputeOracle public immutable oracle;
    uint64 public immutable ruleWithin;
    Ruling public immutable defaultRuling;
    address public arbiter;
    /// @notice When each open dispute was opened (0: none open). The disputed result is in DisputeRecorded.
    mapping(RequestId => uint256 openedAt) public openedAt;

    constructor(address oracle_, address arbiter_, uint64 ruleWithin_, Ruling defaultRuling_) {
        if (oracle_ == address(0) || arbiter_ == address(0)) revert ArbiterZeroAddress();
        if (defaultRuling_ == Ruling.None) revert ArbiterInvalidRuling();
        oracle = IDisputeOracle(oracle_);
        arbiter = arbiter_;
        ruleWithin = ruleWithin_;
        defaultRuling = defaultRuling_;
        emit ArbiterTransferred(address(0), arbiter_);
    }

    modifier onlyArbiter() {
        // INVARIANT: only the arbiter rules or hands over the role.
        if (msg.sender != arbiter) revert ArbiterOnlyArbiter(msg.sender);
        _;
    }

    /// @inheritdoc IDisputeResolverV2
    /// @dev The arbiter rules on any model (it is a trusted party: it needs nothing from the model).
    function canDispute(bytes32) external pure returns (bool) {
        return true;
    }

    /// @inheritdoc IDisputeResolverV2
    function onDisputeOpened(DisputeContext calldata ctx) external returns (uint64, Ruling) {
        // INVARIANT: only the oracle opens disputes.
        if (msg.sender != address(oracle)) revert ArbiterOnlyOracle(msg.sender);
        openedAt[ctx.requestId] = block.timestamp;
        emit DisputeRecorded(ctx.requestId, ctx.attempt, ctx.worker, ctx.outputHash);
        return (ruleWithin, defaultRuling);
    }

    /// @notice Rules on an open dispute; the oracle enforces the dispute deadline and refuses Ruling.None.
    function rule(RequestId requestId, Ruling ruling) external onlyArbiter {
        // INVARIANT: the arbiter rules only on disputes the oracle opened here, once each.
        if (openedAt[requestId] == 0) revert ArbiterUnknownDispute(requestId);
        delete openedAt[requestId];
        emit Ruled(requestId, ruling, msg.sender);
        oracle.resolveDispute(requestId, ruling);
    }

    function transferArbiter(address newArbiter) external onlyArbiter {
        if (newArbiter == address(0)) revert ArbiterZeroAddress();
        emit ArbiterTransferred(arbiter, newArbiter);
        arbiter = newArbiter;
    }
}
