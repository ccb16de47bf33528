// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CanonicalTerms} from "./IDisputeGame.sol";

/// @notice Registry of ONNX models, each identified by the sha256 of its ONNX file.
interface IModelRegistry {
    /// @notice dtype codes follow ONNX TensorProto.DataType (1 float32, 2 uint8, 3 int8, 6 int32, 7 int64, ...).
    /// A dimension of 0 means "any size" (a dynamic axis such as the batch or image width).
    struct TensorSpec {
        uint8 dtype;
        uint32[] shape;
    }

    /// @notice One named input or output of a model with several (docs/PROTOCOL.md "Tensor bundles").
    struct NamedTensorSpec {
        string name;
        uint8 dtype;
        uint32[] shape;
    }

    /// @param tiers bit mask of supported tiers: bit (1 << uint8(Tier))
    /// @param resolver dispute resolver for OPTIMISTIC results (must be approved by the registry admin)
    /// @param zkVerifier IZkVerifier for ZK results (must be approved), or zero
    /// @param commitmentRoot Merkle root over the model's weights and operator table, or zero; set once
    /// (at registration, or by one update while zero): an update must repeat it
    struct ModelInfo {
        address owner;
        uint96 fee;
        uint8 tiers;
        bool active;
        address resolver;
        address zkVerifier;
        bytes32 commitmentRoot;
        TensorSpec input;
        TensorSpec output;
        string[] uris;
    }

    /// @notice The subset of ModelInfo the oracle reads on every request (one call, no arrays).
    /// `resolver` and `zkVerifier` read as zero once the registry admin has revoked their approval, so a
    /// revocation takes effect at once for new requests, submissions and challenges.
    struct ModelTerms {
        address owner;
        uint96 fee;
        uint8 tiers;
        bool active;
        address resolver;
        address zkVerifier;
    }

    event ModelRegistered(bytes32 indexed modelHash, address indexed owner, uint96 fee, uint8 tiers);
    event ModelUpdated(bytes32 indexed modelHash);
    event ModelOwnershipTransferred(bytes32 indexed modelHash, address indexed previousOwner, address indexed newOwner);
    event ResolverApprovalChanged(address indexed resolver, bool approved);
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);
    /// @notice A model's set-once canonical (OPTIMISTIC) terms were recorded (docs/V2.md §2).
    event CanonicalTermsSet(bytes32 indexed modelHash, bytes32 commitment, uint8 precision, uint32 stepCount);

    error RegistryModelAlreadyRegistered(bytes32 modelHash);
    error RegistryModelNotFound(bytes32 modelHash);
    error RegistryNotModelOwner(bytes32 modelHash, address caller, address owner);
    error RegistryNotAdmin(address caller);
    error RegistryResolverNotApproved(address resolver);
    error RegistryInvalidTiers(uint8 tiers);
    error RegistryInvalidSpec(string reason);
    error RegistryZeroModelHash();
    error RegistryZeroAddress();
    error RegistryCanonicalTermsAlreadySet(bytes32 modelHash);
    error RegistryCanonicalTermsNotSet(bytes32 modelHash);
    /// @notice `commitment` is not sha256(0x05 || semanticsVersion || precision || stepCount || weightsRoot || programRoot).
    error RegistryCanonicalCommitmentMismatch(bytes32 given, bytes32 computed);
    /// @notice Precision above 3, zero steps, or tolerances that are negative, non-finite or τ_major < τ_out.
    error RegistryInvalidCanonicalTerms(string reason);
    error RegistryCommitmentAlreadySet(bytes32 modelHash, bytes32 commitmentRoot);

    /// @notice A model's named inputs and outputs were recorded (registerModelIO).
    event ModelIOSet(bytes32 indexed modelHash, uint256 inputs, uint256 outputs);

    /// @notice What a model's owner asks of a request paid in one ERC-20 token (docs/FEATURES.md, "ERC-20
    /// fees"): its own fee, and the least left for the relayer and worker (the oracle's minWorkerFee is in
    /// wei, and no price converts it), both in the token's units. Takes effect at once for new requests; a
    /// request keeps the owner fee it was made with.
    struct TokenTerms {
        bool accepted;
        uint96 ownerFee;
        uint96 minWorkerFee;
    }

    /// @notice A model's owner accepted `token` on these terms, or (accepted false) stopped accepting it.
    event ModelTokenTermsSet(bytes32 indexed modelHash, address indexed token, bool accepted, uint96 ownerFee, uint96 minWorkerFee);
    /// @notice The zero address or an account without code offered as a fee token.
    error RegistryTokenInvalid(address token);

    /// @notice Accepts `token` for `modelHash`'s fees on `terms` (terms.accepted false: stops accepting it;
    /// requests already made keep their terms). Owner only.
    function setTokenTerms(bytes32 modelHash, address token, TokenTerms calldata terms) external;
    /// @notice A model's terms in `token` (all zero, accepted false, when it does not accept it).
    function tokenTerms(bytes32 modelHash, address token) external view returns (TokenTerms memory);

    function registerModel(bytes32 modelHash, ModelInfo calldata info) external;
    /// @notice Registers a model with named inputs and outputs (1..255 each, names 1..255 bytes in
    /// strictly ascending byte order: the bundle order). `info.input` / `info.output` are ignored and read
    /// back as the first input / output. The names and specs are a function of the ONNX file: set once,
    /// kept by `updateModel`. A model with several inputs takes a bundle as its input (and one with
    /// several outputs returns a bundle); a model with one of each is served exactly as by registerModel.
    /// A model with several inputs or outputs offers NONE and OPTIMISTIC (the fraud game proves a bundle
    /// member against the request's bundle hash: FraudGame.openBundle), never ZK (a ZK proof checks one
    /// input tensor and one output): RegistryInvalidTiers, here and in updateModel.
    function registerModelIO(
        bytes32 modelHash,
        ModelInfo calldata info,
        NamedTensorSpec[] calldata inputs,
        NamedTensorSpec[] calldata outputs
    ) external;
    function updateModel(bytes32 modelHash, ModelInfo calldata info) external;
    function transferModelOwnership(bytes32 modelHash, address newOwner) external;
    function setResolverApproval(address resolver, bool approved) external;

    function model(bytes32 modelHash) external view returns (ModelInfo memory);
    function terms(bytes32 modelHash) external view returns (ModelTerms memory);
    function isRegistered(bytes32 modelHash) external view returns (bool);
    /// @notice A model's named inputs and outputs; a model registered by registerModel reads as one
    /// unnamed ("") input and output (its `input` and `output` specs).
    function modelIO(bytes32 modelHash)
        external
        view
        returns (NamedTensorSpec[] memory inputs, NamedTensorSpec[] memory outputs);
    function isApprovedResolver(address resolver) external view returns (bool);
    /// @notice The bundle hash (protocol/bundle.ts: sha256(0x03 || n || n x (L || name || tensorHash))) of the
    /// model's named inputs (`outputs` false) or outputs with the given tensor hashes, in the registered
    /// (canonical) name order. Reverts RegistryInvalidSpec unless the model has n >= 2 of them and `hashes` holds n.
    function bundleHash(bytes32 modelHash, bool outputs, bytes32[] calldata hashes) external view returns (bytes32);

    /// @notice Records a model's canonical terms, once, by its owner. Checks the commitment against its parts
    /// and that the tolerances are finite, non-negative and τ_major ≥ τ_out (abs and rel each).
    function setCanonicalTerms(bytes32 modelHash, CanonicalTerms calldata terms) external;
    /// @notice A model's canonical terms; reverts RegistryCanonicalTermsNotSet when none were set.
    function canonicalTerms(bytes32 modelHash) external view returns (CanonicalTerms memory);
    function hasCanonicalTerms(bytes32 modelHash) external view returns (bool);

    function admin() external view returns (address);
    function transferAdmin(address newAdmin) external;
}
