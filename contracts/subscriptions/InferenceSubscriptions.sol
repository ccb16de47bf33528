// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Assembly forwards an exact gas amount and bounds the copied return data (return bombs).
// solhint-disable no-inline-assembly

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {IOracleTokenFees} from "../interfaces/IOracleTokenFees.sol";
import {TokenPull} from "../libraries/TokenPull.sol";
import {RequestId} from "../types/RequestId.sol";
import {ISubscriptionConsumer} from "./ISubscriptionConsumer.sol";

/// @title InferenceSubscriptions
/// @notice Prepaid recurring inference on top of the oracle. A subscriber prepays `maxDeliveries` rounds
/// of (perDeliveryFee + keeperReward); every `interval` seconds (or blocks) anyone may `trigger` the due
/// round, which makes one ordinary oracle request (its own deadline, dispute and refund path) with this
/// contract as the requester, and is paid `keeperReward`. The result is forwarded to the subscription's
/// consumer with exactly its callbackGasLimit (a failure is recorded, never blocks) and its outputHash
/// kept per round. A refunded request's fee returns to the subscription's balance. The owner may
/// `cancel` at any time: the unused balance is paid out at once; rounds still in flight settle or refund
/// into the balance, which the owner `withdraw`s later.
///
/// Missed rounds are skipped, not caught up: rounds are slots `interval` apart from the first due time,
/// and a trigger serves the current slot and moves the next due time to the next slot boundary, so
/// however late keepers are, at most one round is made per slot and every round is still made (later).
///
/// Funds: address(this).balance == sum of subscription balances + keeper rewards owed + `unattributed`
/// (refunds pulled from the oracle, not yet matched to their delivery by `sync`).
///
/// Paid in a token (`subscribeWithToken`; docs/FEATURES.md, "ERC-20 fees across features"): each round's
/// fee is `perDeliveryFee` of the token (the model's owner must accept it), prepaid in the token and held
/// in the subscription's `tokenBalance`; each round is an oracle token request. The oracle charges a token
/// request's callback gas in wei, so the ETH `balance` prepays `callbackFee` (wei sent with each round's
/// request) and the keeper reward, which stays in ETH: keepers pay their gas in ETH, and one reward
/// currency keeps `rewardsOf` a single ledger no token can block. A refunded token round comes back through
/// `sync` (the oracle's refund of a token request carries no tokens: its amount and callback fee are
/// claimed with claimTokenRefund, which costs more than the oracle's REFUND_GAS): the fee returns to
/// `tokenBalance`, the callback fee to `balance`. `cancel` and `withdraw` pay both.
/// Tokens, per token: token.balanceOf(this) == sum of its subscriptions' tokenBalance + unattributedToken.
contract InferenceSubscriptions is IInferenceConsumer, ReentrancyGuardTransient {
    enum DeliveryStatus {
        None,
        Pending,
        Fulfilled,
        Refunded
    }

    struct Subscription {
        address owner;
        uint64 nextDue;
        uint32 interval;
        address consumer;
        uint32 maxDeliveries;
        uint32 triggered;
        uint32 callbackGasLimit;
        bytes32 modelHash;
        uint96 perDeliveryFee;
        uint96 keeperReward;
        uint32 deliveryWindow;
        uint32 pending;
        uint128 balance;
        IInferenceOracle.Tier tier;
        bool intervalIsBlocks;
        bool inputFromConsumer;
        bool cancelled;
        uint32 fulfilled;
        uint32 refunded;
        uint32 skipped;
        bytes32 inputHash;
        string inputURI;
        /// @dev the fee token (zero: ETH), the wei sent with each token round for its callback's gas, and
        /// the unspent token prepayment
        address token;
        uint96 callbackFee;
        uint128 tokenBalance;
    }

    /// @param consumer receives each result (ISubscriptionConsumer.onSubscriptionResult), and with
    /// `inputFromConsumer` answers each round's input; zero: results are only kept (`outputOf`)
    /// @param interval seconds (or blocks with `intervalIsBlocks`) between rounds; the first is due at once
    /// @param deliveryWindow each request's deadline is its trigger time plus this many seconds
    /// @param inputHash, inputURI the fixed input of every round (unused with `inputFromConsumer`)
    struct SubscribeParams {
        bytes32 modelHash;
        IInferenceOracle.Tier tier;
        address consumer;
        uint32 interval;
        bool intervalIsBlocks;
        uint32 maxDeliveries;
        uint96 perDeliveryFee;
        uint96 keeperReward;
        uint32 callbackGasLimit;
        uint32 deliveryWindow;
        bool inputFromConsumer;
        bytes32 inputHash;
        string inputURI;
    }

    struct Delivery {
        uint64 subId;
        uint32 round;
        DeliveryStatus status;
    }

    /// @notice Gas the input view gets (a static call) and the most bytes of URI it may answer.
    uint256 public constant INPUT_GAS = 100_000;
    uint256 public constant MAX_URI_BYTES = 512;
    /// @notice Gas this contract's own result handling takes on top of the consumer's callbackGasLimit
    /// (book-keeping, the kept outputHash, the event, the call and its 63/64 rule).
    uint256 public constant RESULT_OVERHEAD_GAS = 80_000;
    uint256 internal constant CALL_OVERHEAD = 10_000;

    IInferenceOracle public immutable oracle;

    uint256 public subscriptionCount;
    /// @notice Refunds pulled from the oracle (its pull balance of this contract) not yet matched by `sync`.
    uint256 public unattributed;
    mapping(uint256 subId => Subscription) internal _subs;
    mapping(RequestId => Delivery) internal _deliveries;
    mapping(uint256 subId => mapping(uint32 round => RequestId)) public requestOf;
    mapping(uint256 subId => mapping(uint32 round => bytes32)) public outputOf;
    mapping(address keeper => uint256) public rewardsOf;
    /// @notice Token refunds withdrawn from the oracle, not yet matched to their delivery by `sync`.
    mapping(address token => uint256) public unattributedToken;

    event Subscribed(
        uint256 indexed subId,
        address indexed owner,
        bytes32 indexed modelHash,
        address consumer,
        uint32 interval,
        bool intervalIsBlocks,
        uint32 maxDeliveries,
        uint256 perDeliveryFee,
        uint256 keeperReward
    );
    event RoundTriggered(uint256 indexed subId, uint32 round, RequestId indexed requestId, address indexed keeper, uint64 nextDue);
    /// @notice The round's input could not be had from the consumer; the round is used up, its fee kept.
    event RoundSkipped(uint256 indexed subId, uint32 round, address indexed keeper, bytes reason);
    event DeliveryFulfilled(uint256 indexed subId, uint32 round, RequestId indexed requestId, bytes32 outputHash, bool callbackSucceeded);
    event DeliveryRefunded(uint256 indexed subId, uint32 round, RequestId indexed requestId, uint256 amount, uint8 reason);
    event SubscriptionCancelled(uint256 indexed subId, uint256 refunded, uint32 pending);
    event SubscriptionWithdrawn(uint256 indexed subId, address indexed to, uint256 amount);
    event RewardsWithdrawn(address indexed keeper, uint256 amount);
    /// @notice A token subscription: its fees are `perDeliveryFee` of `token`, each round sends `callbackFee` wei.
    event SubscribedWithToken(uint256 indexed subId, address indexed token, uint256 tokenPrepaid, uint256 callbackFee);
    /// @notice The oracle refunded a token round; `sync` claims its tokens back into the subscription.
    event TokenDeliveryRefundPending(uint256 indexed subId, uint32 round, RequestId indexed requestId, uint8 reason);
    event SubscriptionTokenWithdrawn(uint256 indexed subId, address indexed to, address indexed token, uint256 amount);

    error SubsOnlyOracle(address caller);
    error SubsNotOwner(uint256 subId, address caller);
    error SubsNotFound(uint256 subId);
    error SubsInvalid(string what);
    error SubsWrongValue(uint256 sent, uint256 required);
    error SubsNotDue(uint256 subId, uint64 nextDue, uint64 now_);
    error SubsFinished(uint256 subId);
    error SubsCancelled(uint256 subId);
    error SubsStillOpen(uint256 subId);
    error SubsUnknownRequest(RequestId requestId);
    error SubsNotSettled(RequestId requestId, IInferenceOracle.RequestStatus status);
    error SubsRefundNotPulled(RequestId requestId, uint256 amount, uint256 available);
    error SubsInsufficientGas(uint256 available, uint256 required);
    error SubsTransferFailed(address to, uint256 amount);
    error SubsTokenRefundNotPulled(RequestId requestId, address token, uint256 amount, uint256 available);

    modifier onlyOracle() {
        // INVARIANT: results and refunds are believed only when the oracle delivers them.
        if (msg.sender != address(oracle)) revert SubsOnlyOracle(msg.sender);
        _;
    }

    constructor(address oracle_) {
        oracle = IInferenceOracle(oracle_);
    }

    /// @notice Refunds the oracle could not push (pulled by `sync`); nothing else may send ether.
    receive() external payable onlyOracle {
        unattributed += msg.value;
    }

    // ============================================================ subscriber

    /// @notice Opens a subscription; msg.value must be exactly maxDeliveries x (perDeliveryFee + keeperReward).
    function subscribe(SubscribeParams calldata p) external payable nonReentrant returns (uint256 subId) {
        uint256 required = uint256(p.maxDeliveries) * (uint256(p.perDeliveryFee) + p.keeperReward);
        // INVARIANT: every round is prepaid, exactly.
        if (msg.value != required) revert SubsWrongValue(msg.value, required);
        subId = _open(p, required);
    }

    /// @notice Opens a subscription paid in `token`: pulls exactly maxDeliveries x perDeliveryFee of it from
    /// the caller (after its EIP-2612 `permit` for this contract, abi.encode(IOracleTokenFees.Permit), when
    /// not empty) and takes msg.value == maxDeliveries x (callbackFee + keeperReward) in wei. `callbackFee` is
    /// sent with each round's request for its callback gas (at least requestGasLimit(callbackGasLimit) x the
    /// gas price of the time, or the round's trigger is refused). A fee-on-transfer token is refused.
    function subscribeWithToken(SubscribeParams calldata p, address token, uint96 callbackFee, bytes calldata permit)
        external
        payable
        nonReentrant
        returns (uint256 subId)
    {
        if (token == address(0)) revert SubsInvalid("token");
        if (callbackFee == 0) revert SubsInvalid("callbackFee");
        uint256 required = uint256(p.maxDeliveries) * (uint256(callbackFee) + p.keeperReward);
        // INVARIANT: every round's callback gas and keeper reward are prepaid in wei, exactly.
        if (msg.value != required) revert SubsWrongValue(msg.value, required);
        subId = _open(p, required);
        Subscription storage s = _subs[subId];
        uint256 tokens = uint256(p.maxDeliveries) * p.perDeliveryFee;
        s.token = token;
        s.callbackFee = callbackFee;
        // Exact: tokens <= 2^32 * 2^96 < 2^128.
        s.tokenBalance = uint128(tokens);
        emit SubscribedWithToken(subId, token, tokens, callbackFee);
        // The only external calls, last (nonReentrant as well): exactly `tokens` must arrive.
        TokenPull.pullExact(token, msg.sender, tokens, permit);
    }

    function _open(SubscribeParams calldata p, uint256 balance) internal returns (uint256 subId) {
        if (p.maxDeliveries == 0) revert SubsInvalid("maxDeliveries");
        if (p.interval == 0) revert SubsInvalid("interval");
        if (p.deliveryWindow == 0) revert SubsInvalid("deliveryWindow");
        if (p.perDeliveryFee == 0) revert SubsInvalid("perDeliveryFee");
        if (p.inputFromConsumer ? p.consumer.code.length == 0 : p.inputHash == bytes32(0)) revert SubsInvalid("input");
        if (p.callbackGasLimit != 0 && p.consumer.code.length == 0) revert SubsInvalid("consumer");
        if (bytes(p.inputURI).length > MAX_URI_BYTES) revert SubsInvalid("inputURI");
        // INVARIANT: the oracle would take every round's callback gas (checked now; params may change later).
        uint256 gasLimit = requestGasLimit(p.callbackGasLimit);
        uint256 maxGas = oracle.params().maxCallbackGasLimit;
        if (gasLimit > maxGas) revert SubsInvalid("callbackGasLimit");

        subId = ++subscriptionCount;
        Subscription storage s = _subs[subId];
        s.owner = msg.sender;
        s.nextDue = _now(p.intervalIsBlocks);
        s.interval = p.interval;
        s.consumer = p.consumer;
        s.maxDeliveries = p.maxDeliveries;
        s.callbackGasLimit = p.callbackGasLimit;
        s.modelHash = p.modelHash;
        s.perDeliveryFee = p.perDeliveryFee;
        s.keeperReward = p.keeperReward;
        s.deliveryWindow = p.deliveryWindow;
        // Exact: balance <= 2^32 * 2^97 < 2^128.
        s.balance = uint128(balance);
        s.tier = p.tier;
        s.intervalIsBlocks = p.intervalIsBlocks;
        s.inputFromConsumer = p.inputFromConsumer;
        s.inputHash = p.inputHash;
        s.inputURI = p.inputURI;
        emit Subscribed(
            subId, msg.sender, p.modelHash, p.consumer, p.interval, p.intervalIsBlocks, p.maxDeliveries, p.perDeliveryFee, p.keeperReward
        );
    }

    /// @notice Closes the subscription (owner only) and pays its unused balance to the owner now. Rounds in
    /// flight still settle; their refunds come back to the balance, which `withdraw` pays out.
    function cancel(uint256 subId) external nonReentrant {
        Subscription storage s = _owned(subId);
        if (s.cancelled) revert SubsCancelled(subId);
        s.cancelled = true;
        uint256 amount = s.balance;
        s.balance = 0;
        emit SubscriptionCancelled(subId, amount, s.pending);
        _payOut(subId, s, amount);
    }

    /// @notice Pays a closed subscription's balance (refunds that came back after it was cancelled or
    /// finished) to its owner.
    function withdraw(uint256 subId) external nonReentrant {
        Subscription storage s = _owned(subId);
        if (!s.cancelled && s.triggered < s.maxDeliveries) revert SubsStillOpen(subId);
        uint256 amount = s.balance;
        s.balance = 0;
        _payOut(subId, s, amount);
    }

    // ============================================================ keepers

    /// @notice Makes the subscription's due round (anyone; the caller is paid keeperReward). Reverts when
    /// it is not due, finished or cancelled, or when the oracle refuses the request (then nothing moves).
    function trigger(uint256 subId) external nonReentrant returns (RequestId requestId) {
        Subscription storage s = _subs[subId];
        if (s.owner == address(0)) revert SubsNotFound(subId);
        if (s.cancelled) revert SubsCancelled(subId);
        uint32 round = s.triggered;
        if (round >= s.maxDeliveries) revert SubsFinished(subId);
        uint64 now_ = _now(s.intervalIsBlocks);
        uint64 due = s.nextDue;
        // INVARIANT: one round per slot: a round is made only once its slot has begun.
        if (now_ < due) revert SubsNotDue(subId, due, now_);
        // Skip missed slots: the next round is due at the next slot boundary after now.
        uint64 nextDue = due + ((now_ - due) / s.interval + 1) * s.interval;
        s.nextDue = nextDue;
        s.triggered = round + 1;
        uint256 fee = s.perDeliveryFee;
        uint256 reward = s.keeperReward;
        // Cannot underflow: every round's fee and reward were prepaid, and only rounds spend them.
        s.balance -= uint128(reward);
        rewardsOf[msg.sender] += reward;

        (bytes32 inputHash, string memory inputURI, bytes memory failure) = _input(s, subId, round);
        if (failure.length != 0 || inputHash == bytes32(0)) {
            ++s.skipped;
            emit RoundSkipped(subId, round, msg.sender, failure);
            return requestId;
        }
        ++s.pending;
        requestId = _request(s, inputHash, inputURI, fee);
        // Exact: subId <= subscriptionCount, far below 2^64.
        _deliveries[requestId] = Delivery({subId: uint64(subId), round: round, status: DeliveryStatus.Pending});
        requestOf[subId][round] = requestId;
        emit RoundTriggered(subId, round, requestId, msg.sender, nextDue);
    }

    /// @notice Pays the caller's keeper rewards.
    function withdrawRewards() external nonReentrant {
        uint256 amount = rewardsOf[msg.sender];
        rewardsOf[msg.sender] = 0;
        _send(msg.sender, amount);
        emit RewardsWithdrawn(msg.sender, amount);
    }

    // ============================================================ oracle callbacks

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(RequestId requestId, bytes32 outputHash, bytes calldata output) external onlyOracle nonReentrant {
        Delivery storage d = _pending(requestId);
        d.status = DeliveryStatus.Fulfilled;
        uint256 subId = d.subId;
        uint32 round = d.round;
        Subscription storage s = _subs[subId];
        --s.pending;
        ++s.fulfilled;
        outputOf[subId][round] = outputHash;
        bool ok;
        uint256 gasLimit = s.callbackGasLimit;
        if (gasLimit != 0) {
            // INVARIANT: the consumer gets exactly its gas and cannot make this call fail (nor return-bomb it).
            ok = _exactCall(
                s.consumer,
                gasLimit,
                abi.encodeCall(ISubscriptionConsumer.onSubscriptionResult, (subId, round, requestId, outputHash, output))
            );
        }
        emit DeliveryFulfilled(subId, round, requestId, outputHash, ok);
    }

    /// @inheritdoc IInferenceConsumer
    /// @dev Runs within the oracle's REFUND_GAS (50,000): two storage writes and an event.
    function onInferenceRefunded(RequestId requestId, uint8 reason) external payable onlyOracle nonReentrant {
        Delivery storage d = _pending(requestId);
        if (_subs[d.subId].token != address(0)) {
            // A token round's refund carries no tokens (nor its callback fee): `sync` claims both.
            emit TokenDeliveryRefundPending(d.subId, d.round, requestId, reason);
            return;
        }
        _creditRefund(d, requestId, msg.value, 0, reason);
    }

    /// @notice Settles a delivery's book-keeping from the oracle's state when its callback did not reach
    /// this contract (anyone): a refund the oracle could not push is pulled and returned to the
    /// subscription's balance; a fulfilment whose callback failed is recorded without its outputHash.
    function sync(RequestId requestId) external nonReentrant {
        Delivery storage d = _pending(requestId);
        IInferenceOracle.RequestStatus st = oracle.state(requestId);
        if (st == IInferenceOracle.RequestStatus.Refunded) {
            address token = _subs[d.subId].token;
            uint256 tokens;
            if (token != address(0)) {
                tokens = _subs[d.subId].perDeliveryFee;
                uint256 held = unattributedToken[token] + TokenPull.collectRefund(IOracleTokenFees(address(oracle)), requestId, token);
                // INVARIANT: a token refund is credited only from tokens the oracle actually paid this contract.
                if (held < tokens) revert SubsTokenRefundNotPulled(requestId, token, tokens, held);
                unattributedToken[token] = held - tokens;
            }
            if (oracle.balanceOf(address(this)) != 0) oracle.withdraw();
            // A token request's wei `fee` is its callback fee (claimTokenRefund credited it in wei).
            uint256 amount = token == address(0) ? oracle.getRequest(requestId).fee : oracle.getRequest(requestId).callbackFee;
            uint256 available = unattributed;
            // INVARIANT: a refund is credited only from ether the oracle actually paid this contract.
            if (available < amount) revert SubsRefundNotPulled(requestId, amount, available);
            unattributed = available - amount;
            _creditRefund(d, requestId, amount, tokens, type(uint8).max);
        } else if (st == IInferenceOracle.RequestStatus.Fulfilled) {
            d.status = DeliveryStatus.Fulfilled;
            Subscription storage s = _subs[d.subId];
            --s.pending;
            ++s.fulfilled;
            emit DeliveryFulfilled(d.subId, d.round, requestId, bytes32(0), false);
        } else {
            revert SubsNotSettled(requestId, st);
        }
    }

    // ============================================================ views

    function getSubscription(uint256 subId) external view returns (Subscription memory) {
        return _subs[subId];
    }

    function getDelivery(RequestId requestId) external view returns (Delivery memory) {
        return _deliveries[requestId];
    }

    /// @notice Whether `trigger(subId)` would pass its own checks now (the oracle may still refuse).
    function isDue(uint256 subId) external view returns (bool) {
        Subscription storage s = _subs[subId];
        return s.owner != address(0) && !s.cancelled && s.triggered < s.maxDeliveries && _now(s.intervalIsBlocks) >= s.nextDue;
    }

    /// @notice The callbackGasLimit each round's oracle request asks for: the consumer's plus this
    /// contract's own handling.
    function requestGasLimit(uint32 consumerGas) public pure returns (uint256) {
        return uint256(consumerGas) + uint256(consumerGas) / 63 + RESULT_OVERHEAD_GAS;
    }

    /// @notice What subscribing costs: maxDeliveries x (perDeliveryFee + keeperReward).
    function prepayment(uint32 maxDeliveries, uint96 perDeliveryFee, uint96 keeperReward) external pure returns (uint256) {
        return uint256(maxDeliveries) * (uint256(perDeliveryFee) + keeperReward);
    }

    // ============================================================ internals

    function _creditRefund(Delivery storage d, RequestId requestId, uint256 amount, uint256 tokens, uint8 reason) internal {
        d.status = DeliveryStatus.Refunded;
        Subscription storage s = _subs[d.subId];
        --s.pending;
        ++s.refunded;
        // Exact: amount is the fee (or callback fee) this contract paid for the round (< 2^96), balance
        // stays < 2^128; tokens is the round's token fee (< 2^96), tokenBalance stays < 2^128.
        s.balance += uint128(amount);
        if (tokens != 0) s.tokenBalance += uint128(tokens);
        emit DeliveryRefunded(d.subId, d.round, requestId, amount, reason);
    }

    /// @dev Makes the round's oracle request: an ETH round sends its fee; a token round approves exactly its
    /// fee in the token and sends its callback fee in wei.
    function _request(Subscription storage s, bytes32 inputHash, string memory inputURI, uint256 fee)
        internal
        returns (RequestId requestId)
    {
        IInferenceOracle.RequestParams memory params = IInferenceOracle.RequestParams({
            modelHash: s.modelHash,
            inputHash: inputHash,
            input: "",
            inputURI: inputURI,
            tier: s.tier,
            callbackGasLimit: uint32(requestGasLimit(s.callbackGasLimit)),
            deadline: uint64(block.timestamp) + s.deliveryWindow,
            // The oracle's inline cap (large outputs reach the consumer as their hash; the bytes are at the blob store).
            maxInlineOutput: 0
        });
        address token = s.token;
        if (token == address(0)) {
            s.balance -= uint128(fee);
            requestId = oracle.requestInference{value: fee}(params);
        } else {
            uint256 callbackFee = s.callbackFee;
            // Cannot underflow: each round's fee (tokens) and callback fee (wei) were prepaid; only rounds spend them.
            s.balance -= uint128(callbackFee);
            s.tokenBalance -= uint128(fee);
            TokenPull.approveExact(token, address(oracle), fee);
            requestId = IOracleTokenFees(address(oracle)).requestInferenceWithToken{value: callbackFee}(params, token, fee, "");
        }
    }

    function _pending(RequestId requestId) internal view returns (Delivery storage d) {
        d = _deliveries[requestId];
        // INVARIANT: only this contract's own in-flight rounds are settled, each once.
        if (d.status != DeliveryStatus.Pending) revert SubsUnknownRequest(requestId);
    }

    function _owned(uint256 subId) internal view returns (Subscription storage s) {
        s = _subs[subId];
        if (s.owner == address(0)) revert SubsNotFound(subId);
        // INVARIANT: only the subscriber closes its subscription or takes its funds.
        if (s.owner != msg.sender) revert SubsNotOwner(subId, msg.sender);
    }

    function _now(bool blocks) internal view returns (uint64) {
        return blocks ? uint64(block.number) : uint64(block.timestamp);
    }

    /// @dev The round's input: fixed, or asked of the consumer with INPUT_GAS gas, at most
    /// 96 + MAX_URI_BYTES bytes of answer copied, and the answer's encoding checked before decoding.
    function _input(Subscription storage s, uint256 subId, uint32 round)
        internal
        view
        returns (bytes32 inputHash, string memory inputURI, bytes memory failure)
    {
        if (!s.inputFromConsumer) return (s.inputHash, s.inputURI, failure);
        // INVARIANT: a caller cannot make the consumer's input view fail by sending too little gas.
        uint256 required = INPUT_GAS * 64 / 63 + CALL_OVERHEAD + 50_000;
        if (gasleft() < required) revert SubsInsufficientGas(gasleft(), required);
        bytes memory data = abi.encodeCall(ISubscriptionConsumer.subscriptionInput, (subId, round));
        address target = s.consumer;
        uint256 maxReturn = 96 + MAX_URI_BYTES;
        bool ok;
        uint256 size;
        bytes memory ret;
        assembly ("memory-safe") {
            ok := staticcall(INPUT_GAS, target, add(data, 32), mload(data), 0, 0)
            size := returndatasize()
        }
        if (!ok) return (inputHash, inputURI, "reverted");
        if (size > maxReturn + 31 || size < 96) return (inputHash, inputURI, "answer size");
        ret = new bytes(size);
        assembly ("memory-safe") {
            returndatacopy(add(ret, 32), 0, size)
        }
        (, uint256 offset, uint256 len) = abi.decode(ret, (bytes32, uint256, uint256));
        if (offset != 64 || len > MAX_URI_BYTES || 96 + len > size) return (inputHash, inputURI, "answer encoding");
        (inputHash, inputURI) = abi.decode(ret, (bytes32, string));
        if (inputHash == bytes32(0)) return (inputHash, inputURI, "no input");
    }

    /// @dev Calls with exactly `gasLimit` gas, copying no return data. The oracle gave this call
    /// requestGasLimit(gasLimit), which covers it; if it somehow could not, the call is not made (false).
    function _exactCall(address target, uint256 gasLimit, bytes memory data) internal returns (bool success) {
        if (gasleft() < gasLimit * 64 / 63 + CALL_OVERHEAD) return false;
        assembly ("memory-safe") {
            success := call(gasLimit, target, 0, add(data, 32), mload(data), 0, 0)
        }
    }

    /// @dev Pays a closing subscription's wei `amount` (zeroed by the caller) and its unspent tokens to its owner.
    function _payOut(uint256 subId, Subscription storage s, uint256 amount) internal {
        uint256 tokens = s.tokenBalance;
        s.tokenBalance = 0;
        _send(msg.sender, amount);
        emit SubscriptionWithdrawn(subId, msg.sender, amount);
        if (tokens != 0) {
            emit SubscriptionTokenWithdrawn(subId, msg.sender, s.token, tokens);
            TokenPull.send(s.token, msg.sender, tokens);
        }
    }

    function _send(address to, uint256 amount) internal {
        if (amount == 0) return;
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert SubsTransferFailed(to, amount);
    }
}
