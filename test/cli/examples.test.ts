/**
 * The guide's example scripts (docs/guides/examples/) answer a wrong argument or a missing local
 * stack with one plain line and an exit status, never a stack trace.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, type RunResult } from "./helpers.js";

function example(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "docs/guides/examples", script), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

const noStack = (r: RunResult) => expect(r.stderr).not.toMatch(/^\s+at /m);

describe("the guide's example scripts on bad arguments", () => {
  it("audit-result.ts: no request id, or not one, is a usage error", async () => {
    for (const args of [[], ["12"], [`0x${"ab".repeat(32)}`, "--fraction", "0.1"]]) {
      const r = await example("audit-result.ts", args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain("usage: audit-result.ts <requestId>\n");
      noStack(r);
    }
  });

  it("sdk-request.ts: a missing input file is a usage error naming it", async () => {
    const r = await example("sdk-request.ts", ["no-such-line.npy"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no input file no-such-line.npy");
    noStack(r);
  });

  it("text-direction-dapp.ts: without a running local oracle it says how to start one", async () => {
    const r = await example("text-direction-dapp.ts", [], { ORACLE_DEPLOYMENT: join(ROOT, ".data/no-such-deployment.json") });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("start the local oracle first (npm run oracle -- dev)");
    noStack(r);
  });
});
