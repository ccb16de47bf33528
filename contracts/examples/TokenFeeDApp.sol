// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {InferenceConsumer} from "../consumer/InferenceConsumer.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {IOracleTokenFees} from "../interfaces/IOracleTokenFees.sol";
import {RequestId} from "../types/RequestId.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title TokenFeeDApp
/// @notice Example consumer that pays the oracle in an ERC-20 token (docs/FEATURES.md, "ERC-20 fees"): its
/// user signs one EIP-2612 permit for this contract, and one transaction (`requestWithPermit`) pulls the fee
/// from the user, approves the oracle and makes the request; msg.value pays the callback's gas in wei.
/// The result arrives in `onInferenceResult`; a refunded request's tokens and callback wei go back to its
/// user through `claimRefund` (anyone may call it): it claims the oracle's token refund, pulls what the
/// oracle credited to this contract, and pays the user.
contract TokenFeeDApp is InferenceConsumer {
    using SafeERC20 for IERC20;

    struct Answer {
        bool received;
        bytes32 outputHash;
        bytes output;
    }

    error TokenFeeDAppTransferFailed(address to, uint256 amount);
    error TokenFeeDAppNoRefund(RequestId requestId);

    event Requested(RequestId indexed requestId, address indexed user, uint256 amount);
    event Answered(RequestId indexed requestId, bytes32 outputHash);
    event Refunded(RequestId indexed requestId, uint8 reason);

    IERC20 public immutable token;
    bytes32 public immutable modelHash;
    IInferenceOracle.Tier public immutable tier;
    uint32 public immutable callbackGasLimit;

    mapping(RequestId => Answer) internal _answers;
    mapping(RequestId => address) public userOf;
    mapping(RequestId => uint256) public paidOf;
    /// @notice Requests the oracle refunded whose refund is not yet paid to their user.
    mapping(RequestId => bool) public refundDue;

    constructor(address oracle_, IERC20 token_, bytes32 modelHash_, IInferenceOracle.Tier tier_, uint32 callbackGasLimit_)
        InferenceConsumer(oracle_)
    {
        token = token_;
        modelHash = modelHash_;
        tier = tier_;
        callbackGasLimit = callbackGasLimit_;
    }

    /// @notice What to classify: `input` (a canonical tensor, inline) or `inputHash` at `inputURI`, and the
    /// deadline.
    struct Input {
        bytes32 inputHash;
        bytes input;
        string inputURI;
        uint64 deadline;
    }

    /// @notice The user's EIP-2612 permit for this contract to spend the fee.
    struct PermitSig {
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice Requests an inference on `x`, paying `amount` of the token from msg.sender with its permit for
    /// this contract (a permit already used is fine when the allowance covers `amount`).
    function requestWithPermit(Input calldata x, uint256 amount, PermitSig calldata sig)
        external
        payable
        returns (RequestId requestId)
    {
        // A front-run permit is no grief: transferFrom below needs only the allowance it granted.
        // solhint-disable-next-line no-empty-blocks
        try IERC20Permit(address(token)).permit(msg.sender, address(this), amount, sig.deadline, sig.v, sig.r, sig.s) {} catch {}
        token.safeTransferFrom(msg.sender, address(this), amount);
        token.forceApprove(address(oracle), amount);
        requestId = IOracleTokenFees(address(oracle)).requestInferenceWithToken{value: msg.value}(
            IInferenceOracle.RequestParams({
                modelHash: modelHash,
                inputHash: x.inputHash,
                input: x.input,
                inputURI: x.inputURI,
                tier: tier,
                callbackGasLimit: callbackGasLimit,
                deadline: x.deadline,
                maxInlineOutput: 0
            }),
            address(token),
            amount,
            ""
        );
        userOf[requestId] = msg.sender;
        paidOf[requestId] = amount;
        emit Requested(requestId, msg.sender, amount);
    }

    function answer(RequestId requestId) external view returns (Answer memory) {
        return _answers[requestId];
    }

    /// @notice Pays a refunded request's user its tokens and callback wei: claims the oracle's token refund
    /// (unless someone did already), pulls this contract's balances at the oracle, and pays the user.
    function claimRefund(RequestId requestId) external {
        if (!refundDue[requestId]) revert TokenFeeDAppNoRefund(requestId);
        refundDue[requestId] = false;
        IOracleTokenFees fees = IOracleTokenFees(address(oracle));
        uint256 wei_ = oracle.getRequest(requestId).callbackFee;
        // A claim made before by anyone else credited this contract already.
        // solhint-disable-next-line no-empty-blocks
        try fees.claimTokenRefund(requestId) {} catch {}
        if (fees.tokenBalanceOf(address(this), address(token)) != 0) fees.withdrawToken(address(token));
        if (oracle.balanceOf(address(this)) != 0) oracle.withdraw();
        address user = userOf[requestId];
        token.safeTransfer(user, paidOf[requestId]);
        if (wei_ != 0) {
            (bool ok,) = payable(user).call{value: wei_}("");
            if (!ok) revert TokenFeeDAppTransferFailed(user, wei_);
        }
    }

    function _onResult(RequestId requestId, bytes32 outputHash, bytes calldata output) internal override {
        _answers[requestId] = Answer({received: true, outputHash: outputHash, output: output});
        emit Answered(requestId, outputHash);
    }

    /// @dev Runs on the oracle's refund stipend (a token request's refund pushes no wei): marks the refund due.
    function _onRefund(RequestId requestId, uint8 reason) internal override {
        refundDue[requestId] = true;
        emit Refunded(requestId, reason);
    }
}
