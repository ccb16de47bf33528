// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {RequestId, RequestIdLib} from "../types/RequestId.sol";
import {RequestBook} from "./RequestBook.sol";
import {OracleParams} from "./OracleParams.sol";
import {TensorHash} from "./TensorHash.sol";
import {IZkVerifier} from "../interfaces/IZkVerifier.sol";
import {IDisputeResolverV2} from "../interfaces/IDisputeGame.sol";

/// @notice Making a request: the model's terms, the fee quote (owner fee + minimum worker fee + the
/// callback's gas), the deadline, the inline input, and everything the request fixes for its whole life
/// (params version, resolver, callback fee). Linked library: runs in the oracle's storage (DELEGATECALL),
/// so `address(this)` is the oracle and `msg.sender` the requester.
library OracleRequests {
    /// @notice What requestInference passes in, gathered so the call stays within the stack.
    struct Context {
        IModelRegistry registry;
        uint32 version;
        uint256 sequence;
        uint256 value;
        uint64 now_;
    }

    /// @notice What a request escrows and fixes when it is stored (`fee` in wei; zero for a token request,
    /// whose fee TokenFees keeps; `callbackFee` in wei).
    struct Fees {
        uint256 fee;
        uint96 ownerFee;
        address resolver;
        uint256 callbackFee;
    }

    /// @notice Checks and stores a new request; returns its id.
    function create(
        mapping(RequestId => RequestBook.Request) storage requests,
        mapping(RequestId => RequestBook.Extra) storage extra,
        mapping(uint32 => OracleParams.Stored) storage paramsAt,
        IInferenceOracle.RequestParams calldata p,
        Context memory c
    ) external returns (RequestId requestId) {
        (uint96 ownerFee, address resolver) = checkModel(c.registry, p.modelHash, p.tier);
        OracleParams.Stored storage sp = paramsAt[c.version];
        uint256 callbackFee = callbackFeeOf(p.callbackGasLimit, sp);
        uint256 minimum = uint256(ownerFee) + sp.minWorkerFee + callbackFee;
        // INVARIANT: the fee covers the model owner, the minimum worker fee and the callback's gas.
        if (c.value < minimum) revert IInferenceOracle.OracleFeeTooLow(c.value, minimum);
        // INVARIANT: escrowed fees fit the packed uint96 slot.
        if (c.value > type(uint96).max) revert IInferenceOracle.OracleFeeTooHigh(c.value);
        return store(requests, extra, sp, p, c, Fees({fee: c.value, ownerFee: ownerFee, resolver: resolver, callbackFee: callbackFee}));
    }

    /// @notice The wei a callback of `callbackGasLimit` costs: its gas at max(basefee, minGasPrice).
    function callbackFeeOf(uint256 callbackGasLimit, OracleParams.Stored storage sp) internal view returns (uint256) {
        uint256 gasPrice = block.basefee;
        if (gasPrice < sp.minGasPrice) gasPrice = sp.minGasPrice;
        return callbackGasLimit * gasPrice;
    }

    /// @notice Checks the deadline, the callback gas and the input, then stores the request with fees `f`
    /// (checked by the caller) and emits InferenceRequested (its `fee`: the wei escrowed, c.value).
    function store(
        mapping(RequestId => RequestBook.Request) storage requests,
        mapping(RequestId => RequestBook.Extra) storage extra,
        OracleParams.Stored storage sp,
        IInferenceOracle.RequestParams calldata p,
        Context memory c,
        Fees memory f
    ) internal returns (RequestId requestId) {
        // INVARIANT: every request can be served for a while, and its deadline fits uint40.
        if (p.deadline <= c.now_ || p.deadline > type(uint40).max) revert IInferenceOracle.OracleDeadlineInvalid(p.deadline, c.now_);
        uint32 maxGas = sp.maxCallbackGasLimit;
        // INVARIANT: a callback never asks for more gas than the protocol allows.
        if (p.callbackGasLimit > maxGas) revert IInferenceOracle.OracleCallbackGasTooHigh(p.callbackGasLimit, maxGas);
        bytes32 inputHash = _checkInput(p, sp.maxInlineInputBytes);
        // INVARIANT: no request asks for a larger inline output than its params allow.
        if (p.maxInlineOutput > sp.maxInlineOutputBytes) {
            revert IInferenceOracle.OracleInlineOutputTooHigh(p.maxInlineOutput, sp.maxInlineOutputBytes);
        }
        // INVARIANT: the callback fee fits its packed uint64 (10M gas at 1,800 gwei).
        if (f.callbackFee > type(uint64).max) revert IInferenceOracle.OracleFeeTooHigh(f.callbackFee);

        requestId = RequestIdLib.derive(address(this), c.sequence, p.modelHash, inputHash);
        RequestBook.Request storage r = requests[requestId];
        r.requester = msg.sender;
        // Exact: the callers check fee <= type(uint96).max.
        r.fee = uint96(f.fee);
        r.modelHash = p.modelHash;
        r.inputHash = inputHash;
        r.deadline = uint40(p.deadline);
        r.timeout = uint40(p.deadline);
        // Exact: p.callbackGasLimit <= maxCallbackGasLimit <= CALLBACK_GAS_CEILING < 2^24.
        r.callbackGasLimit = uint24(p.callbackGasLimit);
        r.status = IInferenceOracle.RequestStatus.Requested;
        r.tier = p.tier;
        r.ownerFee = f.ownerFee;
        r.paramsVersion = c.version;
        // Only OPTIMISTIC requests can be disputed; their resolver is fixed now (revoking or switching
        // it later blocks new requests only). callbackFee < 2^64 (checked above).
        address resolver = p.tier == IInferenceOracle.Tier.OPTIMISTIC ? f.resolver : address(0);
        if (resolver != address(0) || f.callbackFee != 0 || p.maxInlineOutput != 0) {
            extra[requestId] = RequestBook.Extra({
                resolver: resolver, callbackFee: uint64(f.callbackFee), maxInlineOutput: p.maxInlineOutput
            });
        }
        _emitRequested(requestId, p, inputHash, c.value);
    }

    function _emitRequested(RequestId requestId, IInferenceOracle.RequestParams calldata p, bytes32 inputHash, uint256 fee) internal {
        emit IInferenceOracle.InferenceRequested(
            requestId, msg.sender, p.modelHash, inputHash, p.tier, fee, p.deadline, p.callbackGasLimit, p.input, p.inputURI
        );
    }

    /// @notice The error a ZK result's proof fails with, or empty when `verifier` accepts it. A linked
    /// call (DELEGATECALL) on the ZK path only, where the proof check costs far more than the call.
    function proofError(
        address verifier,
        RequestId requestId,
        bytes32 modelHash,
        bytes32 inputHash,
        bytes32 outputHash,
        bytes calldata proof
    ) external view returns (bytes memory) {
        // INVARIANT: a ZK result carries a proof ...
        if (proof.length == 0) return abi.encodeWithSelector(IInferenceOracle.OracleProofRequired.selector, requestId);
        // ... for a model whose verifier is still approved ...
        if (verifier == address(0)) {
            return abi.encodeWithSelector(IInferenceOracle.OracleTierUnsupported.selector, modelHash, IInferenceOracle.Tier.ZK);
        }
        // ... and the verifier accepts it.
        try IZkVerifier(verifier).verifyInference(modelHash, inputHash, outputHash, proof) returns (bool ok) {
            if (ok) return "";
        // A verifier that reverts is a verifier that did not accept: fall through to the refusal below.
        // solhint-disable-next-line no-empty-blocks
        } catch {}
        return abi.encodeWithSelector(IInferenceOracle.OracleProofInvalid.selector, requestId);
    }

    /// @notice Magic of an output's size proof: "VIOH" || header || dataRoot (docs/PROTOCOL.md, "Large outputs").
    bytes4 internal constant SIZE_PROOF_MAGIC = 0x56494f48; // "VIOH"

    /// @notice The error a size proof fails with, or empty when `proof` hashes to `outputHash` and declares
    /// an encoding longer than `maxInline`: an output the request takes as hash only. A tensor's proof is
    /// "VIOH" || header || dataRoot (hash sha256(0x02 || header || dataRoot)); a bundle's is "VIOH" || the
    /// bundle with each entry's tensor replaced by its header || dataRoot (hash: the bundle hash over
    /// those). A linked call on that path only.
    function sizeProofError(bytes32 outputHash, bytes calldata proof, uint256 maxInline) external pure returns (bytes memory) {
        bytes calldata body = proof[4:];
        (uint256 code, bytes32 computed, uint256 size) =
            body.length >= 4 && bytes4(body[0:4]) == TensorHash.BUNDLE_MAGIC ? _bundleProof(body) : _tensorProof(body);
        if (code != 0) return abi.encodeWithSelector(IInferenceOracle.OracleMalformedTensor.selector, code);
        if (computed != outputHash) return abi.encodeWithSelector(IInferenceOracle.OracleOutputHashMismatch.selector, outputHash, computed);
        // INVARIANT: an output the request wants inline is never delivered as hash only.
        if (size <= maxInline) return abi.encodeWithSelector(IInferenceOracle.OracleOutputInlineRequired.selector, size, maxInline);
        return "";
    }

    /// @dev header || dataRoot: its tensor hash and the length of the encoding the header declares (stops
    /// growing past 2^64: only "longer than maxInline" matters, and maxInline < 2^32), or a malformed code.
    function _tensorProof(bytes calldata p) private pure returns (uint256 code, bytes32 h, uint256 size) {
        uint256 len = p.length;
        if (len < 40 || uint8(p[6]) > TensorHash.MAX_RANK || len != 40 + 4 * uint256(uint8(p[6]))) {
            return (TensorHash.ERR_BAD_LENGTH, bytes32(0), 0);
        }
        bytes calldata header = p[0:len - 32];
        size = TensorHash.elementSize(uint8(header[5]));
        if (bytes4(header[0:4]) != TensorHash.MAGIC || uint8(header[4]) != TensorHash.VERSION || header[7] != 0 || size == 0) {
            return (TensorHash.ERR_BAD_VERSION, bytes32(0), 0);
        }
        h = sha256(abi.encodePacked(uint8(2), header, p[len - 32:len]));
        for (uint256 i = 8; i < header.length && size < 2 ** 64; i += 4) {
            size *= uint32(bytes4(header[i:i + 4]));
        }
        size += header.length;
    }

    /// @dev "VIOB" | 1 | n | 0 | 0 | n x (L | name | uint32 BE length | header || dataRoot): the bundle hash
    /// sha256(0x03 || n || n x (L || name || tensorHash)) and the length of the bundle it stands for.
    function _bundleProof(bytes calldata p) private pure returns (uint256 code, bytes32 h, uint256 size) {
        uint256 n = p.length < 8 ? 0 : uint8(p[5]);
        if (n < 2 || uint8(p[4]) != TensorHash.VERSION || p[6] != 0 || p[7] != 0) return (TensorHash.ERR_BUNDLE_HEADER, bytes32(0), 0);
        bytes memory preimage = abi.encodePacked(uint8(3), uint8(n));
        size = 8;
        uint256 at = 8;
        for (uint256 i = 0; i < n; ++i) {
            if (at + 1 > p.length) return (TensorHash.ERR_BUNDLE_LENGTH, bytes32(0), 0);
            uint256 nameEnd = at + 1 + uint8(p[at]);
            if (nameEnd == at + 1) return (TensorHash.ERR_BUNDLE_NAME, bytes32(0), 0);
            if (nameEnd + 4 > p.length) return (TensorHash.ERR_BUNDLE_LENGTH, bytes32(0), 0);
            uint256 next = nameEnd + 4 + uint32(bytes4(p[nameEnd:nameEnd + 4]));
            if (next > p.length) return (TensorHash.ERR_BUNDLE_LENGTH, bytes32(0), 0);
            (uint256 c, bytes32 th, uint256 s) = _tensorProof(p[nameEnd + 4:next]);
            if (c != 0) return (c, bytes32(0), 0);
            preimage = abi.encodePacked(preimage, p[at:nameEnd], th);
            // Cannot overflow: at most 255 entries, each below 2^97.
            size += nameEnd - at + 4 + s;
            at = next;
        }
        if (at != p.length) return (TensorHash.ERR_BUNDLE_LENGTH, bytes32(0), 0);
        h = sha256(preimage);
    }

    /// @notice The request as one struct (IInferenceOracle.getRequest).
    function view_(
        mapping(RequestId => RequestBook.Request) storage requests,
        mapping(RequestId => RequestBook.Extra) storage extra,
        mapping(uint32 => OracleParams.Stored) storage paramsAt,
        RequestId requestId
    ) external view returns (IInferenceOracle.RequestView memory v) {
        RequestBook.Request storage r = requests[requestId];
        v.requester = r.requester;
        v.status = r.status;
        v.tier = r.tier;
        v.fee = r.fee;
        v.ownerFee = r.ownerFee;
        v.callbackGasLimit = r.callbackGasLimit;
        v.deadline = r.deadline;
        v.timeout = r.timeout;
        v.modelHash = r.modelHash;
        v.inputHash = r.inputHash;
        v.attempt = r.attempt;
        v.paramsVersion = r.paramsVersion;
        RequestBook.Extra storage x = extra[requestId];
        v.resolver = x.resolver;
        v.callbackFee = x.callbackFee;
        v.maxInlineOutput = x.maxInlineOutput == 0 ? paramsAt[r.paramsVersion].maxInlineOutputBytes : x.maxInlineOutput;
    }

    /// @notice Checks the model accepts `tier` requests now; returns the owner's fee and the model's
    /// resolver (approved now) to fix in the request.
    function checkModel(IModelRegistry registry, bytes32 modelHash, IInferenceOracle.Tier tier)
        internal
        view
        returns (uint96, address)
    {
        IModelRegistry.ModelTerms memory t;
        try registry.terms(modelHash) returns (IModelRegistry.ModelTerms memory terms_) {
            t = terms_;
        } catch {
            revert IInferenceOracle.OracleModelNotFound(modelHash);
        }
        // INVARIANT: only active models take new requests.
        if (!t.active) revert IInferenceOracle.OracleModelInactive(modelHash);
        // INVARIANT: the tier is one the model supports, with the contract that tier needs.
        if (
            (t.tiers >> uint8(tier)) & 1 == 0 || (tier == IInferenceOracle.Tier.OPTIMISTIC && t.resolver == address(0))
                || (tier == IInferenceOracle.Tier.ZK && t.zkVerifier == address(0))
        ) revert IInferenceOracle.OracleTierUnsupported(modelHash, tier);
        // INVARIANT: an OPTIMISTIC result is taken only where its resolver could decide a dispute on it now
        // (a model whose game has no canonical terms would settle every result unchallenged).
        if (tier == IInferenceOracle.Tier.OPTIMISTIC && !_canDispute(t.resolver, modelHash)) {
            revert IInferenceOracle.OracleModelNotDisputable(modelHash, t.resolver);
        }
        return (t.fee, t.resolver);
    }

    /// @dev The resolver's answer; an account without code, or a resolver that reverts, cannot dispute.
    function _canDispute(address resolver, bytes32 modelHash) internal view returns (bool) {
        // (A call to an account without code would revert in the caller while decoding, past the catch.)
        if (resolver.code.length == 0) return false;
        try IDisputeResolverV2(resolver).canDispute(modelHash) returns (bool ok) {
            return ok;
        } catch {
            return false;
        }
    }

    /// @dev Checks the inline input (or its absence); returns the input hash to store.
    function _checkInput(IInferenceOracle.RequestParams calldata p, uint256 maxBytes) internal pure returns (bytes32) {
        if (p.input.length == 0) {
            // INVARIANT: workers can always find the input: inline, or by hash at a URI.
            if (p.inputHash == bytes32(0) || bytes(p.inputURI).length == 0) revert IInferenceOracle.OracleInputMissing();
            return p.inputHash;
        }
        // INVARIANT: inline inputs stay small enough to hash and log on chain.
        if (p.input.length > maxBytes) revert IInferenceOracle.OracleInputTooLarge(p.input.length, maxBytes);
        (uint256 code, bytes32 computed) = TensorHash.tryHash(p.input);
        // INVARIANT: an inline input is a canonical tensor.
        if (code != 0) revert IInferenceOracle.OracleMalformedTensor(code);
        // INVARIANT: the stored input hash is the hash of the inline input.
        if (p.inputHash != bytes32(0) && p.inputHash != computed) {
            revert IInferenceOracle.OracleInputHashMismatch(p.inputHash, computed);
        }
        return computed;
    }
}
