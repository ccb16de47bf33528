// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TensorHash} from "../libraries/TensorHash.sol";
import {OpEntry} from "./OpEntry.sol";
import {TraceLib} from "./TraceLib.sol";
import {ChunkProof, IOpFamily, Operand, StepContext, StepProof, TensorProof, Verdict} from "./FraudTypes.sol";

/// @title OneStepVerifier
/// @notice Checks a one-step fraud proof (docs/OPTIMISTIC.md, "One-step proofs"): the operator entry
/// against the model's commitment root, every operand tensor against its source (request input,
/// weightsRoot, or the trace manifest under traceRoot), every chunk it reads against that tensor,
/// and the claimed element; then hands the proven chunks to the operator's family contract
/// (LinearOps, PointwiseOps, ExactOps: split to stay under the 24,576-byte code limit), which
/// recomputes the element and rules.
contract OneStepVerifier {
    using OpEntry for OpEntry.Entry;

    IOpFamily public immutable linearOps;
    IOpFamily public immutable pointwiseOps;
    IOpFamily public immutable exactOps;

    error StepCommitmentMismatch(bytes32 computed, bytes32 registered);
    error StepOperatorPath(uint32 opIndex);
    error StepOperatorIndex(uint32 entryIndex, uint32 opIndex);
    error StepOperatorUnsupported(string domain, string opType);
    error StepInputCount(uint256 given, uint256 expected);
    error StepAbsentInputHasData(uint256 operand);
    error StepInputHashMismatch(uint256 operand);
    error StepWeightPath(uint256 operand, uint256 weight);
    error StepTensorHashMismatch(uint256 operand, bytes32 committed);
    error StepOutputOutOfRange(uint256 output, uint256 outputs);
    error StepElementOutOfRange(uint256 element, uint256 numel);
    error StepDtypeUnsupported(uint256 operand, uint8 dtype);
    error StepClaimedChunkMissing(uint256 chunk);

    constructor(IOpFamily linear, IOpFamily pointwise, IOpFamily exact) {
        linearOps = linear;
        pointwiseOps = pointwise;
        exactOps = exact;
    }

    /// @notice The family contract recomputing `opType` (zero address: unsupported).
    function familyOf(string memory opType) public view returns (IOpFamily) {
        bytes32 h = keccak256(bytes(opType));
        if (h == keccak256("Conv") || h == keccak256("MatMul") || h == keccak256("MatMulInteger") || h == keccak256("Gemm") || h == keccak256("GlobalAveragePool")) {
            return linearOps;
        }
        if (
            h == keccak256("Add") || h == keccak256("Sub") || h == keccak256("Mul") || h == keccak256("Div") || h == keccak256("BatchNormalization")
                || h == keccak256("HardSigmoid") || h == keccak256("HardSwish") || h == keccak256("Softmax")
        ) return pointwiseOps;
        if (
            h == keccak256("Relu") || h == keccak256("Clip") || h == keccak256("MaxPool") || h == keccak256("GlobalMaxPool") || h == keccak256("Cast")
                || h == keccak256("Shape") || h == keccak256("Slice") || h == keccak256("Concat") || h == keccak256("Reshape") || h == keccak256("Flatten")
                || h == keccak256("Identity") || h == keccak256("Squeeze") || h == keccak256("Unsqueeze") || h == keccak256("Transpose")
        ) return exactOps;
        return IOpFamily(address(0));
    }

    /// @notice Verifies the proof's Merkle structure and rules on the element. Reverts with a Step*/Trace*
    /// error on any malformed part; returns the verdict otherwise (faulty: the worker's element is wrong).
    function verify(StepProof calldata p, StepContext calldata c) external view returns (Verdict memory) {
        (OpEntry.Entry memory e, IOpFamily family) = checkEntry(p, c);
        Operand[] memory operands = proveInputs(p, c, e);
        bytes memory claimed = proveClaimed(p, c, e);
        return family.evaluate(p.entry, operands, p.output, p.element, claimed);
    }

    function checkEntry(StepProof calldata p, StepContext calldata c) private view returns (OpEntry.Entry memory e, IOpFamily family) {
        bytes32 root = sha256(abi.encodePacked(uint8(3), p.weightsRoot, p.opsRoot));
        if (root != c.commitmentRoot) revert StepCommitmentMismatch(root, c.commitmentRoot);
        bytes32 leaf = sha256(abi.encodePacked(uint8(4), p.entry));
        if (p.opPath.length > 32 || (uint256(p.opIndex) >> p.opPath.length) != 0 || TensorHash.rootFromPath(leaf, p.opIndex, p.opPath) != p.opsRoot) {
            revert StepOperatorPath(p.opIndex);
        }
        e = OpEntry.parse(p.entry);
        if (e.index != p.opIndex) revert StepOperatorIndex(e.index, p.opIndex);
        family = bytes(e.domain).length == 0 ? familyOf(e.opType) : IOpFamily(address(0));
        if (address(family) == address(0)) revert StepOperatorUnsupported(e.domain, e.opType);
        TraceLib.checkManifest(c.traceRoot, p.traceCount, p.manifestRoot);
    }

    function proveInputs(StepProof calldata p, StepContext calldata c, OpEntry.Entry memory e) private pure returns (Operand[] memory operands) {
        if (p.inputs.length != e.inputs.length) revert StepInputCount(p.inputs.length, e.inputs.length);
        operands = new Operand[](e.inputs.length);
        for (uint256 j = 0; j < e.inputs.length; ++j) operands[j] = prove(p, c, e.inputs[j], p.inputs[j], j);
    }

    function proveClaimed(StepProof calldata p, StepContext calldata c, OpEntry.Entry memory e) private pure returns (bytes memory) {
        if (p.output >= e.outputs.length) revert StepOutputOutOfRange(p.output, e.outputs.length);
        OpEntry.IO memory o = e.outputs[p.output];
        uint256 n = OpEntry.numel(o.shape);
        if (p.element >= n) revert StepElementOutOfRange(p.element, n);
        Operand memory out = prove(p, c, o, p.out, e.inputs.length);
        return claimedBytes(out, OpEntry.elementSize(o.dtype), p.element);
    }

    function claimedBytes(Operand memory out, uint256 size, uint256 element) private pure returns (bytes memory raw) {
        uint256 off = element * size;
        uint256 chunk = off / TraceLib.CHUNK;
        for (uint256 k = 0; k < out.index.length; ++k) {
            if (out.index[k] == chunk) {
                raw = new bytes(size);
                bytes memory d = out.data[k];
                for (uint256 i = 0; i < size; ++i) raw[i] = d[off % TraceLib.CHUNK + i];
                return raw;
            }
        }
        revert StepClaimedChunkMissing(chunk);
    }

    /// @notice Proves one operand tensor against its source and its chunks against the tensor.
    function prove(StepProof calldata p, StepContext calldata c, OpEntry.IO memory io, TensorProof calldata t, uint256 j)
        private
        pure
        returns (Operand memory op)
    {
        if (io.source == OpEntry.SOURCE_ABSENT) {
            if (t.chunks.length != 0) revert StepAbsentInputHasData(j);
            return op;
        }
        uint256 size = OpEntry.elementSize(io.dtype);
        if (size == 0) revert StepDtypeUnsupported(j, io.dtype);
        bytes32 h = TraceLib.tensorHash(io.dtype, io.shape, t.dataRoot);
        if (io.source == OpEntry.SOURCE_INPUT) {
            if (h != c.inputHash) revert StepInputHashMismatch(j);
        } else if (io.source == OpEntry.SOURCE_WEIGHT) {
            if (t.weightPath.length > 32 || (uint256(io.index) >> t.weightPath.length) != 0 || TensorHash.rootFromPath(h, io.index, t.weightPath) != p.weightsRoot) {
                revert StepWeightPath(j, io.index);
            }
        } else {
            bytes32 committed = TraceLib.rowHash(p.traceCount, p.manifestRoot, io.index, t.row);
            if (committed != h) revert StepTensorHashMismatch(j, committed);
        }
        uint256 bytesLen = OpEntry.numel(io.shape) * size;
        op.index = new uint32[](t.chunks.length);
        op.data = new bytes[](t.chunks.length);
        for (uint256 k = 0; k < t.chunks.length; ++k) {
            ChunkProof calldata ch = t.chunks[k];
            if (k > 0 && ch.index <= t.chunks[k - 1].index) revert TraceLib.TraceChunkOrder(j, ch.index);
            TraceLib.checkChunk(ch, t.dataRoot, bytesLen, j);
            op.index[k] = ch.index;
            op.data[k] = ch.data;
        }
    }
}
