// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Test-only attacker token: a raw call records the re-entry's result.
// solhint-disable avoid-low-level-calls

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice An ERC-20 whose next transfer (not a mint) first calls `target` with `data`, once, and records
/// whether that call succeeded and what it returned: a token that tries to re-enter the contract moving it
/// (test/attacks/subscriptions-token.test.ts, test/attacks/chained-token.test.ts expect the reentrancy
/// guard's revert). Mints freely: tests only.
contract ReentrantToken is ERC20 {
    address public hookTarget;
    bytes public hookData;
    bool public armed;
    bool public reentered;
    bool public reentrySucceeded;
    bytes public reentryResult;

    constructor() ERC20("Reentrant Token", "RET") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the hook: the next transfer calls `target_` with `data_` first.
    function arm(address target_, bytes calldata data_) external {
        hookTarget = target_;
        hookData = data_;
        armed = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (armed && from != address(0)) {
            armed = false;
            reentered = true;
            (reentrySucceeded, reentryResult) = hookTarget.call(hookData);
        }
        super._update(from, to, value);
    }
}
