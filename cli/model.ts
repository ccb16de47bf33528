/** `oracle model register | list | inspect`. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseEther } from "ethers";
import { Tier } from "../protocol/types.js";
import { ModelRegistry__factory } from "../types/ethers-contracts/index.js";
import { modelCard, OracleClient, type ModelDetails } from "../sdk/index.js";
import { address, cliError, context, eth, output, Progress, type GlobalOptions } from "./common.js";
import { commitmentOf, onnxFileInfo, parseShape, parseTiers, registerModel } from "./deploy.js";

function modelLines(m: ModelDetails): string[] {
  const card = modelCard(m.modelHash);
  return [
    `model      ${m.modelHash}${card ? `  (${card.name})` : ""}`,
    `owner      ${m.owner}`,
    `fee        ${eth(m.fee)} per request (plus the oracle's minimum worker fee)`,
    `tiers      ${m.tiers.map((t) => Tier[t]).join(", ")}${m.active ? "" : "  [INACTIVE]"}`,
    `input      ${m.input.dtype}[${m.input.shape.map((d) => (d === 0 ? "*" : d))}]`,
    `output     ${m.output.dtype}[${m.output.shape.map((d) => (d === 0 ? "*" : d))}]`,
    `commitment ${/^0x0+$/.test(m.commitmentRoot) ? "none (zero root)" : m.commitmentRoot}`,
    `resolver   ${m.resolver}`,
    ...(/^0x0+$/.test(m.zkVerifier.slice(2)) || m.zkVerifier === "0x0000000000000000000000000000000000000000" ? [] : [`zkVerifier ${m.zkVerifier}`]),
    ...m.uris.map((u, i) => `${i === 0 ? "uris      " : "          "} ${u}`),
    ...(card?.labels ? [`labels     ${card.labels.join(" | ")}`] : []),
  ];
}

const json = (m: ModelDetails) => ({ ...m, fee: m.fee.toString(), tiers: m.tiers.map((t) => Tier[t]) });

export async function modelList(o: GlobalOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.provider });
    const events = await client.registry.queryFilter(client.registry.filters.ModelRegistered(), ctx.deployment.deployBlock);
    const hashes = [...new Set(events.map((e) => String(e.args.modelHash).toLowerCase()))];
    const models = await Promise.all(hashes.map((h) => client.model(h)));
    output(ctx.json, { models: models.map(json) }, () =>
      models.length === 0
        ? ["no models registered"]
        : models.flatMap((m) => {
            const card = modelCard(m.modelHash);
            return [`${m.modelHash}  ${m.input.dtype}[${m.input.shape}] -> ${m.output.dtype}[${m.output.shape}]  ${eth(m.fee)}  ${m.tiers.map((t) => Tier[t]).join("+")}${m.active ? "" : " INACTIVE"}${card ? `  ${card.name}` : ""}`];
          }),
    );
  } finally {
    ctx.close();
  }
}

export async function modelInspect(target: string, o: GlobalOptions & { inputShape?: string }): Promise<void> {
  const isHash = /^0x[0-9a-fA-F]{64}$/.test(target);
  if (!isHash && !existsSync(target)) throw cliError("INPUT_INVALID", `${target} is neither a model hash (0x + 64 hex digits) nor a file`);
  const progress = new Progress(o.json === true);
  let local: Record<string, unknown> | undefined;
  let hash = target.toLowerCase();
  const lines: string[] = [];
  if (!isHash) {
    const info = onnxFileInfo(target);
    hash = info.modelHash;
    const shape = o.inputShape === undefined ? undefined : parseShape(o.inputShape, "--input-shape");
    const c = await progress.step("computing the model commitment", () => commitmentOf(target, info, shape));
    local = { ...info, commitmentRoot: c.root ?? null, ...(c.reason === undefined ? {} : { commitmentNote: c.reason }) };
    lines.push(
      `file       ${resolve(target)} (${info.bytes} bytes, opset ${info.opset ?? "?"}${info.producer ? `, ${info.producer}` : ""})`,
      `model      ${info.modelHash}`,
      `input      ${info.input.name}: ${info.input.dtype}[${info.input.shape.map((d) => (d === 0 ? "*" : d))}]`,
      `output     ${info.output.name}: ${info.output.dtype}[${info.output.shape.map((d) => (d === 0 ? "*" : d))}]`,
      `commitment ${c.root ?? `none: ${c.reason}`}`,
    );
  }
  // On-chain terms when a deployment is at hand.
  let chain: ModelDetails | undefined;
  let registered = false;
  try {
    const ctx = await context(o, { needDeployment: isHash });
    try {
      if (ctx.deployment !== undefined) {
        const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.provider });
        registered = await client.registry.isRegistered(hash);
        if (registered) chain = await client.model(hash);
        else if (isHash) throw cliError("MODEL_NOT_FOUND", `model ${hash} is not registered in ${ctx.deployment.registry}`);
      }
    } finally {
      ctx.close();
    }
  } catch (error) {
    if (isHash) throw error;
  }
  if (!isHash) lines.push(registered ? "registered:" : "not registered (oracle model register <file>)");
  if (chain) lines.push(...modelLines(chain).map((l) => (isHash ? l : `  ${l}`)));
  output(o.json === true, { modelHash: hash, file: local ?? null, registered, onChain: chain ? json(chain) : null }, () => lines);
}

export interface RegisterOptions extends GlobalOptions {
  fee: string;
  tiers: string;
  uri?: string[];
  resolver?: string;
  owner?: string;
  inputShape?: string;
  outputShape?: string;
  commit?: boolean;
}

export async function modelRegister(file: string, o: RegisterOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const progress = new Progress(ctx.json);
    const wallet = ctx.wallet();
    const info = onnxFileInfo(file);
    const tiers = parseTiers(o.tiers);
    let fee: bigint;
    try {
      fee = parseEther(o.fee);
    } catch {
      throw cliError("CONFIG_INVALID", `--fee takes an ETH amount such as 0.002; got ${JSON.stringify(o.fee)}`);
    }
    const input = { dtype: info.input.dtype, shape: o.inputShape === undefined ? info.input.shape : parseShape(o.inputShape, "--input-shape") };
    const outputSpec = { dtype: info.output.dtype, shape: o.outputShape === undefined ? info.output.shape : parseShape(o.outputShape, "--output-shape") };
    if (input.shape.length !== info.input.shape.length) throw cliError("CONFIG_INVALID", `--input-shape has rank ${input.shape.length}; the model's input has rank ${info.input.shape.length}`);
    const resolver = address(o.resolver ?? ctx.deployment.resolver ?? "", "--resolver");
    const uris = o.uri !== undefined && o.uri.length > 0 ? o.uri : [pathToFileURL(resolve(file)).href];
    const registry = ModelRegistry__factory.connect(ctx.deployment.registry, wallet);
    if (await registry.isRegistered(info.modelHash)) throw cliError("CONFIG_INVALID", `model ${info.modelHash} is already registered`, { modelHash: info.modelHash });
    let commitmentRoot: `0x${string}` | undefined;
    if (o.commit !== false) {
      const refShape = input.shape.every((d) => d > 0) ? input.shape : undefined;
      const c = await progress.step("computing the model commitment", () => commitmentOf(file, info, refShape));
      commitmentRoot = c.root;
      if (c.root === undefined) progress.info(`note: registering without a commitment root (${c.reason})`);
    }
    const owner = o.owner === undefined ? wallet.address : address(o.owner, "--owner");
    await registerModel(registry, { modelHash: info.modelHash, owner, fee, tiers, resolver, ...(commitmentRoot === undefined ? {} : { commitmentRoot }), input, output: outputSpec, uris }, progress);
    const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.provider });
    const m = await client.model(info.modelHash);
    output(ctx.json, json(m), () => ["registered:", ...modelLines(m)]);
  } finally {
    ctx.close();
  }
}
