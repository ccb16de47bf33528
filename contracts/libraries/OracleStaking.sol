// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {StakeLedger} from "./StakeLedger.sol";

/// @notice The oracle's staking entry points (register, add stake, rotate the signer key, unbond,
/// withdraw), over StakeLedger's rules. Linked library: its external functions run in the oracle's
/// storage (DELEGATECALL); the oracle passes the caller and the amounts, and sends ether itself.
library OracleStaking {
    using StakeLedger for StakeLedger.Worker;

    function register(
        mapping(address => StakeLedger.Worker) storage workers,
        mapping(address => address) storage operatorOf,
        address operator,
        address signer,
        uint256 amount,
        uint256 minStake
    ) external {
        StakeLedger.Worker storage w = workers[operator];
        // INVARIANT: one registration per operator.
        if (w.isRegistered()) revert IInferenceOracle.StakeWorkerAlreadyRegistered(operator);
        _checkSignerFree(operatorOf, signer);
        // INVARIANT: a worker starts with at least the minimum stake.
        if (amount < minStake) revert IInferenceOracle.StakeBelowMinimum(operator, amount, minStake);
        w.signer = signer;
        operatorOf[signer] = operator;
        w.add(amount);
        emit IInferenceOracle.WorkerRegistered(operator, signer, amount);
    }

    function addStake(mapping(address => StakeLedger.Worker) storage workers, address operator, uint256 amount) external {
        uint256 stake = _registered(workers, operator).add(amount);
        emit IInferenceOracle.StakeAdded(operator, amount, stake);
    }

    function setSigner(
        mapping(address => StakeLedger.Worker) storage workers,
        mapping(address => address) storage operatorOf,
        address operator,
        address signer
    ) external {
        StakeLedger.Worker storage w = _registered(workers, operator);
        _checkSignerFree(operatorOf, signer);
        address previous = w.signer;
        delete operatorOf[previous];
        w.signer = signer;
        operatorOf[signer] = operator;
        emit IInferenceOracle.SignerChanged(operator, previous, signer);
    }

    function requestUnbond(mapping(address => StakeLedger.Worker) storage workers, address operator, uint256 amount, uint64 readyAt)
        external
    {
        _registered(workers, operator).requestUnbond(operator, amount, readyAt);
        emit IInferenceOracle.UnbondRequested(operator, amount, readyAt);
    }

    /// @return amount the unbonded stake, now out of the ledger; the oracle sends it
    function withdrawStake(mapping(address => StakeLedger.Worker) storage workers, address operator, uint64 now_)
        external
        returns (uint256 amount)
    {
        amount = _registered(workers, operator).withdrawUnbonded(operator, now_);
        emit IInferenceOracle.StakeWithdrawn(operator, amount);
    }

    /// @notice The worker as one struct (IInferenceOracle.getWorker).
    function view_(mapping(address => StakeLedger.Worker) storage workers, address operator)
        external
        view
        returns (IInferenceOracle.WorkerView memory v)
    {
        StakeLedger.Worker storage w = workers[operator];
        v.signer = w.signer;
        v.stake = w.stake;
        v.locked = w.locked;
        v.unbonding = w.unbonding;
        v.unbondingReadyAt = w.unbondingReadyAt;
        v.openResults = w.openResults;
    }

    function _registered(mapping(address => StakeLedger.Worker) storage workers, address operator)
        private
        view
        returns (StakeLedger.Worker storage w)
    {
        w = workers[operator];
        // INVARIANT: stake operations need a registered worker.
        if (!w.isRegistered()) revert IInferenceOracle.StakeWorkerNotRegistered(operator);
    }

    function _checkSignerFree(mapping(address => address) storage operatorOf, address signer) private view {
        // INVARIANT: a signer key belongs to at most one operator, and zero is never a signer.
        if (signer == address(0) || operatorOf[signer] != address(0)) revert IInferenceOracle.StakeSignerInUse(signer);
    }
}
