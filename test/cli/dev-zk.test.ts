/**
 * `oracle dev --zk`: the MNIST model on the ZK tier in the dev stack (circuit and development keys
 * built once and cached, verifier contracts deployed), its banner's Try: line proven and settled in
 * one transaction, run as printed.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lastJson, oracle, ROOT, start, type LongRunning, type RunResult } from "./helpers.js";

function shell(line: string): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawn("sh", ["-c", line], { cwd: ROOT, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

describe("oracle dev --zk", () => {
  let dir: string;
  let dev: LongRunning | undefined;

  afterAll(async () => {
    const code = await dev?.stop("SIGINT");
    rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  it("offers the MNIST model on the ZK tier; the banner's ZK request is proven, checked on chain and final", async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-dev-zk-"));
    const out = join(dir, "deployment.json");
    dev = start(["dev", "--zk", "--json", "--port", "0", "--relayer-port", "0", "--out", out, "--data-dir", join(dir, "dev")]);
    const ready = JSON.parse(await dev.waitFor(/"ready":true/, 280_000)) as { try: string[] };
    expect(dev.output()).toContain("making the MNIST model zk-ready");
    const inspect = lastJson<{ onChain: { tiers: string[]; zkVerifier: string } }>(await oracle(["model", "inspect", "mnist-mlp", "--json"], { ORACLE_DEPLOYMENT: out }));
    expect(inspect.onChain.tiers).toEqual(["NONE", "OPTIMISTIC", "ZK"]);
    expect(inspect.onChain.zkVerifier).not.toMatch(/^0x0{40}$/);

    const line = ready.try.find((c) => c.includes("--tier zk"));
    expect(line).toBeDefined();
    const r = await shell(line!);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/is final/);
    expect(r.stdout).toMatch(/answer {2}class 7 — 7/);
  }, 420_000);
});
