/**
 * The worker proves ZK-tier jobs on its prover threads: the result message carries a proof that
 * verifies against the model's verification key for exactly the signed input and output, and jobs
 * of other tiers keep being answered while the proof runs.
 */
import { join } from "node:path";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toSnarkjsProof } from "../../circuits/index.js";
import { QUEUES, ResultBatchMessageSchema, RejectionMessageSchema, bytesOf, hashEncoded, bytesToHex, type BatchItem, type Hex, type Job, type RejectionMessage } from "../../protocol/index.js";

/** One result of a signed batch (the worker signs a batch at a time). */
type ResultMessage = BatchItem & { kind: "result" };
import { InProcessQueue, type Json } from "../../queue/index.js";
import { StaticCatalog, Worker } from "../../worker/index.js";
import { CHAIN_ID, ORACLE, SIGNER_KEY, randomHash, silentLogger, tempDir, waitFor } from "../worker/fixtures.js";
import { digits, H16_PATH, MNIST_PATH, zkModels } from "./fixture.js";

describe("worker: ZK-tier proving off the main thread", () => {
  let queue: InProcessQueue;
  let worker: Worker;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const replies: (ResultMessage | RejectionMessage)[] = [];
  const order: string[] = [];
  let models: Awaited<ReturnType<typeof zkModels>>;

  beforeAll(async () => {
    models = await zkModels();
    tmp = await tempDir();
    queue = new InProcessQueue();
    const spec = { input: { dtype: "int8" as const, shape: [1, 7, 7] }, output: { dtype: "int8" as const, shape: [1, 10] } };
    worker = new Worker({
      queue,
      catalog: new StaticCatalog([
        { modelHash: models.mnist.modelHash, uris: [`file://${MNIST_PATH}`], ...spec },
        { modelHash: models.h16.modelHash, uris: [`file://${H16_PATH}`], ...spec },
      ]),
      logger: silentLogger(),
      config: {
        signerKey: SIGNER_KEY,
        allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }],
        modelCacheDir: join(tmp.dir, "models"),
        modelSchemes: ["file"], // opt in: the fixtures are file: URIs
        prefetch: 16,
        zk: [{ modelHash: models.mnist.modelHash, wasm: models.mnist.wasmPath, zkey: models.mnist.zkeyPath }],
      },
    });
    await queue.consume<Json>(QUEUES.results, async (d) => {
      const body = d.body as { kind: string };
      if (body.kind === "batch") {
        for (const item of ResultBatchMessageSchema.parse(d.body).items) {
          replies.push({ ...item, kind: "result" });
          order.push(item.requestId);
        }
      } else {
        const r = RejectionMessageSchema.parse(d.body);
        replies.push(r);
        order.push(r.requestId);
      }
    });
    await worker.start();
  }, 600_000);

  afterAll(async () => {
    await worker?.close();
    await queue?.close();
    await tmp?.cleanup();
  });

  function job(tensor: Buffer, tier: number, modelHash: string): Job {
    return {
      kind: "job", chainId: CHAIN_ID.toString(), oracle: ORACLE, requestId: randomHash(), modelHash,
      inputHash: hashEncoded(tensor), input: bytesToHex(tensor), inputURI: "", tier,
      deadline: Math.floor(Date.now() / 1000) + 3600, observedAt: Date.now(),
    };
  }

  it("attaches a valid proof of the signed output; NONE-tier jobs are answered while it runs", async () => {
    const ds = digits(9, 100);
    // Warm the model session so the first NONE job does not race the proof on a cold load.
    const warm = job(ds[8]!.tensor, 0, models.mnist.modelHash);
    await queue.publish(QUEUES.jobs, warm as unknown as Json);
    await waitFor(() => replies.find((r) => r.requestId === warm.requestId), 30_000, "warm-up result");

    const zkJob = job(ds[0]!.tensor, 2, models.mnist.modelHash);
    const noneJobs = ds.slice(1, 8).map((d) => job(d.tensor, 0, models.mnist.modelHash));
    await queue.publish(QUEUES.jobs, zkJob as unknown as Json);
    for (const j of noneJobs) await queue.publish(QUEUES.jobs, j as unknown as Json);
    const zk = (await waitFor(() => replies.find((r) => r.requestId === zkJob.requestId), 120_000, "the ZK result")) as ResultMessage;

    // Every NONE-tier job published after the ZK job was answered before the proof was done.
    const zkAt = order.indexOf(zkJob.requestId);
    for (const j of noneJobs) {
      const at = order.indexOf(j.requestId);
      expect(at, "NONE job answered while the proof ran").toBeGreaterThanOrEqual(0);
      expect(at).toBeLessThan(zkAt);
      const r = replies[at] as ResultMessage;
      expect(r.kind).toBe("result");
      expect(r.proof).toBeUndefined();
    }
    expect(zk.kind).toBe("result");
    expect(zk.proof).toMatch(/^0x[0-9a-f]+$/);
    expect(zk.timings.prove).toBeGreaterThan(0);
    // The proof is for exactly the input and output the worker signed.
    const { proof, publicSignals } = toSnarkjsProof(zk.proof!);
    expect(await snarkjs.groth16.verify(models.mnist.verificationKey, publicSignals, proof)).toBe(true);
    const { decodeInferenceProof } = await import("../../circuits/index.js");
    const d = decodeInferenceProof(zk.proof!);
    expect(Buffer.from(d.inputData)).toEqual(Buffer.from(ds[0]!.data));
    const output = bytesOf(zk.output);
    expect(hashEncoded(output)).toBe(zk.outputHash.toLowerCase());
    expect(Buffer.from(output.subarray(output.byteLength - 10))).toEqual(Buffer.from(d.outputData));
    expect(worker.prover.proved).toBe(1);
  });

  it("a ZK-tier job for a model without artifacts on this worker is left for another worker (redelivered, then dead-lettered)", async () => {
    // The h16 model is served here but not configured for proving: its ZK job is retried and never signed,
    // while a NONE-tier job for it is answered.
    const j = job(digits(1, 3)[0]!.tensor, 2, models.h16.modelHash);
    const plain = job(digits(1, 4)[0]!.tensor, 0, models.h16.modelHash);
    await queue.publish(QUEUES.jobs, plain as unknown as Json);
    await queue.publish(QUEUES.jobs, j as unknown as Json);
    const dead = await waitFor(async () => (await queue.deadLetters(QUEUES.jobs)).find((d) => (d.body as { requestId?: string }).requestId === j.requestId), 60_000, "the dead letter");
    expect(dead).toBeDefined();
    expect(replies.find((r) => r.requestId === j.requestId)).toBeUndefined();
    const answered = await waitFor(() => replies.find((r) => r.requestId === plain.requestId), 30_000, "the NONE-tier result");
    expect(answered.kind).toBe("result");
  });
});
