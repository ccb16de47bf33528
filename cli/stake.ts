/** `oracle stake | unstake | withdraw`: an operator's stake in the oracle. */
import { formatEther, parseEther, ZeroAddress } from "ethers";
import { InferenceOracle__factory } from "../types/ethers-contracts/index.js";
import { address, cliError, context, eth, output, Progress, send, type GlobalOptions } from "./common.js";

function amount(value: string): bigint {
  let wei: bigint;
  try {
    wei = parseEther(value);
  } catch {
    throw cliError("CONFIG_INVALID", `amounts are in ETH, e.g. 1.5; got ${JSON.stringify(value)}`);
  }
  if (wei <= 0n) throw cliError("CONFIG_INVALID", "the amount must be positive");
  return wei;
}

type WorkerView = Awaited<ReturnType<ReturnType<typeof InferenceOracle__factory.connect>["getWorker"]>>;

function view(operator: string, w: WorkerView, balance: bigint) {
  return {
    operator,
    signer: w.signer,
    stake: w.stake.toString(),
    locked: w.locked.toString(),
    unbonding: w.unbonding.toString(),
    unbondingReadyAt: Number(w.unbondingReadyAt),
    openResults: Number(w.openResults),
    balance: balance.toString(),
  };
}

function lines(v: ReturnType<typeof view>): string[] {
  return [
    `operator   ${v.operator}`,
    `signer     ${v.signer === ZeroAddress ? "(not registered)" : v.signer}`,
    `stake      ${formatEther(v.stake)} ETH (of which ${formatEther(v.locked)} locked by open results; unbonding stake counts until withdrawn)`,
    `unbonding  ${formatEther(v.unbonding)} ETH${BigInt(v.unbonding) > 0n ? `, withdrawable from ${new Date(v.unbondingReadyAt * 1000).toISOString()}` : ""}`,
    `balance    ${formatEther(v.balance)} ETH (fees and refunds credited by the oracle)`,
  ];
}

async function withOracle(o: GlobalOptions, fn: (oracle: ReturnType<typeof InferenceOracle__factory.connect>, me: string, progress: Progress, json: boolean) => Promise<void>): Promise<void> {
  const ctx = await context(o);
  try {
    const wallet = ctx.wallet();
    await fn(InferenceOracle__factory.connect(ctx.deployment.oracle, wallet), wallet.address, new Progress(ctx.json), ctx.json);
  } finally {
    ctx.close();
  }
}

async function show(oracle: ReturnType<typeof InferenceOracle__factory.connect>, me: string, json: boolean): Promise<void> {
  const v = view(me, await oracle.getWorker(me), await oracle.balanceOf(me));
  output(json, v, () => lines(v));
}

export async function stakeCommand(value: string | undefined, o: GlobalOptions & { signer?: string }): Promise<void> {
  await withOracle(o, async (oracle, me, progress, json) => {
    const w = await oracle.getWorker(me);
    if (value === undefined) {
      // No amount: show the stake, after changing the signer when --signer names a new one.
      if (o.signer !== undefined) {
        if (w.signer === ZeroAddress) throw cliError("CONFIG_INVALID", "not registered yet: `oracle stake <amount> --signer <address>` registers with a first stake");
        const signer = address(o.signer, "--signer");
        if (signer !== w.signer) await send(`changing the signer to ${signer}`, () => oracle.setSigner(signer), progress);
      }
      return show(oracle, me, json);
    }
    const wei = amount(value);
    if (w.signer === ZeroAddress) {
      const signer = address(o.signer ?? me, "--signer");
      const min = (await oracle.params()).minStake;
      if (wei < min) throw cliError("CONFIG_INVALID", `registering needs at least the minimum stake of ${eth(min)}`, { minimum: min.toString() });
      await send(`registering as a worker operator with ${eth(wei)} (signer ${signer})`, () => oracle.registerWorker(signer, { value: wei }), progress);
    } else {
      if (o.signer !== undefined && address(o.signer, "--signer") !== w.signer) {
        await send(`changing the signer to ${o.signer}`, () => oracle.setSigner(address(o.signer!, "--signer")), progress);
      }
      await send(`adding ${eth(wei)} to the stake`, () => oracle.addStake({ value: wei }), progress);
    }
    await show(oracle, me, json);
  });
}

export async function unstakeCommand(value: string, o: GlobalOptions): Promise<void> {
  await withOracle(o, async (oracle, me, progress, json) => {
    const wei = amount(value);
    await send(`requesting to unbond ${eth(wei)}`, () => oracle.requestUnbond(wei), progress);
    await show(oracle, me, json);
  });
}

export async function withdrawCommand(o: GlobalOptions): Promise<void> {
  await withOracle(o, async (oracle, me, progress, json) => {
    const w = await oracle.getWorker(me);
    const balance = await oracle.balanceOf(me);
    const latest = await oracle.runner!.provider!.getBlock("latest");
    const now = latest?.timestamp ?? Math.floor(Date.now() / 1000);
    let did = false;
    if (w.unbonding > 0n) {
      if (Number(w.unbondingReadyAt) > now) {
        if (balance === 0n) {
          throw cliError("TX_REVERTED", `${eth(w.unbonding)} is unbonding and can be withdrawn from ${new Date(Number(w.unbondingReadyAt) * 1000).toISOString()} (in ${Number(w.unbondingReadyAt) - now} s)`, {
            revert: "StakeUnbondingNotReady", readyAt: Number(w.unbondingReadyAt),
          });
        }
        progress.info(`note: ${eth(w.unbonding)} is still unbonding until ${new Date(Number(w.unbondingReadyAt) * 1000).toISOString()}`);
      } else {
        await send(`withdrawing ${eth(w.unbonding)} of unbonded stake`, () => oracle.withdrawStake(), progress);
        did = true;
      }
    }
    if (balance > 0n) {
      await send(`withdrawing the ${eth(balance)} balance (fees, refunds)`, () => oracle.withdraw(), progress);
      did = true;
    }
    if (!did) throw cliError("TX_REVERTED", "nothing to withdraw: no unbonded stake and no balance (unstake first)", { revert: "OracleNothingToWithdraw" });
    await show(oracle, me, json);
  });
}
