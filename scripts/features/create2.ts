/**
 * Deterministic deployments (docs/FEATURES.md): the local stack deployed its contracts through the CREATE2
 * factory (cli/deploy.ts deployContracts, the procedure of `oracle deploy`). This deploys the same config with
 * the same deployer on a second in-process chain with another chain id and checks every address is the same;
 * runs the deployment again on the stack's chain (it finds everything deployed and sends nothing); writes both
 * manifests; and has the SDK connect from the manifest folder (OracleClient.fromManifest) and make a request
 * on the stack's chain, served by the real relayer and workers, checking the result the chain holds.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { Progress } from "../../cli/common.js";
import { deployContracts, type DeployResult, verifyManifest, writeManifest, hashEncoded, encodeTensor, Tier } from "../../protocol/index.js";
import { OracleClient } from "../../sdk/index.js";
import { localStackDeployConfig, type LocalStack } from "../../stack/local-stack.js";
import type { FeatureDemo, FeatureReport } from "./types.js";

const OTHER_CHAIN_ID = 4242;

async function deploymentGas(provider: { getBlock(n: number, prefetch: boolean): Promise<{ prefetchedTransactions: { hash: string }[] } | null>; getTransactionReceipt(h: string): Promise<{ gasUsed: bigint } | null> }, from: number, to: number): Promise<number> {
  let gas = 0n;
  for (let n = from + 1; n <= to; n++) for (const tx of (await provider.getBlock(n, true))!.prefetchedTransactions) gas += (await provider.getTransactionReceipt(tx.hash))!.gasUsed;
  return Number(gas);
}

export const create2: FeatureDemo = {
  name: "create2",
  title: "Deterministic deployments: the same addresses on another chain, a manifest per chain, the SDK connecting from it",
  async run(stack: LocalStack, say): Promise<FeatureReport> {
    const deployer = stack.accounts.admin;
    const config = localStackDeployConfig(await stack.accounts.arbiter.getAddress(), stack.game !== undefined);
    const quiet = new Progress(true);

    // A second chain, another chain id, the same (development) accounts.
    const other = await network.create({ override: { chainId: OTHER_CHAIN_ID } });
    const otherDeployer = (await other.ethers.getSigners())[0]!;
    if (otherDeployer.address !== (await deployer.getAddress())) throw new Error("the second chain's first account is not the stack's deployer");
    const start = await other.ethers.provider.getBlockNumber();
    const onOther: DeployResult = await deployContracts(otherDeployer, config, quiet);
    const gas = await deploymentGas(other.ethers.provider, start, await other.ethers.provider.getBlockNumber());
    say(`  chain ${OTHER_CHAIN_ID}: factory ${onOther.factoryInstall}, ${Object.keys(onOther.manifest!.contracts).length} contracts, ${gas.toLocaleString("en-US")} gas`);
    const stackAddresses = { registry: await stack.registry.getAddress(), oracle: await stack.oracle.getAddress(), resolver: await stack.resolver.getAddress() };
    const sameAddresses = onOther.registry === stackAddresses.registry && onOther.oracle === stackAddresses.oracle && onOther.resolver === stackAddresses.resolver;
    say(`  chain ${stack.chainId} (the stack) and chain ${OTHER_CHAIN_ID}: oracle ${onOther.oracle} on both: ${sameAddresses}`);

    // The deployment again on the stack's chain: everything is found, nothing is sent.
    const blockBefore = await stack.ethers.provider.getBlockNumber();
    const onStack = await deployContracts(deployer, config, quiet);
    const idempotent = onStack.reused!.length === Object.keys(onStack.manifest!.contracts).length && (await stack.ethers.provider.getBlockNumber()) === blockBefore;
    say(`  rerun on chain ${stack.chainId}: ${onStack.reused!.length} of ${Object.keys(onStack.manifest!.contracts).length} contracts found deployed, ${(await stack.ethers.provider.getBlockNumber()) - blockBefore} transactions`);
    const sameEverywhere = Object.entries(onStack.manifest!.contracts).every(([name, c]) => onOther.manifest!.contracts[name]?.address === c.address);

    const dir = mkdtempSync(join(tmpdir(), "oracle-manifests-"));
    try {
      await writeManifest(dir, onOther.manifest!);
      await writeManifest(dir, onStack.manifest!);
      const verified = (await verifyManifest(stack.ethers.provider, onStack.manifest!)).every((c) => c.ok);

      // The SDK, given only the folder: it picks the stack chain's manifest and checks the oracle's code.
      const client = await OracleClient.fromManifest({ runner: stack.accounts.user, manifest: dir, relayerUrl: stack.relayer.url, pollIntervalMs: 100 });
      const fromManifest = await client.oracle.getAddress();
      const data = new Float32Array(3 * 48 * 192).map((_, i) => Math.sin(i / 97));
      const input = { dtype: "float32" as const, shape: [1, 3, 48, 192], data };
      const sent = await client.request({ modelHash: stack.modelHash, input, tier: Tier.NONE });
      const outcome = await client.wait(sent.requestId, { timeoutMs: 120_000 });
      const output = await client.output(outcome.outputHash!);
      // What the chain holds for the request, read from the stack's own oracle handle: fulfilled, with the output
      // hash of the output the SDK fetched (and checked).
      const fulfilled = Number((await stack.oracle.getRequest(sent.requestId)).status) === 4; // RequestStatus.Fulfilled
      const events = await stack.oracle.queryFilter(stack.oracle.filters.RequestFulfilled(sent.requestId), sent.blockNumber);
      const outputHashOnChain = String(events.at(-1)?.args.outputHash);
      const matches = fulfilled && outputHashOnChain === outcome.outputHash && hashEncoded(encodeTensor(output)) === outputHashOnChain;
      say(`  SDK from the manifest: oracle ${fromManifest}, request ${sent.requestId.slice(0, 10)}… ${outcome.stage}, output [${Array.from(output.data as Float32Array).map((v) => v.toFixed(3)).join(", ")}]`);
      return {
        delivered: sameAddresses && sameEverywhere && idempotent && verified && fromManifest === stackAddresses.oracle && outcome.stage === "final" && matches,
        chains: [stack.chainId.toString(), String(OTHER_CHAIN_ID)],
        oracle: onOther.oracle,
        registry: onOther.registry,
        contracts: Object.keys(onOther.manifest!.contracts).length,
        sameAddresses: sameAddresses && sameEverywhere,
        rerunSentNothing: idempotent,
        manifestVerified: verified,
        sdkRequest: { requestId: sent.requestId, stage: outcome.stage, outputHash: outputHashOnChain },
        deployGas: gas,
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
