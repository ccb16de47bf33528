/**
 * One-step fraud proofs (docs/OPTIMISTIC.md, "One-step proofs"): builds the calldata that
 * contracts/fraud/OneStepVerifier.sol checks for ONE element of ONE operator of a trace — the
 * operator entry and its path to opsRoot, every operand tensor proven against its source (the
 * request's inputHash, weightsRoot, or the trace manifest under traceRoot), the 1 KiB chunks of each
 * operand the element reads, and the chunk holding the claimed element.
 *
 * Which chunks an element reads is found by running the challenger's own reference kernel
 * (challenger/ops.ts) on operands that record every element index read: the Solidity twins read the
 * same elements (or fewer), so the proof always carries what the verifier needs.
 */
import { encodeOperatorEntry, operatorLeaf, weightLeaves, type ModelCommitment, type TensorType } from "../protocol/commitment.js";
import { chunkLeaves, CHUNK_BYTES, merklePath, merkleRoot, sha256, toHex } from "../protocol/merkle.js";
import { DTYPES, encodeHeader, encodeTensor, type Tensor, type TensorData } from "../protocol/tensor.js";
import type { Hex } from "../protocol/types.js";
import type { TraceTensors } from "./checker.js";
import { ChallengerError } from "./errors.js";
import { prepareOperator } from "./ops.js";

export interface ChunkProofArgs {
  index: number;
  data: Hex;
  path: Hex[];
}

export interface TensorProofArgs {
  dataRoot: Hex;
  row: ChunkProofArgs;
  weightPath: Hex[];
  chunks: ChunkProofArgs[];
}

/** The StepProof struct of contracts/fraud/FraudTypes.sol, ready for ethers. */
export interface StepProofArgs {
  opIndex: number;
  entry: Hex;
  opPath: Hex[];
  weightsRoot: Hex;
  opsRoot: Hex;
  manifestRoot: Hex;
  traceCount: number;
  inputs: TensorProofArgs[];
  output: number;
  element: bigint;
  out: TensorProofArgs;
}

/** The StepContext struct: what the step is checked against. */
export interface StepContextArgs {
  commitmentRoot: Hex;
  inputHash: Hex;
  traceRoot: Hex;
}

const EMPTY_CHUNK: ChunkProofArgs = { index: 0, data: "0x" as Hex, path: [] };
const EMPTY_TENSOR: TensorProofArgs = { dataRoot: toHex(Buffer.alloc(32)), row: EMPTY_CHUNK, weightPath: [], chunks: [] };

interface Tree {
  data: Buffer;
  leaves: Buffer[];
  root: Buffer;
}

function treeOf(data: Buffer): Tree {
  const leaves = chunkLeaves(data);
  return { data, leaves, root: merkleRoot(leaves) };
}

function tensorTree(t: Tensor): Tree {
  const encoded = encodeTensor(t);
  return treeOf(encoded.subarray(8 + 4 * t.shape.length));
}

function chunkProof(tree: Tree, index: number): ChunkProofArgs {
  const data = tree.data.subarray(index * CHUNK_BYTES, Math.min((index + 1) * CHUNK_BYTES, tree.data.byteLength));
  return { index, data: toHex(data), path: merklePath(tree.leaves, index).map(toHex) };
}

/** A tensor whose data records every element index read (typed arrays behind a Proxy). */
function recording(t: Tensor, reads: Set<number>): Tensor {
  const data = new Proxy(t.data, {
    get(target, prop) {
      if (typeof prop === "string" && /^\d+$/.test(prop)) reads.add(Number(prop));
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as TensorData;
  return { dtype: t.dtype, shape: t.shape, data };
}

/**
 * Builds one-step proofs over one trace. Trees (ops, weights, manifest, tensors) are built once and
 * cached, so many elements of the same trace are cheap.
 */
export class StepProofBuilder {
  private readonly opLeaves: Buffer[];
  private readonly weightLeafs: Buffer[];
  private readonly manifest: Tree;
  private readonly hashes: Hex[];
  private readonly trees = new Map<Tensor, Tree>();

  constructor(
    readonly commitment: ModelCommitment,
    readonly trace: TraceTensors,
    /** Tensor hashes of the trace (as in the manifest), if already known. */
    hashes?: readonly Hex[],
  ) {
    this.opLeaves = commitment.operators.map(operatorLeaf);
    this.weightLeafs = weightLeaves(commitment.weights);
    this.hashes = hashes ? [...hashes] : trace.tensors.map((t) => this.hashOf(t));
    this.manifest = treeOf(Buffer.concat(this.hashes.map((h) => Buffer.from(h.slice(2), "hex"))));
  }

  /** tensorHash(t) from its cached tree: sha256(0x02 || header || dataRoot). */
  private hashOf(t: Tensor): Hex {
    return toHex(sha256(Buffer.from([2]), encodeHeader(t.dtype, t.shape), this.tree(t).root));
  }

  private tree(t: Tensor): Tree {
    let tree = this.trees.get(t);
    if (tree === undefined) {
      tree = tensorTree(t);
      this.trees.set(t, tree);
    }
    return tree;
  }

  /** The tensor an operator input reads (undefined: absent). */
  private source(opIndex: number, j: number): Tensor | undefined {
    const s = this.commitment.operators[opIndex]!.inputs[j]!.source;
    if (s.kind === "absent") return undefined;
    if (s.kind === "input") return this.trace.input;
    if (s.kind === "weight") return this.commitment.weights[s.index]!.tensor;
    const t = this.trace.tensors[s.index];
    if (t === undefined) throw new ChallengerError("TRACE_MALFORMED", `trace tensor ${s.index} is missing`);
    return t;
  }

  /** Element indices of each input that element `element` of output `output` reads. */
  reads(opIndex: number, output: number, element: number): Array<Set<number>> {
    const op = this.commitment.operators[opIndex]!;
    const sets = op.inputs.map(() => new Set<number>());
    const inputs = op.inputs.map((_, j) => {
      const t = this.source(opIndex, j);
      return t === undefined ? undefined : recording(t, sets[j]!);
    });
    const kernel = prepareOperator(op.opType, { inputs, attributes: new Map(op.attributes.map((a) => [a.name, a])), opset: op.opset }, op.domain);
    kernel.element(output, element);
    return sets;
  }

  private tensorProof(t: Tensor, type: TensorType, source: { kind: string; index?: number }, elements: Iterable<number>): TensorProofArgs {
    const tree = this.tree(t);
    const size = DTYPES[type.dtype].size;
    const chunks = [...new Set([...elements].map((k) => Math.floor((k * size) / CHUNK_BYTES)))].sort((a, b) => a - b);
    const proof: TensorProofArgs = { dataRoot: toHex(tree.root), row: EMPTY_CHUNK, weightPath: [], chunks: chunks.map((c) => chunkProof(tree, c)) };
    if (source.kind === "weight") proof.weightPath = merklePath(this.weightLeafs, source.index!).map(toHex);
    if (source.kind === "trace") proof.row = chunkProof(this.manifest, Math.floor(source.index! / 32));
    return proof;
  }

  /** The proof for element `element` of output `output` of operator `opIndex`. */
  step(opIndex: number, output: number, element: number): StepProofArgs {
    const c = this.commitment;
    const op = c.operators[opIndex];
    if (op === undefined) throw new ChallengerError("TRACE_MALFORMED", `no operator ${opIndex}`);
    const reads = this.reads(opIndex, output, element);
    const inputs = op.inputs.map((inp, j) => {
      const t = this.source(opIndex, j);
      if (t === undefined) return EMPTY_TENSOR;
      return this.tensorProof(t, op.inputTypes[j]!, inp.source, reads[j]!);
    });
    const outTrace = op.outputs[output]!.trace;
    const outTensor = this.trace.tensors[outTrace]!;
    return {
      opIndex,
      entry: toHex(encodeOperatorEntry(op)),
      opPath: merklePath(this.opLeaves, opIndex).map(toHex),
      weightsRoot: c.weightsRoot,
      opsRoot: c.opsRoot,
      manifestRoot: toHex(this.manifest.root),
      traceCount: this.hashes.length,
      inputs,
      output,
      element: BigInt(element),
      out: this.tensorProof(outTensor, op.outputTypes[output]!, { kind: "trace", index: outTrace }, [element]),
    };
  }

  /** The manifest chunk holding trace tensor `traceIndex`'s hash (for output-binding and DA proofs). */
  row(traceIndex: number): ChunkProofArgs {
    return chunkProof(this.manifest, Math.floor(traceIndex / 32));
  }

  manifestRoot(): Hex {
    return toHex(this.manifest.root);
  }

  /** A type-fault proof: trace tensor `output` of operator `opIndex` is not of the committed dtype/shape. */
  typeFault(opIndex: number, output: number) {
    const op = this.commitment.operators[opIndex]!;
    const traceIndex = op.outputs[output]!.trace;
    const t = this.trace.tensors[traceIndex]!;
    return {
      opIndex,
      entry: toHex(encodeOperatorEntry(op)),
      opPath: merklePath(this.opLeaves, opIndex).map(toHex),
      weightsRoot: this.commitment.weightsRoot,
      opsRoot: this.commitment.opsRoot,
      output,
      traceCount: this.hashes.length,
      manifestRoot: toHex(this.manifest.root),
      row: this.row(traceIndex),
      header: toHex(encodeHeader(t.dtype, t.shape)),
      dataRoot: toHex(this.tree(t).root),
    };
  }

  /** Chunk `chunk` of trace tensor `traceIndex` with its path (what a DA reveal carries). */
  traceChunk(traceIndex: number, chunk: number): ChunkProofArgs & { dataRoot: Hex; header: Hex } {
    const t = this.trace.tensors[traceIndex]!;
    const tree = this.tree(t);
    const encoded = encodeTensor(t);
    return { ...chunkProof(tree, chunk), dataRoot: toHex(tree.root), header: toHex(encoded.subarray(0, 8 + 4 * t.shape.length)) };
  }
}

/** A soft float returned by the verifier (m * 2^e packed in one word) as a JS number. */
export function softFloatToNumber(packed: bigint): number {
  const m = BigInt.asIntN(128, packed >> 128n);
  const e = Number(BigInt.asIntN(128, packed & ((1n << 128n) - 1n)));
  if (m === 0n) return 0;
  return Number(m) * 2 ** e;
}
