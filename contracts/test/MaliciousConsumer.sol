// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Test-only hostile consumer: string reverts, an endless loop and a return bomb are what it is for.
// solhint-disable gas-custom-errors, no-empty-blocks, no-inline-assembly

import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";

/// @notice Test-only consumer whose callbacks misbehave in a chosen way, for the callback-safety tests.
contract MaliciousConsumer is IInferenceConsumer {
    enum Mode {
        Honest,
        Revert,
        BurnGas,
        ReturnBomb,
        Reenter,
        ReenterAndRecord
    }

    IInferenceOracle public immutable oracle;
    Mode public mode;
    uint256 public results;
    uint256 public refunds;
    bytes32 public lastOutputHash;
    uint256 public lastGasAtEntry;
    /// @dev Whether the last reentry attempt succeeded (it never should).
    bool public reentrySucceeded;
    /// @dev Selector of the error the oracle answered a reentry with (ReenterAndRecord mode).
    bytes4 public reentryError;

    constructor(address oracle_, Mode mode_) {
        oracle = IInferenceOracle(oracle_);
        mode = mode_;
    }

    function setMode(Mode mode_) external {
        mode = mode_;
    }

    function request(IInferenceOracle.RequestParams calldata params) external payable returns (RequestId) {
        return oracle.requestInference{value: msg.value}(params);
    }

    function withdrawFromOracle() external {
        oracle.withdraw();
    }

    function onInferenceResult(RequestId requestId, bytes32 outputHash, bytes calldata) external {
        lastGasAtEntry = gasleft();
        _misbehave(requestId);
        ++results;
        lastOutputHash = outputHash;
    }

    function onInferenceRefunded(RequestId requestId, uint8) external payable {
        _misbehave(requestId);
        ++refunds;
    }

    receive() external payable {
        if (mode == Mode.Revert) revert("no ether");
    }

    function _misbehave(RequestId requestId) internal {
        Mode m = mode;
        if (m == Mode.Revert) revert("consumer refuses");
        if (m == Mode.BurnGas) {
            while (true) {}
        }
        if (m == Mode.ReturnBomb) {
            assembly {
                return(0, 1000000)
            }
        }
        if (m == Mode.Reenter) {
            IInferenceOracle.Settlement[] memory none = new IInferenceOracle.Settlement[](0);
            RequestId[] memory ids = new RequestId[](1);
            ids[0] = requestId;
            // Both must fail on the reentrancy guard; a revert here fails the callback.
            oracle.refundExpired(ids);
            oracle.settleMany(none);
            reentrySucceeded = true;
        }
        if (m == Mode.ReenterAndRecord) {
            try oracle.withdraw() {
                reentrySucceeded = true;
            } catch (bytes memory reason) {
                reentryError = bytes4(reason);
            }
        }
    }
}
