/**
 * Deterministic deployments (protocol/create2.ts, cli/deploy.ts deployContracts, protocol/manifest.ts): two
 * in-process chains with different chain ids get the same addresses for every contract; a second run on the
 * same chain reuses them and sends nothing; a manifest that does not match is refused; the manifest verifies
 * against the chain, the SDK connects from it and the CLI's context reads it for the connected chain.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { getCreate2Address, keccak256 } from "ethers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  deployContracts,
  loadDeployConfig,
  type DeployResult,
  CREATE2_FACTORY,
  CREATE2_FACTORY_CODE,
  DEFAULT_DEPLOY_SALT,
  contractSalt,
  parseSalt,
  loadManifest,
  verifyManifest,
  writeManifest,
  type DeploymentManifest,
  isError,
} from "../../protocol/index.js";
import { Progress } from "../../cli/common.js";
import { OracleClient } from "../../sdk/index.js";
import { InferenceOracle__factory, ModelRegistry__factory } from "../../types/ethers-contracts/index.js";

const quiet = new Progress(true);
const ARBITER = "0x00000000000000000000000000000000000a1b17";

async function chain(chainId: number) {
  const connection = await network.create({ override: { chainId } });
  const [deployer, admin] = await connection.ethers.getSigners();
  return { connection, provider: connection.ethers.provider, deployer: deployer!, admin: admin! };
}

const config = (admin: string, over: Record<string, unknown> = {}) => loadDeployConfig({ admin, arbiter: ARBITER, params: { challengeWindow: 900 }, ...over });

describe("deterministic deployments (CREATE2)", () => {
  let a: Awaited<ReturnType<typeof chain>>;
  let b: Awaited<ReturnType<typeof chain>>;
  let onA: DeployResult;
  let onB: DeployResult;

  beforeAll(async () => {
    [a, b] = [await chain(31337), await chain(4242)];
    expect((await a.provider.getNetwork()).chainId).toBe(31337n);
    expect((await b.provider.getNetwork()).chainId).toBe(4242n);
    onA = await deployContracts(a.deployer, config(a.admin.address), quiet);
    onB = await deployContracts(b.deployer, config(b.admin.address), quiet);
  }, 600_000);

  it("installs the factory with its presigned keyless transaction (accepted by the in-process chain)", async () => {
    expect(onA.factoryInstall).toBe("presigned");
    expect(onB.factoryInstall).toBe("presigned");
    expect(await a.provider.getCode(CREATE2_FACTORY)).toBe(CREATE2_FACTORY_CODE);
  });

  it("gives every contract, libraries included, the same address on both chains", async () => {
    const mA = onA.manifest!;
    const mB = onB.manifest!;
    expect(mA.chainId).toBe("31337");
    expect(mB.chainId).toBe("4242");
    const names = Object.keys(mA.contracts).sort();
    expect(names).toEqual(
      ["ArbiterResolver", "DisputeBook", "FraudGame", "InferenceOracle", "ModelRegistry", "OracleParams", "OracleRejections", "OracleRequests", "OracleStaking", "StepIndex", "StepMaps", "StepVerifier", "TokenFees", "InferenceSubscriptions", "ChainedInference", "RedundantInference", "ZkDisputeResolver"].sort(),
    );
    expect(Object.keys(mB.contracts).sort()).toEqual(names);
    for (const name of names) {
      expect(mB.contracts[name]!.address, name).toBe(mA.contracts[name]!.address);
      expect(mB.contracts[name]!.initCodeHash, name).toBe(mA.contracts[name]!.initCodeHash);
      // The address is the CREATE2 address of the recorded salt and init code hash.
      expect(getCreate2Address(CREATE2_FACTORY, mA.contracts[name]!.salt, mA.contracts[name]!.initCodeHash), name).toBe(mA.contracts[name]!.address);
      expect(mA.contracts[name]!.salt).toBe(contractSalt(DEFAULT_DEPLOY_SALT, name));
      expect(keccak256(await a.provider.getCode(mA.contracts[name]!.address))).toBe(mA.contracts[name]!.codeHash);
    }
    expect([onB.registry, onB.oracle, onB.resolver, onB.fraudGame, onB.zkResolver, onB.subscriptions, onB.chained, onB.redundant]).toEqual([onA.registry, onA.oracle, onA.resolver, onA.fraudGame, onA.zkResolver, onA.subscriptions, onA.chained, onA.redundant]);
    // The oracle's code embeds its EIP-712 domain (chain id), so its code hash is per chain; a library's is not.
    expect(mB.contracts.InferenceOracle!.codeHash).not.toBe(mA.contracts.InferenceOracle!.codeHash);
    expect(mB.contracts.OracleParams!.codeHash).toBe(mA.contracts.OracleParams!.codeHash);
    // Owner and admin are the configured admin on both chains.
    for (const c of [a, b]) {
      expect(await InferenceOracle__factory.connect(onA.oracle, c.provider).owner()).toBe(c.admin.address);
      const registry = ModelRegistry__factory.connect(onA.registry, c.provider);
      expect(await registry.admin()).toBe(c.admin.address);
      expect(await registry.isApprovedResolver(onA.fraudGame!)).toBe(true);
      expect(await registry.isApprovedResolver(onA.resolver!)).toBe(true);
    }
  });

  it("a second run with the same salt reuses every contract and sends no transaction", async () => {
    const before = await a.provider.getBlockNumber();
    const nonce = await a.provider.getTransactionCount(a.deployer.address);
    const again = await deployContracts(a.deployer, config(a.admin.address), quiet, undefined, { previous: onA.manifest! });
    expect(again.factoryInstall).toBe("present");
    expect(again.reused!.sort()).toEqual(Object.keys(onA.manifest!.contracts).sort());
    expect(again.manifest!.contracts).toEqual(onA.manifest!.contracts);
    expect(again.deployBlock).toBe(onA.deployBlock);
    expect(await a.provider.getBlockNumber()).toBe(before);
    expect(await a.provider.getTransactionCount(a.deployer.address)).toBe(nonce);
  });

  it("another salt gives other addresses on the same chain", async () => {
    const other = await deployContracts(a.deployer, config(a.admin.address, { fraudGame: false }), quiet, undefined, { salt: parseSalt("another deployment") });
    expect(other.oracle).not.toBe(onA.oracle);
    expect(other.registry).not.toBe(onA.registry);
    expect(other.manifest!.salt).toBe(parseSalt("another deployment"));
  }, 300_000);

  it("refuses, before sending anything, a run whose init code differs from the manifest's under the same salt", async () => {
    const nonce = await a.provider.getTransactionCount(a.deployer.address);
    const error = await deployContracts(a.deployer, config(a.admin.address, { params: { challengeWindow: 901 } }), quiet, undefined, { previous: onA.manifest! }).catch((e: unknown) => e);
    expect(isError(error, "DEPLOYMENT_MISMATCH")).toBe(true);
    expect((error as Error).message).toMatch(/InferenceOracle/);
    expect(await a.provider.getTransactionCount(a.deployer.address)).toBe(nonce);
  });

  it("refuses to reuse a contract whose code hash differs from the manifest's", async () => {
    const tampered: DeploymentManifest = structuredClone(onA.manifest!);
    tampered.contracts.ModelRegistry!.codeHash = keccak256("0x00");
    const error = await deployContracts(a.deployer, config(a.admin.address), quiet, undefined, { previous: tampered }).catch((e: unknown) => e);
    expect(isError(error, "DEPLOYMENT_MISMATCH")).toBe(true);
    expect((error as Error).message).toMatch(/ModelRegistry.*code hash/);
  });

  it("verifyManifest: every contract matches; a tampered record or another chain's manifest does not", async () => {
    const checks = await verifyManifest(a.provider, onA.manifest!);
    expect(checks.length).toBe(17);
    expect(checks.every((c) => c.ok)).toBe(true);
    const tampered: DeploymentManifest = structuredClone(onA.manifest!);
    tampered.contracts.InferenceOracle!.codeHash = onB.manifest!.contracts.InferenceOracle!.codeHash;
    const bad = (await verifyManifest(a.provider, tampered)).filter((c) => !c.ok);
    expect(bad.map((c) => c.name)).toEqual(["InferenceOracle"]);
    await expect(verifyManifest(a.provider, onB.manifest!)).rejects.toThrow(/chain 4242/);
  });

  it("the SDK connects from a manifest folder for the runner's chain and refuses a manifest whose oracle code differs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "oracle-manifests-"));
    await writeManifest(dir, onA.manifest!);
    await writeManifest(dir, onB.manifest!);
    expect((await loadManifest(dir, 4242n))!.oracle).toBe(onB.oracle);
    const client = await OracleClient.fromManifest({ runner: a.provider, manifest: dir });
    expect(await client.oracle.getAddress()).toBe(onA.oracle);
    expect(await client.registry.getAddress()).toBe(onA.registry);
    // A manifest file's path works too.
    expect(await (await OracleClient.fromManifest({ runner: b.provider, manifest: join(dir, "4242.json") })).oracle.getAddress()).toBe(onB.oracle);
    // The chain-4242 manifest given for chain 31337: refused.
    await expect(OracleClient.fromManifest({ runner: a.provider, manifest: onB.manifest! })).rejects.toThrow(/chain 4242/);
    // A manifest file for chain 31337 that records the other chain's oracle code: refused.
    const wrong: DeploymentManifest = structuredClone(onA.manifest!);
    wrong.contracts.InferenceOracle!.codeHash = onB.manifest!.contracts.InferenceOracle!.codeHash;
    await expect(OracleClient.fromManifest({ runner: a.provider, manifest: wrong })).rejects.toThrow(/not the contract the manifest records/);
    // A malformed manifest file: CONFIG_INVALID naming the field.
    writeFileSync(join(dir, "31337.json"), JSON.stringify({ ...onA.manifest!, oracle: "nope" }));
    await expect(OracleClient.fromManifest({ runner: a.provider, manifest: dir })).rejects.toThrow(/oracle: expected an address/);
    expect(JSON.parse(readFileSync(join(dir, "4242.json"), "utf8")).salt).toBe(DEFAULT_DEPLOY_SALT);
  });
});
