/**
 * Fuzzing a running stack (in-process chain, relayer, one worker) on loopback:
 *   - the relayer's HTTP API with random paths, methods, bodies, content types, huge bodies, deep
 *     JSON and malformed URL encodings: every answer is a JSON error with a known code and its
 *     fitting status (never a 500, never a hang), memory stays bounded, /health still answers;
 *   - the queue message handlers (the worker's job handler, the relayer's result collector) with
 *     hostile bodies: deep JSON, wrong types, huge strings, mutated valid messages: each is refused
 *     with a OracleError of an expected code (dead-lettered with a clear reason), nothing else thrown;
 * and afterwards a real request is still served end to end. FUZZ_SEED replays a run.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OracleError, QUEUES, createLogger, encodeTensor, isError, seededRandom, type ErrorCode } from "../../protocol/index.js";
import type { Delivery, Json } from "../../queue/index.js";
import { ResultCollector } from "../../relayer/index.js";
import { DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { classify, stateOf, textInput, uploadBlob } from "../e2e/helpers.js";

const SEED = Number(process.env.FUZZ_SEED ?? 424242);
const HTTP_ITERATIONS = Number(process.env.FUZZ_HTTP_ITERATIONS ?? 1000);
const MESSAGE_ITERATIONS = Number(process.env.FUZZ_MESSAGE_ITERATIONS ?? 1500);
const MAX_BLOB_BYTES = 256 * 1024;

/** Each error code the API may answer, with its status. */
const API_STATUS: Partial<Record<ErrorCode, number>> = {
  TENSOR_MALFORMED: 400,
  MESSAGE_INVALID: 400,
  INPUT_HASH_MISMATCH: 400,
  PAYLOAD_TOO_LARGE: 413,
  BLOB_NOT_FOUND: 404,
  REQUEST_NOT_FOUND: 404,
};

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

function randomBytes(random: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}

function randomString(random: () => number, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(32 + Math.floor(random() * 95));
  return s;
}

function deepJson(depth: number, kind: "array" | "object"): string {
  return kind === "array" ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

/** A random JSON value: wrong types, huge strings, deep nesting, prototype keys. */
function hostileValue(random: () => number, depth = 0): Json {
  const r = random();
  if (r < 0.1) return null;
  if (r < 0.2) return random() < 0.5;
  if (r < 0.3) return pick(random, [0, -1, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 0.5, 2 ** 53]);
  if (r < 0.45) return randomString(random, Math.floor(random() * 64));
  if (r < 0.5) return "0x" + "ab".repeat(Math.floor(random() * 4) === 0 ? 6_000_000 : 40); // huge hex (12 MB) now and then
  if (r < 0.55) return "x".repeat(1 + Math.floor(random() * 200_000));
  if (r < 0.6) return JSON.parse(deepJson(1000 + Math.floor(random() * 3000), random() < 0.5 ? "array" : "object")) as Json;
  if (depth > 3) return 1;
  if (r < 0.8) return Array.from({ length: Math.floor(random() * 4) }, () => hostileValue(random, depth + 1));
  const o: Record<string, Json> = {};
  for (let i = Math.floor(random() * 4); i > 0; i--) o[pick(random, ["kind", "__proto__", "constructor", "requestId", randomString(random, 6)])] = hostileValue(random, depth + 1);
  return o;
}

/** A valid message with one field replaced by a hostile value (or removed, or a field added). */
function mutate(random: () => number, valid: Record<string, Json>): Json {
  const r = random();
  if (r < 0.1) return hostileValue(random);
  const copy: Record<string, Json> = { ...valid };
  const key = pick(random, Object.keys(copy));
  if (r < 0.2) delete copy[key];
  else if (r < 0.3) copy[randomString(random, 8)] = hostileValue(random);
  else copy[key] = hostileValue(random);
  return copy;
}

describe("fuzz: a running stack", () => {
  let stack: LocalStack;
  let base: string;
  beforeAll(async () => {
    stack = await startLocalStack({
      // Silent: the worker logs each refused job's requestId as it came, huge strings included.
      logger: createLogger("fuzz", { level: "silent" }),
      relayer: { api: { port: 0, maxBlobBytes: MAX_BLOB_BYTES, rateLimit: { perSecond: 0 }, maxConcurrentUploadsPerClient: 8 } },
    });
    base = stack.relayer.url;
  });
  afterAll(async () => {
    await stack?.close();
  });

  it(`the relayer's HTTP API answers ${HTTP_ITERATIONS} hostile requests with clear errors (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    const rssBefore = process.memoryUsage().rss;
    const valid = textInput("fuzz", false);
    const hash = (await uploadBlob(stack, valid)).hash;
    const paths = [
      () => "/",
      () => "/health",
      () => "/requests",
      () => `/requests?state=${encodeURIComponent(randomString(random, 12))}&limit=${pick(random, ["-1", "1e309", "abc", "999999999", "0x10", ""])}`,
      () => "/requests?state[]=a&state[]=b",
      () => `/requests?limit=${"9".repeat(400)}`,
      () => `/requests/${encodeURIComponent(randomString(random, Math.floor(random() * 100)))}`,
      () => `/requests/0x${randomBytes(random, 32).toString("hex")}`,
      () => "/blobs",
      () => `/blobs/${hash}`,
      () => `/blobs/0x${randomBytes(random, 32).toString("hex")}`,
      () => `/blobs/${encodeURIComponent(randomString(random, 70))}`,
      () => "/blobs/..%2f..%2f..%2fetc%2fpasswd",
      () => pick(random, ["/%", "/%E0%A4%A", "/requests/%ZZ", "/blobs/%00", "//", "/health/../health", "/.env"]),
      () => "/" + "a/".repeat(1 + Math.floor(random() * 2000)),
    ];
    const bodies = [
      () => undefined,
      () => randomBytes(random, Math.floor(random() * 4096)),
      () => Buffer.from(deepJson(5_000, "array")),
      () => Buffer.from(JSON.stringify({ s: "x".repeat(100_000) })),
      () => valid,
      () => valid.subarray(0, Math.floor(random() * valid.length)),
      () => Buffer.alloc(MAX_BLOB_BYTES + 1 + Math.floor(random() * 1024)), // over every limit
      () => Buffer.from(randomString(random, 300)),
    ];
    const types = [undefined, "application/json", "text/plain", "application/octet-stream", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", ";;;", "application/json; charset=utf-7"];
    const methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];
    const statuses = new Map<number, number>();
    const one = async (i: number) => {
      const method = pick(random, methods);
      const path = pick(random, paths)();
      const bytes = method === "GET" || method === "HEAD" ? undefined : pick(random, bodies)();
      const type = pick(random, types);
      const where = `#${i} ${method} ${path.slice(0, 120)} (${bytes?.byteLength ?? 0} bytes, ${type})`;
      const res = await fetch(base + path, {
        method,
        headers: type === undefined ? {} : { "content-type": type },
        ...(bytes === undefined ? {} : { body: new Uint8Array(bytes) }),
        signal: AbortSignal.timeout(10_000),
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const text = await res.text();
      expect(res.status, `${where}: ${text.slice(0, 300)}`).toBeLessThan(500);
      if (res.status >= 400 && method !== "HEAD") {
        const body = JSON.parse(text) as { error: { code: ErrorCode; message: string } };
        expect(API_STATUS[body.error.code], `${where}: code ${body.error.code}`).toBe(res.status);
        expect(body.error.message.length, where).toBeLessThan(1000);
      }
    };
    for (let i = 0; i < HTTP_ITERATIONS; i += 8) await Promise.all(Array.from({ length: Math.min(8, HTTP_ITERATIONS - i) }, (_, k) => one(i + k)));
    const grownMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    console.log(`api fuzz: ${HTTP_ITERATIONS} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}, RSS +${grownMiB.toFixed(1)} MiB`);
    expect(grownMiB).toBeLessThan(400);
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { ok: boolean }).ok).toBe(true);
  });

  it(`the worker and the collector refuse ${MESSAGE_ITERATIONS} hostile queue messages with expected codes (seed ${SEED})`, async () => {
    const random = seededRandom(SEED + 1);
    const signal = new AbortController().signal;
    const worker = stack.workers[0]!;
    const collector = new ResultCollector(
      stack.relayer.chain,
      stack.relayer.db,
      stack.relayer.blobs,
      stack.queue,
      createLogger("fuzz", { level: "silent" }),
      () => undefined,
      1,
    );
    const oracle = await stack.oracle.getAddress();
    const chainId = stack.chainId.toString();
    const hex32 = () => `0x${randomBytes(random, 32).toString("hex")}`;
    // An open request the relayer knows (no job published for it), so replies naming it reach the
    // signature and hash checks instead of stopping at REQUEST_NOT_FOUND.
    const open = { id: hex32(), modelHash: stack.modelHash as string, inputHash: hex32() };
    stack.relayer.db.insertRequest({
      id: open.id,
      requester: stack.workerSigners[0]!.address,
      modelHash: open.modelHash,
      inputHash: open.inputHash,
      inputURI: "",
      tier: 1,
      fee: "0",
      deadline: 2 ** 31,
      callbackGasLimit: 0,
      state: "requested",
      block: 0,
      observedAt: Date.now(),
    });
    stack.relayer.db.updateRequest(open.id, { jobPublishedAt: Date.now() });
    const target = (): { requestId: string; modelHash: string; inputHash: string } =>
      random() < 0.5 ? { requestId: open.id, modelHash: open.modelHash, inputHash: open.inputHash } : { requestId: hex32(), modelHash: stack.modelHash, inputHash: hex32() };
    const validJob = (): Record<string, Json> => ({
      kind: "job",
      chainId,
      oracle,
      requestId: hex32(),
      modelHash: stack.modelHash,
      inputHash: hex32(),
      input: `0x${encodeTensor({ dtype: "uint8", shape: [2], data: new Uint8Array([1, 2]) }).toString("hex")}`,
      inputURI: "",
      tier: 1,
      // Already expired: a job that passes every check is skipped, never run or answered.
      deadline: 1,
      observedAt: Date.now(),
    });
    const validResult = (): Record<string, Json> => ({
      kind: "batch",
      chainId,
      oracle,
      payee: stack.workerSigners[0]!.address,
      signer: stack.workerSigners[0]!.address,
      signature: `0x${randomBytes(random, 65).toString("hex")}`,
      items: [
        {
          ...target(),
          outputHash: hex32(),
          output: random() < 0.5 ? "0x" : `0x${encodeTensor({ dtype: "float32", shape: [1, 2], data: new Float32Array([random(), random()]) }).toString("hex")}`,
          provider: "cpu",
          timings: {},
          observedAt: Date.now(),
        },
      ],
    });
    const validRejection = (): Record<string, Json> => ({
      kind: "rejection",
      chainId,
      oracle,
      requestId: target().requestId,
      reason: 1,
      message: "bad input",
      code: "TENSOR_MALFORMED",
      signer: stack.workerSigners[0]!.address,
      signature: `0x${randomBytes(random, 65).toString("hex")}`,
      observedAt: Date.now(),
    });
    const workerCodes = new Set<ErrorCode>(["MESSAGE_INVALID", "DOMAIN_MISMATCH"]);
    const collectorCodes = new Set<ErrorCode>(["MESSAGE_INVALID", "DOMAIN_MISMATCH", "REQUEST_NOT_FOUND", "SIGNATURE_INVALID", "INPUT_HASH_MISMATCH", "OUTPUT_HASH_MISMATCH", "TENSOR_MALFORMED", "BLOB_NOT_FOUND"]);
    const outcomes = new Map<string, number>();
    const rssBefore = process.memoryUsage().rss;
    const check = async (what: string, codes: Set<ErrorCode>, run: () => Promise<void>) => {
      let outcome = "accepted";
      try {
        await run();
      } catch (error) {
        if (!(error instanceof OracleError)) throw new Error(`${what}: threw a ${(error as Error)?.name}: ${String(error).slice(0, 300)}`, { cause: error });
        expect(codes.has(error.code), `${what}: code ${error.code}: ${error.message.slice(0, 200)}`).toBe(true);
        expect(error.message.length, `${what}: message length`).toBeLessThan(5000);
        outcome = error.code;
      }
      outcomes.set(`${what}:${outcome}`, (outcomes.get(`${what}:${outcome}`) ?? 0) + 1);
    };
    for (let i = 0; i < MESSAGE_ITERATIONS; i++) {
      const delivery = (body: Json): Delivery<Json> => ({ messageId: `fuzz-${i}`, body, deliveryCount: 1 });
      const job = mutate(random, validJob());
      await check("job", workerCodes, () => worker.handle(delivery(job), signal));
      const reply = mutate(random, random() < 0.7 ? validResult() : validRejection());
      await check("reply", collectorCodes, () => collector.handle(delivery(reply)));
    }
    const grownMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    console.log(`message fuzz: ${MESSAGE_ITERATIONS} jobs + ${MESSAGE_ITERATIONS} replies, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}, RSS +${grownMiB.toFixed(1)} MiB`);
    expect(grownMiB).toBeLessThan(600);
    // Nothing hostile was accepted as a reply (no request of this stack matched a random id).
    expect(outcomes.get("reply:accepted") ?? 0).toBe(0);

    // The same bodies through the queue are dead-lettered with their reason, and real work goes on.
    for (let i = 0; i < 20; i++) await stack.queue.publish(QUEUES.jobs, mutate(random, { ...validJob(), chainId: "1" }), { messageId: `fuzz-q-${i}` });
    const input = await uploadBlob(stack, textInput("still served", true));
    const id = await classify(stack, input);
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "submitted", 30_000, "a real request after the fuzzing");
    const dead = await stack.queue.deadLetters(QUEUES.jobs);
    expect(dead.filter((d) => d.messageId.startsWith("fuzz-q-")).length).toBe(20);
    for (const d of dead) expect(d.reason, d.messageId).toMatch(/^(MESSAGE_INVALID|DOMAIN_MISMATCH): /);
    await stack.networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "fulfilled", 30_000, "settlement");
    expect(isError(new OracleError("INTERNAL", "x"))).toBe(true);
  });
});
