/**
 * Issue 13, finding 1, the second wall: a model that reads a file relative to the worker's working
 * directory once got the worker's `worker.json` (signer key included) signed and published. Models are
 * now refused and loaded from private folders (model-exfiltration.test.ts); this checks where the
 * worker process itself runs. worker/main.ts, started from a folder holding its key file with
 * WORKER_HOST_CHECK=refuse, exits before it connects to anything, naming each problem; by default
 * (warn) it logs them and goes on. Run as the real process (node + tsx), from real temp folders.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Wallet } from "ethers";
import { afterAll, describe, expect, it } from "vitest";
import { hostCheckMode, workerHostProblems } from "../../worker/index.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;
const base = mkdtempSync(join(tmpdir(), "worker-host-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const ORACLES = JSON.stringify([{ chainId: "31337", oracle: "0x" + "11".repeat(20) }]);

function workerConfig(dir: string, withKey: boolean): string {
  const path = join(dir, "worker.json");
  writeFileSync(path, JSON.stringify({ ...(withKey ? { signerKey: Wallet.createRandom().privateKey } : {}), allowedOracles: JSON.parse(ORACLES) }));
  return path;
}

/** Runs worker/main.ts with `args` from `cwd`; the broker URL names a closed port, so a worker that passes the check fails at its connect. */
function runWorker(cwd: string, args: string[], env: Record<string, string>, stopOn?: RegExp): Promise<{ code: number | null; out: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--import", TSX, join(ROOT, "worker/main.ts"), ...args], {
      cwd,
      env: { ...process.env, LOG_LEVEL: "info", RABBITMQ_URL: "amqp://127.0.0.1:1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const onData = (c: Buffer) => {
      out += c.toString("utf8");
      if (stopOn?.test(out)) child.kill("SIGKILL");
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", fail);
    child.on("exit", (code) => {
      clearTimeout(timer);
      done({ code, out });
    });
  });
}

describe("attack: a worker run from a folder holding its key (issue 13, finding 1)", () => {
  it("test_hostProblems_root_keyFileInCwd_nonEmptyCwd_eachNamed; a clean placement has none", () => {
    const cwd = join(base, "run-dirty");
    mkdirSync(cwd);
    const config = workerConfig(cwd, true);
    const problems = workerHostProblems({ uid: 0, cwd, configPath: "worker.json" });
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/runs as root/);
    expect(problems[1]).toContain(config);
    expect(problems[1]).toMatch(/holds a key and lies inside the working directory/);
    expect(problems[2]).toMatch(/is not empty \(worker\.json\)/);

    // Not root, an empty folder, the key file elsewhere: nothing to say.
    const outside = join(base, "keys");
    mkdirSync(outside);
    const keyOutside = workerConfig(outside, true);
    const empty = join(base, "run-empty");
    mkdirSync(empty);
    expect(workerHostProblems({ uid: 1000, cwd: empty, configPath: keyOutside })).toEqual([]);
    // A key file named through a link that leads into the working directory is inside it.
    const linked = join(base, "run-linked");
    mkdirSync(linked);
    workerConfig(linked, true);
    symlinkSync(linked, join(outside, "here"));
    expect(workerHostProblems({ uid: 1000, cwd: linked, configPath: join(outside, "here", "worker.json") })[0]).toMatch(/holds a key and lies inside/);
    // A config file without a key may sit anywhere (the key then comes from WORKER_SIGNER_KEY); the folder is still not empty.
    const keyless = join(base, "run-keyless");
    mkdirSync(keyless);
    workerConfig(keyless, false);
    const keylessProblems = workerHostProblems({ uid: 1000, cwd: keyless, configPath: join(keyless, "worker.json") });
    expect(keylessProblems).toHaveLength(1);
    expect(keylessProblems[0]).toMatch(/not empty/);

    expect(hostCheckMode(undefined)).toBe("warn");
    expect(hostCheckMode("refuse")).toBe("refuse");
    expect(() => hostCheckMode("strict")).toThrow(/WORKER_HOST_CHECK must be warn, refuse or off/);
  });

  it("test_workerProcess_refuseMode_keyInCwd_exitsBeforeConnecting; warn mode logs it and goes on", async () => {
    const cwd = join(base, "proc-dirty");
    mkdirSync(cwd);
    workerConfig(cwd, true);
    const refused = await runWorker(cwd, ["worker.json"], { WORKER_HOST_CHECK: "refuse" });
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/refuses to start \(WORKER_HOST_CHECK=refuse\)/);
    expect(refused.out).toMatch(/holds a key and lies inside the working directory/);
    // It stopped before the broker: no connection was tried.
    expect(refused.out).not.toMatch(/ECONNREFUSED|127\.0\.0\.1:1/);

    // Warned, it goes on to the broker (stopped once the last warning is out).
    const warned = await runWorker(cwd, ["worker.json"], {}, /is not empty[^\n]*\n/);
    const warnings = warned.out.split("\n").filter((l) => l.includes('"check":"host"'));
    expect(warnings.some((l) => /holds a key and lies inside/.test(l))).toBe(true);
    expect(warned.out).not.toMatch(/refuses to start/);

    // From an empty folder, the key in the environment: only the user can be a problem (these tests may run as root).
    const empty = join(base, "proc-empty");
    mkdirSync(empty);
    const clean = await runWorker(empty, [], { WORKER_HOST_CHECK: "refuse", WORKER_SIGNER_KEY: Wallet.createRandom().privateKey, WORKER_ALLOWED_ORACLES: ORACLES }, process.getuid?.() === 0 ? undefined : /\}\n/);
    if (process.getuid?.() === 0) {
      expect(clean.code).toBe(1);
      expect(clean.out).toMatch(/refuses to start/);
      expect(clean.out).toMatch(/runs as root/);
      expect(clean.out).not.toMatch(/not empty|lies inside/);
    } else {
      expect(clean.out).not.toMatch(/refuses to start/);
    }
  }, 150_000);
});
