// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Test-only hostile chain requester: string reverts, an endless loop and a return bomb are what it is for.
// solhint-disable gas-custom-errors, no-empty-blocks, no-inline-assembly, no-complex-fallback

import {ChainedInference} from "../chained/ChainedInference.sol";
import {IChainConsumer} from "../chained/IChainConsumer.sol";

/// @notice Test-only requester of chains whose result callback and ether receipt misbehave in a chosen
/// way (test/attacks/chained.test.ts).
contract MaliciousChainConsumer is IChainConsumer {
    enum Mode {
        Honest,
        Revert,
        BurnGas,
        ReturnBomb,
        /// @dev calls back into ChainedInference (advance, reconcile, withdraw) and the oracle from the callback
        Reenter,
        /// @dev re-enters withdraw from receive()
        ReenterWithdraw
    }

    ChainedInference public immutable chained;
    Mode public mode;
    uint256 public results;
    uint256 public received;
    bool public reentrySucceeded;

    constructor(address payable chained_, Mode mode_) {
        chained = ChainedInference(chained_);
        mode = mode_;
    }

    function setMode(Mode mode_) external {
        mode = mode_;
    }

    function requestChain(ChainedInference.ChainRequest calldata r) external payable returns (uint256) {
        return chained.requestChain{value: msg.value}(r);
    }

    function withdraw() external {
        chained.withdraw();
    }

    function onChainResult(uint256 chainId, bytes32, bytes calldata) external {
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
            try chained.advance(chainId, "") {
                reentrySucceeded = true;
            } catch {}
            try chained.reconcile(chainId) {
                reentrySucceeded = true;
            } catch {}
            try chained.withdraw() {
                reentrySucceeded = true;
            } catch {}
        }
        ++results;
    }

    receive() external payable {
        if (mode == Mode.Revert) revert("no ether");
        if (mode == Mode.ReenterWithdraw) {
            try chained.withdraw() {
                reentrySucceeded = true;
            } catch {}
        }
        received += msg.value;
    }
}
