// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IOracleTokenFees} from "../interfaces/IOracleTokenFees.sol";
import {RequestId} from "../types/RequestId.sol";

/// @notice Token movements shared by the features that let a dApp pay in an ERC-20 token the oracle accepts
/// (InferenceSubscriptions.subscribeWithToken, ChainedInference.requestChainWith; docs/FEATURES.md,
/// "ERC-20 fees across features"). Internal: inlined in each contract, no linking.
///
/// - `pullExact` takes exactly `amount` from a payer (after an optional EIP-2612 permit, the same
///   "trustless permit" as the oracle's: a front-run permit is ignored when the allowance already covers
///   the amount) and refuses a token that delivers less (fee-on-transfer): the balance is checked before
///   and after, so what a contract escrows is what it holds.
/// - `approveExact` gives the oracle an allowance of exactly one request's fee (the oracle pulls it back to 0).
/// - `payTokenCredit` and `payWeiCredit` pay msg.sender its whole pull credit (token or wei) in the
///   contracts that keep one (ChainedInference, RedundantInference): zeroed before the transfer; each
///   contract reverts with its own errors on a zero credit or a failed wei transfer (undoing the zeroing).
/// - `collectRefund` turns a refunded token request of this contract into tokens held here: it claims the
///   refund at the oracle (anyone may have claimed it already: then it waits in this contract's pull
///   balance) and withdraws the contract's whole pull balance in the token, returning what arrived.
library TokenPull {
    using SafeERC20 for IERC20;

    /// @notice The token moved `received` when asked to move `expected` (fee-on-transfer): refused.
    error TokenPullFeeOnTransfer(address token, uint256 expected, uint256 received);
    /// @notice The permit failed and the allowance left does not cover the amount.
    error TokenPullPermitFailed(address token, uint256 allowance, uint256 required);
    /// @notice Not a token: no code at `token` (a transfer to it would "succeed" and move nothing).
    error TokenPullNotAToken(address token);

    /// @notice Pulls exactly `amount` of `token` from `from` into this contract; `permitData` is empty or
    /// abi.encode(IOracleTokenFees.Permit) signed by `from` for this contract.
    function pullExact(address token, address from, uint256 amount, bytes calldata permitData) internal {
        // INVARIANT: an address without code is no token (SafeERC20 accepts a call to it as success).
        if (token.code.length == 0) revert TokenPullNotAToken(token);
        if (permitData.length != 0) {
            IOracleTokenFees.Permit memory p = abi.decode(permitData, (IOracleTokenFees.Permit));
            // A permit that succeeds needs nothing more; one that fails is checked in the catch.
            // solhint-disable-next-line no-empty-blocks
            try IERC20Permit(token).permit(from, address(this), p.value, p.deadline, p.v, p.r, p.s) {}
            catch {
                uint256 allowance = IERC20(token).allowance(from, address(this));
                if (allowance < amount) revert TokenPullPermitFailed(token, allowance, amount);
            }
        }
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(from, address(this), amount);
        uint256 after_ = IERC20(token).balanceOf(address(this));
        // INVARIANT: the contract holds exactly what it escrows (a fee-on-transfer token would leave it short).
        if (after_ != before + amount) revert TokenPullFeeOnTransfer(token, amount, after_ > before ? after_ - before : 0);
    }

    /// @notice Lets `spender` (the oracle) take exactly `amount` (USDT-like tokens included: zeroed first if needed).
    function approveExact(address token, address spender, uint256 amount) internal {
        IERC20(token).forceApprove(spender, amount);
    }

    /// @notice Pays `amount` of `token` to `to` (nothing when zero).
    function send(address token, address to, uint256 amount) internal {
        if (amount != 0) IERC20(token).safeTransfer(to, amount);
    }

    /// @notice Pays `amount` of `token` to `to`; false (nothing moved) when the token refuses.
    function trySend(address token, address to, uint256 amount) internal returns (bool) {
        return IERC20(token).trySafeTransfer(to, amount);
    }

    /// @notice Zeroes msg.sender's credit in `token` and pays it out; returns the amount (0: nothing was owed, nothing moved).
    function payTokenCredit(mapping(address => mapping(address => uint256)) storage credits, address token)
        internal
        returns (uint256 amount)
    {
        amount = credits[msg.sender][token];
        if (amount == 0) return 0;
        credits[msg.sender][token] = 0;
        send(token, msg.sender, amount);
    }

    /// @notice Zeroes msg.sender's wei credit and sends it (a plain call); returns the amount (0: nothing was owed)
    /// and whether the transfer went through. The caller reverts when it did not, restoring the credit.
    function payWeiCredit(mapping(address => uint256) storage credits) internal returns (uint256 amount, bool ok) {
        amount = credits[msg.sender];
        if (amount == 0) return (0, false);
        credits[msg.sender] = 0;
        // solhint-disable-next-line avoid-low-level-calls
        (ok,) = msg.sender.call{value: amount}("");
    }

    /// @notice Claims the refund of this contract's refunded token request `id` (ignored when it was claimed
    /// already) and withdraws this contract's pull balance in `token` from the oracle; returns the tokens
    /// that arrived (the balance delta, so a token that pays less is seen as paying less).
    function collectRefund(IOracleTokenFees oracle, RequestId id, address token) internal returns (uint256 received) {
        // Anyone may claim a refund (it credits the requester, this contract): a claim made first by someone
        // else reverts here and the tokens already wait in the pull balance.
        // solhint-disable-next-line no-empty-blocks
        try oracle.claimTokenRefund(id) {} catch {}
        if (oracle.tokenBalanceOf(address(this), token) == 0) return 0;
        uint256 before = IERC20(token).balanceOf(address(this));
        oracle.withdrawToken(token);
        received = IERC20(token).balanceOf(address(this)) - before;
    }
}
