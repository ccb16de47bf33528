/**
 * `npm run bench` (after bench/gas.ts): gas of the token-paid feature paths (docs/FEATURES.md, "ERC-20 fees
 * across features") against their ETH twins, on the in-process EVM through the real contracts: a
 * subscription round (the keeper's trigger + the NONE-tier delivery, forwarded to a 150k-gas consumer) and
 * a two-step chain (request, each step's delivery, the advance), paid in ETH and in an EIP-2612 token.
 * Each figure is one measured transaction. Prints a table and writes bench/results/gas-token-paths.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { Wallet, ZeroAddress, parseEther, type Signer } from "ethers";
import { network } from "hardhat";
import { Tier, encodeTensor, hashEncoded, oracleDomain, packBatch, type Hex, signPermit, encodePermit, signResultBatch } from "../protocol/index.js";
import { ChainedInference__factory, InferenceSubscriptions__factory, PeriodicTextDirectionDApp__factory, TestPermitToken__factory } from "../types/ethers-contracts/index.js";
import { REQUEST_FEE, deployOracle } from "../stack/local-stack.js";

const TOKEN_FEE = 10n ** 16n;
const GWEI = 1_000_000_000n;

async function main(): Promise<void> {
  const { ethers, networkHelpers } = await network.create();
  const [admin, modelOwner, operator, relayer, user, arbiter] = (await ethers.getSigners()).slice(0, 6) as Signer[] as [Signer, Signer, Signer, Signer, Signer, Signer];
  const { oracle, modelHash, resolver, registry } = await deployOracle({ admin, modelOwner, arbiter });
  const oracleAddress = await oracle.getAddress();
  const signer = Wallet.createRandom();
  await (await oracle.connect(operator).registerWorker(signer.address, { value: parseEther("100") })).wait();
  const domain = oracleDomain((await ethers.provider.getNetwork()).chainId, oracleAddress);
  const token = await new TestPermitToken__factory(user).deploy();
  const tokenAddress = await token.getAddress();
  await (await token.mint(await user.getAddress(), 10n ** 24n)).wait();
  const acceptToken = async (hash: string) =>
    (await registry.connect(modelOwner).setTokenTerms(hash, tokenAddress, { accepted: true, ownerFee: 10n ** 15n, minWorkerFee: 10n ** 15n })).wait();
  await acceptToken(modelHash);
  const deliver = async (id: string, out: Buffer) => {
    const payee = await relayer.getAddress();
    const outputHash = hashEncoded(out);
    const signed = await signResultBatch(signer, domain, [{ requestId: id, outputHash }], payee);
    return (await (await oracle.connect(relayer).submitBatch(...packBatch({ payee, signature: signed.signature, items: [{ requestId: id, outputHash, output: `0x${out.toString("hex")}`, proof: "0x" }] }))).wait())!;
  };
  const requestIdOf = (logs: readonly { topics: readonly string[]; data: string }[]) =>
    String(logs.map((l) => { try { return oracle.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "InferenceRequested")!.args.requestId);
  const permitFor = async (spender: string, amount: bigint) => encodePermit(await signPermit(user, tokenAddress, spender, amount, BigInt(await networkHelpers.time.latest()) + 3600n));

  // Subscriptions: one round of a 2-round subscription, ETH vs token.
  const subs = await new InferenceSubscriptions__factory(user).deploy(oracleAddress);
  const subsAddress = await subs.getAddress();
  const periodic = await new PeriodicTextDirectionDApp__factory(user).deploy(subsAddress, ("0x" + "ab".repeat(32)) as Hex, "http://blobs.example/feed");
  const output = encodeTensor({ dtype: "float32", shape: [1, 2], data: new Float32Array([0.9, 0.1]) });
  const subRound = async (paidInToken: boolean) => {
    const p = {
      modelHash, tier: Tier.NONE, consumer: await periodic.getAddress(), interval: 60, intervalIsBlocks: false, maxDeliveries: 2,
      perDeliveryFee: paidInToken ? TOKEN_FEE : REQUEST_FEE, keeperReward: parseEther("0.0001"), callbackGasLimit: 150_000, deliveryWindow: 3600,
      inputFromConsumer: false, inputHash: ("0x" + "cd".repeat(32)) as Hex, inputURI: "http://blobs.example/fixed",
    };
    const callbackFee = (await subs.requestGasLimit(p.callbackGasLimit)) * 2n * GWEI;
    const sub = paidInToken
      ? (await (await subs.subscribeWithToken(p, tokenAddress, callbackFee, await permitFor(subsAddress, 2n * TOKEN_FEE), { value: 2n * (callbackFee + p.keeperReward) })).wait())!
      : (await (await subs.subscribe(p, { value: 2n * (p.perDeliveryFee + p.keeperReward) })).wait())!;
    const subId = subs.interface.parseLog(sub.logs.find((l) => l.address === subsAddress)!)!.args.subId as bigint;
    const trig = (await (await subs.connect(relayer).trigger(subId)).wait())!;
    const delivered = await deliver(requestIdOf(trig.logs), output);
    return { subscribe: Number(sub.gasUsed), trigger: Number(trig.gasUsed), deliver: Number(delivered.gasUsed), perRound: Number(trig.gasUsed + delivered.gasUsed) };
  };
  const subEth = await subRound(false);
  const subToken = await subRound(true);

  // Chains: pre float32 [1,1,28,28] -> int8 [1,7,7] -> mlp int8 [1,10], NONE, no consumer push.
  const chainModel = async (tag: string, input: { dtype: number; shape: number[] }, out: { dtype: number; shape: number[] }) => {
    const hash = hashEncoded(encodeTensor({ dtype: "int8", shape: [1, tag.length], data: Int8Array.from(Buffer.from(tag)) }));
    const info = { owner: await modelOwner.getAddress(), fee: parseEther("0.002"), tiers: 0b011, active: true, resolver: await resolver.getAddress(), zkVerifier: ZeroAddress, commitmentRoot: "0x" + "00".repeat(32), input, output: out, uris: ["ipfs://m"] };
    await (await registry.connect(modelOwner).registerModel(hash, info)).wait();
    await acceptToken(hash);
    return hash;
  };
  const preHash = await chainModel("pre", { dtype: 1, shape: [1, 1, 28, 28] }, { dtype: 3, shape: [1, 7, 7] });
  const mlpHash = await chainModel("mlp", { dtype: 3, shape: [1, 7, 7] }, { dtype: 3, shape: [1, 10] });
  const chained = await new ChainedInference__factory(user).deploy(oracleAddress);
  const chainedAddr = await chained.getAddress();
  const picture = encodeTensor({ dtype: "float32", shape: [1, 1, 28, 28], data: new Float32Array(784).fill(0.5) });
  const small = encodeTensor({ dtype: "int8", shape: [1, 7, 7], data: new Int8Array(49).fill(9) });
  const logits = encodeTensor({ dtype: "int8", shape: [1, 10], data: Int8Array.from([0, 1, 2, 3, 4, 5, 6, 70, 8, 9]) });
  const chainRun = async (paidInToken: boolean) => {
    const fee = paidInToken ? TOKEN_FEE : REQUEST_FEE;
    const req = {
      steps: [{ modelHash: preHash, tier: Tier.NONE, fee }, { modelHash: mlpHash, tier: Tier.NONE, fee }],
      inputHash: "0x" + "00".repeat(32), input: picture, inputURI: "", deadline: BigInt(await networkHelpers.time.latest()) + 3600n, consumerGas: 0, blobBaseURI: "",
    };
    const escrow = ((await chained.callbackGasOf(0, 2, 0)) + (await chained.callbackGasOf(1, 2, 0))) * 2n * GWEI;
    const r = paidInToken
      ? (await (await chained.requestChainWith(req, tokenAddress, await permitFor(chainedAddr, 2n * fee), { value: escrow })).wait())!
      : (await (await chained.requestChain(req, { value: 2n * fee })).wait())!;
    const chainId = await chained.chainCount();
    const step0 = await deliver(requestIdOf(r.logs), small);
    const adv = (await (await chained.advance(chainId, small)).wait())!;
    const step1 = await deliver(requestIdOf(adv.logs), logits);
    return {
      requestChain: Number(r.gasUsed), step0Delivery: Number(step0.gasUsed), advance: Number(adv.gasUsed), step1Delivery: Number(step1.gasUsed),
      perStep: Math.round(Number(r.gasUsed + step0.gasUsed + adv.gasUsed + step1.gasUsed) / 2),
    };
  };
  const chainEth = await chainRun(false);
  const chainToken = await chainRun(true);

  const result = {
    subscriptionRound: { eth: subEth, token: subToken, tokenExtraPerRound: subToken.perRound - subEth.perRound },
    chainedTwoSteps: { eth: chainEth, token: chainToken, tokenExtraPerStep: chainToken.perStep - chainEth.perStep },
  };
  const rows = [
    ["subscription: subscribe (2 rounds)", subEth.subscribe, subToken.subscribe],
    ["subscription round: trigger", subEth.trigger, subToken.trigger],
    ["subscription round: delivery (NONE, 150k consumer)", subEth.deliver, subToken.deliver],
    ["subscription: gas per delivered round", subEth.perRound, subToken.perRound],
    ["chain: request (2 steps, picture inline)", chainEth.requestChain, chainToken.requestChain],
    ["chain: step 0 delivery", chainEth.step0Delivery, chainToken.step0Delivery],
    ["chain: advance", chainEth.advance, chainToken.advance],
    ["chain: step 1 delivery", chainEth.step1Delivery, chainToken.step1Delivery],
    ["chain: gas per delivered step (all / 2)", chainEth.perStep, chainToken.perStep],
  ] as const;
  console.log("token-paid feature paths (gas; ETH | token)");
  for (const [what, e, t] of rows) console.log(`  ${what.padEnd(52)} ${String(e).padStart(9)} | ${String(t).padStart(9)}`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/gas-token-paths.json", JSON.stringify(result, null, 2) + "\n");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
