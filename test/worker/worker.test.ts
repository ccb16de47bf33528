import { existsSync, readdirSync, writeFileSync } from "node:fs";
import {
  BlobAuth,
  isSizeProof,
  readSizeProof,
  QUEUES,
  RejectReason,
  RejectionMessageSchema,
  ResultBatchMessageSchema,
  decodeTensor,
  encodeTensor,
  fromHex,
  hashEncoded,
  oracleDomain,
  recoverRejectionSigner,
  sha256,
  bytesToHex,
  type Hex,
  type Job,
  type RejectionMessage,
  type RequestId,
  type BatchItem,
  type Tensor,
  bytesOf,
  recoverResultBatchSigner,
} from "../../protocol/index.js";
import ort from "onnxruntime-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InProcessQueue, type DeadLetter, type Json } from "../../queue/index.js";
import { StaticCatalog, Worker, sha256Hex, type ModelEntry, type WorkerConfigInput } from "../../worker/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { startRelayerStore } from "../protocol/blob-store-fixture.js";
import {
  CHAIN_ID,
  CLS_HASH,
  CLS_INPUT,
  CLS_OUTPUT,
  CLS_PATH,
  CLS_URI,
  ORACLE,
  SIGNER_KEY,
  loopbackServer,
  randomHash,
  silentLogger,
  tempDir,
  waitFor,
  type LoopbackServer,
} from "./fixtures.js";

const OTHER_MODEL = `0x${"5a".repeat(32)}` as Hex; // registered with the cls file's URI: hash mismatch
const UNKNOWN_MODEL = `0x${"6b".repeat(32)}` as Hex;

/** One result of a signed batch message, with its batch's envelope (the signature covers `entries`). */
type ResultMessage = BatchItem & { kind: "result"; payee: string; signer: string; signature: string; entries: { requestId: string; outputHash: string }[] };

/** The signer of the batch `r` came in (its root rebuilt from every entry of the batch). */
function batchSigner(r: ResultMessage): string {
  return recoverResultBatchSigner(oracleDomain(CHAIN_ID, ORACLE), { payee: r.payee, signature: r.signature, entries: r.entries });
}

interface Harness {
  queue: InProcessQueue;
  worker: Worker;
  replies: (ResultMessage | RejectionMessage)[];
  dead: () => Promise<DeadLetter[]>;
  cacheDir: string;
}

describe("Worker", () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let harness: Harness | undefined;
  let servers: LoopbackServer[];

  beforeEach(async () => {
    tmp = await tempDir();
    servers = [];
  });
  afterEach(async () => {
    await harness?.worker.close();
    await harness?.queue.close();
    harness = undefined;
    await Promise.all(servers.map((s) => s.close()));
    await tmp.cleanup();
  });

  async function start(config: Partial<WorkerConfigInput> = {}, extraModels: ModelEntry[] = []): Promise<Harness> {
    const queue = new InProcessQueue();
    const catalog = new StaticCatalog([
      { modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT },
      { modelHash: OTHER_MODEL, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT },
      ...extraModels,
    ]);
    const cacheDir = `${tmp.dir}/models`;
    const worker = new Worker({
      queue,
      catalog,
      logger: silentLogger(),
      config: {
        signerKey: SIGNER_KEY,
        allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }],
        modelCacheDir: cacheDir,
        modelSchemes: ["npm", "file"], // opt in: the fixtures are npm: and file: URIs
        fetchAllowedAddresses: ["127.0.0.0/8", "::1"], // opt in: the input hosts are loopback servers
        ...config,
      },
    });
    const replies: Harness["replies"] = [];
    await queue.consume<Json>(QUEUES.results, async (d) => {
      if ((d.body as { kind: string }).kind === "batch") {
        const b = ResultBatchMessageSchema.parse(d.body);
        const entries = b.items.map((i) => ({ requestId: i.requestId, outputHash: i.outputHash }));
        for (const item of b.items) replies.push({ ...item, kind: "result", payee: b.payee, signer: b.signer, signature: b.signature, entries });
      } else {
        replies.push(RejectionMessageSchema.parse(d.body));
      }
    });
    await worker.start();
    harness = { queue, worker, replies, dead: () => queue.deadLetters(QUEUES.jobs), cacheDir };
    return harness;
  }

  function job(input: Tensor | Uint8Array, overrides: Partial<Job> = {}): Job {
    const bytes = input instanceof Uint8Array ? input : encodeTensor(input);
    let inputHash: Hex;
    try {
      inputHash = hashEncoded(bytes);
    } catch {
      inputHash = randomHash();
    }
    return {
      kind: "job",
      chainId: CHAIN_ID.toString(),
      oracle: ORACLE,
      requestId: randomHash(),
      modelHash: CLS_HASH,
      inputHash,
      input: bytesToHex(bytes),
      inputURI: "",
      tier: 0,
      deadline: Math.floor(Date.now() / 1000) + 3600,
      observedAt: Date.now(),
      ...overrides,
    };
  }

  /** Publishes `j` and waits until the jobs queue is empty; returns this job's reply, if any. */
  async function serve(h: Harness, j: Job | Json): Promise<ResultMessage | RejectionMessage | undefined> {
    await h.queue.publish(QUEUES.jobs, j as Json);
    await waitFor(async () => (await h.queue.depth(QUEUES.jobs)) === 0 || undefined, 20_000, "the job to be settled");
    const id = (j as { requestId?: string }).requestId;
    return h.replies.find((r) => r.requestId === id);
  }

  async function directRun(t: Tensor): Promise<Float32Array> {
    const session = await ort.InferenceSession.create(CLS_PATH, { executionProviders: ["cpu"], graphOptimizationLevel: "all" });
    try {
      const out = await session.run({ x: new ort.Tensor("float32", t.data as Float32Array, t.shape) });
      return out["softmax_0.tmp_0"]!.data as Float32Array;
    } finally {
      await session.release();
    }
  }

  async function expectRejection(h: Harness, j: Job, reason: RejectReason, code: string, message: RegExp): Promise<RejectionMessage> {
    const reply = await serve(h, j);
    expect(reply?.kind, JSON.stringify(reply)).toBe("rejection");
    const r = reply as RejectionMessage;
    expect(RejectReason[r.reason]).toBe(RejectReason[reason]);
    expect(r.code).toBe(code);
    expect(r.message).toMatch(message);
    const signer = recoverRejectionSigner(oracleDomain(CHAIN_ID, ORACLE), { requestId: j.requestId as RequestId, reason }, r.signature);
    expect(signer).toBe(h.worker.address);
    expect(await h.dead()).toEqual([]);
    return r;
  }

  it("test_job_realClassifier_signsCorrectResult", async () => {
    const h = await start();
    for (const rotated of [false, true]) {
      const input = textLineTensor("Honest workers win", { rotated });
      const j = job(input);
      const sent = performance.now();
      const reply = await serve(h, j);
      const wall = performance.now() - sent;
      expect(reply?.kind).toBe("result");
      const r = reply as ResultMessage;
      // The output is the canonical encoding of exactly what onnxruntime computes.
      const output = decodeTensor(bytesOf(r.output));
      expect(output.shape).toEqual([1, 2]);
      expect(Array.from(output.data as Float32Array)).toEqual(Array.from(await directRun(input)));
      expect(r.outputHash).toBe(hashEncoded(bytesOf(r.output)));
      // Upright -> index 0, upside down -> index 1.
      const [p0, p1] = output.data as Float32Array;
      expect(p1! > p0!).toBe(rotated);
      expect(r.provider).toBe("cpu");
      // Timings: a real onnxruntime run takes time; signing is per batch (0 per result); the stages
      // run one after another within the total, and the total within what the test waited.
      const t = r.timings as Record<"fetch" | "decode" | "infer" | "hash" | "sign" | "upload" | "total", number>;
      expect(t.infer).toBeGreaterThan(0);
      expect(t.sign).toBe(0);
      expect(t.fetch + t.decode + t.infer + t.hash + t.upload).toBeLessThanOrEqual(t.total + 0.005);
      expect(t.total).toBeGreaterThan(t.infer);
      expect(t.total).toBeLessThanOrEqual(wall);
      // One signature for the batch the result came in; the batch's root covers this (requestId, outputHash).
      expect(r.entries).toContainEqual({ requestId: j.requestId, outputHash: r.outputHash });
      expect(batchSigner(r)).toBe(h.worker.address);
      expect(r.signer).toBe(h.worker.address);
    }
    expect(existsSync(`${h.cacheDir}/${CLS_HASH.slice(2)}.onnx`)).toBe(true);
  });

  it("test_jobs_concurrent_signedAsBatchesOfAtMostMaxItems", async () => {
    const h = await start({ prefetch: 8, resultBatch: { maxItems: 4, maxWaitMs: 500 } });
    const jobs = Array.from({ length: 6 }, (_, i) => job(textLineTensor(`Batch of results ${i}`, { rotated: i % 2 === 0 })));
    for (const j of jobs) await h.queue.publish(QUEUES.jobs, j as unknown as Json);
    await waitFor(() => (h.replies.length >= 6 ? true : undefined), 60_000, "six results");
    const results = h.replies as ResultMessage[];
    // Fewer signatures than results, none over maxItems; every result is in exactly one signed batch.
    const bySignature = new Map<string, ResultMessage[]>();
    for (const r of results) bySignature.set(r.signature, [...(bySignature.get(r.signature) ?? []), r]);
    expect(bySignature.size).toBeLessThan(6);
    for (const [, rs] of bySignature) {
      expect(rs.length).toBeLessThanOrEqual(4);
      expect(rs[0]!.entries).toHaveLength(rs.length);
      expect(batchSigner(rs[0]!)).toBe(h.worker.address);
    }
    expect(new Set(results.map((r) => r.requestId))).toEqual(new Set(jobs.map((j) => j.requestId)));
  });

  it("test_job_badInputs_areRejectedWithReasons", async () => {
    const h = await start({ maxInputBytes: 200_000 });
    const good = textLineTensor("hello");
    await expectRejection(h, job(Buffer.from("not a tensor")), RejectReason.MalformedInput, "TENSOR_MALFORMED", /at least 8 bytes|VIOT/);
    const truncated = encodeTensor(good).subarray(0, 1000);
    const malformed = await expectRejection(h, job(truncated), RejectReason.MalformedInput, "TENSOR_MALFORMED", /larger than the 1000-byte payload/);
    expect(malformed.inputHeader).toBeUndefined();
    const wrongShape = { dtype: "float32" as const, shape: [1, 3, 32, 100], data: new Float32Array(3 * 32 * 100) };
    const shapeRejection = await expectRejection(h, job(wrongShape), RejectReason.SpecMismatch, "TENSOR_SPEC_MISMATCH", /dimension 2 = 32, the model expects 48/);
    // A type mismatch carries the input's header and data root: they hash to the input hash, so the
    // oracle can refund at once on this one worker's proof (rejectRequestWithProof).
    const header = fromHex(shapeRejection.inputHeader!);
    expect(bytesToHex(sha256(Buffer.from([2]), header, fromHex(shapeRejection.inputDataRoot!)))).toBe(hashEncoded(encodeTensor(wrongShape)));
    expect(header.readUInt32BE(8 + 4 * 2)).toBe(32);
    const wrongDtype = { dtype: "int32" as const, shape: [1, 3, 48, 192], data: new Int32Array(3 * 48 * 192) };
    await expectRejection(h, job(wrongDtype), RejectReason.SpecMismatch, "TENSOR_SPEC_MISMATCH", /dtype int32, the model expects float32/);
    const oversized = { dtype: "float32" as const, shape: [1, 3, 48, 400], data: new Float32Array(3 * 48 * 400) };
    await expectRejection(h, job(oversized), RejectReason.InputUnavailable, "PAYLOAD_TOO_LARGE", /more than the limit of 200000/);
    await expectRejection(h, job(good, { inputHash: randomHash() }), RejectReason.InputHashMismatch, "INPUT_HASH_MISMATCH", /the request says/);
    await expectRejection(h, job(good, { modelHash: UNKNOWN_MODEL }), RejectReason.ModelUnavailable, "MODEL_UNKNOWN", /not among the models/);
    // Public text for a fetched input is generic (the detail is in the worker's log).
    await expectRejection(h, job(good, { input: "0x", inputURI: "" }), RejectReason.InputUnavailable, "INPUT_UNAVAILABLE", /^the input at inputURI is unavailable/);
    await expectRejection(h, job(good, { input: "0x", inputURI: CLS_PATH }), RejectReason.InputUnavailable, "INPUT_UNAVAILABLE", /^the input at inputURI is unavailable/);
    expect(await h.queue.depth(QUEUES.jobs)).toBe(0);
  });

  it("test_job_modelHashMismatch_isRejectedAndNothingCached", async () => {
    const h = await start();
    const r = await expectRejection(h, job(textLineTensor("x"), { modelHash: OTHER_MODEL }), RejectReason.ModelUnavailable, "MODEL_HASH_MISMATCH", /matching the model hash/);
    // The hash of what the URI served (a local file, for a file: URI) is never made public.
    expect(r.message).not.toContain(CLS_HASH.slice(2, 18));
    expect(existsSync(h.cacheDir) ? readdirSync(h.cacheDir) : []).toEqual([]);
  });

  it("test_job_runtimeFailures_areRejected", async () => {
    // A file that matches its hash but is not an ONNX model: no provider can load it.
    const garbage = Buffer.from("definitely not protobuf");
    const garbageFile = `${tmp.dir}/garbage.onnx`;
    writeFileSync(garbageFile, garbage);
    const garbageHash = sha256Hex(garbage);
    // Well-formed protobuf (a ModelProto holding only ir_version 8) that no provider can load.
    const empty = Buffer.from([0x08, 0x08]);
    const emptyFile = `${tmp.dir}/empty.onnx`;
    writeFileSync(emptyFile, empty);
    const emptyHash = sha256Hex(empty);
    const h = await start({ modelSchemes: ["npm", "file"] }, [
      // The registrant declared int32 for a float32 model (overrides the float32 entry): the spec
      // check passes, then ONNX Runtime refuses the run.
      { modelHash: CLS_HASH, uris: [CLS_URI], input: { dtype: "int32", shape: [1, 3, 48, 192] }, output: CLS_OUTPUT },
      { modelHash: garbageHash, uris: [garbageFile], input: CLS_INPUT, output: CLS_OUTPUT },
      { modelHash: emptyHash, uris: [emptyFile], input: CLS_INPUT, output: CLS_OUTPUT },
    ]);
    const ints = { dtype: "int32" as const, shape: [1, 3, 48, 192], data: new Int32Array(3 * 48 * 192) };
    await expectRejection(h, job(ints), RejectReason.InferenceFailed, "INFERENCE_FAILED", /inference failed: .*type/i);
    // Not protobuf at all: refused by the safety check before any load (protocol/modelSafety.ts).
    await expectRejection(h, job(textLineTensor("x"), { modelHash: garbageHash }), RejectReason.ModelUnavailable, "MODEL_UNSAFE", /well-formed/);
    await expectRejection(h, job(textLineTensor("x"), { modelHash: emptyHash }), RejectReason.ModelUnavailable, "INFERENCE_FAILED", /cannot be loaded/);
  });

  it("test_job_invalidMessageOrForeignDomain_isDeadLettered", async () => {
    const h = await start();
    const foreign = job(textLineTensor("x"), { oracle: "0x000000000000000000000000000000000000dEaD" });
    await serve(h, foreign);
    await serve(h, { ...job(textLineTensor("x")), chainId: "1" });
    await serve(h, { kind: "job", requestId: "0x1234", hello: "world" });
    await serve(h, "not even an object");
    const dead = await h.dead();
    expect(dead.map((d) => d.reason)).toEqual([
      expect.stringMatching(/domain not allowed: .*0x000000000000000000000000000000000000dEaD on chain 31337/),
      expect.stringMatching(/domain not allowed: .* on chain 1$/),
      expect.stringMatching(/invalid job message: .*requestId: expected a 0x-prefixed 32-byte hex string/),
      expect.stringMatching(/invalid job message: \(root\)/),
    ]);
    expect(dead.every((d) => d.deliveryCount === 1)).toBe(true); // not retried
    expect(h.replies).toEqual([]); // nothing signed for a foreign domain
  });

  it("test_job_pastDeadline_isAckedWithoutReply", async () => {
    const h = await start();
    const reply = await serve(h, job(textLineTensor("late"), { deadline: Math.floor(Date.now() / 1000) - 1 }));
    expect(reply).toBeUndefined();
    expect(await h.dead()).toEqual([]);
    expect(await h.queue.depth(QUEUES.jobs)).toBe(0);
  });

  it("test_job_transientInputFailure_isRetriedAndSucceeds", async () => {
    const input = encodeTensor(textLineTensor("retry me"));
    let calls = 0;
    const server = await loopbackServer((_req, _body, res) => {
      calls++;
      if (calls === 1) return void res.writeHead(503).end("busy");
      res.end(input);
    });
    servers.push(server);
    const h = await start();
    const j = job(input, { input: "0x", inputURI: `${server.url}/inputs/1` });
    const reply = await serve(h, j);
    expect(reply?.kind).toBe("result");
    expect(calls).toBe(2);
    expect(await h.dead()).toEqual([]);
    // A missing input is final: rejected, not retried.
    const missing = await loopbackServer((_req, _body, res) => void res.writeHead(404).end());
    servers.push(missing);
    await expectRejection(h, job(input, { input: "0x", inputURI: `${missing.url}/x` }), RejectReason.InputUnavailable, "BLOB_NOT_FOUND", /^the input at inputURI is unavailable, too large, or not a valid tensor for this model$/);
    expect(missing.requests).toHaveLength(1);
  });

  it("test_job_largeOutput_goesToBlobStore", async () => {
    // A real relayer blob store that requires signed uploads and knows this worker's signer.
    const store = await startRelayerStore({ required: true, known: [new BlobAuth(SIGNER_KEY).address.toLowerCase()] });
    servers.push(store as unknown as LoopbackServer);
    const h = await start({ blobStoreUrl: store.url, maxInlineOutputBytes: 8 });
    const reply = (await serve(h, job(textLineTensor("big output")))) as ResultMessage;
    expect(reply.kind).toBe("result");
    // Hash only: the item carries the output's size proof ("VIOH" || header || dataRoot), not its bytes.
    expect(isSizeProof(reply.output)).toBe(true);
    expect(readSizeProof(reply.output).outputHash).toBe(reply.outputHash);
    const stored = await store.blobs.get(reply.outputHash);
    expect(hashEncoded(stored)).toBe(reply.outputHash);
    expect(decodeTensor(stored!).shape).toEqual([1, 2]);
  });

  it("test_job_blobStoreDown_isRetriedThenDeadLettered (each delivery tries the upload 3 times)", async () => {
    const store = await loopbackServer((_req, _body, res) => void res.writeHead(503).end());
    servers.push(store);
    const h = await start({ blobStoreUrl: store.url, maxInlineOutputBytes: 8 });
    await h.queue.assertQueue(QUEUES.jobs, { maxDeliveries: 3 });
    const reply = await serve(h, job(textLineTensor("x")));
    expect(reply).toBeUndefined();
    const dead = await h.dead();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.deliveryCount).toBe(3);
    expect(dead[0]!.reason).toMatch(/\(3 tries\): the blob store refused the upload: 503/);
    expect(store.requests).toHaveLength(9);
  });

  it("test_close_waitsForInFlightJobs_andIsIdempotent", async () => {
    const h = await start({ prefetch: 4 });
    const jobs = ["a", "b", "c", "d"].map((t) => job(textLineTensor(t)));
    for (const j of jobs) await h.queue.publish(QUEUES.jobs, j as unknown as Json);
    await new Promise((r) => setTimeout(r, 5)); // let the handlers start
    await Promise.all([h.worker.close(), h.worker.close()]);
    // Every job taken before close() finished with its reply.
    const taken = 4 - (await h.queue.depth(QUEUES.jobs));
    expect(h.replies.filter((r) => r.kind === "result")).toHaveLength(taken);
    await expect(h.worker.start()).rejects.toThrow(/closed/);
  });
});
