/**
 * `npm run bench`: on-chain cost of each step of a request, on the in-process EVM, through the
 * real contracts and the example dApp (a real consumer with a 200k-gas callback), with results
 * signed by a real worker key. Gas is deterministic for a given state (up to a few dozen gas from the signature bytes of the
 * fresh worker key), so each figure is one
 * measured transaction (per-item figures divide a batch's gas by its size). Compared with published
 * anchors: Ritual Infernet's 56.6k gas overhead per delivery and Chainlink Functions' 300k default
 * callback gas limit. Prints a table and writes bench/results/gas.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { Wallet, ZeroHash, parseEther } from "ethers";
import { network } from "hardhat";
import { Ruling, Tier, encodeTensor, hashEncoded, oracleDomain, type Hex } from "../protocol/index.js";
import { ChainedDigitDApp__factory, ChainedInference__factory, InferenceSubscriptions__factory, LargeOutputDApp__factory, PeriodicTextDirectionDApp__factory, RedundantClassifierDApp__factory, RedundantInference__factory, TestPermitToken__factory, TextDirectionDApp__factory } from "../types/ethers-contracts/index.js";
import { sizeProof } from "../protocol/largeOutput.js";
import { signPermit, encodePermit } from "../protocol/permit.js";
import { DEFAULT_PARAMS, REQUEST_FEE, deployOracle } from "../stack/local-stack.js";
import { proofFromLogs, signResultBatch, type LogLike, type ResultProof, packBatch } from "../protocol/batch.js";

const RITUAL_DELIVERY_OVERHEAD = 56_600;
const CHAINLINK_FUNCTIONS_CALLBACK_LIMIT = 300_000;

async function main(): Promise<void> {
  const { ethers, networkHelpers } = await network.create();
  const signers = await ethers.getSigners();
  const [admin, modelOwner, operator, relayer, user, arbiter] = [0, 1, 2, 3, 4, 5].map((i) => {
    const s = signers[i];
    if (s === undefined) throw new Error(`no account #${i}`);
    return s;
  }) as [typeof signers[number], typeof signers[number], typeof signers[number], typeof signers[number], typeof signers[number], typeof signers[number]];
  const { oracle, modelHash, resolver, registry } = await deployOracle({ admin, modelOwner, arbiter });
  const oracleAddress = await oracle.getAddress();
  const signer = Wallet.createRandom();
  await (await oracle.connect(operator).registerWorker(signer.address, { value: parseEther("100") })).wait();
  const dapps = {
    [Tier.OPTIMISTIC]: await new TextDirectionDApp__factory(user).deploy(oracleAddress, modelHash, Tier.OPTIMISTIC, 200_000),
    [Tier.NONE]: await new TextDirectionDApp__factory(user).deploy(oracleAddress, modelHash, Tier.NONE, 200_000),
  };
  // The same dApp asking for no callback (it reads results from events): isolates the oracle's own cost.
  const silentDapp = await new TextDirectionDApp__factory(user).deploy(oracleAddress, modelHash, Tier.OPTIMISTIC, 0);
  const domain = oracleDomain((await ethers.provider.getNetwork()).chainId, oracleAddress);
  const output = encodeTensor({ dtype: "float32", shape: [1, 2], data: new Float32Array([0.9, 0.1]) });
  const outputHash = hashEncoded(output);
  const outputHex = `0x${output.toString("hex")}`;
  let seq = 0;

  async function request(tier: Tier.OPTIMISTIC | Tier.NONE, dapp = dapps[tier]): Promise<{ id: string; inputHash: Hex; gas: bigint }> {
    const inputHash = ("0x" + (++seq).toString(16).padStart(64, "0")) as Hex;
    const deadline = (await networkHelpers.time.latest()) + 3600;
    const receipt = (await (await dapp.classify(inputHash, `http://blobs.example/${inputHash}`, deadline, { value: REQUEST_FEE })).wait())!;
    const event = receipt.logs.map((l) => oracle.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested")!;
    return { id: String(event.args.requestId), inputHash, gas: receipt.gasUsed };
  }

  /** One worker-signed ResultBatch over `reqs` (one signature for the batch), as the relayer submits it. */
  async function batchOf(reqs: { id: string }[], withOutput: boolean) {
    const payee = await relayer.getAddress();
    const signed = await signResultBatch(signer, domain, reqs.map((r) => ({ requestId: r.id, outputHash })), payee);
    return { payee, signature: signed.signature, items: reqs.map((r) => ({ requestId: r.id, outputHash, output: withOutput ? outputHex : "0x", proof: "0x" })) };
  }

  const rows: { step: string; gasPerItem: number; batch: number; note: string }[] = [];
  let breakdown: Record<string, number> = {};
  let otherByOpcode: Record<string, number> = {};
  const add = (step: string, gas: bigint, batch: number, note = "") => rows.push({ step, gasPerItem: Math.round(Number(gas) / batch), batch, note });

  // Requests.
  const first = await request(Tier.OPTIMISTIC);
  add("request (dApp classify -> requestInference, URI input)", first.gas, 1, "fee escrow, request record, event");

  // Results, OPTIMISTIC, single and batched; then their settlement.
  // Every OPTIMISTIC result is named later by its record and the Merkle proof of its leaf, rebuilt
  // from the submitting transaction's logs exactly as the relayer's settler does (protocol/batch.ts).
  const proofs = new Map<string, ResultProof>();
  const keepProofs = (receipt: { logs: readonly LogLike[] }, ids: string[]) => {
    for (const id of ids) proofs.set(id, proofFromLogs(receipt.logs, oracleAddress, id));
  };
  const single = (await (await oracle.connect(relayer).submitBatch(...packBatch(await batchOf([first], false)))).wait())!;
  add("result, single submitBatch x1 (OPTIMISTIC), first", single.gasUsed, 1, "signature check, bond lock, root = leaf");
  keepProofs(single, [first.id]);
  const submitted: { id: string; inputHash: Hex }[] = [first];
  for (const batch of [1, 8, 32, 128]) {
    const reqs = [];
    for (let i = 0; i < batch; i++) reqs.push(await request(Tier.OPTIMISTIC));
    const tx = await oracle.connect(relayer).submitBatch(...packBatch(await batchOf(reqs, false)));
    const receipt = (await tx.wait())!;
    add(`result, submitBatch x${batch} (OPTIMISTIC)`, receipt.gasUsed, batch, batch === 32 ? "one signature, one accepted root per batch" : "");
    if (batch === 32) ({ breakdown, otherExecutionByOpcode: otherByOpcode } = await itemize(ethers.provider, tx.hash, tx.data, receipt.gasUsed, batch));
    keepProofs(receipt, reqs.map((r) => r.id));
    submitted.push(...reqs);
  }
  const silent = [];
  for (let i = 0; i < 32; i++) silent.push(await request(Tier.OPTIMISTIC, silentDapp));
  const silentSubmit = (await (await oracle.connect(relayer).submitBatch(...packBatch(await batchOf(silent, false)))).wait())!;
  keepProofs(silentSubmit, silent.map((r) => r.id));
  // One silent result submitted alone, for the single settlement without callback.
  const silentOne = await request(Tier.OPTIMISTIC, silentDapp);
  keepProofs((await (await oracle.connect(relayer).submitBatch(...packBatch(await batchOf([silentOne], false)))).wait())!, [silentOne.id]);
  // One more batch of 32, kept for the challenge figure (challenged inside the window).
  const disputed = [];
  for (let i = 0; i < 32; i++) disputed.push(await request(Tier.OPTIMISTIC, silentDapp));
  const disputedSubmit = (await (await oracle.connect(relayer).submitBatch(...packBatch(await batchOf(disputed, false)))).wait())!;
  keepProofs(disputedSubmit, disputed.map((r) => r.id));
  const named = (id: string) => {
    const p = proofs.get(id)!;
    return { record: p.record, proof: p.proof };
  };
  const challengeReceipt = (await (await oracle.connect(user).challenge(disputed[5]!.id, named(disputed[5]!.id).record, named(disputed[5]!.id).proof, { value: DEFAULT_PARAMS.challengeBond })).wait())!;
  add("challenge (proof of a leaf in a batch of 32)", challengeReceipt.gasUsed, 1, "bond escrow, resolver hook, dispute record");
  // Open disputes (docs/OPTIMISTIC.md, "Open disputes and who gets what"): a second challenger joins,
  // the arbiter rules WorkerFault, one joiner claims its share.
  const disputedId = disputed[5]!.id;
  const joinReceipt = (await (await oracle.connect(relayer).challenge(disputedId, named(disputedId).record, named(disputedId).proof, { value: DEFAULT_PARAMS.challengeBond })).wait())!;
  add("join an open dispute (same leaf proof)", joinReceipt.gasUsed, 1, "bond escrow, joiner flag; no deadline moves");
  const ruleReceipt = (await (await resolver.connect(arbiter).rule(disputedId, Ruling.WorkerFault)).wait())!;
  add("ruling WorkerFault, 2 joiners (ArbiterResolver)", ruleReceipt.gasUsed, 1, "slash, burn, one share for every joiner, reopen: O(1) in joiners");
  const claimReceipt = (await (await oracle.connect(user).claimDispute(disputedId, 0)).wait())!;
  add("claimDispute (one joiner's share)", claimReceipt.gasUsed, 1, "credited to the pull balance");
  await networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
  const settleOne = (await (await oracle.connect(relayer).settle({ requestId: submitted[0]!.id, ...named(submitted[0]!.id), output: outputHex })).wait())!;
  add("settlement, single settle (payments + callback)", settleOne.gasUsed, 1, "callback decodes the output");
  const settleSilent = (await (await oracle.connect(relayer).settle({ requestId: silentOne.id, ...named(silentOne.id), output: "0x" })).wait())!;
  add("settlement, single settle, no callback", settleSilent.gasUsed, 1, "payments, bond release, root = leaf");
  let cursor = 1;
  for (const batch of [8, 32]) {
    const slice = submitted.slice(cursor, cursor + batch);
    cursor += batch;
    const settlements = slice.map((r) => ({ requestId: r.id, ...named(r.id), output: outputHex }));
    const receipt = (await (await oracle.connect(relayer).settleMany(settlements)).wait())!;
    add(`settlement, batched settleMany x${batch}`, receipt.gasUsed, batch);
  }

  const silentSettlements = silent.map((r) => ({ requestId: r.id, ...named(r.id), output: "0x" }));
  const silentReceipt = (await (await oracle.connect(relayer).settleMany(silentSettlements)).wait())!;
  add("settlement, batched settleMany x32, no callback", silentReceipt.gasUsed, 32, "the oracle's own cost: payments, bond release, proof");

  // NONE tier: result and settlement in one transaction.
  const none = await request(Tier.NONE);
  const noneReceipt = (await (await oracle.connect(relayer).submitBatch(...packBatch(await batchOf([none], true)))).wait())!;
  add("result + settlement, single (NONE tier, same tx)", noneReceipt.gasUsed, 1, "incl. callback");
  const noneBatch = [];
  for (let i = 0; i < 32; i++) noneBatch.push(await request(Tier.NONE));
  const noneBatchReceipt = (await (await oracle.connect(relayer).submitBatch(...packBatch(await batchOf(noneBatch, true)))).wait())!;
  add("result + settlement, batched x32 (NONE tier)", noneBatchReceipt.gasUsed, 32, "incl. callback");

  // Subscriptions (issue 18): one round = the keeper's trigger (the oracle request made by the
  // subscriptions contract) + the NONE-tier result, forwarded by it to the subscriber's consumer.
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
    const id = String(trig.logs.map((l) => oracle.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested")!.args.requestId);
    const deliver = (await (await oracle.connect(relayer).submitBatch(...packBatch(await batchOf([{ id }], true)))).wait())!;
    return { trigger: trig.gasUsed, deliver: deliver.gasUsed };
  };
  const fixedRound = await subRound(false);
  const consumerRound = await subRound(true);
  add("subscription round: trigger, fixed input", fixedRound.trigger, 1, "keeper reward + the oracle request");
  add("subscription round: trigger, input from the consumer", consumerRound.trigger, 1, "plus the consumer's subscriptionInput view");
  add("subscription delivery: result + forward (NONE tier)", fixedRound.deliver, 1, "batch of one, incl. the consumer's callback");
  // Chained requests (contracts/chained/ChainedInference.sol): a two-step NONE chain through the example
  // ChainedDigitDApp, picture float32 [1,1,28,28] inline -> int8 [1,7,7] -> int8 [1,10] (registered I/O types
  // that chain; the gas does not depend on which ONNX files the hashes name).
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
  const deliver = async (id: string, out: Buffer) => {
    const payee = await relayer.getAddress();
    const signed = await signResultBatch(signer, domain, [{ requestId: id, outputHash: hashEncoded(out) }], payee);
    return (await (await oracle.connect(relayer).submitBatch(...packBatch({ payee, signature: signed.signature, items: [{ requestId: id, outputHash: hashEncoded(out), output: `0x${out.toString("hex")}`, proof: "0x" }] }))).wait())!;
  };
  const chainFee = REQUEST_FEE;
  const chainReq = (await (await chainDapp.classify(picture, (await networkHelpers.time.latest()) + 3600, [chainFee, chainFee], "", { value: 2n * chainFee })).wait())!;
  add("chained: requestChain, 2 steps (dApp classify, 3.1 KB picture inline)", chainReq.gasUsed, 1, "checks every step, stores the steps, requests step 0");
  const chain1 = await chainedC.getChain(1n);
  const step0 = await deliver(chain1.requestId, small);
  add("chained: step 0 result + settlement (NONE, callback records output)", step0.gasUsed, 1, `callback gas limit ${await chainedC.STEP_CALLBACK_GAS()}`);
  const advanceReceipt = (await (await chainedC.advance(1n, small)).wait())!;
  add("chained: advance (requests step 1 with step 0's output inline)", advanceReceipt.gasUsed, 1, "output checked against its hash");
  const step1 = await deliver((await chainedC.getChain(1n)).requestId, logits);
  add("chained: step 1 result + settlement (NONE, consumer callback)", step1.gasUsed, 1, "incl. the dApp's onChainResult");
  const chainedSummary = {
    steps: 2,
    requestChain: Number(chainReq.gasUsed),
    perStep: [Number(step0.gasUsed), Number(step1.gasUsed)],
    advance: [Number(advanceReceipt.gasUsed)],
    wholeChain: Number(chainReq.gasUsed + step0.gasUsed + advanceReceipt.gasUsed + step1.gasUsed),
    chainOverhead: Number(chainReq.gasUsed + advanceReceipt.gasUsed),
  };
  // Large outputs (issue 18): the same dApp (LargeOutputDApp, its callback keeps what it gets) served in
  // NONE, once with a 24-byte output inline (classify: the default threshold), once with a 16,408-byte
  // det-like map as its hash (detect: maxInlineOutput 1; the item carries the 78-byte size proof).
  const large = await new LargeOutputDApp__factory(user).deploy(oracleAddress, modelHash, modelHash, Tier.NONE, 200_000);
  const map = encodeTensor({ dtype: "float32", shape: [1, 1, 64, 64], data: new Float32Array(64 * 64).fill(0.5) });
  const deliverLarge = async (fn: "classify" | "detect", hash: string, field: string) => {
    const inputHash = ("0x" + (++seq).toString(16).padStart(64, "0")) as Hex;
    const deadline = (await networkHelpers.time.latest()) + 3600;
    const receipt = (await (await large[fn](inputHash, `http://blobs.example/${inputHash}`, deadline, { value: REQUEST_FEE })).wait())!;
    const id = String(receipt.logs.map((l) => oracle.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested")!.args.requestId);
    const payee = await relayer.getAddress();
    const signed = await signResultBatch(signer, domain, [{ requestId: id, outputHash: hash }], payee);
    return (await (await oracle.connect(relayer).submitBatch(...packBatch({ payee, signature: signed.signature, items: [{ requestId: id, outputHash: hash, output: field, proof: "0x" }] }))).wait())!.gasUsed;
  };
  add("large outputs: NONE delivery, 24 B output inline", await deliverLarge("classify", outputHash, outputHex), 1, "LargeOutputDApp.classify; the callback stores the bytes");
  add("large outputs: NONE delivery, 16,408 B output as hash", await deliverLarge("detect", hashEncoded(map), sizeProof(map)), 1, "LargeOutputDApp.detect; 78-byte size proof, the bytes at /blobs/<hash>");
  // Redundancy (docs/FEATURES.md, "Redundancy"): a k = 2 job through RedundantClassifierDApp, its two
  // OPTIMISTIC requests answered by two distinct workers (a second operator registered here), settled after
  // the window, each answer's worker attested from its leaf proof, the agreed output pushed to the dApp.
  const signer2 = Wallet.createRandom();
  await (await oracle.connect(signers[6]!).registerWorker(signer2.address, { value: parseEther("100") })).wait();
  const redundant = await new RedundantInference__factory(user).deploy(oracleAddress);
  const rDapp = await new RedundantClassifierDApp__factory(user).deploy(await redundant.getAddress(), modelHash);
  const rInput = ("0x" + (++seq).toString(16).padStart(64, "0")) as Hex;
  const rDeadline = (await networkHelpers.time.latest()) + 3600;
  const rReq = (await (await rDapp.classify(rInput, "0x", `http://blobs.example/${rInput}`, 2, 0, REQUEST_FEE, rDeadline, { value: 2n * REQUEST_FEE })).wait())!;
  const rIds = rReq.logs.map((l) => oracle.interface.parseLog(l)).filter((e) => e?.name === "InferenceRequested").map((e) => String(e!.args.requestId));
  const rPayee = await relayer.getAddress();
  const rSubmit: bigint[] = [];
  for (const [i, w] of [signer, signer2].entries()) {
    const signed = await signResultBatch(w, domain, [{ requestId: rIds[i]!, outputHash }], rPayee);
    const rc = (await (await oracle.connect(relayer).submitBatch(...packBatch({ payee: rPayee, signature: signed.signature, items: [{ requestId: rIds[i]!, outputHash, output: outputHex, proof: "0x" }] }))).wait())!;
    keepProofs(rc, [rIds[i]!]);
    rSubmit.push(rc.gasUsed);
  }
  await networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
  const rSettle: bigint[] = [];
  for (const id of rIds) rSettle.push((await (await oracle.connect(relayer).settle({ requestId: id, ...named(id), output: outputHex })).wait())!.gasUsed);
  const rAttest: bigint[] = [];
  for (const id of rIds) rAttest.push((await (await redundant.connect(relayer).attest(id, named(id).record, named(id).proof)).wait())!.gasUsed);
  const rDeliver = (await (await redundant.connect(relayer).deliver(1n, outputHex)).wait())!.gasUsed;
  add("redundancy: request k=2 (dApp classify, URI input)", rReq.gasUsed, 1, "two oracle requests, job record");
  add("redundancy: answer settlement (OPTIMISTIC, callback records it)", rSettle[0]!, 1, "settle incl. the answer callback");
  add("redundancy: attest (leaf proof, worker counted)", rAttest[0]!, 1, "oracle state, attempt, isBatchRoot");
  add("redundancy: attest deciding (k-th, agreement)", rAttest[1]!, 1, "compares the k hashes");
  add("redundancy: deliver (push to the dApp, output stored)", rDeliver, 1, "RedundantClassifierDApp.onRedundantResult");
  const redundancySummary = {
    k: 2,
    request: Number(rReq.gasUsed),
    submits: rSubmit.map(Number),
    settlements: rSettle.map(Number),
    attests: rAttest.map(Number),
    deliver: Number(rDeliver),
    wholeJob: Number(rReq.gasUsed + rSubmit.reduce((a, b) => a + b, 0n) + rSettle.reduce((a, b) => a + b, 0n) + rAttest.reduce((a, b) => a + b, 0n) + rDeliver),
    perDeliveryOverhead: Number(rAttest.reduce((a, b) => a + b, 0n) + rDeliver),
  };
  // ERC-20 fees (docs/FEATURES.md, "ERC-20 fees"): the same request and delivery paid in a permit token,
  // beside the same ETH request (both from the user's account, no callback, so only the fee path differs).
  const token = await new TestPermitToken__factory(user).deploy();
  const tokenAddress = await token.getAddress();
  await (await token.mint(await user.getAddress(), 10n ** 24n)).wait();
  await (await registry.connect(modelOwner).setTokenTerms(modelHash, tokenAddress, { accepted: true, ownerFee: 10n ** 15n, minWorkerFee: 10n ** 15n })).wait();
  const direct = async (tier: Tier, how: "eth" | "approve" | "permit") => {
    const inputHash = ("0x" + (++seq).toString(16).padStart(64, "0")) as Hex;
    const params = { modelHash, inputHash, input: "0x", inputURI: `http://blobs.example/${inputHash}`, tier, callbackGasLimit: 0, deadline: (await networkHelpers.time.latest()) + 3600, maxInlineOutput: 0 };
    let permit = "0x";
    if (how === "approve") await (await token.connect(user).approve(oracleAddress, REQUEST_FEE)).wait();
    if (how === "permit") permit = encodePermit(await signPermit(user, tokenAddress, oracleAddress, REQUEST_FEE, BigInt(params.deadline)));
    const tx = how === "eth"
      ? await oracle.connect(user).requestInference(params, { value: REQUEST_FEE })
      : await oracle.connect(user).requestInferenceWithToken(params, tokenAddress, REQUEST_FEE, permit);
    const receipt = (await tx.wait())!;
    const event = receipt.logs.map((l) => oracle.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested")!;
    return { id: String(event.args.requestId), gas: receipt.gasUsed };
  };
  await direct(Tier.NONE, "eth"); // warms the user's and the model's slots alike for both
  const ethDirect = await direct(Tier.NONE, "eth");
  add("request, ETH fee, direct (requestInference)", ethDirect.gas, 1, "baseline for the token rows");
  const tokenWarm = await direct(Tier.NONE, "approve");
  const tokenApproved = await direct(Tier.NONE, "approve");
  add("request, ERC-20 fee, direct (after approve)", tokenApproved.gas, 1, "token terms, transferFrom, balance check; the approve not counted");
  const tokenPermit = await direct(Tier.NONE, "permit");
  add("request, ERC-20 fee with EIP-2612 permit (one tx)", tokenPermit.gas, 1, "permit + transferFrom in the request");
  // The first token delivery makes the parties' token balances non-zero (as their wei balances are already).
  await (await oracle.connect(relayer).submitBatch(...packBatch(await batchOf([tokenWarm], false)))).wait();
  const ethNone = (await (await oracle.connect(relayer).submitBatch(...packBatch(await batchOf([ethDirect], false)))).wait())!;
  add("result + settlement, single (NONE, ETH fee, no callback)", ethNone.gasUsed, 1, "baseline for the token row");
  const tokenNone = (await (await oracle.connect(relayer).submitBatch(...packBatch(await batchOf([tokenApproved], false)))).wait())!;
  add("result + settlement, single (NONE, ERC-20 fee, no callback)", tokenNone.gasUsed, 1, "payout to (account, token) pull balances");
  const withdrawToken = (await (await oracle.connect(relayer).withdrawToken(tokenAddress)).wait())!;
  add("withdrawToken (relayer's token pull balance)", withdrawToken.gasUsed, 1, "SafeERC20 transfer");

  const byStep = (prefix: string) => rows.find((r) => r.step.startsWith(prefix))!.gasPerItem;
  const delivery32 = byStep("result, submitBatch x32") + byStep("settlement, batched settleMany x32");
  const overhead32 = byStep("result, submitBatch x32") + byStep("settlement, batched settleMany x32, no callback");
  const summary = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, Node ${process.version}, in-process EVM (Hardhat EDR)`,
    rows,
    anchors: {
      ritualInfernetDeliveryOverhead: RITUAL_DELIVERY_OVERHEAD,
      chainlinkFunctionsCallbackLimit: CHAINLINK_FUNCTIONS_CALLBACK_LIMIT,
      optimisticResultPlusSettlementAt32: delivery32,
      optimisticOracleOverheadAt32: overhead32,
      noneTierDeliveryAt32: byStep("result + settlement, batched x32"),
      subscriptionGasPerDelivery: byStep("subscription round: trigger, fixed input") + byStep("subscription delivery: result + forward"),
      largeOutputInline24B: byStep("large outputs: NONE delivery, 24 B"),
      largeOutputHashOnly16KB: byStep("large outputs: NONE delivery, 16,408 B"),
      erc20RequestExtraGas: byStep("request, ERC-20 fee, direct") - byStep("request, ETH fee, direct"),
      erc20PermitRequestExtraGas: byStep("request, ERC-20 fee with EIP-2612 permit") - byStep("request, ETH fee, direct"),
      erc20DeliveryExtraGas: byStep("result + settlement, single (NONE, ERC-20 fee") - byStep("result + settlement, single (NONE, ETH fee"),
    },
    chained: chainedSummary,
    redundancy: redundancySummary,
    optimisticResultBreakdownAt32: breakdown,
    otherExecutionByOpcodeAt32: otherByOpcode,
  };

  const width = Math.max(...rows.map((r) => r.step.length));
  console.log(`${"step".padEnd(width)}  gas per item`);
  for (const r of rows) console.log(`${r.step.padEnd(width)}  ${String(r.gasPerItem).padStart(8)}${r.note ? `  (${r.note})` : ""}`);
  console.log(`\nOPTIMISTIC result + settlement at batch 32: ${delivery32} gas per request, incl. a real callback`);
  console.log(`OPTIMISTIC oracle overhead (no callback) at batch 32: ${overhead32} gas per request (${(overhead32 / RITUAL_DELIVERY_OVERHEAD).toFixed(2)}x Ritual Infernet's ${RITUAL_DELIVERY_OVERHEAD})`);
  const single1 = byStep("result, submitBatch x1 ");
  for (const n of [8, 32, 128]) {
    const g = byStep(`result, submitBatch x${n} `);
    console.log(`OPTIMISTIC result at batch ${n}: ${g} gas, ${(single1 / g).toFixed(2)}x cheaper than a batch of one (${single1}) in this run`);
  }
  console.log(`NONE tier, result + settlement at batch 32: ${summary.anchors.noneTierDeliveryAt32} gas per request, incl. a real callback`);
  console.log(`subscription round (trigger + request + result + forwarded callback, NONE tier): ${summary.anchors.subscriptionGasPerDelivery} gas`);
  console.log(`chained, 2 NONE steps: whole chain ${chainedSummary.wholeChain} gas (requestChain ${chainedSummary.requestChain}, advance ${chainedSummary.advance[0]}, step deliveries ${chainedSummary.perStep.join(" + ")})`);
  console.log(`redundancy, k = 2 OPTIMISTIC: whole job ${redundancySummary.wholeJob} gas; attests + delivery ${redundancySummary.perDeliveryOverhead} gas on top of the k ordinary requests`);
  console.log("\nwhere one OPTIMISTIC result's gas goes at batch 32 (traced opcode costs / 32):");
  for (const [k, v] of Object.entries(breakdown)) console.log(`  ${k.padEnd(58)} ${String(v).padStart(6)}`);
  console.log("  other execution by opcode (top 8, per result): " + Object.entries(otherByOpcode).map(([op, g]) => `${op} ${g}`).join(", "));
  console.log(`anchors: Ritual Infernet ${RITUAL_DELIVERY_OVERHEAD} gas overhead per delivery; Chainlink Functions callback limit ${CHAINLINK_FUNCTIONS_CALLBACK_LIMIT}`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/gas.json", JSON.stringify(summary, null, 2) + "\n");
  console.log("\nwritten: bench/results/gas.json");
}

/**
 * Itemizes one submitBatch transaction per result from its opcode trace: every opcode's own cost,
 * and for calls the gas actually spent across the call (the trace lists the gas handed over).
 */
async function itemize(provider: { send(method: string, params: unknown[]): Promise<any> }, hash: string, data: string, gasUsed: bigint, n: number) {
  const trace = await provider.send("debug_traceTransaction", [hash, { disableStorage: true, disableMemory: true, disableStack: true }]);
  const logs: { op: string; gas: number; gasCost: number; depth: number }[] = trace.structLogs;
  const sums: Record<string, number> = {};
  const bump = (k: string, v: number) => (sums[k] = (sums[k] ?? 0) + v);
  // What "other execution" is made of: gas per opcode (the ABI decoding, memory and control flow).
  const otherOps: Record<string, number> = {};
  let otherCount = 0;
  for (let i = 0; i < logs.length; i++) {
    const l = logs[i]!;
    let cost = l.gasCost;
    if (l.op === "STATICCALL" || l.op === "CALL") {
      const next = logs.slice(i + 1).find((x) => x.depth === l.depth);
      if (next !== undefined) cost = l.gas - next.gas;
    }
    const kind =
      l.op === "SLOAD" ? "storage reads (1 cold request slot + warm lookups)"
      : l.op === "SSTORE" ? "storage writes (request slot 3, bond lock / n, accepted root / n)"
      : l.op.startsWith("LOG") ? "events (ResultBatchSubmitted: a 71-byte record per result, the rest / n)"
      : l.op === "STATICCALL" ? "ecrecover precompile call (once per batch, / n)"
      : l.op === "KECCAK256" ? "keccak (digests, leaf, tree nodes, mapping keys)"
      : "other execution (packed decoding, checks, control flow, memory)";
    bump(kind, cost);
    if (kind.startsWith("other")) {
      otherOps[l.op] = (otherOps[l.op] ?? 0) + cost;
      otherCount++;
    }
  }
  const bytes = Buffer.from(data.slice(2), "hex");
  const nonzero = bytes.reduce((a, b) => a + (b === 0 ? 0 : 1), 0);
  const calldata = nonzero * 16 + (bytes.length - nonzero) * 4;
  const out: Record<string, number> = {
    "transaction base cost (21,000 / n)": Math.round(21_000 / n),
    "calldata (one packed item: 70 bytes; the signature / n)": Math.round(calldata / n),
  };
  for (const [k, v] of Object.entries(sums)) out[k] = Math.round(v / n);
  const traced = Object.values(out).reduce((a, b) => a + b, 0);
  out["refunds and rounding (receipt minus the items above)"] = Math.round(Number(gasUsed) / n) - traced;
  out["total per result"] = Math.round(Number(gasUsed) / n);
  const top = Object.entries(otherOps).sort((a, b) => b[1] - a[1]).slice(0, 8);
  const byOpcode = Object.fromEntries(top.map(([op, g]) => [op, Math.round(g / n)]));
  return { breakdown: out, otherExecutionByOpcode: { "opcodes executed": Math.round(otherCount / n), ...byOpcode } };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
