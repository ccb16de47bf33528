// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Test-only hostile subscription consumer: reverts, gas burning, return bombs and reentry are what it is for.
// solhint-disable gas-custom-errors, no-inline-assembly, reason-string, no-empty-blocks, avoid-low-level-calls

import {ISubscriptionConsumer} from "../subscriptions/ISubscriptionConsumer.sol";
import {InferenceSubscriptions} from "../subscriptions/InferenceSubscriptions.sol";
import {RequestId} from "../types/RequestId.sol";

/// @notice Test-only consumer whose input view and result callback misbehave in a chosen way.
contract HostileSubscriber is ISubscriptionConsumer {
    enum Mode {
        Honest,
        Revert,
        BurnGas,
        HugeAnswer,
        BadEncoding,
        ReenterTrigger,
        ReenterCancel,
        ReturnBomb
    }

    InferenceSubscriptions public immutable subs;
    Mode public inputMode;
    Mode public resultMode;
    bytes32 public inputHash;
    uint256 public results;
    bytes32 public lastOutputHash;
    uint256 public lastGasAtEntry;
    bool public reentrySucceeded;
    bytes4 public reentryError;

    constructor(InferenceSubscriptions subs_, bytes32 inputHash_) {
        subs = subs_;
        inputHash = inputHash_;
    }

    receive() external payable {}

    function setModes(Mode input, Mode result) external {
        inputMode = input;
        resultMode = result;
    }

    /// @dev Subscribes with this contract as owner and consumer.
    function subscribe(InferenceSubscriptions.SubscribeParams calldata p) external payable returns (uint256) {
        return subs.subscribe{value: msg.value}(p);
    }

    function cancel(uint256 subId) external {
        subs.cancel(subId);
    }

    function subscriptionInput(uint256, uint32) external view returns (bytes32, string memory) {
        Mode m = inputMode;
        if (m == Mode.Revert) revert("no input");
        if (m == Mode.BurnGas) {
            while (true) {}
        }
        if (m == Mode.HugeAnswer) {
            // 64 kB of answer (cheap to return from memory): a caller that copied it all would pay for it.
            assembly {
                return(0, 65536)
            }
        }
        if (m == Mode.BadEncoding) {
            assembly {
                mstore(0, 1)
                mstore(32, 0xffffffff)
                mstore(64, 5)
                return(0, 96)
            }
        }
        return (inputHash, "ipfs://input");
    }

    function onSubscriptionResult(uint256 subId, uint32, RequestId, bytes32 outputHash, bytes calldata) external {
        lastGasAtEntry = gasleft();
        Mode m = resultMode;
        if (m == Mode.Revert) revert("no");
        if (m == Mode.BurnGas) {
            while (true) {}
        }
        if (m == Mode.ReturnBomb) {
            assembly {
                return(0, 1000000)
            }
        }
        if (m == Mode.ReenterTrigger || m == Mode.ReenterCancel) {
            bytes memory call_ = m == Mode.ReenterTrigger
                ? abi.encodeCall(InferenceSubscriptions.trigger, (subId))
                : abi.encodeCall(InferenceSubscriptions.cancel, (subId));
            (bool ok, bytes memory ret) = address(subs).call(call_);
            reentrySucceeded = ok;
            if (!ok && ret.length >= 4) reentryError = bytes4(ret);
        }
        ++results;
        lastOutputHash = outputHash;
    }
}
