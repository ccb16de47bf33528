// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {IOracleTokenFees} from "../interfaces/IOracleTokenFees.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {ExactGasCall} from "../libraries/ExactGasCall.sol";
import {TensorHash} from "../libraries/TensorHash.sol";
import {TokenPull} from "../libraries/TokenPull.sol";
import {RequestId} from "../types/RequestId.sol";
import {IChainConsumer} from "./IChainConsumer.sol";

/// @title ChainedInference
/// @notice Chained requests (like ORA's nested inference): the output of model A becomes the
/// input of model B, and so on for up to MAX_STEPS models, in one request that pays every step's fee up
/// front and has one deadline. Each step is a normal oracle request made by this contract as requester,
/// so each is served, disputed (OPTIMISTIC: its own challenge window), paid and refunded by the oracle
/// as any request is.
///
/// The oracle is nonReentrant, so step i+1 cannot be requested from inside step i's result callback:
/// the callback records step i's output hash (Ready) and anyone (the requester, the SDK, a keeper) then
/// calls `advance` with the output bytes (checked against the recorded hash), which requests step i+1
/// with them as its inline input, or, for an output delivered as hash only (too large inline), with the
/// output hash as input hash and `blobBaseURI` + hash as input URI (workers fetch inputs by hash/URI,
/// and the worker that produced the output uploaded it there). The last step's output is pushed to the
/// requester's IChainConsumer with exactly `consumerGas` (a failure is recorded, never blocking).
///
/// Deadlines: when step i is requested, it gets an equal share of the time left to the chain's
/// deadline: now + (deadline - now) / (steps left), so the last step's deadline is the chain's.
/// Every state has a default outcome: a step the oracle refunds (expired, rejected, input type
/// mismatch) ends the chain and credits its fee and every later step's fee to the requester; a Ready
/// chain not advanced by its deadline is ended by anyone (`reconcile`) with the same refund.
/// Refunds and ends credit the requester's pull balance here (`withdraw`); nothing is pushed, so no
/// requester code can block a chain.
///
/// Paid in a token (`requestChainWith`; docs/FEATURES.md, "ERC-20 fees across features"): every step's
/// `fee` is an amount of one token the steps' models accept, pulled up front (exactly: fee-on-transfer
/// tokens are refused), and each step is an oracle token request. The oracle charges a token request's
/// callback gas in wei, so msg.value is a wei escrow for the steps' callbacks (at least their callback gas
/// at today's gas price); each step takes its share of what is left in proportion to its callback gas
/// (the last takes the rest, so a completed chain spends it all, the surplus going to whoever executes
/// the callbacks). The oracle's refund of a token request carries nothing (its amount and callback fee
/// wait for claimTokenRefund, which costs more than the oracle's REFUND_GAS): the chain stays Running
/// and `reconcile` (anyone; the relayer's chain advancer does it) claims them and ends the chain. Token
/// refunds are credited to `tokenBalanceOf` (`withdrawToken`), wei ones to `balanceOf` (`withdraw`).
contract ChainedInference is IInferenceConsumer, ReentrancyGuardTransient {
    uint256 public constant MAX_STEPS = 8;
    /// @notice Callback gas of every step but the last: recording the output hash (measured ~28k, see
    /// test/contracts/chained.test.ts), with margin.
    uint32 public constant STEP_CALLBACK_GAS = 60_000;
    /// @notice The last step's callback gas besides the consumer's own (consumerGas * 64/63 plus
    /// ExactGasCall.CALL_OVERHEAD): our bookkeeping and the encoding of an output of up to 4 KiB.
    uint32 public constant FINAL_CALLBACK_BASE = 80_000;
    /// @notice The least gas `advance` must hold before requesting the next step, so a caller cannot
    /// make the oracle's request fail for lack of gas and so end the chain (a failure without revert
    /// data, as running out of gas gives, reverts `advance` instead).
    uint256 public constant ADVANCE_MIN_GAS = 400_000;

    enum ChainStatus {
        None,
        /// @notice The current step is requested at the oracle.
        Running,
        /// @notice The current step's output is recorded; `advance` requests the next step.
        Ready,
        /// @notice The last step was fulfilled and its output pushed to the consumer.
        Completed,
        /// @notice The chain ended early; the unused fees were credited to the requester.
        Ended
    }

    enum EndReason {
        /// @notice The oracle refunded the current step (its refund reason is in ChainEnded).
        StepRefunded,
        /// @notice The chain's deadline passed before the next step was requested.
        DeadlinePassed,
        /// @notice The oracle refused the next step's request (model inactive, input too large...).
        StepRequestFailed,
        /// @notice The oracle fulfilled the current step but its callback here failed (reconcile).
        CallbackLost
    }

    /// @param fee wei sent with this step's oracle request (must cover the model fee, the minimum worker
    /// fee and the step's callback gas at the gas price of the time it is requested)
    struct ChainStep {
        bytes32 modelHash;
        IInferenceOracle.Tier tier;
        uint96 fee;
    }

    /// @param input step 0's input, inline (canonical tensor encoding), or empty with inputHash + inputURI
    /// @param consumerGas gas for the requester's IChainConsumer.onChainResult; 0: no push
    /// @param blobBaseURI prefix of the URI of an intermediate output delivered as hash only (e.g.
    /// "https://relayer.example/blobs/"; the hash is appended as 0x-hex); may be empty when every
    /// intermediate output fits inline
    struct ChainRequest {
        ChainStep[] steps;
        bytes32 inputHash;
        bytes input;
        string inputURI;
        uint64 deadline;
        uint32 consumerGas;
        string blobBaseURI;
    }

    struct Chain {
        address requester;
        uint40 deadline;
        uint8 stepCount;
        uint8 current;
        ChainStatus status;
        bool outputInline;
        uint96 escrow;
        uint32 consumerGas;
        bool callbackSucceeded;
        RequestId requestId;
        bytes32 outputHash;
        string blobBaseURI;
        /// @dev the fee token (zero: ETH) and, for a token chain, the wei left for the later steps' callbacks
        address token;
        uint96 callbackEscrow;
    }

    struct ChainView {
        address requester;
        uint64 deadline;
        uint8 stepCount;
        uint8 current;
        ChainStatus status;
        bool outputInline;
        uint96 escrow;
        uint32 consumerGas;
        bool callbackSucceeded;
        RequestId requestId;
        bytes32 outputHash;
        string blobBaseURI;
        ChainStep[] steps;
        RequestId[] requestIds;
        address token;
        uint96 callbackEscrow;
    }

    event ChainRequested(uint256 indexed chainId, address indexed requester, uint256 steps, uint256 totalFee, uint64 deadline);
    event ChainStepRequested(uint256 indexed chainId, uint8 step, RequestId indexed requestId, bytes32 modelHash, uint64 deadline);
    /// @notice Step `step`'s output was recorded; `advance` requests the next one.
    event ChainStepDelivered(uint256 indexed chainId, uint8 step, RequestId indexed requestId, bytes32 outputHash, bool outputInline);
    event ChainCompleted(uint256 indexed chainId, RequestId indexed requestId, bytes32 outputHash, bool callbackSucceeded);
    /// @notice The chain ended at step `step`; `refund` wei were credited to the requester. `oracleReason`
    /// is the oracle's RefundReason for StepRefunded, else 0.
    event ChainEnded(uint256 indexed chainId, uint8 step, EndReason reason, uint8 oracleReason, uint256 refund);
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice A token chain: its steps' fees (`totalFee`) are in `token`; `callbackEscrow` wei pay their callbacks.
    event ChainPaidWithToken(uint256 indexed chainId, address indexed token, uint256 totalFee, uint256 callbackEscrow);
    /// @notice The oracle refunded a token chain's current step; `reconcile` claims its fee and ends the chain.
    event ChainStepRefundPending(uint256 indexed chainId, uint8 step, RequestId indexed requestId, uint8 oracleReason);
    /// @notice A token chain ended: `refund` (ChainEnded) was credited in `token`, `callbackRefund` in wei.
    event ChainTokenRefunded(uint256 indexed chainId, address indexed token, uint256 refund, uint256 callbackRefund);
    event TokenWithdrawn(address indexed account, address indexed token, uint256 amount);

    error ChainOnlyOracle(address caller);
    error ChainStepCount(uint256 count, uint256 maximum);
    error ChainFeeMismatch(uint256 sent, uint256 sumOfFees);
    error ChainDeadlineInvalid(uint64 deadline, uint256 now_);
    error ChainStepFeeTooLow(uint256 step, uint256 fee, uint256 minimum);
    error ChainModelUnavailable(uint256 step, bytes32 modelHash, IInferenceOracle.Tier tier);
    /// @notice Step `step`'s output type (registry) is not step `step + 1`'s input type.
    error ChainTypeMismatch(uint256 step, bytes32 outputModel, bytes32 inputModel);
    error ChainCallbackGasTooHigh(uint256 step, uint256 gas, uint256 maximum);
    /// @notice The oracle called back for a request that is not a running chain's current step.
    error ChainUnknownRequest(RequestId requestId);
    error ChainNotReady(uint256 chainId, ChainStatus status);
    error ChainOutputMismatch(uint256 chainId, bytes32 expected, bytes32 computed);
    error ChainOutputNotInline(uint256 chainId);
    error ChainAdvanceGas(uint256 available, uint256 required);
    /// @notice The oracle refused the next step for a reason that may pass (out of gas, fee too low at
    /// this gas price): nothing changed; retry, or `reconcile` once the chain's deadline passed.
    error ChainAdvanceFailed(uint256 chainId, bytes reason);
    error ChainNothingToReconcile(uint256 chainId, ChainStatus status);
    error ChainNothingToWithdraw(address account);
    error ChainTransferFailed(address account, uint256 amount);
    /// @notice A token chain's wei for callbacks is below their gas at today's price (or above 2^96 - 1).
    error ChainCallbackEscrow(uint256 sent, uint256 minimum);
    error ChainTokenNotAccepted(uint256 step, bytes32 modelHash, address token);

    IInferenceOracle public immutable oracle;
    IModelRegistry public immutable registry;

    uint256 public chainCount;
    mapping(uint256 chainId => Chain) internal _chains;
    mapping(uint256 chainId => ChainStep[]) internal _steps;
    mapping(uint256 chainId => RequestId[]) internal _requestIds;
    /// @notice The chain a request was made for (0: none).
    mapping(RequestId => uint256) public chainOf;
    /// @notice Refunds credited to each requester, withdrawn with `withdraw`.
    mapping(address => uint256) public balanceOf;
    /// @notice Token refunds credited to each requester, withdrawn with `withdrawToken`.
    mapping(address account => mapping(address token => uint256)) public tokenBalanceOf;

    modifier onlyOracle() {
        // INVARIANT: results and refunds are believed only when the oracle delivers them.
        if (msg.sender != address(oracle)) revert ChainOnlyOracle(msg.sender);
        _;
    }

    constructor(address oracle_) {
        oracle = IInferenceOracle(oracle_);
        registry = IModelRegistry(IInferenceOracle(oracle_).registry());
    }

    /// @notice Refunds the oracle could not push (pulled by `reconcile`) arrive as plain transfers.
    receive() external payable onlyOracle {}

    // ------------------------------------------------------------------ requesting

    /// @notice Requests a chain: msg.value must be the sum of the steps' fees. Checks every step now
    /// (model active with its tier, fee, I/O types chaining, callback gas) and requests step 0.
    function requestChain(ChainRequest calldata r) external payable nonReentrant returns (uint256 chainId) {
        (uint256 total,) = _checkSteps(r.steps, r.consumerGas, address(0));
        // INVARIANT: the chain's escrow is exactly what it was paid.
        if (msg.value != total) revert ChainFeeMismatch(msg.value, total);
        chainId = _open(r, total, address(0));
    }

    /// @notice Requests a chain paid in `token`: pulls exactly the sum of the steps' fees (token amounts)
    /// from the caller, after its EIP-2612 `permit` for this contract (abi.encode(IOracleTokenFees.Permit))
    /// when not empty; msg.value is the wei escrow for the steps' callback gas, at least its cost at today's
    /// gas price. Checks every step (the model accepts the token, fee >= its owner fee + minimum worker fee,
    /// I/O types chaining, callback gas) and requests step 0.
    function requestChainWith(ChainRequest calldata r, address token, bytes calldata permit)
        external
        payable
        nonReentrant
        returns (uint256 chainId)
    {
        (uint256 total, uint256 minimum) = _checkSteps(r.steps, r.consumerGas, token);
        // INVARIANT: the callbacks' gas is prepaid in wei, and the escrow fits its uint96 slot.
        if (msg.value < minimum || msg.value > type(uint96).max) revert ChainCallbackEscrow(msg.value, minimum);
        // Pulled first (nonReentrant): step 0's request spends it. Exactly `total` must arrive.
        TokenPull.pullExact(token, msg.sender, total, permit);
        chainId = _open(r, total, token);
        emit ChainPaidWithToken(chainId, token, total, msg.value);
    }

    function _open(ChainRequest calldata r, uint256 total, address token) internal returns (uint256 chainId) {
        uint256 n = r.steps.length;
        uint64 stepDeadline = _stepDeadline(r.deadline, n);
        // INVARIANT: every step gets at least one second before its deadline.
        if (r.deadline > type(uint40).max || stepDeadline <= block.timestamp) {
            revert ChainDeadlineInvalid(r.deadline, block.timestamp);
        }
        chainId = ++chainCount;
        Chain storage c = _chains[chainId];
        c.requester = msg.sender;
        c.deadline = uint40(r.deadline);
        c.stepCount = uint8(n);
        c.consumerGas = r.consumerGas;
        c.blobBaseURI = r.blobBaseURI;
        c.token = token;
        // Exact: msg.value <= 2^96 - 1 for a token chain (checked); an ETH chain has no callback escrow.
        if (token != address(0)) c.callbackEscrow = uint96(msg.value);
        ChainStep[] storage steps = _steps[chainId];
        for (uint256 i = 0; i < n; ++i) {
            steps.push(r.steps[i]);
        }
        ChainStep calldata s0 = r.steps[0];
        // INVARIANT: the escrow of the later steps fits its uint96 slot (a sum of 8 uint96 fees may not).
        uint256 rest = total - s0.fee;
        if (rest > type(uint96).max) revert ChainFeeMismatch(total, total);
        c.escrow = uint96(rest);
        c.status = ChainStatus.Running;
        emit ChainRequested(chainId, msg.sender, n, total, r.deadline);

        // Step 0 is requested here: a refusal reverts the whole chain (nothing was paid).
        _started(chainId, c, 0, _requestFirst(c, r, n, stepDeadline), s0.modelHash, stepDeadline);
    }

    function _requestFirst(Chain storage c, ChainRequest calldata r, uint256 n, uint64 stepDeadline) internal returns (RequestId) {
        ChainStep calldata s0 = r.steps[0];
        (bool ok, bytes memory ret) = _request(
            c,
            s0,
            IInferenceOracle.RequestParams({
                modelHash: s0.modelHash,
                inputHash: r.inputHash,
                input: r.input,
                inputURI: r.inputURI,
                tier: s0.tier,
                callbackGasLimit: _callbackGas(0, n, r.consumerGas),
                deadline: stepDeadline,
                // The oracle's inline cap: an output above it arrives as its hash and becomes the next input by URI.
                maxInlineOutput: 0
            }),
            0
        );
        if (!ok) _bubble(ret);
        return abi.decode(ret, (RequestId));
    }

    /// @notice Requests the next step of a Ready chain with the recorded output of the current one. Anyone
    /// may call. `output` must be the output's canonical bytes when it was delivered inline (checked against
    /// its hash), and empty when it was delivered as hash only (the next input is then fetched by hash from
    /// `blobBaseURI`). Past the chain's deadline it ends the chain instead (refund).
    function advance(uint256 chainId, bytes calldata output) external nonReentrant {
        Chain storage c = _chains[chainId];
        if (c.status != ChainStatus.Ready) revert ChainNotReady(chainId, c.status);
        uint8 next = c.current + 1;
        uint64 stepDeadline = _stepDeadline(c.deadline, c.stepCount - next);
        if (stepDeadline <= block.timestamp) {
            _end(chainId, c, EndReason.DeadlinePassed, 0, 0, 0);
            return;
        }
        bytes32 outputHash = c.outputHash;
        string memory uri;
        if (c.outputInline) {
            (uint256 code, bytes32 computed) = TensorHash.tryHash(output);
            // INVARIANT: the next step's input is the previous step's output, bit for bit.
            if (code != 0 || computed != outputHash) revert ChainOutputMismatch(chainId, outputHash, computed);
        } else {
            if (output.length != 0) revert ChainOutputNotInline(chainId);
            if (bytes(c.blobBaseURI).length != 0) uri = string.concat(c.blobBaseURI, Strings.toHexString(uint256(outputHash), 32));
        }
        ChainStep memory s = _steps[chainId][next];
        // INVARIANT: a caller cannot end a chain by starving the oracle's request of gas.
        if (gasleft() < ADVANCE_MIN_GAS) revert ChainAdvanceGas(gasleft(), ADVANCE_MIN_GAS);
        c.escrow -= s.fee;
        (bool ok, bytes memory ret) = _request(
            c,
            s,
            IInferenceOracle.RequestParams({
                modelHash: s.modelHash,
                inputHash: outputHash,
                input: output,
                inputURI: uri,
                tier: s.tier,
                callbackGasLimit: _callbackGas(next, c.stepCount, c.consumerGas),
                deadline: stepDeadline,
                // The oracle's inline cap: an output above it arrives as its hash and becomes the next input by URI.
                maxInlineOutput: 0
            }),
            next
        );
        if (ok) {
            c.current = next;
            c.status = ChainStatus.Running;
            _started(chainId, c, next, abi.decode(ret, (RequestId)), s.modelHash, stepDeadline);
            return;
        }
        // Out of gas (no revert data) or a fee too low at this gas price (a token step's callback share
        // included) may pass: retry later.
        if (
            ret.length < 4 || bytes4(ret) == IInferenceOracle.OracleFeeTooLow.selector
                || bytes4(ret) == IOracleTokenFees.OracleTokenCallbackFee.selector
        ) revert ChainAdvanceFailed(chainId, ret);
        c.current = next;
        _end(chainId, c, EndReason.StepRequestFailed, 0, s.fee, 0);
    }

    /// @notice Applies a chain's default outcome where no callback will: a Ready chain past its deadline
    /// ends (refund); a Running chain whose step the oracle refunded without reaching us (the push failed
    /// and the fee waits in the oracle's pull balance of this contract) ends with that fee refunded too;
    /// a Running chain whose step the oracle fulfilled without our callback succeeding ends (refund of the
    /// later steps). Anyone may call.
    function reconcile(uint256 chainId) external nonReentrant {
        Chain storage c = _chains[chainId];
        if (c.status == ChainStatus.Ready && block.timestamp >= c.deadline) {
            _end(chainId, c, EndReason.DeadlinePassed, 0, 0, 0);
            return;
        }
        if (c.status == ChainStatus.Running) {
            IInferenceOracle.RequestStatus st = oracle.state(c.requestId);
            if (st == IInferenceOracle.RequestStatus.Refunded) {
                IInferenceOracle.RequestView memory rv = oracle.getRequest(c.requestId);
                address token = c.token;
                // A token step's refund is its token fee, claimed and withdrawn here, and its callback fee in wei.
                if (token != address(0)) TokenPull.collectRefund(IOracleTokenFees(address(oracle)), c.requestId, token);
                // The refund was credited to this contract at the oracle: pull it (with any other).
                if (oracle.balanceOf(address(this)) != 0) oracle.withdraw();
                if (token == address(0)) _end(chainId, c, EndReason.StepRefunded, 0, rv.fee, 0);
                else _end(chainId, c, EndReason.StepRefunded, 0, _steps[chainId][c.current].fee, rv.callbackFee);
                return;
            }
            if (st == IInferenceOracle.RequestStatus.Fulfilled) {
                _end(chainId, c, EndReason.CallbackLost, 0, 0, 0);
                return;
            }
        }
        revert ChainNothingToReconcile(chainId, c.status);
    }

    /// @notice Sends the caller its credited refunds.
    function withdraw() external nonReentrant {
        (uint256 amount, bool ok) = TokenPull.payWeiCredit(balanceOf);
        if (amount == 0) revert ChainNothingToWithdraw(msg.sender);
        if (!ok) revert ChainTransferFailed(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @notice Sends the caller its credited token refunds in `token`.
    function withdrawToken(address token) external nonReentrant {
        uint256 amount = TokenPull.payTokenCredit(tokenBalanceOf, token);
        if (amount == 0) revert ChainNothingToWithdraw(msg.sender);
        emit TokenWithdrawn(msg.sender, token, amount);
    }

    // ------------------------------------------------------------------ oracle callbacks

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(RequestId requestId, bytes32 outputHash, bytes calldata output) external onlyOracle {
        uint256 chainId = chainOf[requestId];
        Chain storage c = _chains[chainId];
        // INVARIANT: only the current step of a running chain advances it.
        if (chainId == 0 || c.status != ChainStatus.Running || c.requestId != requestId) revert ChainUnknownRequest(requestId);
        c.outputHash = outputHash;
        if (c.current + 1 < c.stepCount) {
            c.status = ChainStatus.Ready;
            c.outputInline = output.length != 0;
            emit ChainStepDelivered(chainId, c.current, requestId, outputHash, output.length != 0);
            return;
        }
        c.status = ChainStatus.Completed;
        bool ok;
        uint32 gas = c.consumerGas;
        if (gas != 0) {
            // ExactGasCall is our gas-exact call (libraries/ExactGasCall.sol), not address.call: exactly
            // `gas`, return data never copied; a revert is recorded, not bubbled.
            // solhint-disable-next-line avoid-low-level-calls
            ok = ExactGasCall.call(
                c.requester, gas, 0, abi.encodeCall(IChainConsumer.onChainResult, (chainId, outputHash, output))
            );
            c.callbackSucceeded = ok;
        }
        emit ChainCompleted(chainId, requestId, outputHash, ok);
    }

    /// @inheritdoc IInferenceConsumer
    /// @dev Runs within the oracle's REFUND_GAS (50,000): a lookup, two slot writes, one credit, one event.
    function onInferenceRefunded(RequestId requestId, uint8 reason) external payable onlyOracle {
        uint256 chainId = chainOf[requestId];
        Chain storage c = _chains[chainId];
        if (chainId == 0 || c.status != ChainStatus.Running || c.requestId != requestId) revert ChainUnknownRequest(requestId);
        if (c.token != address(0)) {
            // A token request's refund carries nothing: `reconcile` claims its token fee and callback fee.
            emit ChainStepRefundPending(chainId, c.current, requestId, reason);
            return;
        }
        // The refunded fee is credited with the escrow, never added to it: on the last step the escrow slot
        // may be zero, and writing it non-zero would cost 20,000 of the 50,000 gas this runs with.
        _end(chainId, c, EndReason.StepRefunded, reason, msg.value, 0);
    }

    // ------------------------------------------------------------------ views

    function getChain(uint256 chainId) external view returns (ChainView memory v) {
        Chain storage c = _chains[chainId];
        v.requester = c.requester;
        v.deadline = c.deadline;
        v.stepCount = c.stepCount;
        v.current = c.current;
        v.status = c.status;
        v.outputInline = c.outputInline;
        v.escrow = c.escrow;
        v.consumerGas = c.consumerGas;
        v.callbackSucceeded = c.callbackSucceeded;
        v.requestId = c.requestId;
        v.outputHash = c.outputHash;
        v.blobBaseURI = c.blobBaseURI;
        v.steps = _steps[chainId];
        v.requestIds = _requestIds[chainId];
        v.token = c.token;
        v.callbackEscrow = c.callbackEscrow;
    }

    /// @notice What an Ended chain credited its requester (in its token for a token chain, callback wei
    /// aside): every step's fee less the fees of the steps the oracle did not refund (fulfilled, or still
    /// open); 0 for a chain that did not end.
    function refundOf(uint256 chainId) external view returns (uint256 refund) {
        if (_chains[chainId].status != ChainStatus.Ended) return 0;
        ChainStep[] storage steps = _steps[chainId];
        for (uint256 i = 0; i < steps.length; ++i) {
            refund += steps[i].fee;
        }
        RequestId[] storage ids = _requestIds[chainId];
        for (uint256 i = 0; i < ids.length; ++i) {
            if (oracle.state(ids[i]) != IInferenceOracle.RequestStatus.Refunded) refund -= steps[i].fee;
        }
    }

    /// @notice The callback gas limit step `step` of an `n`-step chain is requested with.
    function callbackGasOf(uint256 step, uint256 n, uint32 consumerGas) external pure returns (uint32) {
        return _callbackGas(step, n, consumerGas);
    }

    // ------------------------------------------------------------------ internals

    function _callbackGas(uint256 step, uint256 n, uint32 consumerGas) internal pure returns (uint32) {
        if (step + 1 < n) return STEP_CALLBACK_GAS;
        if (consumerGas == 0) return FINAL_CALLBACK_BASE;
        // What ExactGasCall requires to forward exactly consumerGas, plus our own bookkeeping.
        return uint32(FINAL_CALLBACK_BASE + uint256(consumerGas) * 64 / 63 + ExactGasCall.CALL_OVERHEAD);
    }

    /// @dev An equal share of the time left: now + (deadline - now) / stepsLeft (0 when past).
    function _stepDeadline(uint64 deadline, uint256 stepsLeft) internal view returns (uint64) {
        if (deadline <= block.timestamp) return 0;
        return uint64(block.timestamp + (deadline - block.timestamp) / stepsLeft);
    }

    /// @dev Checks every step as it will be requested (at today's gas price) and returns the sum of fees and,
    /// for a token chain (fees in `token`, checked against the model's token terms), the wei its callbacks'
    /// gas costs today.
    function _checkSteps(ChainStep[] calldata steps, uint32 consumerGas, address token)
        internal
        view
        returns (uint256 total, uint256 callbackWei)
    {
        IInferenceOracle.Params memory p = oracle.params();
        uint256 gasPrice = block.basefee < p.minGasPrice ? p.minGasPrice : block.basefee;
        uint256 n = steps.length;
        if (n == 0 || n > MAX_STEPS) revert ChainStepCount(n, MAX_STEPS);
        for (uint256 i = 0; i < n; ++i) {
            ChainStep calldata s = steps[i];
            uint256 gas = _callbackGas(i, n, consumerGas);
            if (gas > p.maxCallbackGasLimit) revert ChainCallbackGasTooHigh(i, gas, p.maxCallbackGasLimit);
            uint256 minimum = _feeMinimum(i, s, token, p.minWorkerFee);
            // An ETH step's fee pays its callback's gas; a token chain's callbacks are paid from msg.value.
            if (token == address(0)) minimum += gas * gasPrice;
            else callbackWei += gas * gasPrice;
            if (s.fee < minimum) revert ChainStepFeeTooLow(i, s.fee, minimum);
            if (i + 1 < n) _checkTypes(i, s.modelHash, steps[i + 1].modelHash);
            total += s.fee;
        }
    }

    /// @dev Checks step i's model (active, with its tier) and returns its least fee before callback gas: the
    /// owner's fee and the minimum worker fee, in wei, or in `token` from the model's terms in it.
    function _feeMinimum(uint256 i, ChainStep calldata s, address token, uint256 minWorkerFee) internal view returns (uint256) {
        IModelRegistry.ModelTerms memory t = registry.terms(s.modelHash);
        if (!t.active || (t.tiers & (uint8(1) << uint8(s.tier))) == 0) revert ChainModelUnavailable(i, s.modelHash, s.tier);
        if (token == address(0)) return uint256(t.fee) + minWorkerFee;
        IModelRegistry.TokenTerms memory tt = registry.tokenTerms(s.modelHash, token);
        // INVARIANT: a token chain's steps are paid only in a token each model's owner accepts now.
        if (!tt.accepted) revert ChainTokenNotAccepted(i, s.modelHash, token);
        return uint256(tt.ownerFee) + tt.minWorkerFee;
    }

    /// @dev Step i's registered outputs must be step i+1's registered inputs (registry.modelIO: a model
    /// registered with one input and one output reads as one unnamed tensor): as many, the same names when
    /// several (a bundle is matched by name), each of the same dtype and rank with every dimension equal
    /// or 0 (any size) on either side.
    function _checkTypes(uint256 i, bytes32 from, bytes32 to) internal view {
        (, IModelRegistry.NamedTensorSpec[] memory outs) = registry.modelIO(from);
        (IModelRegistry.NamedTensorSpec[] memory ins,) = registry.modelIO(to);
        bool ok = outs.length == ins.length;
        for (uint256 k = 0; ok && k < outs.length; ++k) {
            ok = _fits(outs[k], ins[k]) && (outs.length == 1 || keccak256(bytes(outs[k].name)) == keccak256(bytes(ins[k].name)));
        }
        if (!ok) revert ChainTypeMismatch(i, from, to);
    }

    function _fits(IModelRegistry.NamedTensorSpec memory out, IModelRegistry.NamedTensorSpec memory inp) internal pure returns (bool ok) {
        ok = out.dtype == inp.dtype && out.shape.length == inp.shape.length;
        for (uint256 d = 0; ok && d < out.shape.length; ++d) {
            ok = out.shape[d] == inp.shape[d] || out.shape[d] == 0 || inp.shape[d] == 0;
        }
    }

    /// @dev Requests step `step` at the oracle: an ETH step sends its fee; a token step approves exactly its
    /// fee and sends its share of the callback escrow (in proportion to its callback gas among the steps
    /// left; the last step takes the rest; taken out of the escrow only when the request is made). Returns the call's success and its return (the request id) or
    /// revert data.
    function _request(Chain storage c, ChainStep memory s, IInferenceOracle.RequestParams memory p, uint256 step)
        internal
        returns (bool ok, bytes memory ret)
    {
        address token = c.token;
        bytes memory data;
        uint256 value = s.fee;
        if (token == address(0)) {
            data = abi.encodeCall(IInferenceOracle.requestInference, (p));
        } else {
            uint256 n = c.stepCount;
            uint256 gasLeft;
            for (uint256 i = step; i < n; ++i) {
                gasLeft += _callbackGas(i, n, c.consumerGas);
            }
            // Cannot overflow: escrow < 2^96, gas < 2^40; value <= escrow (p.callbackGasLimit <= gasLeft).
            value = uint256(c.callbackEscrow) * p.callbackGasLimit / gasLeft;
            TokenPull.approveExact(token, address(oracle), s.fee);
            data = abi.encodeCall(IOracleTokenFees.requestInferenceWithToken, (p, token, s.fee, ""));
        }
        // The oracle's own entry points (requestInference / requestInferenceWithToken), called raw so that one
        // path serves both and a refusal's revert data can be told apart (advance) or bubbled (step 0).
        // solhint-disable-next-line avoid-low-level-calls
        (ok, ret) = address(oracle).call{value: value}(data);
        // Exact: value <= callbackEscrow (above). An ETH chain's escrow is its step fees (the caller's books).
        if (ok && token != address(0)) c.callbackEscrow -= uint96(value);
    }

    /// @dev Reverts with `ret` (the oracle's own error) unchanged.
    function _bubble(bytes memory ret) internal pure {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            revert(add(ret, 32), mload(ret))
        }
    }

    function _started(uint256 chainId, Chain storage c, uint8 step, RequestId id, bytes32 modelHash, uint64 deadline) internal {
        c.requestId = id;
        chainOf[id] = chainId;
        _requestIds[chainId].push(id);
        emit ChainStepRequested(chainId, step, id, modelHash, deadline);
    }

    /// @dev Ends the chain and credits its escrow plus `extra` (a refunded or unspent step fee) to the
    /// requester (pull), in the chain's token for a token chain, with its callback escrow plus
    /// `extraCallback` (a refunded step's callback fee) in wei.
    function _end(uint256 chainId, Chain storage c, EndReason reason, uint8 oracleReason, uint256 extra, uint256 extraCallback)
        internal
    {
        uint256 refund = c.escrow + extra;
        c.escrow = 0;
        c.status = ChainStatus.Ended;
        address token = c.token;
        if (token == address(0)) {
            balanceOf[c.requester] += refund;
        } else {
            uint256 callbackRefund = c.callbackEscrow + extraCallback;
            c.callbackEscrow = 0;
            tokenBalanceOf[c.requester][token] += refund;
            if (callbackRefund != 0) balanceOf[c.requester] += callbackRefund;
            emit ChainTokenRefunded(chainId, token, refund, callbackRefund);
        }
        emit ChainEnded(chainId, c.current, reason, oracleReason, refund);
    }
}
