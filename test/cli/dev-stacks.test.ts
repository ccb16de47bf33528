/**
 * Two `oracle dev` stacks started from a project folder of their own (not the repository): each has
 * its own data folder, the second leaves the default deployment file to the first and says so, and
 * the first's banner commands work as printed from that folder.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { start, type LongRunning, type RunResult } from "./helpers.js";

function shell(line: string, cwd: string): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawn("sh", ["-c", line], { cwd, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

interface Ready {
  rpcUrl: string;
  oracle: string;
  deployment: string;
  dataDir: string;
  try: string[];
}

describe("two oracle dev stacks in one project folder", () => {
  const project = mkdtempSync(join(tmpdir(), "oracle-project-"));
  const stacks: LongRunning[] = [];
  afterAll(async () => {
    for (const s of stacks.reverse()) expect(await s.stop("SIGINT")).toBe(0);
    rmSync(project, { recursive: true, force: true });
  });

  it("the second keeps to its own folder and deployment file and says so; the first's Try: lines run from the project folder", async () => {
    const first = start(["dev", "--json", "--port", "0", "--relayer-port", "0", "--challenge-window", "3"], {}, project);
    stacks.push(first);
    const a = JSON.parse(await first.waitFor(/"ready":true/)) as Ready;
    expect(a.deployment).toBe(join(project, ".data/oracle/deployment.json"));
    expect(a.dataDir).toBe(join(project, ".data/dev", new URL(a.rpcUrl).port));

    const second = start(["dev", "--port", "0", "--relayer-port", "0", "--workers", "0"], {}, project);
    stacks.push(second);
    await second.waitFor(/Try:/);
    const banner = second.output();
    const own = /Deployment +(\S+\/deployment\.json) +\(the default \.data\/oracle\/deployment\.json belongs to the oracle dev at (\S+) \(pid \d+\)/.exec(banner);
    expect(own, banner).not.toBeNull();
    expect(own![2]).toBe(a.rpcUrl);
    expect(own![1]).not.toBe(a.deployment);
    expect(own![1]!.startsWith(join(project, ".data/dev/"))).toBe(true);
    expect(banner).toContain(`ORACLE_DEPLOYMENT=${own![1]}`);
    // The default file is still the first stack's.
    expect(JSON.parse(readFileSync(a.deployment, "utf8")).oracle).toBe(a.oracle);

    for (const line of a.try) {
      expect(line).not.toContain("npm run oracle");
      const r = await shell(line, project);
      expect(r.code, `${line}\n${r.stderr}`).toBe(0);
    }
  }, 400_000);
});
