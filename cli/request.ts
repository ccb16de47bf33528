/**
 * `oracle request` and `oracle status`: send an inference through the SDK and follow it to finality
 * with a progress display (requested -> submitted -> final), then print the decoded output.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parseEther } from "ethers";
import { Tier } from "../protocol/types.js";
import { decodeTensor, type Tensor } from "../protocol/tensor.js";
import {
  decodeJpeg, decodePng, describeOutput, imageToTensor, isJpeg, isPng, modelCard, OracleClient, OracleSdkError, readNpy, tensorFromJson,
  type DecodedOutput, type ModelDetails, type Progress as StageProgress, type RequestOutcome,
} from "../sdk/index.js";
import { cliError, context, eth, output, Progress, type GlobalOptions } from "./common.js";
import { TIER_NAMES } from "./deploy.js";

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
  input: string;
  tier: string;
  fee?: string;
  wait?: boolean;
  timeout: string;
  deadline: string;
  relayer?: string;
  callbackGas: string;
}

function tierOf(name: string): Tier {
  const t = TIER_NAMES[name.toLowerCase()];
  if (t === undefined) throw cliError("CONFIG_INVALID", `--tier takes one of ${Object.keys(TIER_NAMES).join(", ")}; got ${JSON.stringify(name)}`);
  return t;
}

function stageLine(p: StageProgress, started: number): string {
  const t = `${((Date.now() - started) / 1000).toFixed(1)} s`.padStart(8);
  switch (p.stage) {
    case "requested":
      return `${t}  requested  waiting for a worker's signed result`;
    case "submitted":
      return `${t}  submitted  output ${p.outputHash ?? "?"}${p.worker ? ` by operator ${p.worker}` : ""}${p.challengeDeadline ? `; challenge window closes at ${new Date(p.challengeDeadline * 1000).toISOString()}` : ""}`;
    case "challenged":
      return `${t}  challenged a dispute is open; waiting for the ruling`;
    case "final":
      return `${t}  final      paid out${p.txHash ? ` in ${p.txHash}` : ""}`;
    case "refunded":
      return `${t}  refunded`;
  }
}

export function printOutput(decoded: DecodedOutput, modelHash: string): string[] {
  const card = modelCard(modelHash);
  const lines = [`output  ${decoded.dtype}[${decoded.shape}] = [${decoded.values.slice(0, 16).map((v) => (typeof v === "number" ? Number(v.toPrecision(6)) : v)).join(", ")}${decoded.values.length > 16 ? `, … (${decoded.values.length} values)` : ""}]`];
  if (decoded.top !== undefined) lines.push(`answer  class ${decoded.top.index}${decoded.top.label === undefined ? "" : ` — ${decoded.top.label}`} (${card?.output ?? "score"} ${Number(decoded.top.score.toPrecision(6))})`);
  return lines;
}

async function follow(client: OracleClient, requestId: string, fromBlock: number | undefined, timeoutS: number, progress: Progress, json: boolean, modelHash?: string): Promise<{ outcome: RequestOutcome; decoded?: DecodedOutput }> {
  const started = Date.now();
  let countdown: NodeJS.Timeout | undefined;
  const tty = process.stderr.isTTY === true && !json;
  try {
    const outcome = await client.wait(requestId, {
      timeoutMs: timeoutS * 1000,
      ...(fromBlock === undefined ? {} : { fromBlock }),
      onProgress: (p) => {
        if (countdown) clearInterval(countdown);
        if (tty) process.stderr.write("\r\x1b[2K");
        progress.info(stageLine(p, started));
        if (tty && p.stage === "submitted" && p.challengeDeadline !== undefined) {
          const deadline = p.challengeDeadline;
          countdown = setInterval(() => process.stderr.write(`\r\x1b[2K          challenge window: ${Math.max(0, Math.round(deadline - Date.now() / 1000))} s left`), 500);
        }
      },
    });
    if (countdown) clearInterval(countdown);
    if (tty) process.stderr.write("\r\x1b[2K");
    if (outcome.outputHash === undefined || client.relayerUrl === undefined) return { outcome };
    const hash = modelHash ?? (await client.oracle.getRequest(requestId)).modelHash;
    const model = await client.model(hash);
    const tensor = await client.output(outcome.outputHash);
    return { outcome, decoded: describeOutput(tensor, hash, model.output) };
  } finally {
    if (countdown) clearInterval(countdown);
  }
}

export async function requestCommand(o: RequestCliOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const progress = new Progress(false);
    const relayerUrl = o.relayer ?? ctx.deployment.relayerUrl;
    const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.wallet(), ...(relayerUrl === undefined ? {} : { relayerUrl }), pollIntervalMs: 250 });
    const tier = tierOf(o.tier);
    const model = await client.model(o.model);
    const tensor = readInputFile(o.input, model);
    const quote = await client.quote(model.modelHash, Number(o.callbackGas));
    let fee = quote.minimum;
    if (o.fee !== undefined) {
      try {
        fee = parseEther(o.fee);
      } catch {
        throw cliError("CONFIG_INVALID", `--fee takes an ETH amount such as 0.01; got ${JSON.stringify(o.fee)}`);
      }
    }
    const sent = await progress.step(`sending the request (fee ${eth(fee)}, ${Tier[tier]} tier)`, () =>
      client.request({ modelHash: model.modelHash, input: tensor, tier, fee, deadlineSeconds: Number(o.deadline), callbackGasLimit: Number(o.callbackGas) }),
    );
    progress.info(`request ${sent.requestId} (tx ${sent.txHash}${sent.inputURI ? `, input uploaded to ${sent.inputURI}` : ", input inline"})`);
    if (o.wait !== true) {
      output(ctx.json, { ...sent, fee: sent.fee.toString(), tier: Tier[sent.tier] }, () => [sent.requestId, `follow it with: oracle status ${sent.requestId} --wait`]);
      return;
    }
    const { outcome, decoded } = await follow(client, sent.requestId, sent.blockNumber, Number(o.timeout), progress, ctx.json, model.modelHash);
    output(ctx.json, { request: { ...sent, fee: sent.fee.toString(), tier: Tier[sent.tier] }, outcome, output: decoded }, () => [
      `request ${sent.requestId} is ${outcome.stage}`,
      ...(decoded === undefined ? [`output hash ${outcome.outputHash ?? "?"} (no relayer URL to fetch the output from)`] : printOutput(decoded, model.modelHash)),
    ]);
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
      const { outcome, decoded } = await follow(client, requestId, from, Number(o.timeout), new Progress(false), ctx.json);
      const hash = (await client.oracle.getRequest(requestId)).modelHash;
      output(ctx.json, { outcome, output: decoded }, () => [`request ${requestId} is ${outcome.stage}`, ...(decoded === undefined ? [] : printOutput(decoded, hash))]);
      return;
    }
    const now = await client.status(requestId, from);
    output(ctx.json, now, () => [
      `request ${requestId} is ${now.stage}`,
      ...(now.outputHash ? [`output hash ${now.outputHash}`] : []),
      ...(now.challengeDeadline ? [`challenge window closes ${new Date(now.challengeDeadline * 1000).toISOString()}`] : []),
    ]);
  } finally {
    ctx.close();
  }
}
