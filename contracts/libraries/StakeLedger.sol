// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";

/// @notice Worker stakes: result bonds are locked out of free stake while a result can still be
/// challenged, released on settlement and slashed on a lost dispute. Unbonding stake cannot back new
/// results but stays in `stake` (and so in the oracle's balance) until withdrawn.
/// INVARIANT (kept by every function here): locked + unbonding <= stake.
library StakeLedger {
    /// @dev Three slots, arranged so that submitting and settling a result write only slot 2.
    struct Worker {
        address signer;
        uint64 unbondingReadyAt;
        uint128 stake;
        uint128 unbonding;
        uint128 locked;
        uint64 openResults;
    }

    function isRegistered(Worker storage w) internal view returns (bool) {
        return w.signer != address(0);
    }

    /// @notice Stake that may back a new result: neither locked nor unbonding.
    function free(Worker storage w) internal view returns (uint256) {
        // Cannot underflow: locked + unbonding <= stake (library invariant).
        unchecked {
            return uint256(w.stake) - w.locked - w.unbonding;
        }
    }

    /// @notice Stake that counts towards the minimum: everything not being unbonded.
    function active(Worker storage w) internal view returns (uint256) {
        // Cannot underflow: unbonding <= stake (library invariant).
        unchecked {
            return uint256(w.stake) - w.unbonding;
        }
    }

    function add(Worker storage w, uint256 amount) internal returns (uint256 newStake) {
        // The truncating cast is exact: amount is ether held by the oracle, and all ether in existence
        // is far below 2^128. The checked addition still guards the sum.
        newStake = w.stake + uint128(amount);
        w.stake = uint128(newStake);
    }

    /// @notice Returns the abi-encoded error why `w` cannot back a result bond now, or empty, and
    /// slot 2 as read (for `lockAt`, so that locking does not read it again).
    function checkCanBack(Worker storage w, address operator, uint256 minStake, uint256 bond)
        internal
        view
        returns (bytes memory err, uint256 slot2)
    {
        // Slot 1 holds stake (low 128 bits) and unbonding (high 128), slot 2 locked (low 128): one read each.
        uint256 stake;
        uint256 unbonding;
        uint256 locked;
        assembly ("memory-safe") {
            let amounts := sload(add(w.slot, 1))
            stake := and(amounts, 0xffffffffffffffffffffffffffffffff)
            unbonding := shr(128, amounts)
            slot2 := sload(add(w.slot, 2))
            locked := and(slot2, 0xffffffffffffffffffffffffffffffff)
        }
        // Cannot underflow: locked + unbonding <= stake (library invariant).
        unchecked {
            if (stake - unbonding < minStake) {
                return (
                    abi.encodeWithSelector(IInferenceOracle.StakeBelowMinimum.selector, operator, stake - unbonding, minStake),
                    slot2
                );
            }
            uint256 freeStake = stake - unbonding - locked;
            if (freeStake < bond) {
                return (
                    abi.encodeWithSelector(IInferenceOracle.StakeInsufficientFree.selector, operator, freeStake, bond), slot2
                );
            }
        }
    }

    /// @dev Caller has checked `free(w) >= bond` with checkCanBack, which returned `slot2`, and nothing
    /// wrote the worker since. Slot 2 holds `locked` (low 128 bits) and `openResults` (the next 64):
    /// both go up in one write.
    function lockAt(Worker storage w, uint256 slot2, uint256 bond) internal {
        // Cannot overflow either field: locked + bond <= stake < 2^128 (bond <= free stake), and
        // openResults counts results, far below 2^64.
        assembly ("memory-safe") {
            sstore(add(w.slot, 2), add(slot2, add(bond, shl(128, 1))))
        }
    }

    /// @dev `bond` is the amount `lock` took for this result.
    function release(Worker storage w, uint256 bond) internal {
        w.locked -= uint128(bond);
        w.openResults -= 1;
    }

    /// @dev Takes a locked bond out of the stake entirely; the caller credits it to the beneficiary.
    function slash(Worker storage w, uint256 bond) internal {
        w.stake -= uint128(bond);
        w.locked -= uint128(bond);
        w.openResults -= 1;
    }

    function requestUnbond(Worker storage w, address operator, uint256 amount, uint64 readyAt) internal {
        uint256 available = free(w);
        // INVARIANT: only free stake can start unbonding, so locked + unbonding <= stake still holds.
        if (amount > available) revert IInferenceOracle.StakeUnbondTooLarge(operator, amount, available);
        w.unbonding += uint128(amount); // amount <= free stake < 2^128
        w.unbondingReadyAt = readyAt;
    }

    /// @return amount the unbonded stake, now removed from the ledger
    function withdrawUnbonded(Worker storage w, address operator, uint64 now_) internal returns (uint256 amount) {
        amount = w.unbonding;
        // INVARIANT: something must be unbonding before it can be withdrawn.
        if (amount == 0) revert IInferenceOracle.OracleNothingToWithdraw(operator);
        uint64 readyAt = w.unbondingReadyAt;
        // INVARIANT: unbonding stake leaves only after the unbonding delay.
        if (now_ < readyAt) revert IInferenceOracle.StakeUnbondingNotReady(operator, readyAt);
        w.stake -= uint128(amount);
        w.unbonding = 0;
        w.unbondingReadyAt = 0;
    }
}
