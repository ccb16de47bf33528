// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {RequestId} from "../types/RequestId.sol";
import {RequestBook} from "./RequestBook.sol";
import {OracleParams} from "./OracleParams.sol";
import {StakeLedger} from "./StakeLedger.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {TensorHash} from "./TensorHash.sol";

/// @notice Rejections that cost something (docs/V2.md §4). A worker's signed
/// rejection is recorded, one per staked operator per request; the request is refunded only when
/// `rejectionQuorum` distinct staked operators (the request's params version) rejected it, when its
/// deadline passes, when its requester cancels it after a rejection, or at once when a rejection proves
/// that the input is not of the model's committed input type. Until then it stays open to other workers.
/// Linked library: runs in the oracle's storage (DELEGATECALL); the oracle does the refund.
library OracleRejections {
    using StakeLedger for StakeLedger.Worker;

    bytes32 internal constant REJECTION_TYPEHASH = keccak256("Rejection(bytes32 requestId,uint16 reason)");

    /// @dev The rejections of one request: how many distinct operators, and which.
    struct Tally {
        uint16 count;
        mapping(address operator => bool) rejected;
    }

    /// @notice One rejection as the oracle passes it in (with the domain separator, the time, and for a
    /// type-mismatch proof the registry and the input's data root).
    struct Signed {
        RequestId requestId;
        uint16 reason;
        bytes32 domainSeparator;
        uint64 now_;
        IModelRegistry registry;
        bytes32 inputDataRoot;
    }

    /// @notice Records a staked worker's signed rejection of an open request. With an empty
    /// `inputHeader` it is a plain rejection: it counts towards the request's quorum. With the input's
    /// header (and `s.inputDataRoot`), which must hash to the request's inputHash, it proves that the
    /// input is not of the model's committed input type; it reverts when the proof is invalid or the
    /// type matches.
    /// @return refund whether the oracle refunds the request now, and `why`
    function reject(
        mapping(RequestId => RequestBook.Request) storage requests,
        mapping(RequestId => Tally) storage tallies,
        mapping(address => StakeLedger.Worker) storage workers,
        mapping(address => address) storage operatorOf,
        mapping(RequestId => mapping(address => bool)) storage disqualified,
        mapping(uint32 => OracleParams.Stored) storage paramsAt,
        Signed memory s,
        bytes calldata signature,
        bytes calldata inputHeader
    ) external returns (bool refund, IInferenceOracle.RefundReason why) {
        RequestBook.Request storage r = requests[s.requestId];
        address operator = _staked(r, workers, operatorOf, disqualified, paramsAt, s, signature);
        Tally storage t = tallies[s.requestId];
        if (inputHeader.length != 0) {
            _checkMismatchProof(r, s, inputHeader);
            emit IInferenceOracle.RequestRejected(s.requestId, operator, s.reason);
            return (true, IInferenceOracle.RefundReason.InputTypeMismatch);
        }
        // INVARIANT: each operator counts once towards a request's quorum (a second signer key of the
        // same operator, or a replayed signature, adds nothing).
        if (t.rejected[operator]) revert IInferenceOracle.OracleAlreadyRejected(s.requestId, operator);
        t.rejected[operator] = true;
        // Cannot overflow: at most one per operator, and the quorum (<= 64) ends the request.
        uint16 count;
        unchecked {
            count = t.count + 1;
        }
        t.count = count;
        uint16 quorum = paramsAt[r.paramsVersion].rejectionQuorum;
        emit IInferenceOracle.RequestRejected(s.requestId, operator, s.reason);
        emit IInferenceOracle.RejectionRecorded(s.requestId, operator, count, quorum);
        return (count >= quorum, IInferenceOracle.RefundReason.RejectedByWorker);
    }

    /// @dev Reverts unless `inputHeader` and `s.inputDataRoot` hash to the request's inputHash and the
    /// header is not of the model's committed input type.
    function _checkMismatchProof(RequestBook.Request storage r, Signed memory s, bytes calldata inputHeader) private view {
        bytes32 computed = sha256(abi.encodePacked(uint8(2), inputHeader, s.inputDataRoot));
        // INVARIANT: the proof is about this request's input (sha256 is collision resistant, so only the
        // input's own header hashes to inputHash).
        if (computed != r.inputHash) revert IInferenceOracle.OracleInputProofInvalid(s.requestId, r.inputHash, computed);
        IModelRegistry.TensorSpec memory spec = s.registry.model(r.modelHash).input;
        // INVARIANT: only an input the model cannot take is refunded on one worker's word.
        if (!_mismatch(inputHeader, spec)) revert IInferenceOracle.OracleInputTypeMatches(s.requestId);
    }

    /// @notice Checks that `caller` may cancel the request: it is its requester, the request is open,
    /// and at least one worker rejected it. The oracle refunds it.
    function checkCancel(
        mapping(RequestId => RequestBook.Request) storage requests,
        mapping(RequestId => Tally) storage tallies,
        RequestId requestId,
        address caller
    ) external view {
        RequestBook.Request storage r = requests[requestId];
        _requireRequested(requestId, r.status);
        // INVARIANT: only the requester withdraws its own request.
        if (caller != r.requester) revert IInferenceOracle.OracleNotRequester(requestId, caller, r.requester);
        // INVARIANT: a request is cancelled only once a staked worker said it cannot be served (else the
        // requester could take back a fee a worker is already earning).
        if (tallies[requestId].count == 0) revert IInferenceOracle.OracleNotRejected(requestId);
    }

    /// @dev The operator behind a valid signed rejection of an open request, with the minimum stake of
    /// the request's params version at risk; reverts otherwise.
    function _staked(
        RequestBook.Request storage r,
        mapping(address => StakeLedger.Worker) storage workers,
        mapping(address => address) storage operatorOf,
        mapping(RequestId => mapping(address => bool)) storage disqualified,
        mapping(uint32 => OracleParams.Stored) storage paramsAt,
        Signed memory s,
        bytes calldata signature
    ) private view returns (address operator) {
        _requireRequested(s.requestId, r.status);
        // INVARIANT: a worker can reject only while the request may still be served.
        if (s.now_ >= r.timeout) revert IInferenceOracle.OracleDeadlinePassed(s.requestId, r.timeout);
        bytes32 digest = MessageHashUtils.toTypedDataHash(s.domainSeparator, keccak256(abi.encode(REJECTION_TYPEHASH, s.requestId, s.reason)));
        (address signer,,) = ECDSA.tryRecover(digest, signature);
        // INVARIANT: only a well-formed, non-malleable signature is attributed to anyone.
        if (signer == address(0)) revert IInferenceOracle.OracleInvalidSignature();
        operator = operatorOf[signer];
        // INVARIANT: only registered workers' signers speak for the oracle.
        if (operator == address(0)) revert IInferenceOracle.OracleUnknownSigner(signer);
        // INVARIANT: a worker slashed on a request cannot serve or reject it again (none is at attempt 0).
        if (r.attempt != 0 && disqualified[s.requestId][operator]) {
            revert IInferenceOracle.OracleWorkerDisqualified(s.requestId, operator);
        }
        StakeLedger.Worker storage w = workers[operator];
        uint256 minStake = paramsAt[r.paramsVersion].minStake;
        // INVARIANT: only a worker with the minimum stake at risk counts towards a refund.
        if (w.active() < minStake) revert IInferenceOracle.StakeBelowMinimum(operator, w.active(), minStake);
    }

    function _requireRequested(RequestId requestId, IInferenceOracle.RequestStatus current) private pure {
        // INVARIANT: rejections and cancellations apply to an open request only.
        if (current == IInferenceOracle.RequestStatus.Requested) return;
        if (current == IInferenceOracle.RequestStatus.None) revert IInferenceOracle.OracleRequestNotFound(requestId);
        revert IInferenceOracle.UnexpectedRequestState(requestId, current, IInferenceOracle.RequestStatus.Requested);
    }

    /// @dev Whether a tensor header (TensorHash's encoding) is not of type `spec`: malformed, another
    /// dtype or rank, or a dimension other than the spec's where the spec fixes it (0: any size).
    function _mismatch(bytes calldata h, IModelRegistry.TensorSpec memory spec) private pure returns (bool) {
        if (h.length < TensorHash.HEADER_FIXED_BYTES) return true;
        if (bytes4(h[0:4]) != TensorHash.MAGIC || uint8(h[4]) != TensorHash.VERSION || uint8(h[7]) != 0) return true;
        uint8 dtype = uint8(h[5]);
        uint256 rank = uint8(h[6]);
        if (TensorHash.elementSize(dtype) == 0 || rank > TensorHash.MAX_RANK) return true;
        if (h.length != TensorHash.HEADER_FIXED_BYTES + 4 * rank) return true;
        if (dtype != spec.dtype || rank != spec.shape.length) return true;
        for (uint256 i = 0; i < rank; ++i) {
            uint256 o = TensorHash.HEADER_FIXED_BYTES + 4 * i;
            uint32 dim = uint32(bytes4(h[o:o + 4]));
            if (spec.shape[i] != 0 && dim != spec.shape[i]) return true;
        }
        return false;
    }
}
