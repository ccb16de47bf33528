/** The canonical audit of a FraudGame result and, beyond τ_out, the game played to its ruling (challenger/daemon.ts). */
import type { ContractTransactionResponse, Signer } from "ethers";
import { tauFromBits, PRECISIONS, type Precision, type Tau } from "../canonical/index.js";
import { isError, dtypeFromCode, encodeBundle, encodedSize, hashBundleEncoded, type Tensor, type Hex } from "../protocol/index.js";
import { GameChallenger } from "../protocol/fraud-game-client.js";
import { IModelRegistry__factory, type IInferenceOracle, type IModelRegistry } from "../types/ethers-contracts/index.js";
import { auditResult, canonicalOutputs, type AuditTarget, type AuditVerdict, type ProgramCache } from "./canonical-audit.js";
import { ChallengerError } from "./errors.js";
import { DEFAULT_MAX_AUDIT_BYTES, type DaemonBlobs } from "./daemon-blobs.js";
import type { AuditOutcome, DaemonOptions, DaemonTransaction, Submitted } from "./daemon-types.js";

/** What the game audit uses of the daemon. */
export interface GameAuditHost {
  readonly options: DaemonOptions;
  readonly oracle: IInferenceOracle;
  readonly blobs: DaemonBlobs;
  readonly programs: ProgramCache;
  /** Disputes the daemon opened or joined, not yet claimed or lost: requestId → attempt. */
  readonly joined: Map<string, number>;
  /**
   * Withheld outputs found not canonical, by requestId: the committed hash and the canonical one. A retry looks
   * for the bytes again without recomputing (a worker withholding every result costs the daemon one canonical
   * run each, not one per retry); the daemon drops the entry when the audit ends.
   */
  readonly notCanonical: Map<string, { committed: string; canonical: string }>;
  /** Opens or joins the dispute within the bond budget; false when the budget does not allow it. */
  challenge(r: Submitted): Promise<boolean>;
  locked<T>(send: () => Promise<T>): Promise<T>;
  released(bond: bigint): void;
  mined(label: DaemonTransaction["label"], requestId: string | undefined, send: () => Promise<ContractTransactionResponse>): Promise<unknown>;
}

/**
 * The canonical audit of a FraudGame result and, beyond τ_out, the game played to its ruling.
 */
export async function auditGame(host: GameAuditHost, r: Submitted, request: { modelHash: string; inputHash: string; resolver: string }, bond: bigint, retryUntil: number | undefined): Promise<AuditOutcome> {
  const fg = host.options.fraudGames!;
  const file = fg.models.get(request.modelHash.toLowerCase());
  if (file === undefined) {
    host.options.logger?.error({ requestId: r.requestId, modelHash: request.modelHash }, "a FraudGame result on a model this daemon has no ONNX file for: not audited");
    return { kind: "skipped", reason: "no ONNX file for the canonical audit of this model" };
  }
  const model = { key: request.modelHash.toLowerCase(), bytes: file.bytes, inputShape: file.inputShape };
  const registry = IModelRegistry__factory.connect(await host.oracle.registry(), host.options.runner);
  const [namedInputs, namedOutputs] = await registry.modelIO(request.modelHash);
  const outputNames = namedOutputs.map((x) => x.name);
  if (namedInputs.length > 1 || namedOutputs.length > 1) return auditBundled(host, registry, r, request, model, [namedInputs.map((x) => x.name), outputNames], bond, retryUntil);
  // Download caps from the registered specs (the committed input shape where the spec's is dynamic).
  const registered = await registry.model(request.modelHash);
  const typeOf = (spec: { dtype: bigint; shape: bigint[] }, fallbackShape?: number[]) => {
    const shape = spec.shape.map(Number);
    return { dtype: dtypeFromCode(Number(spec.dtype)) ?? "float32", shape: shape.some((d) => d <= 0) && fallbackShape !== undefined ? fallbackShape : shape };
  };
  const inputType = typeOf(registered.input, model.inputShape);
  const outputType = typeOf(registered.output);
  const cap = (t: { dtype: string; shape: number[] }) => (t.shape.some((d) => d <= 0) ? DEFAULT_MAX_AUDIT_BYTES : encodedSize(t));
  const input = await host.blobs.fetchInput(request.inputHash, retryUntil, cap(inputType));
  const terms = await termsOf(registry, request.modelHash);
  if ("reason" in terms) return { kind: "skipped", reason: terms.reason };
  let output: Tensor;
  try {
    output = await host.blobs.fetchBlob(r.outputHash, cap(outputType), retryUntil);
  } catch (error) {
    if (!isError(error, "BLOB_NOT_FOUND")) throw error;
    return withheld(host, r, model, input, terms.precision, outputNames);
  }
  const verdict = auditResult({ requestId: r.requestId as Hex, model, precision: terms.precision, tau: terms.tau, input, output }, fg.audit, host.programs);
  return playVerdict(host, r, request, verdict, output, bond);
}

/** The model's registered canonical precision and τ_out, or why they cannot be used. */
async function termsOf(registry: IModelRegistry, modelHash: string): Promise<{ precision: Precision; tau: Tau } | { reason: string }> {
  const terms = await registry.canonicalTerms(modelHash);
  const precision = (Object.keys(PRECISIONS) as Precision[]).find((k) => PRECISIONS[k] === Number(terms.precision));
  if (precision === undefined) return { reason: `unknown precision ${terms.precision}` };
  return { precision, tau: tauFromBits(terms.tauOutAbs, terms.tauOutRel) };
}

/** The verdict of an audit: honest, skipped, or (beyond τ_out) the game played to its ruling with the signed output(s). */
async function playVerdict(host: GameAuditHost, r: Submitted, request: { resolver: string }, verdict: AuditVerdict, output: Tensor | readonly Tensor[], bond: bigint): Promise<AuditOutcome> {
  const fg = host.options.fraudGames!;
  if (verdict.status === "notSampled" || verdict.status === "unsupported") return { kind: "skipped", reason: verdict.status === "unsupported" ? verdict.reason : "not sampled" };
  if (verdict.status === "within") return { kind: "honest", checkedElements: [output].flat().reduce((n, t) => n + t.data.length, 0) };
  // The trace's spill file is removed once the game is played (or never is).
  if (!(await host.challenge(r))) {
    verdict.trace.close();
    return { kind: "skipped", reason: "bond budget exhausted" };
  }
  const player = new GameChallenger(request.resolver, host.options.runner as unknown as Signer, {
    ...fg.client,
    serialize: (send) => host.locked(send),
    onMove: (m) => {
      fg.client?.onMove?.(m);
      host.options.onTransaction?.({ label: "gameMove", requestId: r.requestId, hash: "", gasUsed: m.gas, value: 0n, at: Date.now() });
    },
  });
  const result = await player.play(r.requestId as Hex, verdict.trace, output).finally(() => verdict.trace.close());
  host.released(bond);
  // Won (WorkerFault or OutputMinor): the share is claimed at once, as after a v1 proof.
  const attempt = host.joined.get(r.requestId);
  if (attempt !== undefined && (await host.oracle.getDispute(r.requestId, attempt)).ruling >= 2n) {
    try {
      await host.mined("claimDispute", r.requestId, () => host.oracle.claimDispute(r.requestId, attempt));
      host.joined.delete(r.requestId);
    } catch (error) {
      host.options.logger?.warn({ err: error, requestId: r.requestId, attempt }, "claiming the game's share failed; retried at the next withdraw");
    }
  }
  return { kind: "gamePlayed", ruling: result.ruling, outcome: result.outcome, moves: player.moves.length, rounds: result.descent?.rounds ?? 0 };
}

/**
 * A model with several named inputs or outputs: the input and output bundles fetched by their bundle hashes, put
 * in the registry's (canonical) name order, audited output by output and, beyond τ_out, disputed through the game
 * (which proves bundle members). A withheld output bundle is recomputed as a single output is (`withheld`).
 */
async function auditBundled(host: GameAuditHost, registry: IModelRegistry, r: Submitted, request: { modelHash: string; inputHash: string; resolver: string }, model: AuditTarget["model"], names: [string[], string[]], bond: bigint, retryUntil: number | undefined): Promise<AuditOutcome> {
  const fg = host.options.fraudGames!;
  const ordered = (m: Map<string, Tensor>, wanted: string[]) => (wanted.length === 1 ? [...m.values()] : wanted.map((n) => m.get(n))).filter((t): t is Tensor => t !== undefined);
  const inputs = ordered(await host.blobs.fetchNamed(request.inputHash, DEFAULT_MAX_AUDIT_BYTES, retryUntil), names[0]);
  if (inputs.length !== names[0].length) return { kind: "skipped", reason: `the input bundle does not hold the model's inputs (${names[0].join(", ")})` };
  const terms = await termsOf(registry, request.modelHash);
  if ("reason" in terms) return { kind: "skipped", reason: terms.reason };
  let outputs: Tensor[];
  try {
    outputs = ordered(await host.blobs.fetchNamed(r.outputHash, DEFAULT_MAX_AUDIT_BYTES, retryUntil), names[1]);
  } catch (error) {
    if (!isError(error, "BLOB_NOT_FOUND")) throw error;
    return withheld(host, r, model, inputs, terms.precision, names[1]);
  }
  const verdict = auditResult({ requestId: r.requestId as Hex, model, precision: terms.precision, tau: terms.tau, input: inputs[0]!, inputs, output: outputs[0]!, outputs }, fg.audit, host.programs);
  return playVerdict(host, r, request, verdict, outputs, bond);
}

/**
 * A result whose output bytes nobody published (docs/PROTOCOL.md "Large outputs": the worker committed the
 * hash and withheld the bytes), one tensor or a bundle of several. The canonical outputs are recomputed from
 * every input (canonical name order) and encoded and hashed exactly as the worker does (protocol/bundle.ts:
 * the bare tensor of a one-output model, else the VIOB bundle under the registered names). When that hashes to
 * the committed hash the result is honest, and the bytes are published to the blob store (content-addressed,
 * checked there) so the requester can fetch and deliver them.
 *
 * Otherwise the result cannot be audited within τ_out without the worker's bytes (an honest fast runtime
 * differs from canonical by up to τ_out): it is never passed as honest, and no dispute is opened on the hash
 * alone (a worker answering with the canonical trace wins it: nobody can open its signed output). The daemon
 * throws OUTPUT_UNAVAILABLE instead, and `ChallengerDaemon.audit` fetches the bytes again at later polls while
 * the challenge window is open: bytes published late (a worker racing the audit) are audited like any other.
 */
async function withheld(host: GameAuditHost, r: Submitted, model: AuditTarget["model"], inputs: Tensor | Tensor[], precision: Precision, outputNames: string[]): Promise<AuditOutcome> {
  const what = outputNames.length > 1 ? "output bundle" : "output";
  const notCanonical = (hash: string) =>
    new ChallengerError("OUTPUT_UNAVAILABLE", `${what} withheld: the worker committed ${r.outputHash}, the canonical ${what} hashes to ${hash}`, { committed: r.outputHash, canonical: hash });
  const known = host.notCanonical.get(r.requestId);
  if (known !== undefined && known.committed === r.outputHash.toLowerCase()) throw notCanonical(known.canonical);
  const canonical = canonicalOutputs(model, inputs, precision, host.programs);
  if ("reason" in canonical) return { kind: "skipped", reason: `${what} ${r.outputHash} withheld, and the canonical runtime cannot run the model: ${canonical.reason}` };
  // The worker names its outputs by the registry's specs; the canonical runtime by the file's (both in canonical order).
  if (outputNames.length > 1 && outputNames.join("\0") !== canonical.names.join("\0")) {
    return { kind: "skipped", reason: `${what} withheld, and the registered outputs (${outputNames.join(", ")}) are not the model file's (${canonical.names.join(", ")})` };
  }
  const encoded = encodeBundle(new Map(canonical.names.map((name, k) => [name, canonical.outputs[k]!])));
  const hash = hashBundleEncoded(encoded);
  if (hash.toLowerCase() !== r.outputHash.toLowerCase()) {
    host.options.logger?.warn({ requestId: r.requestId, committed: r.outputHash, canonical: hash }, `${what} withheld and not the canonical one: cannot audit it within τ_out (fetched again while the window is open)`);
    host.notCanonical.set(r.requestId, { committed: r.outputHash.toLowerCase(), canonical: hash });
    throw notCanonical(hash);
  }
  try {
    await host.blobs.publish(encoded, hash);
    host.options.logger?.info({ requestId: r.requestId, outputHash: hash }, `withheld ${what} recomputed canonically and published`);
  } catch (error) {
    host.options.logger?.warn({ err: error, requestId: r.requestId }, `publishing the recomputed ${what} failed`);
  }
  return { kind: "honest", checkedElements: canonical.outputs.reduce((n, t) => n + t.data.length, 0) };
}
