// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Test-only attacker: raw calls record the re-entry's revert data; its consumer hooks do nothing.
// solhint-disable avoid-low-level-calls, no-empty-blocks

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {IOracleTokenFees} from "../interfaces/IOracleTokenFees.sol";
import {RequestId} from "../types/RequestId.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice A requester paying with HookToken (ERC-777-like): while the oracle pulls its fee, the token
/// calls it back (tokensToSend) and it tries to re-enter the oracle (withdrawToken, a second request or
/// cancelling the request being made). Records what the re-entry returned; the tests expect the reentrancy
/// guard's revert every time.
contract TokenReentrant {
    IOracleTokenFees public immutable oracle;
    IERC20 public immutable token;
    /// @dev 1: withdrawToken, 2: a second requestInferenceWithToken, 3: cancelRequest of the last request.
    uint8 public mode;
    bool public reentered;
    bytes public reentryError;
    IInferenceOracle.RequestParams internal _params;
    RequestId public lastRequest;

    constructor(IOracleTokenFees oracle_, IERC20 token_) {
        oracle = oracle_;
        token = token_;
    }

    function request(IInferenceOracle.RequestParams calldata p, uint256 amount, uint8 mode_) external returns (RequestId id) {
        mode = mode_;
        _params = p;
        token.approve(address(oracle), type(uint256).max);
        id = oracle.requestInferenceWithToken(p, address(token), amount, "");
        lastRequest = id;
    }

    function tokensToSend(address, address, uint256 value) external {
        if (msg.sender != address(token) || mode == 0) return;
        uint8 m = mode;
        mode = 0;
        bool ok;
        bytes memory err;
        if (m == 1) {
            (ok, err) = address(oracle).call(abi.encodeCall(IOracleTokenFees.withdrawToken, (address(token))));
        } else if (m == 2) {
                (ok, err) = address(oracle).call(
                abi.encodeCall(IOracleTokenFees.requestInferenceWithToken, (_params, address(token), value, ""))
            );
        } else {
            (ok, err) = address(oracle).call(abi.encodeCall(IInferenceOracle.cancelRequest, (lastRequest)));
        }
        reentered = ok;
        reentryError = err;
    }

    function onInferenceResult(RequestId, bytes32, bytes calldata) external {}

    function onInferenceRefunded(RequestId, uint8) external payable {}
}
