// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IInferenceOracle} from "../interfaces/IInferenceOracle.sol";
import {RequestId} from "../types/RequestId.sol";

/// @notice Storage layout of requests and disputes, and the pure rules for commitments and fee splits.
library RequestBook {
    uint256 internal constant BPS = 10_000;

    /// @dev Five slots. `timeout` is the deadline of the current state: Requested -> serve-by deadline,
    /// Submitted -> end of the challenge window, Challenged -> dispute deadline. `bondVersion` names the
    /// result bond locked for the current result (see InferenceOracle._bondAt).
    struct Request {
        address requester;
        uint96 fee;
        bytes32 modelHash;
        bytes32 inputHash;
        uint40 deadline;
        uint40 timeout;
        uint32 callbackGasLimit;
        IInferenceOracle.RequestStatus status;
        IInferenceOracle.Tier tier;
        uint96 ownerFee;
        uint32 bondVersion;
        bytes32 resultCommitment;
    }

    struct Dispute {
        address challenger;
        uint96 bond;
        address worker;
        uint64 deadline;
        bool workerAtFaultByDefault;
        address resolver;
    }

    function commitment(address worker, address relayer, bytes32 outputHash, bytes32 traceRoot)
        internal
        pure
        returns (bytes32 c)
    {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, worker)
            mstore(add(p, 32), relayer)
            mstore(add(p, 64), outputHash)
            mstore(add(p, 96), traceRoot)
            c := keccak256(p, 128)
        }
    }

    function commitment(IInferenceOracle.ResultRecord calldata record) internal pure returns (bytes32) {
        return commitment(record.worker, record.relayer, record.outputHash, record.traceRoot);
    }

    /// @notice Splits a fee: the model owner gets its snapshotted fee, the relayer a share of the rest,
    /// the worker the remainder.
    function split(uint256 fee, uint256 ownerFee, uint256 relayerFeeBps)
        internal
        pure
        returns (uint256 relayerCut, uint256 workerCut)
    {
        // Cannot underflow: requestInference enforces fee >= ownerFee. Cannot overflow: fee < 2^96 and
        // relayerFeeBps <= 10_000, and relayerCut <= rest.
        unchecked {
            uint256 rest = fee - ownerFee;
            relayerCut = rest * relayerFeeBps / BPS;
            workerCut = rest - relayerCut;
        }
    }
}
