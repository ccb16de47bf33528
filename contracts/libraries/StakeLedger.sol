// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Assembly reads a worker's two amount slots as words so submitBatch touches each once; measured in bench/gas.ts.
// solhint-disable no-inline-assembly

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

    /// @notice Slots 1 (stake low 128 bits, unbonding high 128) and 2 (locked low 128 bits,
    /// openResults the next 64) as words: submitBatch keeps them in memory for the worker it is
    /// serving, so a run of that worker's results reads them once and writes slot 2 once (`storeLocks`).
    function amountWords(Worker storage w) internal view returns (uint256 slot1, uint256 slot2) {
        assembly ("memory-safe") {
            slot1 := sload(add(w.slot, 1))
            slot2 := sload(add(w.slot, 2))
        }
    }

    /// @notice Returns the abi-encoded error why a worker whose slots are `slot1` and `slot2` cannot back
    /// a result bond, or empty.
    function canBackError(address operator, uint256 slot1, uint256 slot2, uint256 minStake, uint256 bond)
        internal
        pure
        returns (bytes memory err)
    {
        uint256 stake = slot1 & type(uint128).max;
        uint256 unbonding = slot1 >> 128;
        uint256 locked = slot2 & type(uint128).max;
        // Cannot underflow: locked + unbonding <= stake (library invariant).
        unchecked {
            if (stake - unbonding < minStake) {
                return abi.encodeWithSelector(IInferenceOracle.StakeBelowMinimum.selector, operator, stake - unbonding, minStake);
            }
            uint256 freeStake = stake - unbonding - locked;
            if (freeStake < bond) {
                return abi.encodeWithSelector(IInferenceOracle.StakeInsufficientFree.selector, operator, freeStake, bond);
            }
        }
    }

    /// @notice Slot 2 with one more result bond locked: `locked + bond` and `openResults + 1`.
    /// @dev Caller has checked canBackError: locked + bond <= stake < 2^128, and openResults counts
    /// results, far below 2^64, so neither field overflows into the next.
    function withLock(uint256 slot2, uint256 bond) internal pure returns (uint256) {
        unchecked {
            return slot2 + bond + (uint256(1) << 128);
        }
    }

    /// @notice Writes slot 2 as `withLock` left it.
    function storeLocks(Worker storage w, uint256 slot2) internal {
        assembly ("memory-safe") {
            sstore(add(w.slot, 2), slot2)
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
