// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {IOracleTokenFees} from "../interfaces/IOracleTokenFees.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {RequestId} from "../types/RequestId.sol";
import {RequestBook} from "./RequestBook.sol";
import {OracleParams} from "./OracleParams.sol";
import {OracleRequests} from "./OracleRequests.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @notice Fees in ERC-20 tokens (IOracleTokenFees; docs/PROTOCOL.md, "Token fees"). Linked library: runs
/// in the oracle's storage (DELEGATECALL), so `address(this)` is the oracle and `msg.sender` the caller.
///
/// A token request stores a wei fee of zero in its Request (its `ownerFee` is in the token) and its token
/// and amount here; the oracle's payout comes here only for requests whose wei fee is zero, so an ETH
/// request with a fee pays no extra storage read. Its refund is the ETH refund of a zero fee (status
/// Refunded, the requester's hook called); `claimRefund` then credits the token amount and the callback fee. Tokens move in only when a request is
/// made (OpenZeppelin SafeERC20, balance checked before and after) and out only in `withdraw`: payouts and
/// refunds credit pull balances, so no token call can block a settlement or a refund.
///
/// Funds conservation, per token: token.balanceOf(oracle) == sum of the token's pull balances + the
/// amounts of its requests in Requested/Submitted/Challenged (plus whatever was sent to the oracle
/// directly, which no one can withdraw).
library TokenFees {
    using SafeERC20 for IERC20;

    /// @notice A token request's fee: one slot, written once when it is made.
    struct Fee {
        address token;
        uint96 amount;
    }

    /// @notice Checks a token request, stores it, then pulls its fee (after the permit, if any); returns its id.
    function create(
        mapping(RequestId => RequestBook.Request) storage requests,
        mapping(RequestId => RequestBook.Extra) storage extra,
        mapping(RequestId => Fee) storage fees,
        mapping(uint32 => OracleParams.Stored) storage paramsAt,
        IInferenceOracle.RequestParams calldata p,
        OracleRequests.Context memory c,
        address token,
        uint256 amount,
        bytes calldata permit
    ) external returns (RequestId requestId) {
        (, address resolver) = OracleRequests.checkModel(c.registry, p.modelHash, p.tier);
        IModelRegistry.TokenTerms memory t = c.registry.tokenTerms(p.modelHash, token);
        // INVARIANT: a fee is paid only in a token the model's owner accepts now.
        if (!t.accepted) revert IOracleTokenFees.OracleTokenNotAccepted(p.modelHash, token);
        uint256 minimum = uint256(t.ownerFee) + t.minWorkerFee;
        // INVARIANT: the fee covers the owner's fee and the least it leaves for the relayer and worker.
        if (amount < minimum) revert IInferenceOracle.OracleFeeTooLow(amount, minimum);
        // INVARIANT: escrowed amounts fit the packed uint96 slot.
        if (amount > type(uint96).max) revert IInferenceOracle.OracleFeeTooHigh(amount);
        OracleParams.Stored storage sp = paramsAt[c.version];
        uint256 callbackFee = OracleRequests.callbackFeeOf(p.callbackGasLimit, sp);
        // INVARIANT: the callback's gas is paid in wei, and no wei is escrowed that nothing pays out.
        // (value < 2^96: nobody holds that much ether.)
        if (c.value < callbackFee || (p.callbackGasLimit == 0 && c.value != 0) || c.value > type(uint96).max) {
            revert IOracleTokenFees.OracleTokenCallbackFee(c.value, callbackFee);
        }
        requestId = OracleRequests.store(
            requests,
            extra,
            sp,
            p,
            c,
            OracleRequests.Fees({fee: 0, ownerFee: t.ownerFee, resolver: resolver, callbackFee: c.value})
        );
        // Exact: amount <= type(uint96).max (checked above).
        fees[requestId] = Fee({token: token, amount: uint96(amount)});
        emit IOracleTokenFees.TokenFeeEscrowed(requestId, token, amount, t.ownerFee);
        // The only external calls, last; the oracle's entry point holds the reentrancy lock (ERC-777 hooks).
        _pull(token, amount, permit);
    }

    /// @notice Pays a token request's fee out to pull balances (owner fee, relayer and worker cuts, split as
    /// the request's params say); does nothing for a request without a token (an ETH request of fee zero).
    function payOut(
        mapping(RequestId => Fee) storage fees,
        mapping(address => mapping(address => uint256)) storage balances,
        mapping(uint32 => OracleParams.Stored) storage paramsAt,
        RequestBook.Request storage r,
        RequestId requestId,
        address owner,
        address worker,
        address relayer
    ) external {
        Fee storage f = fees[requestId];
        address token = f.token;
        if (token == address(0)) return;
        uint256 ownerFee = r.ownerFee;
        // Cannot underflow in split: amount >= ownerFee + minWorkerFee at request time.
        (uint256 relayerCut, uint256 workerCut) = RequestBook.split(f.amount, ownerFee, paramsAt[r.paramsVersion].relayerFeeBps);
        _credit(balances, owner, token, ownerFee);
        _credit(balances, relayer, token, relayerCut);
        _credit(balances, worker, token, workerCut);
    }

    /// @notice Credits a refunded token request's amount to its requester's pull balance in the token, and
    /// its callback fee to the requester's wei pull balance, once (anyone may call it). The oracle's refund
    /// itself only marks a token request Refunded (its wei fee is zero), so refunds stay token-free.
    function claimRefund(
        mapping(RequestId => RequestBook.Request) storage requests,
        mapping(RequestId => RequestBook.Extra) storage extra,
        mapping(RequestId => Fee) storage fees,
        mapping(address => uint256) storage weiBalances,
        mapping(address => mapping(address => uint256)) storage balances,
        RequestId requestId
    ) external {
        RequestBook.Request storage r = requests[requestId];
        Fee storage f = fees[requestId];
        address token = f.token;
        // INVARIANT: a token refund is credited once, and only for a refunded token request.
        if (r.status != IInferenceOracle.RequestStatus.Refunded || token == address(0)) {
            revert IOracleTokenFees.OracleNoTokenRefund(requestId);
        }
        uint256 amount = f.amount;
        delete fees[requestId];
        address requester = r.requester;
        _credit(balances, requester, token, amount);
        uint256 callbackFee = extra[requestId].callbackFee;
        if (callbackFee != 0) {
            weiBalances[requester] += callbackFee;
            emit IInferenceOracle.BalanceCredited(requester, callbackFee);
        }
        emit IOracleTokenFees.TokenRefundClaimed(requestId, requester, token, amount, callbackFee);
    }

    /// @notice Pays out msg.sender's pull balance in `token`, after zeroing it.
    function withdraw(mapping(address => mapping(address => uint256)) storage balances, address token) external {
        uint256 amount = balances[msg.sender][token];
        // INVARIANT: a withdrawal pays out a positive pull balance exactly once.
        if (amount == 0) revert IInferenceOracle.OracleNothingToWithdraw(msg.sender);
        balances[msg.sender][token] = 0;
        emit IOracleTokenFees.TokenWithdrawn(msg.sender, token, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    /// @dev `permitData` is empty or abi.encode(IOracleTokenFees.Permit). The standard "trustless permit": a permit that fails (front-run: its nonce already used) is
    /// ignored when the allowance already covers the fee, so nobody can grief a request by spending its permit.
    function _pull(address token, uint256 amount, bytes calldata permitData) private {
        if (permitData.length != 0) {
            IOracleTokenFees.Permit memory permit = abi.decode(permitData, (IOracleTokenFees.Permit));
            // A permit that succeeds needs nothing more; one that fails is checked in the catch.
            // solhint-disable-next-line no-empty-blocks
            try IERC20Permit(token).permit(msg.sender, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s) {}
            catch {
                uint256 allowance = IERC20(token).allowance(msg.sender, address(this));
                if (allowance < amount) revert IOracleTokenFees.OracleTokenPermitFailed(token, allowance, amount);
            }
        }
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        uint256 after_ = IERC20(token).balanceOf(address(this));
        // INVARIANT: the oracle holds exactly what it escrows (a fee-on-transfer token would leave it short).
        if (after_ != before + amount) {
            revert IOracleTokenFees.OracleTokenFeeOnTransfer(token, amount, after_ > before ? after_ - before : 0);
        }
    }

    function _credit(mapping(address => mapping(address => uint256)) storage balances, address account, address token, uint256 amount)
        private
    {
        if (amount == 0) return;
        balances[account][token] += amount;
        emit IOracleTokenFees.TokenCredited(account, token, amount);
    }
}
