/**
 * demo:features `redundancy`: one classification answered by k = 2 distinct staked workers of the stack's
 * three, made by the example RedundantClassifierDApp through RedundantInference (k OPTIMISTIC oracle
 * requests on one uploaded input, a reserve of 2 replacements). The real relayer settles each answer after
 * its challenge window and its redundancy attester (relayer/redundancy-attester.ts) proves each answer's
 * worker from the committed batch roots, replaces a duplicate worker's answer from the reserve and delivers
 * the decided job. Checked on chain: the dApp holds the agreed hash, from k distinct attested workers, and it
 * equals the canonical output computed here with onnxruntime-node.
 */
import * as ort from "onnxruntime-node";
import { encodeTensor, hashEncoded, type Hex } from "../../protocol/index.js";
import { OracleClient, redundantContract, AnswerStatus, JobStatus } from "../../sdk/index.js";
import { RedundantClassifierDApp__factory, RedundantInference__factory } from "../../types/ethers-contracts/index.js";
import { CLS_MODEL_PATH, type LocalStack } from "../../stack/local-stack.js";
import type { FeatureDemo, FeatureReport } from "./types.js";

const K = 2;
const RESERVE = 2;

function input(): Float32Array {
  return Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => ((i * 7919) % 255) / 255);
}

export const redundancy: FeatureDemo = {
  name: "redundancy",
  title: `Redundancy: one classification answered by k = ${K} distinct attested workers, delivered when they agree`,
  run: (stack, say) => runRedundancy(stack, say, K, RESERVE),
};

/** One redundant classification with `k` distinct workers and `reserve` replacements, served by the stack's relayer. */
export async function runRedundancy(stack: LocalStack, say: (line: string) => void, K: number, RESERVE: number): Promise<FeatureReport> {
  {
    const { oracle, accounts, relayer } = stack;
    const user = accounts.user;
    const provider = stack.ethers.provider;
    const fromBlock = await provider.getBlockNumber();
    const redundantAddr = await (await new RedundantInference__factory(user).deploy(await oracle.getAddress())).getAddress();
    const dapp = await new RedundantClassifierDApp__factory(user).deploy(redundantAddr, stack.modelHash);
    await dapp.waitForDeployment();
    relayer.redundancyAttester.watch(redundantAddr, fromBlock);
    const contract = redundantContract(redundantAddr, provider);
    say(`  RedundantInference at ${redundantAddr}, RedundantClassifierDApp at ${await dapp.getAddress()} (watched by the relayer's attester)`);

    const client = await OracleClient.connect({ oracle: await oracle.getAddress(), runner: user, relayerUrl: relayer.url });
    const tensor = { dtype: "float32" as const, shape: [1, 3, 48, 192], data: input() };
    const bytes = encodeTensor(tensor);
    const inputHash = hashEncoded(bytes) as Hex;
    const uri = await client.upload(bytes, inputHash);
    const quote = await client.quote(stack.modelHash, Number(await contract.ANSWER_CALLBACK_GAS()));
    const fee = quote.minimum * 2n; // headroom for the gas price moving before a replacement
    const deadline = BigInt(await stack.networkHelpers.time.latest()) + 7n * 86_400n;
    const tx = await (await dapp.classify(inputHash, "0x", uri, K, RESERVE, fee, deadline, { value: BigInt(K + RESERVE) * fee })).wait();
    const jobId = await contract.jobCount();
    say(`  job ${jobId}: k=${K}, reserve ${RESERVE}, fee ${fee} wei per request (gas ${tx!.gasUsed})`);

    const window = Number((await oracle.params()).challengeWindow);
    const started = Date.now();
    let job = await contract.getJob(jobId);
    while (Date.now() - started < 180_000) {
      job = await contract.getJob(jobId);
      if (Number(job.status) !== JobStatus.Open && job.delivered) break;
      if (Number(job.status) === JobStatus.Incomplete) break;
      // Answers submitted (in their challenge window) settle once the window has passed.
      let submitted = false;
      for (const a of await contract.getAnswers(jobId)) if (Number(await oracle.state(a.requestId)) === 2) submitted = true;
      if (submitted) await stack.networkHelpers.time.increase(window + 1);
      relayer.poke();
      await new Promise((r) => setTimeout(r, 500));
    }
    const answers = await contract.getAnswers(jobId);
    for (const [i, a] of answers.entries()) say(`  answer ${i}: ${AnswerStatus[Number(a.status)]}, worker ${a.worker}, output ${a.outputHash.slice(0, 10)}…`);
    const counted = answers.filter((a) => Number(a.status) === AnswerStatus.Counted);
    const distinct = new Set(counted.map((a) => a.worker.toLowerCase())).size;
    const outcome = await dapp.outcome(jobId);

    // The canonical output, here with onnxruntime-node.
    const session = await ort.InferenceSession.create(CLS_MODEL_PATH);
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", tensor.data, tensor.shape) });
    const t = out[session.outputNames[0]!]!;
    const expected = hashEncoded(encodeTensor({ dtype: "float32", shape: [...t.dims], data: t.data as Float32Array }));

    const gas: number[] = [];
    for (const name of ["AnswerAttested", "JobDelivered"] as const) {
      for (const log of await contract.queryFilter(contract.filters[name](), fromBlock)) gas.push(Number((await provider.getTransactionReceipt(log.transactionHash))!.gasUsed));
    }
    const delivered =
      Number(job.status) === JobStatus.Agreed && job.delivered && job.callbackSucceeded && outcome.received && outcome.agreed &&
      counted.length === K && distinct === K && outcome.outputHash.toLowerCase() === expected && outcome.outputHashes.length === K;
    say(`  dApp: agreed ${outcome.agreed}, output ${outcome.outputHash.slice(0, 10)}… from ${distinct} distinct workers; local onnxruntime ${expected.slice(0, 10)}…`);
    return {
      delivered,
      jobId: jobId.toString(),
      contract: redundantAddr,
      k: K,
      status: JobStatus[Number(job.status)],
      answers: answers.length,
      distinctWorkers: distinct,
      outputHash: outcome.outputHash,
      expectedHash: expected,
      gasPerDelivery: gas.reduce((a, b) => a + b, 0),
    };
  }
}
