/**
 * `oracle request` and `oracle status`: send an inference through the SDK and follow it to finality
 * with a progress display (requested -> submitted -> final), then print the decoded output.
 */
import { existsSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import { parseEther, type Provider } from "ethers";
import { RefundReason, Tier, decodeTensor, type Tensor } from "../protocol/index.js";
import {
  decodeJpeg, decodePng, describeOutput, imageToTensor, isJpeg, isPng, isSdkError, modelCard, OracleClient, OracleSdkError, readNpy, tensorFromJson,
  type DecodedOutput, type ModelDetails, type Progress as StageProgress, type RequestOutcome,
} from "../sdk/index.js";
import { address, cliError, context, eth, oracleCommand, output, Progress, type GlobalOptions } from "./common.js";
import { TIER_NAMES } from "./deploy.js";
import { resolveModel } from "./model.js";

/**
 * The request's inputs from repeated `--input [name=]file`: one unnamed file for a one-input model, or
 * `name=file` per input of a model with several (each read against its named spec's dtype).
 */
export function readInputFiles(args: string | readonly string[], model: ModelDetails): { input: Tensor } | { inputs: Record<string, Tensor> } {
  const list = typeof args === "string" ? [args] : [...args];
  const named = list.map((a) => {
    const m = /^([^=/\\]+)=(.+)$/.exec(a);
    return m === null || existsSync(a) ? { name: undefined, file: a } : { name: m[1]!, file: m[2]! };
  });
  const names = model.inputs.map((s) => s.name);
  if (model.inputs.length === 1 && named.length === 1 && (named[0]!.name === undefined || named[0]!.name === names[0])) {
    return { input: readInputFile(named[0]!.file, model) };
  }
  if (named.some((n) => n.name === undefined)) {
    throw cliError("INPUT_INVALID", `model ${model.modelHash} takes ${names.length} inputs (${names.join(", ")}): give each as --input name=file`);
  }
  const inputs: Record<string, Tensor> = {};
  for (const { name, file } of named) {
    const spec = model.inputs.find((s) => s.name === name);
    if (spec === undefined) throw cliError("INPUT_INVALID", `--input ${name}=${file}: the model has no input "${name}" (its inputs are ${names.join(", ")})`);
    if (name! in inputs) throw cliError("INPUT_INVALID", `--input ${name}= is given twice`);
    inputs[name!] = readInputFile(file, { ...model, input: spec });
  }
  return { inputs };
}

/** Reads an input file as a tensor for the model: .npy, .json, .png/.jpg (the model card's preprocessing), or a canonical tensor. */
export function readInputFile(file: string, model: ModelDetails): Tensor {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw cliError("INPUT_INVALID", `cannot read ${file}: ${(error as Error).message}`);
  }
  const ext = extname(file).toLowerCase();
  if (ext === ".npy" || bytes.subarray(0, 6).toString("latin1") === "\x93NUMPY") return readNpy(bytes);
  if (ext === ".png" || isPng(bytes)) return imageToTensor(model.modelHash, decodePng(bytes));
  if (ext === ".jpg" || ext === ".jpeg" || isJpeg(bytes)) return imageToTensor(model.modelHash, decodeJpeg(bytes));
  if (bytes.subarray(0, 4).toString("latin1") === "VIOT") return decodeTensor(bytes);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw cliError("INPUT_FORMAT_UNSUPPORTED", `${file} is neither .npy, .png, a canonical tensor nor JSON (${(error as Error).message})`);
  }
  return tensorFromJson(json, model.input.dtype);
}

export interface RequestCliOptions extends GlobalOptions {
  model: string;
  input: string | string[];
  tier: string;
  fee?: string;
  wait?: boolean;
  timeout: string;
  deadline: string;
  relayer?: string;
  callbackGas: string;
  /** Largest output the callback gets inline (0: the oracle's cap). */
  maxInlineOutput?: string;
  token?: string;
  tokenAmount?: string;
  permit?: boolean;
}

function tierOf(name: string): Tier {
  const t = TIER_NAMES[name.toLowerCase()];
  if (t === undefined) throw cliError("CONFIG_INVALID", `--tier takes one of ${Object.keys(TIER_NAMES).join(", ")}; got ${JSON.stringify(name)}`);
  return t;
}

/** The outcome as printed: `callbackSucceeded` only where a callback was asked for (callback gas > 0). */
function withCallback(outcome: RequestOutcome, callbackGasLimit: number): Omit<RequestOutcome, "callbackSucceeded"> & { callbackSucceeded?: boolean; callback: string } {
  const { callbackSucceeded, ...rest } = outcome;
  if (callbackGasLimit === 0) return { ...rest, callback: "none requested" };
  return { ...rest, ...(callbackSucceeded === undefined ? {} : { callbackSucceeded }), callback: callbackSucceeded === undefined ? "pending" : callbackSucceeded ? "succeeded" : "reverted" };
}

/** A wall-clock time as the user's terminal shows it. */
const clock = (ms: number) => new Date(ms).toLocaleTimeString("en-GB", { hour12: false });

function stageLine(p: StageProgress, started: number, windowClosesAt?: number): string {
  const t = `${((Date.now() - started) / 1000).toFixed(1)} s`.padStart(8);
  switch (p.stage) {
    case "requested":
      return `${t}  requested  waiting for a worker's signed result`;
    case "submitted":
      return `${t}  submitted  output ${p.outputHash ?? "?"}${p.worker ? ` by operator ${p.worker}` : ""}${
        windowClosesAt === undefined ? "" : `; challenge window closes in ${Math.max(0, Math.round((windowClosesAt - Date.now()) / 1000))} s (${clock(windowClosesAt)})`
      }`;
    case "challenged":
      return `${t}  challenged a dispute is open; waiting for the ruling`;
    case "final":
      return `${t}  final      paid out${p.txHash ? ` in ${p.txHash}` : ""}${p.worker ? ` (result by operator ${p.worker})` : ""}`;
    case "refunded":
      return `${t}  refunded`;
  }
}

export function printOutput(decoded: DecodedOutput, modelHash: string): string[] {
  const card = modelCard(modelHash);
  const lines = [`output  ${decoded.dtype}[${decoded.shape}] = [${decoded.values.slice(0, 16).map((v) => (typeof v === "number" ? Number(v.toPrecision(6)) : v)).join(", ")}${decoded.values.length > 16 ? `, … (${decoded.values.length} values)` : ""}]`];
  if (decoded.top === undefined) return lines;
  if (card?.labels === undefined) {
    // No model card: the largest value's position need not be a class (an embedding, a regression).
    lines.push(`top     largest value at index ${decoded.top.index} (${Number(decoded.top.score.toPrecision(6))}); no labels are known for this model, so it need not be a class`);
    return lines;
  }
  lines.push(`answer  class ${decoded.top.index}${decoded.top.label === undefined ? "" : ` — ${decoded.top.label}`} (${card.output ?? "score"} ${Number(decoded.top.score.toPrecision(6))})`);
  // The model's own confidence, where its output is a probability (quantized logits carry no calibrated one).
  const confidence = card.output === "probabilities" ? decoded.top.score : Number.NaN;
  if (Number.isFinite(confidence) && confidence < 0.75) lines.push(`note    low confidence (${(confidence * 100).toFixed(0)} %): the model is unsure about this input; the answer is what it computed, not necessarily right`);
  return lines;
}

/** A chain timestamp (seconds) as wall-clock ms: a local chain's clock can run ahead of the wall clock. */
async function wallClockOf(provider: Provider, chainSeconds: number): Promise<number> {
  try {
    const head = await provider.getBlock("latest");
    if (head !== null) return Date.now() + (chainSeconds - head.timestamp) * 1000;
  } catch {
    // the chain's own time, then
  }
  return chainSeconds * 1000;
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: res.ok ? ((await res.json()) as Record<string, unknown>) : undefined };
}

/**
 * Why a request is still where it is, from the relayer's view of it: no relayer, a relayer that has
 * not seen it, jobs that no worker takes, a worker's reply refused, or a result waiting out its
 * challenge window. One sentence with the next step.
 */
export async function whyStillWaiting(relayerUrl: string | undefined, requestId: string, stage: string, windowClosesAt?: number): Promise<string> {
  if (stage === "submitted") {
    return windowClosesAt === undefined
      ? "the result is on chain and waits out its challenge window; the relayer settles it after"
      : windowClosesAt > Date.now()
        ? `the result is on chain; its challenge window closes at ${clock(windowClosesAt)} (in ${Math.round((windowClosesAt - Date.now()) / 1000)} s), then the relayer settles it: wait longer with --timeout, or follow it with \`${oracleCommand()} status ${requestId} --wait\``
        : `the challenge window closed at ${clock(windowClosesAt)} but the relayer has not settled the result yet: is the relayer running?`;
  }
  if (stage === "challenged") return "a dispute is open: the model's resolver rules before its deadline, or its default applies";
  if (relayerUrl === undefined) return "no relayer URL is known to ask why (pass --relayer <url>)";
  let row: Awaited<ReturnType<typeof getJson>>;
  let health: Awaited<ReturnType<typeof getJson>>;
  try {
    [row, health] = await Promise.all([getJson(`${relayerUrl}/requests/${requestId}`), getJson(`${relayerUrl}/health`)]);
  } catch (error) {
    return `the relayer at ${relayerUrl} does not answer (${(error as Error).message}): is \`oracle dev\` (or \`oracle relayer start\`) still running?`;
  }
  const jobs = Number((health.body?.queue as { jobs?: number } | undefined)?.jobs ?? 0);
  if (row.body === undefined) {
    return `the relayer has not seen this request (its watcher is at block ${String(health.body?.cursor ?? "?")}, the chain at ${String(health.body?.head ?? "?")}; it watches the oracle ${String(health.body?.oracle ?? "?")})`;
  }
  const reply = row.body.reply as { kind: string; state: string; reason: string | null } | null;
  if (reply !== null && reply.state === "skipped") return `the relayer refused the worker's ${reply.kind}: ${reply.reason ?? "no reason given"}`;
  if (reply !== null) return `the relayer holds the worker's ${reply.kind} (${reply.state}) and has not landed it on chain yet: check the relayer's log`;
  if (jobs > 0) {
    return `${jobs} job${jobs === 1 ? " waits" : "s wait"} in the relayer's queue unanswered: no worker is taking jobs (\`oracle dev\` runs one unless --workers 0; elsewhere \`${oracleCommand()} worker start\` on the relayer's queue), or a worker is stuck on it (check its log)`;
  }
  return `a worker took the job, but no valid result reached the relayer: check the worker's log (a model still loading, a failed input fetch), and that its signing key is staked (\`${oracleCommand()} worker start --check\`)`;
}

async function follow(client: OracleClient, requestId: string, fromBlock: number | undefined, timeoutS: number, progress: Progress, json: boolean, modelHash?: string): Promise<{ outcome: RequestOutcome; decoded?: DecodedOutput; outputs?: Record<string, DecodedOutput> }> {
  const started = Date.now();
  let ticker: NodeJS.Timeout | undefined;
  let stage = "requested";
  let windowClosesAt: number | undefined;
  const tty = process.stderr.isTTY === true && !json;
  // While a step takes long: a countdown in place on a terminal, a line every 10 s otherwise.
  const tick = () => {
    const line =
      stage === "submitted" && windowClosesAt !== undefined
        ? `challenge window: ${Math.max(0, Math.round((windowClosesAt - Date.now()) / 1000))} s left (closes ${clock(windowClosesAt)})`
        : `${stage}: still waiting (${Math.round((Date.now() - started) / 1000)} s of ${timeoutS} s)`;
    if (tty) process.stderr.write(`\r\x1b[2K          ${line}`);
    else progress.info(`          ${line}`);
  };
  // Progress lines in the order the stages came, each after its wall-clock deadline is known.
  let printed: Promise<void> = Promise.resolve();
  try {
    ticker = setInterval(tick, tty ? 500 : 10_000);
    const outcome = await client.wait(requestId, {
      timeoutMs: timeoutS * 1000,
      ...(fromBlock === undefined ? {} : { fromBlock }),
      onProgress: (p) => {
        stage = p.stage;
        printed = printed.then(async () => {
          if (p.stage === "submitted" && p.challengeDeadline !== undefined) windowClosesAt = await wallClockOf(client.provider, p.challengeDeadline);
          if (tty) process.stderr.write("\r\x1b[2K");
          progress.info(stageLine(p, started, windowClosesAt));
        });
      },
    }).catch(async (error: unknown) => {
      if (!isSdkError(error, "TIMEOUT")) throw error;
      clearInterval(ticker);
      await printed;
      if (tty) process.stderr.write("\r\x1b[2K");
      const why = await whyStillWaiting(client.relayerUrl, requestId, stage, windowClosesAt);
      throw new OracleSdkError("TIMEOUT", `request ${requestId} is still ${stage} after ${timeoutS} s: ${why}`, { details: { ...error.details, requestId, stage, why }, cause: error });
    });
    clearInterval(ticker);
    await printed;
    if (tty) process.stderr.write("\r\x1b[2K");
    if (outcome.outputHash === undefined || client.relayerUrl === undefined) return { outcome };
    const hash = modelHash ?? (await client.oracle.getRequest(requestId)).modelHash;
    return { outcome, ...(await decodeOutputs(client, outcome.outputHash, hash)) };
  } finally {
    if (ticker) clearInterval(ticker);
  }
}

/** The output made readable; a model with several outputs: each by name (`outputs`), the first also as `decoded`. */
async function decodeOutputs(client: OracleClient, outputHash: string, modelHash: string): Promise<{ decoded: DecodedOutput; outputs?: Record<string, DecodedOutput> }> {
  const model = await client.model(modelHash);
  const tensors = await client.outputs(outputHash, modelHash);
  if (model.outputs.length === 1) return { decoded: describeOutput([...tensors.values()][0]!, modelHash, model.output) };
  // Named outputs (a probability, a recurrent state) are values, not classes: no argmax line.
  const outputs = Object.fromEntries(model.outputs.map((s) => {
    const { top: _top, ...values } = describeOutput(tensors.get(s.name)!, undefined, s);
    return [s.name, values as DecodedOutput];
  }));
  return { decoded: outputs[model.outputs[0]!.name]!, outputs };
}

/** Output lines: one block per named output of a model with several. */
function outputLines(decoded: DecodedOutput, outputs: Record<string, DecodedOutput> | undefined, modelHash: string): string[] {
  if (outputs === undefined) return printOutput(decoded, modelHash);
  return Object.entries(outputs).flatMap(([name, d]) => printOutput(d, "").map((line) => line.replace(/^output  /, `${name.padEnd(8)}`).replace(/^(top|answer|note) /, `  $1 `)));
}

export async function requestCommand(o: RequestCliOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const progress = new Progress(false);
    const relayerUrl = o.relayer ?? ctx.deployment.relayerUrl;
    const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.wallet(), ...(relayerUrl === undefined ? {} : { relayerUrl }), pollIntervalMs: 250 });
    const tier = tierOf(o.tier);
    const model = await client.model(await resolveModel(o.model, ctx));
    const given = readInputFiles(o.input, model);
    const quote = await client.quote(model.modelHash, Number(o.callbackGas));
    let token: { address: string; amount?: bigint; permit: boolean } | undefined;
    if (o.token !== undefined) {
      if (o.tokenAmount !== undefined && !/^\d+$/.test(o.tokenAmount)) {
        throw cliError("CONFIG_INVALID", `--token-amount takes a whole number of the token's smallest units; got ${JSON.stringify(o.tokenAmount)}`);
      }
      token = { address: address(o.token, "--token"), permit: o.permit !== false, ...(o.tokenAmount === undefined ? {} : { amount: BigInt(o.tokenAmount) }) };
    } else if (o.tokenAmount !== undefined) {
      throw cliError("CONFIG_INVALID", "--token-amount needs --token");
    }
    let fee = token === undefined ? quote.minimum : quote.callbackFee;
    if (o.fee !== undefined) {
      try {
        fee = parseEther(o.fee);
      } catch {
        throw cliError("CONFIG_INVALID", `--fee takes an ETH amount such as 0.01; got ${JSON.stringify(o.fee)}`);
      }
    }
    const paying = token === undefined ? `fee ${eth(fee)}` : `fee in token ${token.address}${token.amount === undefined ? "" : ` (${token.amount} units)`}, callback gas ${eth(fee)}`;
    const sent = await progress.step(`sending the request (${paying}, ${Tier[tier]} tier)`, () =>
      client.request({ modelHash: model.modelHash, ...given, tier, fee, deadlineSeconds: Number(o.deadline), callbackGasLimit: Number(o.callbackGas), maxInlineOutput: Number(o.maxInlineOutput ?? 0), ...(token === undefined ? {} : { token }) }),
    );
    progress.info(`request ${sent.requestId} (tx ${sent.txHash}${sent.inputURI ? `, input uploaded to ${sent.inputURI}` : ", input inline"})`);
    if (o.wait !== true) {
      output(ctx.json, { ...sent, fee: sent.fee.toString(), tier: Tier[sent.tier] }, () => [sent.requestId, `follow it with: ${oracleCommand()} status ${sent.requestId} --wait`]);
      return;
    }
    const { outcome, decoded, outputs } = await follow(client, sent.requestId, sent.blockNumber, Number(o.timeout), progress, ctx.json, model.modelHash);
    output(ctx.json, { request: { ...sent, fee: sent.fee.toString(), tier: Tier[sent.tier] }, outcome: withCallback(outcome, Number(o.callbackGas)), output: decoded, ...(outputs === undefined ? {} : { outputs }) }, () => [
      `request ${sent.requestId} is ${outcome.stage}`,
      ...(decoded === undefined ? [`output hash ${outcome.outputHash ?? "?"} (no relayer URL to fetch the output from)`] : outputLines(decoded, outputs, model.modelHash)),
    ]);
  } finally {
    ctx.close();
  }
}

/** The requester takes back an open request that a staked worker rejected (docs/V2.md §4). */
export async function cancelCommand(requestId: string, o: GlobalOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.wallet() });
    const { txHash, refunded } = await client.cancelRequest(requestId);
    output(ctx.json, { requestId, txHash, refunded: refunded.toString() }, () => [`request ${requestId} cancelled: ${refunded} wei refunded (tx ${txHash})`]);
  } finally {
    ctx.close();
  }
}

export async function statusCommand(requestId: string, o: GlobalOptions & { wait?: boolean; timeout: string; relayer?: string }): Promise<void> {
  const ctx = await context(o);
  try {
    const relayerUrl = o.relayer ?? ctx.deployment.relayerUrl;
    const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.provider, ...(relayerUrl === undefined ? {} : { relayerUrl }), pollIntervalMs: 250 });
    const from = ctx.deployment.deployBlock;
    if (o.wait === true) {
      const { outcome, decoded, outputs } = await follow(client, requestId, from, Number(o.timeout), new Progress(false), ctx.json);
      const view = await client.oracle.getRequest(requestId);
      const hash = view.modelHash;
      output(ctx.json, { outcome: withCallback(outcome, Number(view.callbackGasLimit)), output: decoded, ...(outputs === undefined ? {} : { outputs }) }, () => [`request ${requestId} is ${outcome.stage}`, ...(decoded === undefined ? [] : outputLines(decoded, outputs, hash))]);
      return;
    }
    const now = await client.status(requestId, from);
    const closesAt = now.challengeDeadline === undefined ? undefined : await wallClockOf(client.provider, now.challengeDeadline);
    let decoded: DecodedOutput | undefined;
    let outputs: Record<string, DecodedOutput> | undefined;
    let hash: string | undefined;
    if (now.outputHash !== undefined && client.relayerUrl !== undefined) {
      hash = (await client.oracle.getRequest(requestId)).modelHash;
      ({ decoded, outputs } = await decodeOutputs(client, now.outputHash, hash));
    }
    const gas = Number((await client.oracle.getRequest(requestId)).callbackGasLimit);
    output(ctx.json, { ...withCallback(now, gas), ...(decoded === undefined ? {} : { output: decoded }), ...(outputs === undefined ? {} : { outputs }) }, () => [
      `request ${requestId} is ${now.stage}`,
      ...(now.rejections !== undefined
        ? [`rejected by ${now.rejections.count} of the ${now.rejections.quorum} staked workers that refund it; still open to others (its requester may \`${oracleCommand()} cancel ${requestId}\`)`]
        : []),
      ...(now.refundReason !== undefined ? [`refunded: ${RefundReason[now.refundReason] ?? now.refundReason}`] : []),
      ...(now.outputHash ? [`output hash ${now.outputHash}`] : []),
      ...(closesAt !== undefined && now.stage === "submitted" ? [`challenge window closes ${closesAt > Date.now() ? `in ${Math.round((closesAt - Date.now()) / 1000)} s` : "now"} (${clock(closesAt)}); final after it`] : []),
      ...(decoded === undefined || hash === undefined ? [] : outputLines(decoded, outputs, hash)),
    ]);
  } finally {
    ctx.close();
  }
}
