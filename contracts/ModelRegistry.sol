// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {CanonicalTerms} from "./interfaces/IDisputeGame.sol";
import {TensorHash} from "./libraries/TensorHash.sol";

/// @title ModelRegistry
/// @notice ONNX models keyed by the sha256 of their file. Anyone registers a model and owns it; the
/// registry admin approves the dispute resolvers and zk verifiers models may plug in.
contract ModelRegistry is IModelRegistry {
    uint8 internal constant TIER_NONE = 1 << 0;
    uint8 internal constant TIER_OPTIMISTIC = 1 << 1;
    uint8 internal constant TIER_ZK = 1 << 2;
    uint8 internal constant ALL_TIERS = 0x07;

    /// @dev The oracle reads slots 0-2 (the terms) on every request.
    struct StoredModel {
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

    /// @inheritdoc IModelRegistry
    address public admin;
    mapping(bytes32 modelHash => StoredModel) internal _models;
    mapping(address resolverOrVerifier => bool) internal _approved;
    /// @dev Set once per model (commitment != 0 marks it set: a sha256 output is never zero in practice).
    mapping(bytes32 modelHash => CanonicalTerms) internal _canonical;

    struct StoredIO {
        NamedTensorSpec[] inputs;
        NamedTensorSpec[] outputs;
    }

    /// @dev Set once, at registration by registerModelIO; empty for a model registered by registerModel.
    mapping(bytes32 modelHash => StoredIO) internal _io;

    /// @dev What each model's owner asks in each ERC-20 token it accepts (docs/FEATURES.md, "ERC-20 fees").
    mapping(bytes32 modelHash => mapping(address token => TokenTerms)) internal _tokenTerms;

    uint256 internal constant MAX_IO = 255;
    uint256 internal constant MAX_NAME_BYTES = 255;

    uint8 internal constant MAX_PRECISION = 3;
    /// @dev binary64 +Inf: a non-negative finite binary64 has bits below it (and its sign bit clear).
    uint64 internal constant F64_INF = 0x7ff0000000000000;

    modifier onlyAdmin() {
        // INVARIANT: only the admin decides which resolvers and verifiers are trusted.
        if (msg.sender != admin) revert RegistryNotAdmin(msg.sender);
        _;
    }

    modifier onlyModelOwner(bytes32 modelHash) {
        address owner = _models[modelHash].owner;
        // INVARIANT: a model exists iff it has an owner.
        if (owner == address(0)) revert RegistryModelNotFound(modelHash);
        // INVARIANT: only a model's owner changes it.
        if (msg.sender != owner) revert RegistryNotModelOwner(modelHash, msg.sender, owner);
        _;
    }

    constructor(address admin_) {
        if (admin_ == address(0)) revert RegistryZeroAddress();
        admin = admin_;
        emit AdminTransferred(address(0), admin_);
    }

    /// @inheritdoc IModelRegistry
    function registerModel(bytes32 modelHash, ModelInfo calldata info) external {
        // INVARIANT: a model is named by the (nonzero) hash of its file.
        if (modelHash == bytes32(0)) revert RegistryZeroModelHash();
        // INVARIANT: a hash is registered once; ownership moves only by transfer.
        if (_models[modelHash].owner != address(0)) revert RegistryModelAlreadyRegistered(modelHash);
        _store(modelHash, info, msg.sender, false);
        emit ModelRegistered(modelHash, msg.sender, info.fee, info.tiers);
    }

    /// @inheritdoc IModelRegistry
    function registerModelIO(
        bytes32 modelHash,
        ModelInfo calldata info,
        NamedTensorSpec[] calldata inputs,
        NamedTensorSpec[] calldata outputs
    ) external {
        if (modelHash == bytes32(0)) revert RegistryZeroModelHash();
        if (_models[modelHash].owner != address(0)) revert RegistryModelAlreadyRegistered(modelHash);
        _checkNoneOnly(info.tiers, inputs.length, outputs.length);
        _store(modelHash, info, msg.sender, true);
        StoredIO storage io = _io[modelHash];
        _storeNamed(io.inputs, inputs, "input");
        _storeNamed(io.outputs, outputs, "output");
        StoredModel storage m = _models[modelHash];
        m.input = TensorSpec(inputs[0].dtype, inputs[0].shape);
        m.output = TensorSpec(outputs[0].dtype, outputs[0].shape);
        emit ModelRegistered(modelHash, msg.sender, info.fee, info.tiers);
        emit ModelIOSet(modelHash, inputs.length, outputs.length);
    }

    /// @inheritdoc IModelRegistry
    function modelIO(bytes32 modelHash)
        external
        view
        returns (NamedTensorSpec[] memory inputs, NamedTensorSpec[] memory outputs)
    {
        StoredModel storage m = _existing(modelHash);
        StoredIO storage io = _io[modelHash];
        if (io.inputs.length == 0) {
            inputs = new NamedTensorSpec[](1);
            inputs[0] = NamedTensorSpec("", m.input.dtype, m.input.shape);
            outputs = new NamedTensorSpec[](1);
            outputs[0] = NamedTensorSpec("", m.output.dtype, m.output.shape);
        } else {
            inputs = io.inputs;
            outputs = io.outputs;
        }
    }

    /// @inheritdoc IModelRegistry
    /// @dev `info.owner` is ignored; use transferModelOwnership.
    function updateModel(bytes32 modelHash, ModelInfo calldata info) external onlyModelOwner(modelHash) {
        StoredIO storage io = _io[modelHash];
        _checkNoneOnly(info.tiers, io.inputs.length, io.outputs.length);
        _store(modelHash, info, msg.sender, io.inputs.length != 0);
        emit ModelUpdated(modelHash);
    }

    /// @inheritdoc IModelRegistry
    function transferModelOwnership(bytes32 modelHash, address newOwner) external onlyModelOwner(modelHash) {
        // INVARIANT: a registered model always has an owner.
        if (newOwner == address(0)) revert RegistryZeroAddress();
        _models[modelHash].owner = newOwner;
        emit ModelOwnershipTransferred(modelHash, msg.sender, newOwner);
    }

    /// @inheritdoc IModelRegistry
    function setResolverApproval(address resolver, bool approved) external onlyAdmin {
        if (resolver == address(0)) revert RegistryZeroAddress();
        _approved[resolver] = approved;
        emit ResolverApprovalChanged(resolver, approved);
    }

    /// @inheritdoc IModelRegistry
    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert RegistryZeroAddress();
        emit AdminTransferred(admin, newAdmin);
        admin = newAdmin;
    }

    /// @inheritdoc IModelRegistry
    function model(bytes32 modelHash) external view returns (ModelInfo memory info) {
        StoredModel storage m = _existing(modelHash);
        info.owner = m.owner;
        info.fee = m.fee;
        info.tiers = m.tiers;
        info.active = m.active;
        info.resolver = m.resolver;
        info.zkVerifier = m.zkVerifier;
        info.commitmentRoot = m.commitmentRoot;
        info.input = m.input;
        info.output = m.output;
        info.uris = m.uris;
    }

    /// @inheritdoc IModelRegistry
    function terms(bytes32 modelHash) external view returns (ModelTerms memory t) {
        StoredModel storage m = _existing(modelHash);
        t.owner = m.owner;
        t.fee = m.fee;
        t.tiers = m.tiers;
        t.active = m.active;
        address resolver = m.resolver;
        if (resolver != address(0) && _approved[resolver]) t.resolver = resolver;
        address zkVerifier = m.zkVerifier;
        if (zkVerifier != address(0) && _approved[zkVerifier]) t.zkVerifier = zkVerifier;
    }

    /// @inheritdoc IModelRegistry
    function setTokenTerms(bytes32 modelHash, address token, TokenTerms calldata t) external onlyModelOwner(modelHash) {
        // INVARIANT: a fee token is a contract (SafeERC20 also refuses calls to an account without code).
        if (token == address(0) || token.code.length == 0) revert RegistryTokenInvalid(token);
        if (t.accepted) _tokenTerms[modelHash][token] = t;
        else delete _tokenTerms[modelHash][token];
        emit ModelTokenTermsSet(modelHash, token, t.accepted, t.accepted ? t.ownerFee : 0, t.accepted ? t.minWorkerFee : 0);
    }

    /// @inheritdoc IModelRegistry
    function tokenTerms(bytes32 modelHash, address token) external view returns (TokenTerms memory) {
        return _tokenTerms[modelHash][token];
    }

    /// @inheritdoc IModelRegistry
    function isRegistered(bytes32 modelHash) external view returns (bool) {
        return _models[modelHash].owner != address(0);
    }

    /// @inheritdoc IModelRegistry
    function bundleHash(bytes32 modelHash, bool outputs, bytes32[] calldata hashes) external view returns (bytes32) {
        NamedTensorSpec[] storage specs = outputs ? _io[modelHash].outputs : _io[modelHash].inputs;
        uint256 n = specs.length;
        // A single tensor travels bare (its hash is the tensor hash), and a bundle holds exactly the model's tensors.
        if (n < 2 || hashes.length != n) revert RegistryInvalidSpec("bundle: the model's count of tensors needed");
        bytes memory b = abi.encodePacked(uint8(3), uint8(n));
        for (uint256 i = 0; i < n; ++i) {
            bytes memory name = bytes(specs[i].name);
            b = bytes.concat(b, bytes1(uint8(name.length)), name, hashes[i]);
        }
        return sha256(b);
    }

    /// @inheritdoc IModelRegistry
    function isApprovedResolver(address resolver) external view returns (bool) {
        return _approved[resolver];
    }

    /// @inheritdoc IModelRegistry
    function setCanonicalTerms(bytes32 modelHash, CanonicalTerms calldata t) external onlyModelOwner(modelHash) {
        // INVARIANT: canonical terms are set once: a dispute reads what the request was made under.
        if (_canonical[modelHash].commitment != bytes32(0)) revert RegistryCanonicalTermsAlreadySet(modelHash);
        if (t.precision > MAX_PRECISION) revert RegistryInvalidCanonicalTerms("precision");
        if (t.stepCount == 0) revert RegistryInvalidCanonicalTerms("stepCount");
        // Non-negative finite binary64 values order like their bit patterns.
        if (t.tauOutAbs >= F64_INF || t.tauOutRel >= F64_INF || t.tauMajorAbs >= F64_INF || t.tauMajorRel >= F64_INF) {
            revert RegistryInvalidCanonicalTerms("tolerance negative or not finite");
        }
        if (t.tauMajorAbs < t.tauOutAbs || t.tauMajorRel < t.tauOutRel) revert RegistryInvalidCanonicalTerms("tauMajor below tauOut");
        bytes32 computed = sha256(
            abi.encodePacked(uint8(0x05), t.semanticsVersion, t.precision, t.stepCount, t.weightsRoot, t.programRoot)
        );
        // INVARIANT: the commitment is a pure function of its parts (canonical/commitment.ts commitmentOf).
        if (t.commitment != computed) revert RegistryCanonicalCommitmentMismatch(t.commitment, computed);
        _canonical[modelHash] = t;
        emit CanonicalTermsSet(modelHash, computed, t.precision, t.stepCount);
    }

    /// @inheritdoc IModelRegistry
    function canonicalTerms(bytes32 modelHash) external view returns (CanonicalTerms memory t) {
        t = _canonical[modelHash];
        if (t.commitment == bytes32(0)) revert RegistryCanonicalTermsNotSet(modelHash);
    }

    /// @inheritdoc IModelRegistry
    function hasCanonicalTerms(bytes32 modelHash) external view returns (bool) {
        return _canonical[modelHash].commitment != bytes32(0);
    }

    function _existing(bytes32 modelHash) internal view returns (StoredModel storage m) {
        m = _models[modelHash];
        if (m.owner == address(0)) revert RegistryModelNotFound(modelHash);
    }

    /// @dev `named`: the model's specs come from its named inputs and outputs, not from `info`.
    function _store(bytes32 modelHash, ModelInfo calldata info, address owner, bool named) internal {
        uint8 tiers = info.tiers;
        // INVARIANT: a model supports at least one tier, and only tiers that exist.
        if (tiers == 0 || tiers & ~ALL_TIERS != 0) revert RegistryInvalidTiers(tiers);
        // INVARIANT: optimistic results can always be disputed before an approved resolver.
        if (tiers & TIER_OPTIMISTIC != 0 && !_approved[info.resolver]) revert RegistryResolverNotApproved(info.resolver);
        // INVARIANT: zk results are always checked by an approved verifier.
        if (tiers & TIER_ZK != 0 && !_approved[info.zkVerifier]) revert RegistryResolverNotApproved(info.zkVerifier);
        if (!named) {
            _checkSpec(info.input.dtype, info.input.shape, "input");
            _checkSpec(info.output.dtype, info.output.shape, "output");
        }

        StoredModel storage m = _models[modelHash];
        m.owner = owner;
        m.fee = info.fee;
        m.tiers = tiers;
        m.active = info.active;
        m.resolver = info.resolver;
        m.zkVerifier = info.zkVerifier;
        bytes32 committed = m.commitmentRoot;
        // INVARIANT: a commitment root is a pure function of the ONNX file: set once (at registration, or
        // by one later update while it is zero), never changed.
        if (committed != bytes32(0) && info.commitmentRoot != committed) {
            revert RegistryCommitmentAlreadySet(modelHash, committed);
        }
        m.commitmentRoot = info.commitmentRoot;
        if (!named) {
            m.input = info.input;
            m.output = info.output;
        }
        delete m.uris;
        for (uint256 i = 0; i < info.uris.length; ++i) {
            m.uris.push(info.uris[i]);
        }
    }

    function _checkSpec(uint8 dtype, uint32[] calldata shape, string memory which) internal pure {
        // INVARIANT: declared tensors use an encodable dtype and rank.
        if (TensorHash.elementSize(dtype) == 0) revert RegistryInvalidSpec(string.concat(which, ": unsupported dtype"));
        if (shape.length > TensorHash.MAX_RANK) revert RegistryInvalidSpec(string.concat(which, ": rank above 8"));
    }

    /// @dev Checks and stores named specs: 1..255 of them, names 1..255 bytes in strictly ascending byte
    /// order (the bundle's canonical order, so each name is unique), each an encodable dtype and rank.
    function _storeNamed(NamedTensorSpec[] storage dst, NamedTensorSpec[] calldata specs, string memory which) internal {
        // INVARIANT: a model has at least one input and one output, and no more than a bundle can carry.
        if (specs.length == 0 || specs.length > MAX_IO) revert RegistryInvalidSpec(string.concat(which, "s: 1..255 needed"));
        for (uint256 i = 0; i < specs.length; ++i) {
            NamedTensorSpec calldata s = specs[i];
            bytes calldata name = bytes(s.name);
            if (name.length == 0 || name.length > MAX_NAME_BYTES) revert RegistryInvalidSpec(string.concat(which, ": name of 1..255 bytes needed"));
            // INVARIANT: names are unique and in bundle order.
            if (i != 0 && !_before(bytes(specs[i - 1].name), name)) {
                revert RegistryInvalidSpec(string.concat(which, ": names not strictly ascending at ", s.name));
            }
            _checkSpec(s.dtype, s.shape, string.concat(which, " ", s.name));
            dst.push();
            NamedTensorSpec storage d = dst[i];
            d.name = s.name;
            d.dtype = s.dtype;
            d.shape = s.shape;
        }
    }

    /// @dev A model with several inputs or outputs offers NONE and OPTIMISTIC, never ZK.
    function _checkNoneOnly(uint8 tiers, uint256 inputs, uint256 outputs) internal pure {
        // INVARIANT: a ZK proof checks one input tensor and one output, so a model with several is never offered
        // in a tier no verifier could decide (a dispute proves bundle members: FraudGame.openBundle, bundleHash).
        if ((inputs > 1 || outputs > 1) && tiers & TIER_ZK != 0) revert RegistryInvalidTiers(tiers);
    }

    /// @dev a < b in byte order (a proper prefix sorts first).
    function _before(bytes calldata a, bytes calldata b) internal pure returns (bool) {
        uint256 n = a.length < b.length ? a.length : b.length;
        for (uint256 i = 0; i < n; ++i) {
            if (a[i] != b[i]) return uint8(a[i]) < uint8(b[i]);
        }
        return a.length < b.length;
    }
}
