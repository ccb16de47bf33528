/**
 * `oracle redundant`: redundancy (contracts/redundancy/RedundantInference.sol), one request
 * answered by k distinct staked workers, final when they agree.
 *
 *   oracle redundant deploy                                     deploy RedundantInference for the deployment's oracle
 *   oracle redundant request --model m --input f --k 2 [--wait] request k answers (k + reserve fees paid up front;
 *                                                               --token <address>: in an ERC-20 token the model accepts)
 *   oracle redundant status <jobId>                             the job and each answer (worker, status, output hash)
 *   oracle redundant advance <jobId>                            attest / replace / decide / deliver what can be now (anyone may)
 *   oracle redundant withdraw [--token <address>]               pull this key's credits (refunds, unused reserve, attester rewards)
 *
 * The contract's address comes from --redundant or ORACLE_REDUNDANT. A relayer watching it (config
 * `redundant`) attests, replaces and delivers by itself.
 */
import { isAddress, parseEther, ZeroAddress } from "ethers";
import { encodeTensor, hashEncoded, isAddressHex, isZeroHex, type Hex, IModelRegistry__factory } from "../protocol/index.js";
import {
  OracleClient,
  advanceJob,
  redundantContract,
  redundantJobValue,
  requestRedundant,
  AnswerStatus,
  JobStatus,
  RedundantInference__factory,
  type RedundantInference,
} from "../sdk/index.js";
import { cliError, context, eth, output, Progress, type GlobalOptions } from "./common.js";
import { resolveModel } from "./model.js";
import { readInputFile } from "./request.js";

export interface RedundantCliOptions extends GlobalOptions {
  redundant?: string;
}

function redundantAddress(o: RedundantCliOptions, deployment: { redundant?: string | undefined }): string {
  // The flag, else the environment, else the deployment's own (protocol/deployment.ts places one).
  const a = o.redundant ?? process.env.ORACLE_REDUNDANT ?? deployment.redundant;
  if (a === undefined || !isAddressHex(a)) {
    throw cliError("CONFIG_INVALID", "no redundancy contract: pass --redundant <address> or set ORACLE_REDUNDANT (a deployment made by `oracle deploy` or `oracle dev` names its own; `oracle redundant deploy` makes another)");
  }
  return a;
}

async function jobJson(c: RedundantInference, jobId: bigint) {
  const j = await c.getJob(jobId);
  const answers = await c.getAnswers(jobId);
  return {
    jobId: jobId.toString(),
    status: JobStatus[Number(j.status)] ?? String(j.status),
    requester: j.requester,
    k: Number(j.k),
    counted: Number(j.counted),
    reserveLeft: Number(j.reserveLeft),
    deadline: Number(j.deadline),
    closeAt: Number(j.closeAt),
    decideBy: Number(j.decideBy),
    attestReward: j.attestReward.toString(),
    ...(j.token === ZeroAddress ? {} : { token: j.token, callbackFee: j.callbackFee.toString() }),
    rewardsLeft: Number(j.rewardsLeft),
    outputHash: j.outputHash,
    delivered: j.delivered,
    callbackSucceeded: j.callbackSucceeded,
    answers: answers.map((a) => ({ requestId: a.requestId, status: AnswerStatus[Number(a.status)] ?? String(a.status), worker: a.worker, outputHash: a.outputHash })),
  };
}

function jobLines(v: Awaited<ReturnType<typeof jobJson>>): string[] {
  return [
    `job ${v.jobId}: ${v.status}, ${v.counted} of ${v.k} distinct workers counted, reserve left ${v.reserveLeft}${v.token === undefined ? "" : `, paid in token ${v.token}`}${v.status === "Agreed" ? `, output ${v.outputHash}` : ""}${v.status === "Comparing" ? ` (answers differ by hash: decide compares them within τ_out; Disagreed by default after ${new Date(v.decideBy * 1000).toISOString()})` : ""}${v.delivered ? ` (delivered; consumer callback ${v.callbackSucceeded ? "succeeded" : "not made or failed"})` : ""}`,
    ...v.answers.map((a, i) => `  answer ${i}: ${a.status.padEnd(9)} request ${a.requestId}${isZeroHex(a.worker) ? "" : ` worker ${a.worker}`}${isZeroHex(a.outputHash) ? "" : ` output ${a.outputHash}`}`),
  ];
}

export async function redundantDeployCommand(o: GlobalOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const progress = new Progress(ctx.json);
    const c = await progress.step("deploying RedundantInference", async () => {
      const d = await new RedundantInference__factory(ctx.wallet()).deploy(ctx.deployment.oracle);
      await d.waitForDeployment();
      return d.getAddress();
    });
    output(ctx.json, { redundant: c, oracle: ctx.deployment.oracle }, () => [`RedundantInference ${c} (oracle ${ctx.deployment.oracle}); export ORACLE_REDUNDANT=${c}`]);
  } finally {
    ctx.close();
  }
}

export async function redundantRequestCommand(
  o: RedundantCliOptions & {
    model: string; input: string; k: string; reserve: string; tip: string; attestReward: string; deadline: string; wait?: boolean; timeout: string; relayer?: string;
    token?: string; tokenTip: string; permit?: boolean;
  },
): Promise<void> {
  const ctx = await context(o);
  try {
    const progress = new Progress(ctx.json);
    const k = Number(o.k);
    const reserve = Number(o.reserve);
    if (!Number.isInteger(k) || k < 2 || k > 8) throw cliError("CONFIG_INVALID", `--k takes 2..8; got ${JSON.stringify(o.k)}`);
    if (!Number.isInteger(reserve) || reserve < 0 || reserve > 8) throw cliError("CONFIG_INVALID", `--reserve takes 0..8; got ${JSON.stringify(o.reserve)}`);
    const tip = ethOption("--tip", o.tip);
    const attestReward = ethOption("--attest-reward", o.attestReward);
    const modelHash = await resolveModel(o.model, ctx);
    const relayerUrl = o.relayer ?? ctx.deployment.relayerUrl;
    const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.provider, ...(relayerUrl === undefined ? {} : { relayerUrl }) });
    const bytes = encodeTensor(readInputFile(o.input, await client.model(modelHash)));
    const contract = redundantContract(redundantAddress(o, ctx.deployment), ctx.wallet());
    let fee: bigint;
    let token: { token: { address: string; permit: boolean } } | Record<string, never> = {};
    if (o.token === undefined) {
      fee = (await client.quote(modelHash, Number(await contract.ANSWER_CALLBACK_GAS()))).minimum + tip;
    } else {
      if (!isAddress(o.token)) throw cliError("CONFIG_INVALID", `--token takes an address; got ${JSON.stringify(o.token)}`);
      if (!/^\d+$/.test(o.tokenTip)) throw cliError("CONFIG_INVALID", `--token-tip takes a whole number of the token's smallest units; got ${JSON.stringify(o.tokenTip)}`);
      const t = await IModelRegistry__factory.connect(ctx.deployment.registry, ctx.provider).tokenTerms(modelHash, o.token);
      if (!t.accepted) throw cliError("CONFIG_INVALID", `model ${modelHash} does not accept token ${o.token} (its owner runs \`oracle model accept-token\`)`);
      fee = t.ownerFee + t.minWorkerFee + BigInt(o.tokenTip);
      token = { token: { address: o.token, permit: o.permit !== false } };
    }
    const feeText = o.token === undefined ? eth(fee) : `${fee} units of token ${o.token}`;
    const params = await client.oracle.params();
    let input: { input: Uint8Array } | { inputHash: string; inputURI: string } = { input: bytes };
    if (bytes.byteLength > Number(params.maxInlineInputBytes)) {
      const inputHash = hashEncoded(bytes) as Hex;
      input = { inputHash, inputURI: await client.upload(bytes, inputHash) };
    }
    const head = await ctx.provider.getBlock("latest");
    const deadline = BigInt(head!.timestamp) + BigInt(Number(o.deadline));
    const { jobId, receipt } = await progress.step(`requesting ${k} answers from distinct workers (reserve ${reserve}, ${feeText} each)`, () =>
      requestRedundant(contract, { modelHash, ...input, k, reserve, fee, deadline, attestReward, ...token }),
    );
    progress.info(`job ${jobId} (tx ${receipt.hash})`);
    if (o.wait === true) {
      const until = Date.now() + Number(o.timeout) * 1000;
      for (;;) {
        await advanceJob(contract, ctx.deployment.oracle, jobId, { fromBlock: receipt.blockNumber });
        const j = await contract.getJob(jobId);
        const s = Number(j.status);
        if ((s === JobStatus.Agreed || s === JobStatus.Disagreed) && j.delivered) break;
        if (s === JobStatus.Incomplete) break;
        if (Date.now() > until) throw cliError("TIMEOUT", `job ${jobId} not decided within --timeout ${o.timeout} s (answers settle after their challenge window)`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    const v = await jobJson(contract, jobId);
    output(ctx.json, { ...v, txHash: receipt.hash, fee: fee.toString(), paid: (o.token === undefined ? redundantJobValue({ k, reserve, fee, attestReward }) : (BigInt(k) + BigInt(reserve)) * fee).toString() }, () => [...jobLines(v), ...(o.wait === true ? [] : [`follow it with: oracle redundant advance ${jobId} (or a relayer watching the contract)`])]);
  } finally {
    ctx.close();
  }
}

export async function redundantStatusCommand(id: string, o: RedundantCliOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const v = await jobJson(redundantContract(redundantAddress(o, ctx.deployment), ctx.provider), BigInt(id));
    output(ctx.json, v, () => jobLines(v));
  } finally {
    ctx.close();
  }
}

export async function redundantAdvanceCommand(id: string, o: RedundantCliOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const contract = redundantContract(redundantAddress(o, ctx.deployment), ctx.wallet());
    const sent = await advanceJob(contract, ctx.deployment.oracle, BigInt(id));
    const v = await jobJson(contract, BigInt(id));
    output(ctx.json, { sent, ...v }, () => [`sent: ${sent.length === 0 ? "nothing to do now" : sent.join(", ")}`, ...jobLines(v)]);
  } finally {
    ctx.close();
  }
}

/** `oracle redundant withdraw`: pulls the key's credits (refunds, unused reserve and rewards, attester rewards); `--token`: its credits in that token. */
export async function redundantWithdrawCommand(o: RedundantCliOptions & { token?: string }): Promise<void> {
  const ctx = await context(o);
  try {
    const contract = redundantContract(redundantAddress(o, ctx.deployment), ctx.wallet());
    const account = await ctx.wallet().getAddress();
    if (o.token !== undefined && !isAddress(o.token)) throw cliError("CONFIG_INVALID", `--token takes an address; got ${JSON.stringify(o.token)}`);
    const amount = o.token === undefined ? await contract.balanceOf(account) : await contract.tokenBalanceOf(account, o.token);
    const what = o.token === undefined ? eth(amount) : `${amount} units of token ${o.token}`;
    if (amount === 0n) throw cliError("TX_REVERTED", `nothing to withdraw: ${account} has no credit${o.token === undefined ? "" : ` in token ${o.token}`} on RedundantInference ${await contract.getAddress()}`, { revert: "RedundancyNothingToWithdraw" });
    const send = () => (o.token === undefined ? contract.withdraw() : contract.withdrawToken(o.token));
    const receipt = await new Progress(ctx.json).step(`withdrawing ${what}`, async () => (await (await send()).wait())!);
    output(ctx.json, { account, amount: amount.toString(), ...(o.token === undefined ? {} : { token: o.token }), txHash: receipt.hash }, () => [`withdrew ${what} to ${account} (tx ${receipt.hash})`]);
  } finally {
    ctx.close();
  }
}

function ethOption(name: string, value: string): bigint {
  try {
    return parseEther(value);
  } catch {
    throw cliError("CONFIG_INVALID", `${name} takes an ETH amount such as 0.001; got ${JSON.stringify(value)}`);
  }
}
