// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestBook} from "./RequestBook.sol";

/// @notice Versioned protocol parameters (docs/PROTOCOL.md, "Parameters"): validation, packing, and the
/// schedule that makes a new version apply `paramsDelay` later, to new requests only. Linked library:
/// its external functions run in the oracle's storage (DELEGATECALL), so the oracle's bytecode stays
/// small; the submission hot path reads `Stored` directly (one slot per version it meets).
library OracleParams {
    /// @notice Upper bound for params.maxCallbackGasLimit, well under a block.
    uint32 internal constant CALLBACK_GAS_CEILING = 10_000_000;
    /// @notice A params change can be delayed at most this long (so the owner cannot lock params forever).
    uint32 internal constant MAX_PARAMS_DELAY = 90 days;
    /// @notice At most this many distinct workers are needed to refund a rejected request.
    uint16 internal constant MAX_REJECTION_QUORUM = 64;

    /// @dev One params version, packed so that submitting a result reads one slot for its version.
    struct Stored {
        uint96 minStake;
        uint96 resultBond;
        uint32 challengeWindow;
        uint96 challengeBond;
        uint96 minWorkerFee;
        uint32 unbondingDelay;
        uint16 relayerFeeBps;
        uint32 maxInlineInputBytes;
        uint32 maxInlineOutputBytes;
        uint32 maxCallbackGasLimit;
        uint32 paramsDelay;
        uint64 minGasPrice;
        uint16 rejectionQuorum;
        uint16 burnBps;
        uint16 tolerancePenaltyBps;
    }

    /// @dev The version in effect, and the next one with the time it takes effect (0: none pending).
    struct Schedule {
        uint32 version;
        uint32 pendingVersion;
        uint64 pendingAt;
    }

    /// @notice Stores `p` as version 1 (constructor).
    function init(mapping(uint32 => Stored) storage at, Schedule storage s, IInferenceOracle.Params memory p, uint64 now_)
        external
    {
        check(p);
        at[1] = pack(p);
        s.version = 1;
        emit IInferenceOracle.ParamsScheduled(1, p, now_);
    }

    /// @notice Schedules `p` as the next version, effective `paramsDelay` (of the version in effect) from now.
    function schedule(mapping(uint32 => Stored) storage at, Schedule storage s, IInferenceOracle.Params memory p, uint64 now_)
        external
        returns (uint32 version, uint64 effectiveAt)
    {
        check(p);
        uint32 current = effectiveVersion(s, now_);
        // A pending version that already took effect becomes the current one; one still waiting is
        // replaced (no request can have used it yet).
        s.version = current;
        // Cannot overflow: one version per scheduling transaction, far below 2^32; a uint64 time plus a uint32.
        unchecked {
            version = current + 1;
            effectiveAt = now_ + at[current].paramsDelay;
        }
        at[version] = pack(p);
        s.pendingVersion = version;
        s.pendingAt = effectiveAt;
        emit IInferenceOracle.ParamsScheduled(version, p, effectiveAt);
    }

    /// @notice The params of `version` (all zero for a version never scheduled).
    function unpack(mapping(uint32 => Stored) storage at, uint32 version) external view returns (IInferenceOracle.Params memory p) {
        Stored storage sp = at[version];
        p.minStake = sp.minStake;
        p.resultBond = sp.resultBond;
        p.challengeBond = sp.challengeBond;
        p.minWorkerFee = sp.minWorkerFee;
        p.challengeWindow = sp.challengeWindow;
        p.unbondingDelay = sp.unbondingDelay;
        p.relayerFeeBps = sp.relayerFeeBps;
        p.maxInlineInputBytes = sp.maxInlineInputBytes;
        p.maxInlineOutputBytes = sp.maxInlineOutputBytes;
        p.maxCallbackGasLimit = sp.maxCallbackGasLimit;
        p.paramsDelay = sp.paramsDelay;
        p.minGasPrice = sp.minGasPrice;
        p.rejectionQuorum = sp.rejectionQuorum;
        p.burnBps = sp.burnBps;
        p.tolerancePenaltyBps = sp.tolerancePenaltyBps;
    }

    /// @notice The version new requests get at `now_`: the pending one once its time has come.
    function effectiveVersion(Schedule storage s, uint64 now_) internal view returns (uint32) {
        uint32 pending = s.pendingVersion;
        if (pending != 0 && now_ >= s.pendingAt) return pending;
        return s.version;
    }

    function check(IInferenceOracle.Params memory p) internal pure {
        // INVARIANT: parameters keep every state reachable and every payout well defined.
        if (p.minStake == 0) revert IInferenceOracle.OracleInvalidParams("minStake is zero");
        if (p.resultBond == 0) revert IInferenceOracle.OracleInvalidParams("resultBond is zero");
        if (p.challengeBond == 0) revert IInferenceOracle.OracleInvalidParams("challengeBond is zero");
        if (p.challengeWindow == 0) revert IInferenceOracle.OracleInvalidParams("challengeWindow is zero");
        if (p.relayerFeeBps > RequestBook.BPS) revert IInferenceOracle.OracleInvalidParams("relayerFeeBps above 10000");
        if (p.maxCallbackGasLimit > CALLBACK_GAS_CEILING) {
            revert IInferenceOracle.OracleInvalidParams("maxCallbackGasLimit too high");
        }
        if (p.paramsDelay > MAX_PARAMS_DELAY) revert IInferenceOracle.OracleInvalidParams("paramsDelay too long");
        // INVARIANT: a rejected request is refunded by a finite set of workers, never by none.
        if (p.rejectionQuorum == 0 || p.rejectionQuorum > MAX_REJECTION_QUORUM) {
            revert IInferenceOracle.OracleInvalidParams("rejectionQuorum not in 1..64");
        }
        // INVARIANT: a worker never breaks even on its own proven fault (a sock challenger gets the rest back).
        if (p.burnBps == 0 || p.burnBps > RequestBook.BPS) revert IInferenceOracle.OracleInvalidParams("burnBps not in 1..10000");
        if (p.tolerancePenaltyBps > RequestBook.BPS) {
            revert IInferenceOracle.OracleInvalidParams("tolerancePenaltyBps above 10000");
        }
    }

    function pack(IInferenceOracle.Params memory p) internal pure returns (Stored memory) {
        return Stored({
            minStake: p.minStake,
            resultBond: p.resultBond,
            challengeWindow: p.challengeWindow,
            challengeBond: p.challengeBond,
            minWorkerFee: p.minWorkerFee,
            unbondingDelay: p.unbondingDelay,
            relayerFeeBps: p.relayerFeeBps,
            maxInlineInputBytes: p.maxInlineInputBytes,
            maxInlineOutputBytes: p.maxInlineOutputBytes,
            maxCallbackGasLimit: p.maxCallbackGasLimit,
            paramsDelay: p.paramsDelay,
            minGasPrice: p.minGasPrice,
            rejectionQuorum: p.rejectionQuorum,
            burnBps: p.burnBps,
            tolerancePenaltyBps: p.tolerancePenaltyBps
        });
    }
}
