/**
 * The worker's side of a canonical dispute (docs/V2.md §5), as pure functions: from the cached input
 * it rebuilds the canonical trace (canonical/trace.ts), produces the TraceCommitment payload
 * (requestId, attempt, traceRoot, finalHash and finalHash's path as leaf n−1 of traceRoot) and answers
 * every reveal the game asks for. Signing and submission sit outside (the game adapter): this module
 * holds no keys and makes no calls.
 *
 *   const responder = prepareDispute({ program, input, precision, requestId, attempt, inputHash });
 *   submit(sign(responder.commitment));
 *   on attack: submit(responder.answer({ kind: "chunkNode", step, depth, index }));
 *   game over: responder.trace.close();   // removes the trace's spill file (canonical/spill.ts)
 */
import { type WorkerClaims, type Precision, type Program, CanonicalTrace } from "../canonical/index.js";
import { OracleError, bundleHashOf, decodeBundle, hashTensor, type Tensor, type Hex } from "../protocol/index.js";

/** What the worker signs and posts when a dispute opens (docs/V2.md §3 TraceCommitment, §5 step 1). */
export interface TraceCommitmentPayload {
  requestId: Hex;
  attempt: number;
  traceRoot: Hex;
  finalHash: Hex;
  /** finalHash's path as leaf n−1 under traceRoot, bottom-up. */
  finalPath: Hex[];
  stepCount: number;
}

/** One reveal the game asks for (an attacked node, or the next level's object). */
export type RevealRequest =
  | { kind: "manifestNode"; depth: number; index: number }
  | { kind: "tensor"; step: number }
  | { kind: "chunkNode"; step: number; depth: number; index: number }
  | { kind: "chunk"; step: number; chunk: number }
  | { kind: "partialOpening"; step: number; element: number }
  | { kind: "partialNode"; step: number; element: number; depth: number; index: number };

export type RevealAnswer =
  | { kind: "children"; left: Hex; right: Hex }
  | { kind: "tensor"; header: Hex; dataRoot: Hex }
  | { kind: "chunk"; bytes: Hex }
  | { kind: "partialOpening"; root: Hex; terms: number; last: Hex; lastPath: Hex[] };

export interface DisputeResponder {
  trace: CanonicalTrace;
  commitment: TraceCommitmentPayload;
  answer(request: RevealRequest): RevealAnswer;
  /** The same answers as the descent's WorkerClaims (what an honest worker reveals). */
  claims: WorkerClaims;
}

export interface PrepareDisputeOptions {
  program: Program;
  /** The cached input of the request: one tensor, or a model with several inputs: one per input in canonical name order, or keyed by name. */
  input: RequestInput;
  precision: Precision;
  requestId: Hex;
  attempt: number;
  /** The request's inputHash: the cached input must hash to it (else nothing is committed). */
  inputHash?: Hex;
}

/** A request's input: the tensor of a one-input model; the tensors of a model with several (by name, or in canonical name order). */
export type RequestInput = Tensor | readonly Tensor[] | ReadonlyMap<string, Tensor>;

/** The input as decoded from its canonical encoding (protocol/bundle.ts): a bare tensor, or a bundle's tensors by name. */
export function requestInputOf(bytes: Uint8Array): RequestInput {
  const decoded = decodeBundle(bytes);
  return decoded.size === 1 && decoded.has("") ? decoded.get("")! : decoded;
}

/** The program's inputs in its canonical order (input operand i), from a request's input. */
export function programInputsOf(program: Program, input: RequestInput): Tensor[] {
  if (input instanceof Map) {
    return program.inputs.map((x) => {
      const t = input.get(x.name);
      if (t === undefined) throw new OracleError("TENSOR_SPEC_MISMATCH", `the request's input bundle has no "${x.name}" (the model's inputs are ${program.inputs.map((i) => `"${i.name}"`).join(", ")})`);
      return t;
    });
  }
  return Array.isArray(input) ? [...(input as readonly Tensor[])] : [input as Tensor];
}

/** The request's inputHash of the program's inputs: the tensor hash of one, the bundle hash of several. */
export function inputHashOf(program: Program, inputs: readonly Tensor[]): Hex {
  if (inputs.length === 1) return hashTensor(inputs[0]!);
  return bundleHashOf(program.inputs.map((x, i) => ({ name: x.name, hash: hashTensor(inputs[i]!) })));
}

/** Rebuilds the canonical trace from the cached input and prepares every answer. */
export function prepareDispute(options: PrepareDisputeOptions): DisputeResponder {
  const { program, precision, requestId, attempt } = options;
  const input = programInputsOf(program, options.input);
  if (options.inputHash !== undefined && input.length === program.inputs.length && inputHashOf(program, input).toLowerCase() !== options.inputHash.toLowerCase()) {
    throw new OracleError("INPUT_HASH_MISMATCH", `the cached input of ${requestId} does not hash to the request's inputHash`, { details: { requestId, inputHash: options.inputHash } });
  }
  return responderFor(CanonicalTrace.build(program, input, { precision }), requestId, attempt);
}

/** The responder over a trace already built (the worker's cache; a test's forged trace). */
export function responderFor(trace: CanonicalTrace, requestId: Hex, attempt: number): DisputeResponder {
  const n = trace.stepCount;
  const commitment: TraceCommitmentPayload = { requestId, attempt, traceRoot: trace.traceRoot, finalHash: trace.finalHash, finalPath: trace.manifestPath(n - 1), stepCount: n };
  return { trace, commitment, answer: (r) => answerReveal(trace, r), claims: trace };
}

/** The answer to one reveal request, from the worker's canonical trace. */
export function answerReveal(trace: CanonicalTrace, r: RevealRequest): RevealAnswer {
  const pair = ([left, right]: [Hex, Hex]): RevealAnswer => ({ kind: "children", left, right });
  switch (r.kind) {
    case "manifestNode":
      return pair(trace.manifestChildren(r.depth, r.index));
    case "tensor":
      return { kind: "tensor", ...trace.tensorOpening(r.step) };
    case "chunkNode":
      return pair(trace.chunkChildren(r.step, r.depth, r.index));
    case "chunk":
      return { kind: "chunk", bytes: trace.chunkBytes(r.step, r.chunk) };
    case "partialOpening": {
      const step = trace.program.steps[r.step];
      if (step?.kind !== "reduce") throw new RangeError(`step ${r.step} is not a reduce step`);
      return { kind: "partialOpening", ...trace.partialOpening(r.step, r.element) };
    }
    case "partialNode":
      return pair(trace.partialChildren(r.step, r.element, r.depth, r.index));
  }
}

/** WorkerClaims over any answerer (e.g. the game adapter reading the chain's revealed nodes). */
export function claimsFrom(commitment: Pick<TraceCommitmentPayload, "traceRoot" | "finalHash">, ask: (r: RevealRequest) => Promise<RevealAnswer> | RevealAnswer): WorkerClaims {
  const children = async (r: RevealRequest): Promise<[Hex, Hex]> => {
    const a = await ask(r);
    if (a.kind !== "children") throw new RangeError(`expected children, got ${a.kind}`);
    return [a.left, a.right];
  };
  return {
    traceRoot: commitment.traceRoot,
    finalHash: commitment.finalHash,
    manifestChildren: (depth, index) => children({ kind: "manifestNode", depth, index }),
    tensorOpening: async (step) => {
      const a = await ask({ kind: "tensor", step });
      if (a.kind !== "tensor") throw new RangeError(`expected a tensor opening, got ${a.kind}`);
      return { header: a.header, dataRoot: a.dataRoot };
    },
    chunkChildren: (step, depth, index) => children({ kind: "chunkNode", step, depth, index }),
    chunkBytes: async (step, chunk) => {
      const a = await ask({ kind: "chunk", step, chunk });
      if (a.kind !== "chunk") throw new RangeError(`expected chunk bytes, got ${a.kind}`);
      return a.bytes;
    },
    partialOpening: async (step, element) => {
      const a = await ask({ kind: "partialOpening", step, element });
      if (a.kind !== "partialOpening") throw new RangeError(`expected a partial opening, got ${a.kind}`);
      return { root: a.root, terms: a.terms, last: a.last, lastPath: a.lastPath };
    },
    partialChildren: (step, element, depth, index) => children({ kind: "partialNode", step, element, depth, index }),
  };
}
