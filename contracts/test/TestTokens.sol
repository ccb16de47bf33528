// SPDX-License-Identifier: MIT
// Test-only tokens, several per file, shaped like the real ones they imitate (USDT's lower-case constants and
// string reverts included).
// solhint-disable one-contract-per-file, const-name-snakecase, gas-custom-errors

pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

// Test tokens for ERC-20 fees (test/contracts/InferenceOracle.token.test.ts, test/attacks/oracle-token-*.test.ts).
// Each mints freely: tests only.

/// @notice A standard ERC-20 with EIP-2612 permits (OpenZeppelin ERC20Permit).
contract TestPermitToken is ERC20, ERC20Permit {
    constructor() ERC20("Test Permit Token", "TPT") ERC20Permit("Test Permit Token") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

/// @notice Takes 1% of every transfer (a fee-on-transfer token): the oracle must refuse it.
contract FeeOnTransferToken is ERC20 {
    constructor() ERC20("Fee On Transfer", "FOT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) return super._update(from, to, value);
        uint256 cut = value / 100;
        super._update(from, address(0xdead), cut);
        super._update(from, to, value - cut);
    }
}

/// @notice USDT-like: transfer, transferFrom and approve return nothing (no bool), and approve refuses to
/// change a non-zero allowance to another non-zero one. Reverts on failure.
contract NoBoolToken {
    string public constant name = "No Bool Token";
    string public constant symbol = "NBT";
    uint8 public constant decimals = 6;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function transfer(address to, uint256 value) external {
        _move(msg.sender, to, value);
    }

    function transferFrom(address from, address to, uint256 value) external {
        uint256 a = allowance[from][msg.sender];
        require(a >= value, "allowance");
        if (a != type(uint256).max) allowance[from][msg.sender] = a - value;
        _move(from, to, value);
    }

    function approve(address spender, uint256 value) external {
        require(value == 0 || allowance[msg.sender][spender] == 0, "USDT approve");
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
    }

    function _move(address from, address to, uint256 value) private {
        require(balanceOf[from] >= value, "balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}

/// @notice A token with a blacklist (like USDC/USDT): any transfer from or to a blacklisted account
/// reverts, and `frozen` makes every transfer revert.
contract BlacklistToken is ERC20 {
    mapping(address => bool) public blacklisted;
    bool public frozen;

    constructor() ERC20("Blacklist Token", "BLT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setBlacklisted(address account, bool on) external {
        blacklisted[account] = on;
    }

    function setFrozen(bool on) external {
        frozen = on;
    }

    function _update(address from, address to, uint256 value) internal override {
        require(!frozen, "frozen");
        require(!blacklisted[from] && !blacklisted[to], "blacklisted");
        super._update(from, to, value);
    }
}

/// @notice An ERC-777-like token: it calls the sender back during transferFrom (the tokensToSend hook),
/// letting the sender try to re-enter the oracle in the middle of its own token request.
contract HookToken is ERC20 {
    constructor() ERC20("Hook Token", "HKT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && from.code.length != 0) ITokensSender(from).tokensToSend(from, to, value);
        super._update(from, to, value);
    }
}

interface ITokensSender {
    function tokensToSend(address from, address to, uint256 value) external;
}
