/**
 * `oracle chain`: chained requests (contracts/chained/ChainedInference.sol), the output of one
 * model the input of the next, in one request.
 *
 *   oracle chain deploy                                   deploy ChainedInference for the deployment's oracle
 *   oracle chain request --models a,b --input f [--wait]  request a chain (fees of every step paid up front)
 *   oracle chain status <chainId> [--wait]                where a chain is; --wait advances it to its end
 *   oracle chain advance <chainId>                        request the next step of a Ready chain (anyone may)
 *
 * The chain contract's address comes from --chained or ORACLE_CHAINED.
 */
import { encodeTensor, Tier, isAddressHex } from "../protocol/index.js";
import {
  advanceChain, chainStatus, chainStepFees, chainTokenStepFees, chainedContract, followChain, requestChain, ChainStatus, ChainedInference__factory,
  OracleClient, type ChainState,
} from "../sdk/index.js";
import { isAddress, parseEther } from "ethers";
import { cliError, context, eth, output, Progress, type GlobalOptions } from "./common.js";
import { TIER_NAMES } from "./deploy.js";
import { resolveModel } from "./model.js";
import { readInputFile } from "./request.js";

export interface ChainCliOptions extends GlobalOptions {
  chained?: string;
}

function chainedAddress(o: ChainCliOptions, deployment: { chained?: string | undefined }): string {
  // The flag, else the environment, else the deployment's own (protocol/deployment.ts places one).
  const a = o.chained ?? process.env.ORACLE_CHAINED ?? deployment.chained;
  if (a === undefined || !isAddressHex(a)) {
    throw cliError("CONFIG_INVALID", "no chain contract: pass --chained <address> or set ORACLE_CHAINED (a deployment made by `oracle deploy` or `oracle dev` names its own; `oracle chain deploy` makes another)");
  }
  return a;
}

function stateJson(s: ChainState) {
  const token = s.token === undefined ? {} : { token: { address: s.token.address, callbackEscrow: s.token.callbackEscrow.toString() } };
  return { ...s, status: ChainStatus[s.status], chainId: s.chainId.toString(), deadline: s.deadline.toString(), escrow: s.escrow.toString(), ...token };
}

function stateLines(s: ChainState): string[] {
  return [
    `chain ${s.chainId}: ${ChainStatus[s.status]} at step ${s.current + 1} of ${s.stepCount}`,
    `  requests ${s.requestIds.join(", ")}`,
    `  last output ${s.outputHash}${s.status === ChainStatus.Completed ? ` (the chain's result; consumer callback ${s.callbackSucceeded ? "succeeded" : "not made or failed"})` : ""}`,
    ...(s.escrow > 0n ? [`  escrow of later steps ${s.token === undefined ? eth(s.escrow) : `${s.escrow} units of token ${s.token.address}`}`] : []),
  ];
}

export async function chainDeployCommand(o: GlobalOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const progress = new Progress(ctx.json);
    const c = await progress.step("deploying ChainedInference", async () => {
      const d = await new ChainedInference__factory(ctx.wallet()).deploy(ctx.deployment.oracle);
      await d.waitForDeployment();
      return d.getAddress();
    });
    output(ctx.json, { chained: c, oracle: ctx.deployment.oracle }, () => [`ChainedInference ${c} (oracle ${ctx.deployment.oracle}); export ORACLE_CHAINED=${c}`]);
  } finally {
    ctx.close();
  }
}

export async function chainRequestCommand(
  o: ChainCliOptions & {
    models: string; input: string; tier: string; tip: string; deadline: string; wait?: boolean; timeout: string; relayer?: string;
    token?: string; tokenTip: string; permit?: boolean;
  },
): Promise<void> {
  const ctx = await context(o);
  try {
    const progress = new Progress(ctx.json);
    const tier = TIER_NAMES[o.tier.toLowerCase()];
    if (tier === undefined) throw cliError("CONFIG_INVALID", `--tier takes one of ${Object.keys(TIER_NAMES).join(", ")}; got ${JSON.stringify(o.tier)}`);
    const names = o.models.split(",").map((m) => m.trim()).filter((m) => m !== "");
    if (names.length < 1) throw cliError("CONFIG_INVALID", "--models takes a comma-separated list of models (the chain's steps, in order)");
    const hashes: string[] = [];
    for (const n of names) hashes.push(await resolveModel(n, ctx));
    const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.provider });
    const first = await client.model(hashes[0]!);
    const input = encodeTensor(readInputFile(o.input, first));
    let tip: bigint;
    try {
      tip = parseEther(o.tip);
    } catch {
      throw cliError("CONFIG_INVALID", `--tip takes an ETH amount such as 0.001; got ${JSON.stringify(o.tip)}`);
    }
    const chained = chainedContract(chainedAddress(o, ctx.deployment), ctx.wallet());
    const steps = hashes.map((modelHash) => ({ modelHash, tier }));
    if (o.token !== undefined && !isAddress(o.token)) throw cliError("CONFIG_INVALID", `--token takes an address; got ${JSON.stringify(o.token)}`);
    if (o.token !== undefined && !/^\d+$/.test(o.tokenTip)) throw cliError("CONFIG_INVALID", `--token-tip takes a whole number of the token's smallest units; got ${JSON.stringify(o.tokenTip)}`);
    const fees =
      o.token === undefined ? await chainStepFees(chained, steps, { tip, provider: ctx.provider }) : await chainTokenStepFees(chained, steps, o.token, { tip: BigInt(o.tokenTip) });
    const token = o.token === undefined ? {} : { token: { address: o.token, permit: o.permit !== false } };
    const feeText = o.token === undefined ? fees.map(eth).join(" + ") : `${fees.join(" + ")} units of token ${o.token}`;
    const head = await ctx.provider.getBlock("latest");
    const deadline = BigInt(head!.timestamp) + BigInt(Number(o.deadline));
    const relayerUrl = o.relayer ?? ctx.deployment.relayerUrl;
    const { chainId, receipt } = await progress.step(`requesting a ${steps.length}-step chain (${Tier[tier]}, fees ${feeText})`, () =>
      requestChain(chained, { steps: steps.map((s, i) => ({ ...s, fee: fees[i]! })), input, deadline, ...token, ...(relayerUrl === undefined ? {} : { blobBaseURI: `${relayerUrl.replace(/\/$/, "")}/blobs/` }) }),
    );
    progress.info(`chain ${chainId} (tx ${receipt.hash})`);
    if (o.wait !== true) {
      output(ctx.json, { chainId: chainId.toString(), txHash: receipt.hash, fees: fees.map(String) }, () => [`chain ${chainId}`, `follow it with: oracle chain status ${chainId} --wait`]);
      return;
    }
    const final = await followChain(chained, chainId, {
      timeoutMs: Number(o.timeout) * 1000,
      fromBlock: receipt.blockNumber,
      ...(relayerUrl === undefined ? {} : { blobStoreUrl: relayerUrl }),
      onStatus: (s) => progress.info(`chain ${chainId}: step ${s.current + 1}/${s.stepCount} ${ChainStatus[s.status]}`),
    });
    output(ctx.json, stateJson(final), () => stateLines(final));
  } finally {
    ctx.close();
  }
}

export async function chainStatusCommand(id: string, o: ChainCliOptions & { wait?: boolean; timeout: string; relayer?: string }): Promise<void> {
  const ctx = await context(o);
  try {
    const chainId = BigInt(id);
    const relayerUrl = o.relayer ?? ctx.deployment.relayerUrl;
    const chained = chainedContract(chainedAddress(o, ctx.deployment), o.wait === true ? ctx.wallet() : ctx.provider);
    const s =
      o.wait === true
        ? await followChain(chained, chainId, { timeoutMs: Number(o.timeout) * 1000, ...(relayerUrl === undefined ? {} : { blobStoreUrl: relayerUrl }) })
        : await chainStatus(chained, chainId);
    output(ctx.json, stateJson(s), () => stateLines(s));
  } finally {
    ctx.close();
  }
}

export async function chainAdvanceCommand(id: string, o: ChainCliOptions & { relayer?: string }): Promise<void> {
  const ctx = await context(o);
  try {
    const chainId = BigInt(id);
    const relayerUrl = o.relayer ?? ctx.deployment.relayerUrl;
    const chained = chainedContract(chainedAddress(o, ctx.deployment), ctx.wallet());
    const receipt = await advanceChain(chained, chainId, relayerUrl === undefined ? {} : { blobStoreUrl: relayerUrl });
    const s = await chainStatus(chained, chainId);
    output(ctx.json, { txHash: receipt.hash, ...stateJson(s) }, () => [`advanced (tx ${receipt.hash})`, ...stateLines(s)]);
  } finally {
    ctx.close();
  }
}
