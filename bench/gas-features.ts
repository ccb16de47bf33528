/**
 * The feature sections of `npm run bench` (bench/gas.ts), each on the core section's chain: subscriptions,
 * chained requests, large outputs, redundancy and ERC-20 fees (docs/FEATURES.md).
 */
import { Wallet, ZeroHash, parseEther } from "ethers";
import { Tier, encodeTensor, hashEncoded, packBatch, type Hex, sizeProof, signPermit, encodePermit } from "../protocol/index.js";
import {
  ChainedDigitDApp__factory,
  ChainedInference__factory,
  InferenceSubscriptions__factory,
  LargeOutputDApp__factory,
  PeriodicTextDirectionDApp__factory,
  RedundantClassifierDApp__factory,
  RedundantInference__factory,
  TestPermitToken__factory,
} from "../types/ethers-contracts/index.js";
import { DEFAULT_PARAMS, REQUEST_FEE } from "../stack/local-stack.js";
import type { GasContext, GasSection } from "./gas-context.js";

/** The id of the request a receipt's InferenceRequested event names (the first one). */
function requestIdOf(ctx: GasContext, receipt: { logs: readonly { topics: readonly string[]; data: string }[] }): string {
  return String(receipt.logs.map((l) => ctx.oracle.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested")!.args.requestId);
}

/**
 * Subscriptions: one round = the keeper's trigger (the oracle request made by the subscriptions
 * contract) + the NONE-tier result, forwarded by it to the subscriber's consumer.
 */
export const subscriptionsSection: GasSection = {
  name: "subscriptions",
  async run(ctx) {
    const { oracleAddress, modelHash } = ctx;
    const { relayer, user } = ctx.accounts;
    const subs = await new InferenceSubscriptions__factory(user).deploy(oracleAddress);
    const subsAddress = await subs.getAddress();
    const periodic = await new PeriodicTextDirectionDApp__factory(user).deploy(subsAddress, ("0x" + "ab".repeat(32)) as Hex, "http://blobs.example/feed");
    const subRound = async (fromConsumer: boolean) => {
      const p = {
        modelHash, tier: Tier.NONE, consumer: await periodic.getAddress(), interval: 60, intervalIsBlocks: false, maxDeliveries: 2,
        perDeliveryFee: REQUEST_FEE, keeperReward: parseEther("0.0001"), callbackGasLimit: 150_000, deliveryWindow: 3600,
        inputFromConsumer: fromConsumer, inputHash: fromConsumer ? ZeroHash : ("0x" + "cd".repeat(32)) as Hex, inputURI: fromConsumer ? "" : "http://blobs.example/fixed",
      };
      const sub = (await (await subs.subscribe(p, { value: 2n * (p.perDeliveryFee + p.keeperReward) })).wait())!;
      const subId = subs.interface.parseLog(sub.logs.find((l) => l.address === subsAddress)!)!.args.subId as bigint;
      const trig = (await (await subs.connect(relayer).trigger(subId)).wait())!;
      const id = requestIdOf(ctx, trig);
      const deliver = (await (await ctx.oracle.connect(relayer).submitBatch(...packBatch(await ctx.batchOf([{ id }], true)))).wait())!;
      return { trigger: trig.gasUsed, deliver: deliver.gasUsed };
    };
    const fixedRound = await subRound(false);
    const consumerRound = await subRound(true);
    ctx.add("subscription round: trigger, fixed input", fixedRound.trigger, 1, "keeper reward + the oracle request");
    ctx.add("subscription round: trigger, input from the consumer", consumerRound.trigger, 1, "plus the consumer's subscriptionInput view");
    ctx.add("subscription delivery: result + forward (NONE tier)", fixedRound.deliver, 1, "batch of one, incl. the consumer's callback");
    ctx.anchors.subscriptionGasPerDelivery = ctx.byStep("subscription round: trigger, fixed input") + ctx.byStep("subscription delivery: result + forward");
    ctx.lines.push(`subscription round (trigger + request + result + forwarded callback, NONE tier): ${ctx.anchors.subscriptionGasPerDelivery} gas`);
  },
};

/**
 * Chained requests (contracts/chained/ChainedInference.sol): a two-step NONE chain through the example
 * ChainedDigitDApp, picture float32 [1,1,28,28] inline -> int8 [1,7,7] -> int8 [1,10] (registered I/O types
 * that chain; the gas does not depend on which ONNX files the hashes name).
 */
export const chainedSection: GasSection = {
  name: "chained",
  async run(ctx) {
    const { registry, resolver, oracleAddress, networkHelpers } = ctx;
    const { modelOwner, user } = ctx.accounts;
    const chainModel = async (tag: string, input: { dtype: number; shape: number[] }, out: { dtype: number; shape: number[] }) => {
      const hash = hashEncoded(encodeTensor({ dtype: "int8", shape: [1, tag.length], data: Int8Array.from(Buffer.from(tag)) }));
      const info = { owner: await modelOwner.getAddress(), fee: parseEther("0.002"), tiers: 0b011, active: true, resolver: await resolver.getAddress(), zkVerifier: "0x" + "00".repeat(20), commitmentRoot: "0x" + "00".repeat(32), input, output: out, uris: ["ipfs://m"] };
      await (await registry.connect(modelOwner).registerModel(hash, info)).wait();
      return hash;
    };
    const preHash = await chainModel("pre", { dtype: 1, shape: [1, 1, 28, 28] }, { dtype: 3, shape: [1, 7, 7] });
    const mlpHash = await chainModel("mlp", { dtype: 3, shape: [1, 7, 7] }, { dtype: 3, shape: [1, 10] });
    const chainedAddr = await (await new ChainedInference__factory(user).deploy(oracleAddress)).getAddress();
    const chainedC = ChainedInference__factory.connect(chainedAddr, user);
    const chainDapp = await new ChainedDigitDApp__factory(user).deploy(chainedAddr, preHash, mlpHash, Tier.NONE);
    const picture = encodeTensor({ dtype: "float32", shape: [1, 1, 28, 28], data: new Float32Array(784).fill(0.5) });
    const small = encodeTensor({ dtype: "int8", shape: [1, 7, 7], data: new Int8Array(49).fill(9) });
    const logits = encodeTensor({ dtype: "int8", shape: [1, 10], data: Int8Array.from([0, 1, 2, 3, 4, 5, 6, 70, 8, 9]) });
    const deliver = (id: string, out: Buffer) => ctx.submitOne(id, hashEncoded(out), `0x${out.toString("hex")}`);
    const chainFee = REQUEST_FEE;
    const chainReq = (await (await chainDapp.classify(picture, (await networkHelpers.time.latest()) + 3600, [chainFee, chainFee], "", { value: 2n * chainFee })).wait())!;
    ctx.add("chained: requestChain, 2 steps (dApp classify, 3.1 KB picture inline)", chainReq.gasUsed, 1, "checks every step, stores the steps, requests step 0");
    const chain1 = await chainedC.getChain(1n);
    const step0 = await deliver(chain1.requestId, small);
    ctx.add("chained: step 0 result + settlement (NONE, callback records output)", step0.gasUsed, 1, `callback gas limit ${await chainedC.STEP_CALLBACK_GAS()}`);
    const advanceReceipt = (await (await chainedC.advance(1n, small)).wait())!;
    ctx.add("chained: advance (requests step 1 with step 0's output inline)", advanceReceipt.gasUsed, 1, "output checked against its hash");
    const step1 = await deliver((await chainedC.getChain(1n)).requestId, logits);
    ctx.add("chained: step 1 result + settlement (NONE, consumer callback)", step1.gasUsed, 1, "incl. the dApp's onChainResult");
    const chainedSummary = {
      steps: 2,
      requestChain: Number(chainReq.gasUsed),
      perStep: [Number(step0.gasUsed), Number(step1.gasUsed)],
      advance: [Number(advanceReceipt.gasUsed)],
      wholeChain: Number(chainReq.gasUsed + step0.gasUsed + advanceReceipt.gasUsed + step1.gasUsed),
      chainOverhead: Number(chainReq.gasUsed + advanceReceipt.gasUsed),
    };
    ctx.summaries.chained = chainedSummary;
    ctx.lines.push(`chained, 2 NONE steps: whole chain ${chainedSummary.wholeChain} gas (requestChain ${chainedSummary.requestChain}, advance ${chainedSummary.advance[0]}, step deliveries ${chainedSummary.perStep.join(" + ")})`);
  },
};

/**
 * Large outputs: the same dApp (LargeOutputDApp, its callback keeps what it gets) served in NONE,
 * once with a 24-byte output inline (classify: the default threshold), once with a 16,408-byte det-like map as
 * its hash (detect: maxInlineOutput 1; the item carries the 78-byte size proof).
 */
export const largeOutputSection: GasSection = {
  name: "large outputs",
  async run(ctx) {
    const { oracleAddress, modelHash, networkHelpers } = ctx;
    const large = await new LargeOutputDApp__factory(ctx.accounts.user).deploy(oracleAddress, modelHash, modelHash, Tier.NONE, 200_000);
    const map = encodeTensor({ dtype: "float32", shape: [1, 1, 64, 64], data: new Float32Array(64 * 64).fill(0.5) });
    const deliverLarge = async (fn: "classify" | "detect", hash: string, field: string) => {
      const inputHash = ctx.nextInputHash();
      const deadline = (await networkHelpers.time.latest()) + 3600;
      const receipt = (await (await large[fn](inputHash, `http://blobs.example/${inputHash}`, deadline, { value: REQUEST_FEE })).wait())!;
      return (await ctx.submitOne(requestIdOf(ctx, receipt), hash, field)).gasUsed;
    };
    ctx.add("large outputs: NONE delivery, 24 B output inline", await deliverLarge("classify", ctx.outputHash, ctx.outputHex), 1, "LargeOutputDApp.classify; the callback stores the bytes");
    ctx.add("large outputs: NONE delivery, 16,408 B output as hash", await deliverLarge("detect", hashEncoded(map), sizeProof(map)), 1, "LargeOutputDApp.detect; 78-byte size proof, the bytes at /blobs/<hash>");
    ctx.anchors.largeOutputInline24B = ctx.byStep("large outputs: NONE delivery, 24 B");
    ctx.anchors.largeOutputHashOnly16KB = ctx.byStep("large outputs: NONE delivery, 16,408 B");
  },
};

/**
 * Redundancy (docs/FEATURES.md, "Redundancy"): a k = 2 job through RedundantClassifierDApp, its two OPTIMISTIC
 * requests answered by two distinct workers (a second operator registered here), settled after the window,
 * each answer's worker attested from its leaf proof, the agreed output pushed to the dApp.
 */
export const redundancySection: GasSection = {
  name: "redundancy",
  async run(ctx) {
    const { oracle, oracleAddress, modelHash, networkHelpers, outputHash, outputHex, named } = ctx;
    const { relayer, user } = ctx.accounts;
    const signer2 = Wallet.createRandom();
    await (await oracle.connect(ctx.signers[6]!).registerWorker(signer2.address, { value: parseEther("100") })).wait();
    const redundant = await new RedundantInference__factory(user).deploy(oracleAddress);
    const rDapp = await new RedundantClassifierDApp__factory(user).deploy(await redundant.getAddress(), modelHash);
    const rInput = ctx.nextInputHash();
    const rDeadline = (await networkHelpers.time.latest()) + 3600;
    const rReq = (await (await rDapp.classify(rInput, "0x", `http://blobs.example/${rInput}`, 2, 0, REQUEST_FEE, rDeadline, { value: 2n * REQUEST_FEE })).wait())!;
    const rIds = rReq.logs.map((l) => oracle.interface.parseLog(l)).filter((e) => e?.name === "InferenceRequested").map((e) => String(e!.args.requestId));
    const rSubmit: bigint[] = [];
    for (const [i, w] of [ctx.signer, signer2].entries()) {
      const rc = await ctx.submitOne(rIds[i]!, outputHash, outputHex, w);
      ctx.keepProofs(rc, [rIds[i]!]);
      rSubmit.push(rc.gasUsed);
    }
    await networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    const rSettle: bigint[] = [];
    for (const id of rIds) rSettle.push((await (await oracle.connect(relayer).settle({ requestId: id, ...named(id), output: outputHex })).wait())!.gasUsed);
    const rAttest: bigint[] = [];
    for (const id of rIds) rAttest.push((await (await redundant.connect(relayer).attest(id, named(id).record, named(id).proof)).wait())!.gasUsed);
    const rDeliver = (await (await redundant.connect(relayer).deliver(1n, outputHex)).wait())!.gasUsed;
    ctx.add("redundancy: request k=2 (dApp classify, URI input)", rReq.gasUsed, 1, "two oracle requests, job record");
    ctx.add("redundancy: answer settlement (OPTIMISTIC, callback records it)", rSettle[0]!, 1, "settle incl. the answer callback");
    ctx.add("redundancy: attest (leaf proof, worker counted)", rAttest[0]!, 1, "oracle state, attempt, isBatchRoot");
    ctx.add("redundancy: attest deciding (k-th, agreement)", rAttest[1]!, 1, "compares the k hashes");
    ctx.add("redundancy: deliver (push to the dApp, output stored)", rDeliver, 1, "RedundantClassifierDApp.onRedundantResult");
    const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);
    const redundancySummary = {
      k: 2,
      request: Number(rReq.gasUsed),
      submits: rSubmit.map(Number),
      settlements: rSettle.map(Number),
      attests: rAttest.map(Number),
      deliver: Number(rDeliver),
      wholeJob: Number(rReq.gasUsed + sum(rSubmit) + sum(rSettle) + sum(rAttest) + rDeliver),
      perDeliveryOverhead: Number(sum(rAttest) + rDeliver),
    };
    ctx.summaries.redundancy = redundancySummary;
    ctx.lines.push(`redundancy, k = 2 OPTIMISTIC: whole job ${redundancySummary.wholeJob} gas; attests + delivery ${redundancySummary.perDeliveryOverhead} gas on top of the k ordinary requests`);
  },
};

/**
 * ERC-20 fees (docs/FEATURES.md, "ERC-20 fees"): the same request and delivery paid in a permit token, beside
 * the same ETH request (both from the user's account, no callback, so only the fee path differs).
 */
export const erc20Section: GasSection = {
  name: "ERC-20 fees",
  async run(ctx) {
    const { oracle, registry, oracleAddress, modelHash, networkHelpers } = ctx;
    const { modelOwner, relayer, user } = ctx.accounts;
    const token = await new TestPermitToken__factory(user).deploy();
    const tokenAddress = await token.getAddress();
    await (await token.mint(await user.getAddress(), 10n ** 24n)).wait();
    await (await registry.connect(modelOwner).setTokenTerms(modelHash, tokenAddress, { accepted: true, ownerFee: 10n ** 15n, minWorkerFee: 10n ** 15n })).wait();
    const direct = async (tier: Tier, how: "eth" | "approve" | "permit") => {
      const inputHash = ctx.nextInputHash();
      const params = { modelHash, inputHash, input: "0x", inputURI: `http://blobs.example/${inputHash}`, tier, callbackGasLimit: 0, deadline: (await networkHelpers.time.latest()) + 3600, maxInlineOutput: 0 };
      let permit = "0x";
      if (how === "approve") await (await token.connect(user).approve(oracleAddress, REQUEST_FEE)).wait();
      if (how === "permit") permit = encodePermit(await signPermit(user, tokenAddress, oracleAddress, REQUEST_FEE, BigInt(params.deadline)));
      const tx = how === "eth"
        ? await oracle.connect(user).requestInference(params, { value: REQUEST_FEE })
        : await oracle.connect(user).requestInferenceWithToken(params, tokenAddress, REQUEST_FEE, permit);
      const receipt = (await tx.wait())!;
      return { id: requestIdOf(ctx, receipt), gas: receipt.gasUsed };
    };
    await direct(Tier.NONE, "eth"); // warms the user's and the model's slots alike for both
    const ethDirect = await direct(Tier.NONE, "eth");
    ctx.add("request, ETH fee, direct (requestInference)", ethDirect.gas, 1, "baseline for the token rows");
    const tokenWarm = await direct(Tier.NONE, "approve");
    const tokenApproved = await direct(Tier.NONE, "approve");
    ctx.add("request, ERC-20 fee, direct (after approve)", tokenApproved.gas, 1, "token terms, transferFrom, balance check; the approve not counted");
    const tokenPermit = await direct(Tier.NONE, "permit");
    ctx.add("request, ERC-20 fee with EIP-2612 permit (one tx)", tokenPermit.gas, 1, "permit + transferFrom in the request");
    // The first token delivery makes the parties' token balances non-zero (as their wei balances are already).
    await (await oracle.connect(relayer).submitBatch(...packBatch(await ctx.batchOf([tokenWarm], false)))).wait();
    const ethNone = (await (await oracle.connect(relayer).submitBatch(...packBatch(await ctx.batchOf([ethDirect], false)))).wait())!;
    ctx.add("result + settlement, single (NONE, ETH fee, no callback)", ethNone.gasUsed, 1, "baseline for the token row");
    const tokenNone = (await (await oracle.connect(relayer).submitBatch(...packBatch(await ctx.batchOf([tokenApproved], false)))).wait())!;
    ctx.add("result + settlement, single (NONE, ERC-20 fee, no callback)", tokenNone.gasUsed, 1, "payout to (account, token) pull balances");
    const withdrawToken = (await (await oracle.connect(relayer).withdrawToken(tokenAddress)).wait())!;
    ctx.add("withdrawToken (relayer's token pull balance)", withdrawToken.gasUsed, 1, "SafeERC20 transfer");
    const { byStep } = ctx;
    ctx.anchors.erc20RequestExtraGas = byStep("request, ERC-20 fee, direct") - byStep("request, ETH fee, direct");
    ctx.anchors.erc20PermitRequestExtraGas = byStep("request, ERC-20 fee with EIP-2612 permit") - byStep("request, ETH fee, direct");
    ctx.anchors.erc20DeliveryExtraGas = byStep("result + settlement, single (NONE, ERC-20 fee") - byStep("result + settlement, single (NONE, ETH fee");
  },
};
