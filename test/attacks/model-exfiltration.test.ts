/**
 * Issue 13, finding 1 (critical): key exfiltration through a model's external data. A model-local
 * function's Constant names a relative external-data path; a worker that loaded the model from bytes
 * (its trace session did) read that path against its working directory and signed and published the
 * file — a worker.json with its signerKey. Now every model is refused (MODEL_UNSAFE) before it is
 * cached or loaded, wherever in the ModelProto the external data hides, and every load goes through a
 * private empty folder.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  QUEUES,
  RejectReason,
  assertModelSafe,
  commitModel,
  encodeTensor,
  hashEncoded,
  isError,
  bytesToHex,
  withPrivateModelFile,
  type Job,
} from "../../protocol/index.js";
import { InProcessQueue, type Json } from "../../queue/index.js";
import { StaticCatalog, Worker, sha256Hex } from "../../worker/index.js";
import { onnxFileInfo } from "../../cli/deploy.js";
import { CHAIN_ID, CLS_BYTES, ORACLE, SIGNER_KEY, loopbackServer, randomHash, silentLogger, tempDir, waitFor, type LoopbackServer } from "../worker/fixtures.js";
import { benignModel, externalDataVariants, functionConstantExfiltration } from "./hostile-models.js";

const ELEMENTS = 16;
// 64 bytes: exactly the 16 float32 elements the hostile Constant reads.
const SECRET = `{"signerKey":"0x${randomBytes(23).toString("hex")}"}`.padEnd(64, " ");
// Relative to the working directory (the checkout, where vitest runs): what a worker's cwd holds.
const SECRET_DIR = `.data/attack-${randomBytes(6).toString("hex")}`;
const SECRET_PATH = `${SECRET_DIR}/worker.json`;

function leaks(haystack: Buffer | string): boolean {
  const s = typeof haystack === "string" ? haystack : haystack.toString("latin1");
  const hex = Buffer.from(SECRET).toString("hex");
  return s.includes(SECRET) || s.toLowerCase().includes(hex) || s.includes(Buffer.from(SECRET).toString("base64")) || s.includes(SECRET.slice(0, 40));
}

describe("attack: key exfiltration through a model's external data", () => {
  beforeAll(() => {
    expect(Buffer.byteLength(SECRET)).toBe(64);
    mkdirSync(SECRET_DIR, { recursive: true });
    writeFileSync(SECRET_PATH, SECRET);
  });
  afterAll(() => rmSync(SECRET_DIR, { recursive: true, force: true }));

  it("the hostile model is a real exploit: onnxruntime loading its bytes reads the secret (the old worker's trace session)", async () => {
    const session = await ort.InferenceSession.create(functionConstantExfiltration(SECRET_PATH, ELEMENTS), { executionProviders: ["cpu"] });
    try {
      const out = await session.run({ x: new ort.Tensor("float32", new Float32Array(ELEMENTS), [ELEMENTS]) });
      expect(Buffer.from((out.y!.data as Float32Array).buffer).toString()).toBe(SECRET);
    } finally {
      await session.release();
    }
  });

  it("a worker refuses it (MODEL_UNSAFE): the secret is in nothing it signs or publishes", async () => {
    const tmp = await tempDir();
    const blobs: LoopbackServer = await loopbackServer((_req, _body, res) => {
      res.statusCode = 201;
      res.end();
    });
    const queue = new InProcessQueue();
    const model = functionConstantExfiltration(SECRET_PATH, ELEMENTS);
    const modelFile = join(tmp.dir, "hostile.onnx");
    writeFileSync(modelFile, model);
    const modelHash = sha256Hex(model);
    const spec = { dtype: "float32" as const, shape: [ELEMENTS] };
    const worker = new Worker({
      queue,
      catalog: new StaticCatalog([{ modelHash, uris: [modelFile], input: spec, output: spec }]),
      logger: silentLogger(),
      config: {
        signerKey: SIGNER_KEY,
        allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }],
        modelCacheDir: join(tmp.dir, "models"),
        modelSchemes: ["file"],
        blobStoreUrl: blobs.url,
        inferenceThread: false,
      },
    });
    const published: Json[] = [];
    await queue.consume<Json>(QUEUES.results, async (d) => {
      published.push(d.body);
    });
    try {
      await worker.start();
      const input = encodeTensor({ dtype: "float32", shape: [ELEMENTS], data: new Float32Array(ELEMENTS) });
      const job: Job = {
        kind: "job",
        chainId: CHAIN_ID.toString(),
        oracle: ORACLE,
        requestId: randomHash(),
        modelHash,
        inputHash: hashEncoded(input),
        input: bytesToHex(input),
        inputURI: "",
        tier: 1,
        deadline: Math.floor(Date.now() / 1000) + 3600,
        observedAt: Date.now(),
      };
      await queue.publish(QUEUES.jobs, job as unknown as Json);
      await waitFor(() => (published.length > 0 ? true : undefined), 20_000, "the worker's reply");
      const reply = published[0] as { kind: string; reason: number; code: string };
      expect(reply.kind).toBe("rejection");
      expect(reply.reason).toBe(RejectReason.ModelUnavailable);
      expect(reply.code).toBe("MODEL_UNSAFE");
      expect(published.some((m) => leaks(JSON.stringify(m)))).toBe(false);
      expect(blobs.requests.some((r) => leaks(r.body) || leaks(r.url))).toBe(false);
      // Never even cached.
      expect(await worker.models.path(modelHash, [modelFile]).catch((e: unknown) => (isError(e, "MODEL_UNSAFE") ? "unsafe" : e))).toBe("unsafe");
    } finally {
      await worker.close();
      await queue.close();
      await blobs.close();
      await tmp.cleanup();
    }
  });

  it.each(Object.entries(externalDataVariants(SECRET_PATH, ELEMENTS)))("external data in %s is refused", (_where, bytes) => {
    let caught: unknown;
    try {
      assertModelSafe(bytes);
    } catch (error) {
      caught = error;
    }
    expect(isError(caught, "MODEL_UNSAFE")).toBe(true);
    expect((caught as Error).message).toMatch(/external data/);
  });

  it("refuses it at registration (the CLI's file reader) and in commitModel", async () => {
    const tmp = await tempDir();
    try {
      const file = join(tmp.dir, "hostile.onnx");
      writeFileSync(file, functionConstantExfiltration(SECRET_PATH, ELEMENTS));
      expect(() => onnxFileInfo(file)).toThrow(expect.objectContaining({ code: "MODEL_UNSAFE" }));
      await expect(commitModel(functionConstantExfiltration(SECRET_PATH, ELEMENTS), { inputShape: [ELEMENTS] })).rejects.toMatchObject({ code: "MODEL_UNSAFE" });
    } finally {
      await tmp.cleanup();
    }
  });

  it("real and benign models pass; a private model folder holds only the model and is removed afterwards", async () => {
    expect(() => assertModelSafe(CLS_BYTES)).not.toThrow();
    expect(() => assertModelSafe(benignModel(ELEMENTS))).not.toThrow();
    const { readdirSync, statSync, existsSync } = await import("node:fs");
    let seen: { dir: string; entries: string[]; mode: number } | undefined;
    const hash = await withPrivateModelFile(CLS_BYTES, async (path) => {
      const dir = join(path, "..");
      seen = { dir, entries: readdirSync(dir), mode: statSync(dir).mode & 0o777 };
      return sha256Hex(await import("node:fs/promises").then((fs) => fs.readFile(path)));
    });
    expect(hash).toBe(sha256Hex(CLS_BYTES));
    expect(seen!.entries).toEqual(["model.onnx"]);
    expect(seen!.mode).toBe(0o700);
    expect(existsSync(seen!.dir)).toBe(false);
  });

  it("a truncated or group-encoded file is refused, not guessed at", () => {
    const cut = CLS_BYTES.subarray(0, 1000);
    expect(() => assertModelSafe(cut)).toThrow(expect.objectContaining({ code: "MODEL_UNSAFE" }));
    expect(() => assertModelSafe(Uint8Array.from([0x0b, 0x0c]))).toThrow(expect.objectContaining({ code: "MODEL_UNSAFE" }));
  });
});


