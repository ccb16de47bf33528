/**
 * The canonical trace of one run and every proof a dispute asks of it (docs/V2.md §2, §5).
 *
 *   traceRoot   = merkleRoot([tensorHash(T_j) for j in 0..n−1])      (the manifest tree)
 *   tensorHash  = sha256(0x02 || header || dataRoot),  dataRoot = merkleRoot(1024-byte chunks)
 *   partial leaf = sha256(0x00 || record),  K + 1 leaves per reduce element (leaf 0 the init)
 *
 * `CanonicalTrace.build` runs the program canonically step by step (canonical/run.ts runSteps) and hashes
 * each step tensor as it is produced, keeping its chunk tree (what a dispute reads); the runner releases a
 * tensor once no later step reads it, and its bytes go to a per-trace temporary file (canonical/spill.ts)
 * read back on demand through a small cache. Only the model outputs stay in memory. `close()` frees
 * the file when the game ends. A reduce element's partial-state tree is built on
 * demand from canonical/element.ts (`reduceTerms`, `foldPartials`) and canonical/partial.ts, one
 * element at a time (the last one is cached), so K up to 2^20 costs one tree (64 MiB), never more.
 *
 * Every producer here answers with what the worker reveals or a challenger proves: node children,
 * leaf paths (bottom-up, protocol/merkle.ts `rootFromPath` order), a tensor's header and dataRoot, a
 * chunk's bytes.
 */
import { hash as oneShot } from "node:crypto";
import { CHUNK_BYTES, sha256, bytesToHex, DTYPES, encodeHeader, numel, type Tensor, type Hex } from "../protocol/index.js";
import { foldPartials, reduceTerms, type OperandReader, type ReduceElement } from "./element.js";
import type { Precision } from "./float.js";
import { encodePartial, partialKindOf, wordOf, type PartialKind } from "./partial.js";
import type { Operand, Program, Step } from "./program.js";
import { programInputs, runSteps } from "./run.js";
import { TensorSpill } from "./spill.js";
import { FlatTree } from "./tree.js";

/** One step's tensor and its hash tree. */
export interface TensorTree {
  header: Buffer;
  /** The tensor's data bytes (little-endian), a view of the tensor. */
  data: Uint8Array;
  chunks: FlatTree;
  dataRoot: Buffer;
  /** tensorHash: the manifest leaf. */
  hash: Buffer;
}

/** The partial-state tree of one reduce element. */
export interface PartialTree {
  step: number;
  element: number;
  kind: PartialKind;
  count: number;
  /** K, the number of terms; the tree has K + 1 leaves. */
  terms: number;
  /** The K + 1 accumulator values (state t has folded terms 0..t−1). */
  states: Float64Array;
  tree: FlatTree;
  root: Buffer;
  /** The 32-byte record of leaf t. */
  record(t: number): Uint8Array;
}

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/**
 * A step tensor's chunk tree, hashed in place: each 1 KiB chunk's leaf (protocol/merkle.ts chunkLeaves:
 * sha256(0x00 || chunk)) is written straight into the tree's leaf level through one reused buffer, with
 * no hash object per chunk (a 0.7 GB trace has 700k chunks), one tensor at a time.
 */
export function tensorTreeOf(t: Tensor): TensorTree {
  const header = encodeHeader(t.dtype, t.shape);
  const data = bytesOf(t);
  const buf = Buffer.allocUnsafe(CHUNK_BYTES + 1);
  buf[0] = 0x00;
  const chunks = FlatTree.build(Math.max(1, Math.ceil(data.byteLength / CHUNK_BYTES)), (c, out) => {
    const chunk = chunkOf(data, c);
    buf.set(chunk, 1);
    sha256Once(buf.subarray(0, chunk.byteLength + 1)).copy(out);
  });
  const dataRoot = Buffer.from(chunks.root);
  return { header, data, chunks, dataRoot, hash: sha256(Buffer.from([2]), header, dataRoot) };
}

/** Chunk `c` of a tensor's data bytes. */
export function chunkOf(data: Uint8Array, c: number): Uint8Array {
  return data.subarray(c * CHUNK_BYTES, Math.min((c + 1) * CHUNK_BYTES, data.byteLength));
}

/** The partial-state tree of element `e` of reduce step `step`, from element.ts (one element's tree in memory). */
export function buildPartialTree(step: Step, read: OperandReader, e: number, precision: Precision): PartialTree {
  const r: ReduceElement = reduceTerms(step, read, e, precision);
  const integer = step.output.dtype !== "float32";
  return partialTreeOf(step.index, e, partialKindOf(r, integer), r.count, foldPartials(r, integer));
}

/** The tree over given partial states (K + 1 accumulator values): what any responder, honest or not, reveals. */
export function partialTreeOf(step: number, e: number, kind: PartialKind, count: number, states: Float64Array): PartialTree {
  const record = (t: number) => encodePartial({ kind, count, t, acc: states[t]! });
  // Leaves hashed from one reused 0x00 || record buffer (the layout of partial.ts encodePartial, checked
  // against it on leaf 0 and leaf K): K up to 2^20 without a buffer per leaf.
  const buf = Buffer.alloc(33);
  buf.set(record(0), 1);
  const tree = FlatTree.build(states.length, (t, out) => {
    buf.writeUInt32BE(t, 9);
    buf.writeBigUInt64BE(wordOf(kind, states[t]!), 17);
    sha256Once(buf).copy(out);
  });
  if (!tree.leaf(0).equals(sha256Once(Buffer.concat([Buffer.of(0), record(0)]))) || !tree.leaf(states.length - 1).equals(sha256Once(Buffer.concat([Buffer.of(0), record(states.length - 1)])))) {
    throw new Error("partial leaf layout differs from encodePartial");
  }
  return { step, element: e, kind, count, terms: states.length - 1, states, tree, root: Buffer.from(tree.root), record };
}

const sha256Once = (b: Uint8Array): Buffer => oneShot("sha256", b, "buffer");

export interface TraceOptions {
  precision?: Precision;
  /** Where the spill file goes (default os.tmpdir()); `false` keeps every tensor in memory. */
  spill?: string | false;
  /** Bytes of spilled tensors cached in memory after a read (default 64 MiB). */
  cacheBytes?: number;
}

/** What `build` hands the constructor: the trees, the tensors still in memory, the spill file. */
class Streamed {
  constructor(
    readonly trees: TensorTree[],
    readonly held: Array<Tensor | undefined>,
    readonly spill: TensorSpill | undefined,
  ) {}
}

export class CanonicalTrace {
  readonly program: Program;
  /** The first input (the only one of a one-input program). */
  readonly input: Tensor;
  /** Every input, in canonical name order (input operand i). */
  readonly inputs: Tensor[];
  readonly precision: Precision;
  /** The step tensors held in memory (all of them, or with a spill file only the model outputs). */
  private readonly held: Array<Tensor | undefined>;
  private readonly spill: TensorSpill | undefined;
  readonly trees: TensorTree[];
  readonly manifest: FlatTree;
  readonly traceRoot: Hex;
  /** tensorHash of the last step's tensor (the model output; with several outputs, the last in name order). */
  readonly finalHash: Hex;

  /** The model outputs, in canonical name order (output k is step stepCount − n + k). */
  get outputs(): Tensor[] {
    const m = (this.program.outputs ?? [this.program.output]).length;
    return Array.from({ length: m }, (_, k) => this.tensor(this.stepCount - m + k));
  }

  /** Every step's tensor, in step order, read back from the spill file: the whole trace in memory (tests, benches). */
  get tensors(): Tensor[] {
    return Array.from({ length: this.stepCount }, (_, j) => this.tensor(j));
  }

  /** Step j's tensor (from memory, or read back from the spill file). */
  tensor(j: number): Tensor {
    if (!Number.isInteger(j) || j < 0 || j >= this.stepCount) throw new RangeError(`step ${j} out of 0..${this.stepCount - 1}`);
    return this.held[j] ?? this.spill!.read(j);
  }

  /** Frees the spill file (the callers call it when the game ends); a closed trace reads no spilled tensor. */
  close(): void {
    this.spill?.close();
  }
  private cached: PartialTree | undefined;

  constructor(program: Program, input: Tensor | readonly Tensor[], tensors: Tensor[] | Streamed, precision: Precision) {
    const n = tensors instanceof Streamed ? tensors.trees.length : tensors.length;
    if (n !== program.steps.length) throw new RangeError(`${n} tensors for ${program.steps.length} steps`);
    this.program = program;
    this.inputs = programInputs(program, input);
    this.input = this.inputs[0]!;
    this.precision = precision;
    this.held = tensors instanceof Streamed ? tensors.held : tensors;
    this.spill = tensors instanceof Streamed ? tensors.spill : undefined;
    this.spill?.own(this);
    this.trees = tensors instanceof Streamed ? tensors.trees : tensors.map(tensorTreeOf);
    this.manifest = FlatTree.fromLeaves(this.trees.map((t) => t.hash));
    this.traceRoot = bytesToHex(this.manifest.root);
    this.finalHash = bytesToHex(this.trees[this.trees.length - 1]!.hash);
  }

  /** Runs the program canonically on `input` and hashes its trace. */
  static build(program: Program, input: Tensor | readonly Tensor[], options: TraceOptions = {}): CanonicalTrace {
    const precision = options.precision ?? "fp32";
    const n = program.steps.length;
    const firstOutput = n - (program.outputs ?? [program.output]).length;
    const spill = options.spill === false ? undefined : new TensorSpill({ dir: options.spill, cacheBytes: options.cacheBytes });
    const trees: TensorTree[] = [];
    const held: Array<Tensor | undefined> = new Array<Tensor | undefined>(n);
    try {
      runSteps(program, input, { precision, release: spill !== undefined }, (j, t) => {
        const tree = tensorTreeOf(t);
        if (spill === undefined || j >= firstOutput) {
          held[j] = t;
          trees.push(tree);
          return;
        }
        spill.write(j, t);
        const { header, chunks, dataRoot, hash } = tree;
        trees.push({ header, chunks, dataRoot, hash, get data() { return bytesOf(spill.read(j)); } });
      });
    } catch (error) {
      spill?.close();
      throw error;
    }
    return new CanonicalTrace(program, input, new Streamed(trees, held, spill), precision);
  }

  get stepCount(): number {
    return this.trees.length;
  }

  /** The tensor an operand names, in this trace. */
  operandTensor(o: Operand): Tensor {
    return o.source === "input" ? this.inputs[o.index ?? 0]! : o.source === "weight" ? this.program.weights[o.index]!.tensor : this.tensor(o.index);
  }

  /** element.ts's reader of step `j`'s operands. */
  reader(j: number): OperandReader {
    const step = this.program.steps[j]!;
    return (k) => this.operandTensor(step.operands[k]!).data as ArrayLike<number>;
  }

  // ---- the manifest tree ----

  manifestChildren(depth: number, index: number): [Hex, Hex] {
    const [l, r] = this.manifest.children(depth, index);
    return [bytesToHex(l), bytesToHex(r)];
  }

  manifestPath(j: number): Hex[] {
    return this.manifest.path(j).map(bytesToHex);
  }

  // ---- a step's tensor ----

  tensorOpening(j: number): { header: Hex; dataRoot: Hex } {
    const t = this.tree(j);
    return { header: bytesToHex(t.header), dataRoot: bytesToHex(t.dataRoot) };
  }

  chunkChildren(j: number, depth: number, index: number): [Hex, Hex] {
    const [l, r] = this.tree(j).chunks.children(depth, index);
    return [bytesToHex(l), bytesToHex(r)];
  }

  chunkBytes(j: number, c: number): Hex {
    const t = this.tree(j);
    if (c < 0 || c >= t.chunks.leafCount) throw new RangeError(`chunk ${c} out of 0..${t.chunks.leafCount - 1}`);
    // A spilled tensor: the one chunk read from the file, not the whole tensor.
    if (this.held[j] === undefined && this.spill !== undefined) {
      const bytes = this.spill.bytesOf(j);
      const start = c * CHUNK_BYTES;
      return bytesToHex(this.spill.readBytes(j, start, Math.min(CHUNK_BYTES, bytes - start)));
    }
    return bytesToHex(chunkOf(t.data, c));
  }

  chunkPath(j: number, c: number): Hex[] {
    return this.tree(j).chunks.path(c).map(bytesToHex);
  }

  // ---- a reduce element's partial states ----

  /** The partial-state tree of element `e` of step `j` (built on demand; the last one is cached). */
  partial(j: number, e: number): PartialTree {
    if (this.cached?.step === j && this.cached.element === e) return this.cached;
    const step = this.program.steps[j];
    if (step?.kind !== "reduce") throw new RangeError(`step ${j} is not a reduce step`);
    const n = numel(step.output.shape);
    if (!Number.isInteger(e) || e < 0 || e >= n) throw new RangeError(`element ${e} out of 0..${n - 1} of step ${j}`);
    this.cached = undefined; // drop the previous tree before building the next one
    this.cached = this.buildPartial(j, e);
    return this.cached;
  }

  /** Builds element e's partial tree (a cheating responder in the attack tests overrides this). */
  protected buildPartial(j: number, e: number): PartialTree {
    return buildPartialTree(this.program.steps[j]!, this.reader(j), e, this.precision);
  }

  /** What the worker reveals when an element of a reduce step is attacked: the root and the last leaf (record and path). */
  partialOpening(j: number, e: number): { root: Hex; terms: number; last: Hex; lastPath: Hex[] } {
    const p = this.partial(j, e);
    return { root: bytesToHex(p.root), terms: p.terms, last: bytesToHex(p.record(p.terms)), lastPath: p.tree.path(p.terms).map(bytesToHex) };
  }

  partialChildren(j: number, e: number, depth: number, index: number): [Hex, Hex] {
    const [l, r] = this.partial(j, e).tree.children(depth, index);
    return [bytesToHex(l), bytesToHex(r)];
  }

  partialPath(j: number, e: number, t: number): Hex[] {
    return this.partial(j, e).tree.path(t).map(bytesToHex);
  }

  /** Bytes held in memory by the trace: the tensors not spilled and every tree (partial trees and the read-back cache excluded). */
  get heldBytes(): number {
    return this.held.reduce((a, t) => a + (t?.data.byteLength ?? 0), 0) + this.trees.reduce((a, t) => a + t.chunks.bytes, 0) + this.manifest.bytes;
  }

  /** Bytes of step tensors in the spill file. */
  get spilledBytes(): number {
    return this.spill?.bytes ?? 0;
  }

  private tree(j: number): TensorTree {
    const t = this.trees[j];
    if (t === undefined) throw new RangeError(`step ${j} out of 0..${this.trees.length - 1}`);
    return t;
  }
}

/** Bytes per element of a dtype. */
export function elementSize(dtype: Tensor["dtype"]): number {
  return DTYPES[dtype].size;
}
