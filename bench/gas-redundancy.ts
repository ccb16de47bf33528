/**
 * `npm run bench` (after bench/gas.ts): gas of redundancy (contracts/redundancy/RedundantInference.sol) on
 * the in-process EVM through the real oracle, with results signed by two real worker keys:
 * - a k = 2 job end to end whose answers agree by hash (request, 2 submits, 2 settlements, 2 attestations
 *   with the attester reward, delivery);
 * - the same job's request paid in an ERC-20 token (requestWithToken: exact pull, two oracle token requests)
 *   beside the ETH request;
 * - `decide` of a Comparing job (answers that differ by hash but agree within τ_out), for a [1, 2] float32
 *   output (the PP-OCR classifier's) and a [1, 256] one, so the per-element cost of OutputAgreement shows.
 * The model gets canonical terms here (τ_out = 1e-3 + 1e-2·|c|; roots made up: the registry checks only the
 * commitment's parts). Prints a table and writes bench/results/gas-redundancy.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { Wallet, parseEther, solidityPackedSha256 } from "ethers";
import { network } from "hardhat";
import { encodeTensor, hashEncoded, oracleDomain, packBatch, type Hex, proofFromLogs, signResultBatch } from "../protocol/index.js";
import { RedundantInference__factory, TestPermitToken__factory } from "../types/ethers-contracts/index.js";
import { DEFAULT_PARAMS, REQUEST_FEE, deployOracle } from "../stack/local-stack.js";

const ATTEST_REWARD = parseEther("0.0001");

function f64(x: number): bigint {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b.readBigUInt64BE();
}

async function main(): Promise<void> {
  const { ethers, networkHelpers } = await network.create();
  const s = await ethers.getSigners();
  const [admin, modelOwner, op1, relayer, user, arbiter, op2] = [0, 1, 2, 3, 4, 5, 6].map((i) => s[i]!);
  const { oracle, modelHash, registry } = await deployOracle({ admin: admin!, modelOwner: modelOwner!, arbiter: arbiter! });
  const oracleAddress = await oracle.getAddress();
  const parts = { semanticsVersion: 1, precision: 0, stepCount: 3, weightsRoot: "0x" + "11".repeat(32), programRoot: "0x" + "22".repeat(32) };
  const commitment = solidityPackedSha256(["uint8", "uint8", "uint8", "uint32", "bytes32", "bytes32"], [5, parts.semanticsVersion, parts.precision, parts.stepCount, parts.weightsRoot, parts.programRoot]);
  await (await registry.connect(modelOwner!).setCanonicalTerms(modelHash, { ...parts, commitment, tauOutAbs: f64(1e-3), tauOutRel: f64(1e-2), tauMajorAbs: f64(1), tauMajorRel: f64(0.5) })).wait();
  const workers = [Wallet.createRandom(), Wallet.createRandom()];
  for (const [i, op] of [op1!, op2!].entries()) await (await oracle.connect(op).registerWorker(workers[i]!.address, { value: parseEther("100") })).wait();
  const redundant = await new RedundantInference__factory(user!).deploy(oracleAddress);
  const domain = oracleDomain((await ethers.provider.getNetwork()).chainId, oracleAddress);
  const payee = await relayer!.getAddress();
  let seq = 0;
  const rows: Array<{ step: string; gas: number }> = [];
  const add = (step: string, gas: bigint) => rows.push({ step, gas: Number(gas) });

  /** One k = 2 job answered by both workers with `outputs`, settled and attested; returns its id and the gas of each step. */
  async function job(outputs: [Buffer, Buffer]) {
    const inputHash = ("0x" + (++seq).toString(16).padStart(64, "0")) as Hex;
    const deadline = (await networkHelpers.time.latest()) + 3600;
    const r = { modelHash, inputHash, input: "0x", inputURI: `http://blobs.example/${inputHash}`, k: 2, reserve: 0, fee: REQUEST_FEE, deadline, consumerGas: 0, attestReward: ATTEST_REWARD };
    const req = (await (await redundant.request(r, { value: 2n * REQUEST_FEE + 3n * ATTEST_REWARD })).wait())!;
    const ids = req.logs.map((l) => oracle.interface.parseLog(l)).filter((e) => e?.name === "InferenceRequested").map((e) => String(e!.args.requestId));
    const jobId = await redundant.jobCount();
    const gas = { request: req.gasUsed, submits: [] as bigint[], settles: [] as bigint[], attests: [] as bigint[] };
    const proofs = [];
    for (const [i, w] of workers.entries()) {
      const outputHash = hashEncoded(outputs[i]!);
      const signed = await signResultBatch(w, domain, [{ requestId: ids[i]!, outputHash }], payee);
      const rc = (await (await oracle.connect(relayer!).submitBatch(...packBatch({ payee, signature: signed.signature, items: [{ requestId: ids[i]!, outputHash, output: "0x" + outputs[i]!.toString("hex"), proof: "0x" }] }))).wait())!;
      proofs.push(proofFromLogs(rc.logs, oracleAddress, ids[i]!));
      gas.submits.push(rc.gasUsed);
    }
    await networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    for (const [i, id] of ids.entries()) {
      const p = proofs[i]!;
      gas.settles.push((await (await oracle.connect(relayer!).settle({ requestId: id, record: p.record, proof: p.proof, output: "0x" + outputs[i]!.toString("hex") })).wait())!.gasUsed);
    }
    for (const [i, id] of ids.entries()) gas.attests.push((await (await redundant.connect(relayer!).attest(id, proofs[i]!.record, proofs[i]!.proof)).wait())!.gasUsed);
    return { jobId, gas };
  }

  const classifier = (p: number) => encodeTensor({ dtype: "float32", shape: [1, 2], data: new Float32Array([p, 1 - p]) });
  const agreed = await job([classifier(0.9), classifier(0.9)]);
  const deliver = (await (await redundant.connect(relayer!).deliver(agreed.jobId, "0x" + classifier(0.9).toString("hex"))).wait())!.gasUsed;
  add("request k=2 (URI input, attester reward, τ_out recorded)", agreed.gas.request);
  add("answer submit (OPTIMISTIC, one-item batch)", agreed.gas.submits[0]!);
  add("answer settlement (callback records it)", agreed.gas.settles[0]!);
  add("attest (leaf proof, worker counted, reward credited)", agreed.gas.attests[0]!);
  add("attest deciding (k-th, hashes equal: Agreed)", agreed.gas.attests[1]!);
  add("deliver (hash + output, no consumer push)", deliver);
  const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);

  // The same job's request paid in a token the model accepts (the fees in the token, the callbacks' gas in wei).
  const token = await new TestPermitToken__factory(user!).deploy();
  await (await token.mint(await user!.getAddress(), 10n ** 18n)).wait();
  await (await registry.connect(modelOwner!).setTokenTerms(modelHash, await token.getAddress(), { accepted: true, ownerFee: 3_000_000n, minWorkerFee: 1_000_000n })).wait();
  await (await token.approve(await redundant.getAddress(), 2n * 10n ** 7n)).wait();
  const tokenInput = ("0x" + (++seq).toString(16).padStart(64, "0")) as Hex;
  const tokenReq = { modelHash, inputHash: tokenInput, input: "0x", inputURI: `http://blobs.example/${tokenInput}`, k: 2, reserve: 0, fee: 10n ** 7n, deadline: (await networkHelpers.time.latest()) + 3600, consumerGas: 0, attestReward: ATTEST_REWARD };
  const callbackFee = parseEther("0.0002");
  const tokenRequest = (await (await redundant.requestWithToken(tokenReq, await token.getAddress(), callbackFee, "0x", { value: 2n * callbackFee + 3n * ATTEST_REWARD })).wait())!.gasUsed;
  add("request k=2 in a token (exact pull, 2 token requests)", tokenRequest);
  const wholeJob = agreed.gas.request + sum(agreed.gas.submits) + sum(agreed.gas.settles) + sum(agreed.gas.attests) + deliver;

  const decideGas: Record<string, number> = {};
  for (const n of [2, 256]) {
    const base = Float32Array.from({ length: n }, (_, i) => 0.25 + (i % 7) / 10);
    const near = base.map((v) => v + 4e-4);
    const a = encodeTensor({ dtype: "float32", shape: [1, n], data: base });
    const b = encodeTensor({ dtype: "float32", shape: [1, n], data: near });
    const comparing = await job([a, b]);
    if (n === 2) add("attest deciding (k-th, hashes differ: Comparing)", comparing.gas.attests[1]!);
    const rc = (await (await redundant.connect(relayer!).decide(comparing.jobId, ["0x" + a.toString("hex"), "0x" + b.toString("hex")], { gasLimit: 16_000_000 })).wait())!;
    const j = await redundant.getJob(comparing.jobId);
    if (Number(j.status) !== 2) throw new Error(`decide of a [1, ${n}] output within τ_out did not agree (status ${j.status})`);
    add(`decide k=2, float32 [1, ${n}] within τ_out (Agreed)`, rc.gasUsed);
    decideGas[String(n)] = Number(rc.gasUsed);
  }
  const perElement = Math.round((decideGas["256"]! - decideGas["2"]!) / 254);
  const summary = {
    k: 2, attestReward: ATTEST_REWARD.toString(), steps: rows, wholeJobAgreedByHash: Number(wholeJob), decide: decideGas, decidePerFloat32Element: perElement,
    tokenRequestOverEthRequest: Number(tokenRequest - agreed.gas.request),
  };

  console.log("\nredundancy gas (RedundantInference, k = 2, OPTIMISTIC answers)");
  for (const r of rows) console.log(`  ${r.step.padEnd(62)} ${String(r.gas).padStart(9)}`);
  console.log(`redundancy, k = 2 job agreed by hash, end to end: ${wholeJob} gas (request + 2 submits + 2 settlements + 2 attests + delivery)`);
  console.log(`redundancy request paid in a token: ${tokenRequest} gas, ${tokenRequest - agreed.gas.request} more than in ETH`);
  console.log(`redundancy decide within τ_out: ${decideGas["2"]} gas for [1, 2], ${decideGas["256"]} for [1, 256] (~${perElement} gas per float32 element, compared both ways)`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/gas-redundancy.json", JSON.stringify(summary, null, 2) + "\n");
  console.log("written: bench/results/gas-redundancy.json");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
