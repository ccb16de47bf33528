/**
 * Attacks on deterministic deployments (protocol/create2.ts, cli/deploy.ts deployContracts). The CREATE2
 * address is keccak256(0xff ++ factory ++ salt ++ keccak256(initCode)): it commits to the whole init code, and
 * the init code names the owners (the registry's first admin is the deployer, the oracle's owner the
 * configured admin) and every parameter. So:
 * - a front-runner who uses our salt with another owner or other params lands on another address (and our
 *   deployment still lands on its own, owned by us);
 * - a front-runner who deploys our exact init code first only pays our gas: the contract is ours (owner and
 *   admin are in its init code) and our deployment reuses it;
 * - someone who runs the whole deployment with our salt and their own admin gets other addresses for every
 *   contract that holds state or roles (only the stateless libraries are shared);
 * - a chain whose factory address holds other code is refused, and nothing is deployed;
 * - funds: the deployment moves no ETH but the gas money of the keyless factory transaction;
 * - the same oracle address on two chains opens no replay: request ids and the EIP-712 domain bind the chain
 *   id, so a worker's signed result on one chain is refused on the other.
 * Real EVM (in-process chains with distinct chain ids), real deployment code.
 */
import { network } from "hardhat";
import { concat, getAddress, keccak256, type Signer } from "ethers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  deployContracts,
  loadDeployConfig,
  type DeployResult,
  CREATE2_FACTORY,
  CREATE2_FACTORY_COST,
  CREATE2_FACTORY_DEPLOYER,
  DEFAULT_DEPLOY_SALT,
  contractSalt,
  create2Address,
  ensureCreate2Factory,
  deployOracleLibraries,
  inferenceOracleFactory,
  isError,
  oracleDomain,
  packBatch,
} from "../../protocol/index.js";
import { Progress } from "../../cli/common.js";
import { InferenceOracle__factory, ModelRegistry__factory } from "../../types/ethers-contracts/index.js";
import { expectRevert, FEE, MODEL_HASH, modelInfo, requestParams, signerWallet, submission, type Fx } from "../contracts/helpers.js";

const quiet = new Progress(true);
const config = (admin: string) => loadDeployConfig({ admin, params: { challengeWindow: 900 } });

async function chain(chainId: number) {
  const connection = await network.create({ override: { chainId } });
  const [deployer, admin, attacker] = await connection.ethers.getSigners();
  return { provider: connection.ethers.provider, deployer: deployer!, admin: admin!, attacker: attacker! };
}

/** Sends `initCode` through the factory under `salt` as `from`; returns where the factory put it. */
async function viaFactory(from: Signer, name: string, initCode: string): Promise<string> {
  const salt = contractSalt(DEFAULT_DEPLOY_SALT, name);
  await (await from.sendTransaction({ to: CREATE2_FACTORY, data: concat([salt, initCode]) })).wait();
  return create2Address(salt, initCode);
}

describe("attack: front-running a deterministic deployment", () => {
  // The honest deployment on a reference chain: where every contract must land on any chain.
  let reference: DeployResult;
  beforeAll(async () => {
    const ref = await chain(5151);
    reference = await deployContracts(ref.deployer, config(ref.admin.address), quiet);
  }, 600_000);

  it("test_frontRun_sameSaltOtherOwner_landsElsewhere_ourDeploymentStaysOurs", async () => {
    const c = await chain(6161);
    await ensureCreate2Factory(c.attacker);
    // The attacker deploys the registry and the oracle under our salts, with itself as admin and owner.
    const fakeRegistry = await viaFactory(c.attacker, "ModelRegistry", (await new ModelRegistry__factory(c.attacker).getDeployTransaction(c.attacker.address)).data);
    // (The oracle's stateless libraries first, under our salts: its constructor calls one.)
    const libraries = await deployOracleLibraries(c.attacker, { salt: DEFAULT_DEPLOY_SALT, placed: [] });
    const fakeOracleInit = (await inferenceOracleFactory(c.attacker, libraries).getDeployTransaction(reference.registry, c.attacker.address, config(c.admin.address).params)).data;
    const fakeOracle = await viaFactory(c.attacker, "InferenceOracle", fakeOracleInit);
    expect(fakeRegistry).not.toBe(reference.registry);
    expect(fakeOracle).not.toBe(reference.oracle);
    expect(await InferenceOracle__factory.connect(fakeOracle, c.provider).owner()).toBe(c.attacker.address);
    // Our deployment is unaffected: the reference addresses, our owner and admin, the attacker nowhere.
    const ours = await deployContracts(c.deployer, config(c.admin.address), quiet);
    expect([ours.registry, ours.oracle, ours.fraudGame]).toEqual([reference.registry, reference.oracle, reference.fraudGame]);
    expect(ours.reused!.sort()).toEqual(["DisputeBook", "OracleParams", "OracleRejections", "OracleRequests", "OracleStaking", "TokenFees"]);
    expect(await InferenceOracle__factory.connect(ours.oracle, c.provider).owner()).toBe(c.admin.address);
    expect(await ModelRegistry__factory.connect(ours.registry, c.provider).admin()).toBe(c.admin.address);
    expect(await InferenceOracle__factory.connect(ours.oracle, c.provider).registry()).toBe(ours.registry);
  }, 300_000);

  it("test_frontRun_ourExactInitCode_isReused_ownershipStaysOurs_replayReverts", async () => {
    const c = await chain(7171);
    await ensureCreate2Factory(c.attacker);
    // The attacker copies our exact init code (our deployer as the registry's admin, our admin as owner).
    const registryInit = (await new ModelRegistry__factory(c.attacker).getDeployTransaction(c.deployer.address)).data;
    expect(await viaFactory(c.attacker, "ModelRegistry", registryInit)).toBe(reference.registry);
    const ours = await deployContracts(c.deployer, config(c.admin.address), quiet);
    expect(ours.registry).toBe(reference.registry);
    expect(ours.oracle).toBe(reference.oracle);
    expect(ours.reused).toEqual(["ModelRegistry"]);
    const registry = ModelRegistry__factory.connect(ours.registry, c.provider);
    expect(await registry.admin()).toBe(c.admin.address);
    expect(await registry.isApprovedResolver(ours.fraudGame!)).toBe(true);
    // The attacker holds no role: it cannot approve a resolver of its own.
    await expect(registry.connect(c.attacker).setResolverApproval(c.attacker.address, true)).rejects.toThrow();
    // Replaying the same salt and init code through the factory reverts (CREATE2 collision): nothing changes.
    const codeBefore = keccak256(await c.provider.getCode(ours.oracle));
    const replay = async () => (await c.attacker.sendTransaction({ to: CREATE2_FACTORY, data: concat([contractSalt(DEFAULT_DEPLOY_SALT, "ModelRegistry"), registryInit]), gasLimit: 3_000_000 })).wait();
    await expect(replay()).rejects.toThrow();
    expect(keccak256(await c.provider.getCode(ours.oracle))).toBe(codeBefore);
  }, 300_000);

  it("test_deployFirstWithOwnAdmin_sameSalt_everyStatefulContractElsewhere", async () => {
    const c = await chain(8181);
    // The attacker runs the whole deployment first, with our salt and config but itself as deployer and admin.
    const theirs = await deployContracts(c.attacker, config(c.attacker.address), quiet);
    const ours = await deployContracts(c.deployer, config(c.admin.address), quiet);
    expect([ours.registry, ours.oracle, ours.fraudGame]).toEqual([reference.registry, reference.oracle, reference.fraudGame]);
    for (const name of ["ModelRegistry", "InferenceOracle", "FraudGame"]) {
      expect(theirs.manifest!.contracts[name]!.address, name).not.toBe(ours.manifest!.contracts[name]!.address);
    }
    // Only the stateless, ownerless libraries (and the step verifier) are shared: reused, not redeployed.
    expect(ours.reused!.sort()).toEqual(["DisputeBook", "OracleParams", "OracleRejections", "OracleRequests", "OracleStaking", "StepIndex", "StepMaps", "StepVerifier", "TokenFees"]);
    expect(await InferenceOracle__factory.connect(ours.oracle, c.provider).owner()).toBe(c.admin.address);
    expect(await ModelRegistry__factory.connect(ours.registry, c.provider).admin()).toBe(c.admin.address);
  }, 300_000);

  it("test_fakeFactoryCode_refused_nothingDeployed", async () => {
    const c = await chain(9191);
    // A chain whose factory address holds other code (here: code that accepts anything and creates nothing).
    await c.provider.send("hardhat_setCode", [CREATE2_FACTORY, "0x00"]);
    const nonce = await c.provider.getTransactionCount(c.deployer.address);
    const error = await deployContracts(c.deployer, config(c.admin.address), quiet).catch((e: unknown) => e);
    expect(isError(error, "DEPLOYMENT_MISMATCH")).toBe(true);
    expect((error as Error).message).toMatch(/not Arachnid's deterministic deployment proxy/);
    expect(await c.provider.getTransactionCount(c.deployer.address)).toBe(nonce);
    expect(await c.provider.getCode(reference.oracle)).toBe("0x");
  });

  it("test_spentKeylessNonce_devChainFallsBackToSetCode_sameAddresses", async () => {
    const c = await chain(9292);
    // The keyless deployer's nonce 0 is gone (its presigned transaction can never run here): a development
    // chain gets the proxy's code set directly, and the same addresses follow.
    await c.provider.send("hardhat_setNonce", [CREATE2_FACTORY_DEPLOYER, "0x1"]);
    const ours = await deployContracts(c.deployer, config(c.admin.address), quiet);
    expect(ours.factoryInstall).toBe("setCode");
    expect(ours.oracle).toBe(reference.oracle);
  }, 300_000);

  it("test_conservation_deploymentMovesOnlyGasAndTheKeylessGasMoney", async () => {
    const c = await chain(9393);
    const start = await c.provider.getBlockNumber();
    const before = await c.provider.getBalance(c.deployer.address);
    const ours = await deployContracts(c.deployer, config(c.admin.address), quiet);
    expect(ours.factoryInstall).toBe("presigned");
    const end = await c.provider.getBlockNumber();
    let fees = 0n;
    let keylessFee = 0n;
    for (let n = start + 1; n <= end; n++) {
      const block = await c.provider.getBlock(n, true);
      for (const tx of block!.prefetchedTransactions) {
        const receipt = (await c.provider.getTransactionReceipt(tx.hash))!;
        const fee = receipt.gasUsed * receipt.gasPrice;
        if (getAddress(tx.from) === c.deployer.address) fees += fee;
        else if (tx.from.toLowerCase() === CREATE2_FACTORY_DEPLOYER) keylessFee += fee;
        else throw new Error(`unexpected sender ${tx.from}`);
      }
    }
    const after = await c.provider.getBalance(c.deployer.address);
    const keylessLeft = await c.provider.getBalance(CREATE2_FACTORY_DEPLOYER);
    // The deployer paid its own gas and exactly the factory's gas money; the keyless account spent part of it
    // on gas and keeps the rest; no contract holds any ETH.
    expect(before - after).toBe(fees + CREATE2_FACTORY_COST);
    expect(keylessFee + keylessLeft).toBe(CREATE2_FACTORY_COST);
    for (const r of Object.values(ours.manifest!.contracts)) expect(await c.provider.getBalance(r.address)).toBe(0n);
  }, 300_000);

  it("test_sameOracleAddressOnTwoChains_workerResultReplayedAcrossChains_refused", async () => {
    const worker = signerWallet(1);
    const sides = [];
    for (const chainId of [5353, 5454]) {
      const connection = await network.create({ override: { chainId } });
      const [deployer, modelOwner, requester, relayer, , arbiter, operator] = await connection.ethers.getSigners();
      const d = await deployContracts(deployer!, loadDeployConfig({ arbiter: arbiter!.address }), quiet);
      const registry = ModelRegistry__factory.connect(d.registry, modelOwner!);
      await (await registry.registerModel(MODEL_HASH, modelInfo({ owner: modelOwner!.address, tiers: 0b011, resolver: d.resolver! }) as never)).wait();
      const oracle = InferenceOracle__factory.connect(d.oracle, requester!);
      await (await oracle.connect(operator!).registerWorker(worker.address, { value: 2n * 10n ** 18n })).wait();
      const fx = { ethers: connection.ethers, relayer: relayer!, domain: oracleDomain(BigInt(chainId), d.oracle) } as unknown as Fx;
      // The same request on both chains (same requester, sequence, model, input).
      const receipt = (await (await oracle.requestInference(await requestParams(fx, { tier: 0 }), { value: FEE })).wait())!;
      const id = oracle.interface.parseLog(receipt.logs.find((l) => l.address === d.oracle)!)!.args.requestId as string;
      sides.push({ d, oracle, relayer: relayer!, fx, id });
    }
    const [x, y] = sides as [(typeof sides)[number], (typeof sides)[number]];
    expect(y.d.oracle).toBe(x.d.oracle);
    expect(y.id).not.toBe(x.id); // request ids commit to block.chainid
    // The worker's signed result for chain X, replayed on chain Y: as is, and re-pointed at Y's request.
    const signedForX = await submission(x.fx, x.id, worker);
    await expectRevert(y.oracle.connect(y.relayer).submitBatch(...packBatch(signedForX)), y.oracle, "OracleUnknownSigner");
    const repointed = { ...signedForX, items: signedForX.items.map((i) => ({ ...i, requestId: y.id })) };
    await expectRevert(y.oracle.connect(y.relayer).submitBatch(...packBatch(repointed)), y.oracle, "OracleUnknownSigner");
    // Signed over Y's request id but in X's domain (the same verifyingContract, only the chain id differs): refused.
    const crossDomain = await submission(y.fx, y.id, worker, { domain: x.fx.domain });
    await expectRevert(y.oracle.connect(y.relayer).submitBatch(...packBatch(crossDomain)), y.oracle, "OracleUnknownSigner");
    expect(Number((await y.oracle.getRequest(y.id)).status)).toBe(1); // still Requested
    // Where it belongs it is accepted.
    await (await x.oracle.connect(x.relayer).submitBatch(...packBatch(signedForX))).wait();
    expect(Number((await x.oracle.getRequest(x.id)).status)).toBe(4); // Fulfilled (NONE tier)
  }, 300_000);
});
