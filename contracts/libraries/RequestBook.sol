// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Assembly reads and writes the hand-packed slot 3 of a request in one SLOAD/SSTORE and hashes leaves without abi.encode copies; measured in bench/gas.ts.
// solhint-disable no-inline-assembly

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";

/// @notice Storage layout of requests (disputes: DisputeBook), and the pure rules for commitments and fee splits.
library RequestBook {
    uint256 internal constant BPS = 10_000;

    /// @notice Domain tag of a signed result leaf (docs/V2.md §3): leaf_i of a worker-signed ResultBatch.
    bytes32 internal constant RESULT_LEAF_TAG = keccak256("VerifiableInferenceOracle.ResultLeaf.v2");
    /// @notice Domain tag of an accepted-result leaf: a leaf of the root the oracle commits per batch for the
    /// OPTIMISTIC results it accepted (never the same preimage as a signed leaf or a 64-byte tree node).
    bytes32 internal constant ACCEPTED_LEAF_TAG = keccak256("VerifiableInferenceOracle.AcceptedResult.v2");

    /// @dev Four slots. `timeout` is the deadline of the current state: Requested -> serve-by deadline,
    /// Submitted -> end of the challenge window, Challenged -> dispute deadline. `paramsVersion` is the
    /// params version in effect when the request was made: its fee split, bonds and windows apply to
    /// the request for its whole life (see InferenceOracle._paramsAt). `attempt` counts the
    /// results a lost dispute threw out (each reopening adds one); it is bound into the result leaf, so a
    /// leaf of an earlier, overturned result can never settle or be challenged again, and while it is zero
    /// no worker can be disqualified on the request (the disqualification lookup is skipped).
    /// `callbackGasLimit` fits 24 bits: it is capped by params.maxCallbackGasLimit <= 10,000,000.
    /// The accepted result itself is not stored here: it is a leaf of a committed batch root.
    struct Request {
        address requester;
        uint96 fee;
        bytes32 modelHash;
        bytes32 inputHash;
        uint40 deadline;
        uint40 timeout;
        uint24 callbackGasLimit;
        uint8 attempt;
        IInferenceOracle.RequestStatus status;
        IInferenceOracle.Tier tier;
        uint96 ownerFee;
        uint32 paramsVersion;
    }

    // Slot 3 of a Request (Solidity packs struct members from the low-order end of the word). The
    // submission hot path reads and writes it as one word: one SLOAD and one SSTORE per result.
    uint256 internal constant HEAD_SLOT = 3;
    uint256 internal constant TIMEOUT_SHIFT = 40;
    uint256 internal constant CALLBACK_GAS_SHIFT = 80;
    uint256 internal constant ATTEMPT_SHIFT = 104;
    uint256 internal constant STATUS_SHIFT = 112;
    uint256 internal constant TIER_SHIFT = 120;
    uint256 internal constant PARAMS_VERSION_SHIFT = 224;

    /// @notice Slot 3 of `r`: deadline, timeout, callbackGasLimit, attempt, status, tier, ownerFee, paramsVersion.
    function head(Request storage r) internal view returns (uint256 w) {
        assembly ("memory-safe") {
            w := sload(add(r.slot, HEAD_SLOT))
        }
    }

    function statusOf(uint256 w) internal pure returns (IInferenceOracle.RequestStatus) {
        return IInferenceOracle.RequestStatus(uint8(w >> STATUS_SHIFT));
    }

    function tierOf(uint256 w) internal pure returns (IInferenceOracle.Tier) {
        return IInferenceOracle.Tier(uint8(w >> TIER_SHIFT));
    }

    function timeoutOf(uint256 w) internal pure returns (uint40) {
        return uint40(w >> TIMEOUT_SHIFT);
    }

    function callbackGasLimitOf(uint256 w) internal pure returns (uint24) {
        return uint24(w >> CALLBACK_GAS_SHIFT);
    }

    function attemptOf(uint256 w) internal pure returns (uint8) {
        return uint8(w >> ATTEMPT_SHIFT);
    }

    function paramsVersionOf(uint256 w) internal pure returns (uint32) {
        return uint32(w >> PARAMS_VERSION_SHIFT);
    }

    /// @notice Writes `w` with status Submitted and `timeout` into slot 3, in one SSTORE.
    function setSubmitted(Request storage r, uint256 w, uint40 timeout) internal {
        uint256 cleared = w & ~((uint256(type(uint40).max) << TIMEOUT_SHIFT) | (uint256(0xff) << STATUS_SHIFT));
        uint256 updated = cleared | (uint256(timeout) << TIMEOUT_SHIFT)
            | (uint256(uint8(IInferenceOracle.RequestStatus.Submitted)) << STATUS_SHIFT);
        assembly ("memory-safe") {
            sstore(add(r.slot, HEAD_SLOT), updated)
        }
    }

    /// @dev What a request stores beyond Request, one slot, written only when non-zero: the resolver of an
    /// OPTIMISTIC request, the fee part that pays for the callback's gas (below 2^64: requestInference
    /// refuses more) and the largest output the callback gets inline (0: the params' cap). Delivery reads
    /// it with callbackFee, so the threshold costs no extra slot on the hot path.
    struct Extra {
        address resolver;
        uint64 callbackFee;
        uint32 maxInlineOutput;
    }

    /// @notice keccak256(abi.encode(RESULT_LEAF_TAG, requestId, outputHash)): one item of a worker-signed
    /// ResultBatch. The requestId binds the model and the input (RequestIdLib.derive), so the leaf needs neither.
    function resultLeaf(RequestId requestId, bytes32 outputHash) internal pure returns (bytes32 h) {
        bytes32 tag = RESULT_LEAF_TAG;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, tag)
            mstore(add(p, 32), requestId)
            mstore(add(p, 64), outputHash)
            h := keccak256(p, 96)
        }
    }

    /// @notice keccak256(abi.encode(ACCEPTED_LEAF_TAG, requestId, attempt, worker, relayer, outputHash)): one
    /// accepted OPTIMISTIC result, a leaf of the accepted root its batch commits (BatchMerkle). Only items
    /// the oracle accepted are leaves, so a skipped item of a signed batch never settles or is challenged;
    /// the attempt makes a result overturned by a dispute unusable after the request reopens.
    function leaf(RequestId requestId, uint8 attempt, address worker, address relayer, bytes32 outputHash)
        internal
        pure
        returns (bytes32 h)
    {
        bytes32 tag = ACCEPTED_LEAF_TAG;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, tag)
            mstore(add(p, 32), requestId)
            mstore(add(p, 64), and(attempt, 0xff))
            mstore(add(p, 96), and(worker, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(p, 128), and(relayer, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(p, 160), outputHash)
            h := keccak256(p, 192)
        }
    }

    function leaf(RequestId requestId, uint8 attempt, IInferenceOracle.ResultRecord calldata record)
        internal
        pure
        returns (bytes32)
    {
        return leaf(requestId, attempt, record.worker, record.relayer, record.outputHash);
    }

    /// @notice Splits a fee: the model owner gets its snapshotted fee, the relayer a share of the rest,
    /// the worker the remainder.
    function split(uint256 fee, uint256 ownerFee, uint256 relayerFeeBps)
        internal
        pure
        returns (uint256 relayerCut, uint256 workerCut)
    {
        // Cannot underflow: requestInference enforces fee >= ownerFee (the oracle passes ownerFee plus the
        // callback fee, both covered by the fee at request time). Cannot overflow: fee < 2^96 and
        // relayerFeeBps <= 10_000, and relayerCut <= rest.
        unchecked {
            uint256 rest = fee - ownerFee;
            relayerCut = rest * relayerFeeBps / BPS;
            workerCut = rest - relayerCut;
        }
    }
}
