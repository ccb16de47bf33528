// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RequestId} from "../types/RequestId.sol";

/// @notice Protocol v2 dispute types shared by the oracle, its resolvers and the canonical fraud game
/// (docs/V2.md §5). The oracle opens a dispute on the first challenge and lets later challengers join it
/// until it is resolved; the resolver rules once with one of these outcomes.
enum Ruling {
    None,
    /// The result stands: each joiner's bond is split `burnBps` burned, the rest to the worker.
    WorkerRight,
    /// A false step, a missed deadline, or an output beyond τ_major: the result bond is slashed.
    WorkerFault,
    /// The worker's canonical trace holds but its signed output is beyond τ_out (within τ_major): a
    /// smaller slash (`tolerancePenaltyBps` of the result bond).
    OutputMinor
}

/// @notice What a v2 resolver learns when a dispute opens. Everything else it needs (the model's set-once
/// canonical terms, the request's params version) it reads from the registry and the oracle by these keys.
struct DisputeContext {
    RequestId requestId;
    uint8 attempt;
    bytes32 modelHash;
    bytes32 inputHash;
    bytes32 outputHash;
    address worker;
    address signer;
    uint32 paramsVersion;
}

/// @notice A model's OPTIMISTIC terms under canonical semantics (docs/V2.md §2), set once at registration.
/// Tolerances are binary64 bit patterns: a signed output element w is within τ of the canonical element c
/// when both are NaN, or both are the same infinity, or |w − c| ≤ abs + rel·|c| (evaluated in binary64).
struct CanonicalTerms {
    uint8 semanticsVersion;
    /// 0 fp32, 1 tf32, 2 fp16, 3 bf16 (canonical/float.ts PRECISIONS).
    uint8 precision;
    uint32 stepCount;
    bytes32 weightsRoot;
    bytes32 programRoot;
    /// sha256(0x05 || u8 semanticsVersion || u8 precision || u32 stepCount || weightsRoot || programRoot)
    bytes32 commitment;
    uint64 tauOutAbs;
    uint64 tauOutRel;
    uint64 tauMajorAbs;
    uint64 tauMajorRel;
}

/// @notice A v2 dispute resolver: the oracle calls it when a dispute opens (not on joins).
interface IDisputeResolverV2 {
    /// @return maxDuration seconds after which anyone may apply `defaultRuling` if the resolver never ruled
    /// @return defaultRuling WorkerRight for the fraud game (it rules on its own long before); WorkerFault for a
    ///         resolver the worker must answer (the ZK resolver: a proof answers the challenge)
    function onDisputeOpened(DisputeContext calldata ctx) external returns (uint64 maxDuration, Ruling defaultRuling);

    /// @notice Whether a dispute on a result of `modelHash` could be decided now (the FraudGame: the model's
    /// canonical terms are set; the ZK resolver: the model has an approved verifier). The oracle takes an
    /// OPTIMISTIC request only when its resolver says so, so no result settles because nobody could dispute it.
    function canDispute(bytes32 modelHash) external view returns (bool);
}

/// @notice What a v2 resolver calls on the oracle.
interface IDisputeOracle {
    /// @notice Only the request's resolver, once, before the dispute's deadline.
    function resolveDispute(RequestId requestId, Ruling ruling) external;
    /// @notice Whether `account` posted a challenge bond in the open dispute on `requestId` (opened or joined it).
    function isChallenger(RequestId requestId, address account) external view returns (bool);
}
