// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RequestId} from "../types/RequestId.sol";
import {IInferenceOracle} from "./IInferenceOracle.sol";

/// @notice Fees in ERC-20 tokens (docs/FEATURES.md, "ERC-20 fees"; docs/PROTOCOL.md, "Token fees"). A request
/// may pay its fee in any token its model's owner accepts (IModelRegistry.setTokenTerms), pulled in one
/// transaction with an optional EIP-2612 permit. The owner fee, the relayer and worker cuts and every refund
/// are in that token, credited to pull balances keyed by (account, token) (`withdrawToken`; a refund once
/// `claimTokenRefund` is called): no token
/// transfer ever runs inside a settlement or a refund, so a token that reverts or blacklists cannot block
/// one. The callback's gas is paid in ETH (msg.value, at least callbackGasLimit x max(basefee,
/// minGasPrice)), as are stakes, bonds and slashing. A token that delivers less than it was asked to
/// move (fee-on-transfer) is refused; rebasing tokens are not supported (a pull balance is a fixed amount).
interface IOracleTokenFees {
    /// @notice An EIP-2612 permit by the requester (msg.sender) for the oracle to spend `value` of the token;
    /// requestInferenceWithToken takes it abi-encoded (or empty: no permit, the allowance must cover the fee).
    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice A token request escrowed `amount` of `token`; `ownerFee` of it goes to the model's owner.
    /// Its InferenceRequested event carries the wei it escrowed for the callback's gas as `fee`.
    event TokenFeeEscrowed(RequestId indexed requestId, address indexed token, uint256 amount, uint256 ownerFee);
    event TokenCredited(address indexed account, address indexed token, uint256 amount);
    /// @notice A refunded token request's `amount` of `token` and its `callbackFee` wei were credited to its requester.
    event TokenRefundClaimed(RequestId indexed requestId, address indexed requester, address indexed token, uint256 amount, uint256 callbackFee);
    event TokenWithdrawn(address indexed account, address indexed token, uint256 amount);

    /// @notice The model's owner does not accept `token` (now).
    error OracleTokenNotAccepted(bytes32 modelHash, address token);
    /// @notice The token moved `received` into the oracle when asked to move `expected` (fee-on-transfer).
    error OracleTokenFeeOnTransfer(address token, uint256 expected, uint256 received);
    /// @notice The request is not a refunded token request, or its refund was claimed already.
    error OracleNoTokenRefund(RequestId requestId);
    /// @notice The permit failed and the allowance left does not cover the fee.
    error OracleTokenPermitFailed(address token, uint256 allowance, uint256 required);
    /// @notice msg.value of a token request must cover its callback's gas (and be zero without a callback).
    error OracleTokenCallbackFee(uint256 value, uint256 required);

    /// @notice Makes a request whose fee is `amount` of `token` (pulled from msg.sender, after its permit when
    /// `permit` is not empty: abi.encode(Permit)); msg.value pays the callback's gas in wei. Refused: a token the model does not
    /// accept (OracleTokenNotAccepted), an amount below ownerFee + minWorkerFee of the model's token terms
    /// (OracleFeeTooLow) or above 2^96 - 1 (OracleFeeTooHigh), a fee-on-transfer token
    /// (OracleTokenFeeOnTransfer), and everything requestInference refuses.
    function requestInferenceWithToken(
        IInferenceOracle.RequestParams calldata params,
        address token,
        uint256 amount,
        bytes calldata permit
    ) external payable returns (RequestId requestId);

    /// @notice Credits a refunded token request's amount to its requester's pull balance in the token and its
    /// callback fee to the requester's wei pull balance (anyone may call it; once per request). A token
    /// request's refund (RequestRefunded, amount 0) moves no token, so no token can block it.
    function claimTokenRefund(RequestId requestId) external;
    /// @notice Pays out msg.sender's pull balance in `token` (OracleNothingToWithdraw when zero).
    function withdrawToken(address token) external;
    function tokenBalanceOf(address account, address token) external view returns (uint256);
}
