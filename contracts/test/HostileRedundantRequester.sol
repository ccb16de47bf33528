// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IRedundantConsumer} from "../redundancy/IRedundantConsumer.sol";
import {RedundantInference} from "../redundancy/RedundantInference.sol";

/// @notice Test requester of RedundantInference that attacks: its consumer callback reverts (or burns
/// all its gas), and its receive() re-enters withdraw to pull its credit twice.
contract HostileRedundantRequester is IRedundantConsumer {
    RedundantInference public immutable redundant;
    error HostileConsumer();

    uint8 public mode; // 0: revert in the callback, 1: burn all gas in the callback
    uint256 public reentries;
    bool public reentryFailed;

    constructor(address redundant_) {
        redundant = RedundantInference(payable(redundant_));
    }

    function setMode(uint8 m) external {
        mode = m;
    }

    function request(RedundantInference.JobRequest calldata r) external payable returns (uint256) {
        return redundant.request{value: msg.value}(r);
    }

    function pull() external {
        redundant.withdraw();
    }

    receive() external payable {
        if (reentries == 0) {
            reentries = 1;
            try redundant.withdraw() {
                reentries = 2;
            } catch {
                reentryFailed = true;
            }
        }
    }

    function onRedundantResult(uint256, bool, bytes32, bytes32[] calldata, bytes calldata) external view {
        if (mode == 0) revert HostileConsumer();
        uint256 x;
        while (gasleft() > 0) x = x + 1;
    }
}
