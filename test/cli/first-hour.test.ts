/**
 * A new user's first hour with the `oracle` command (issue 16), run for real as child processes
 * against one `oracle dev` stack: mistakes that used to fail silently now fail at once, naming the
 * cause and the command that fixes it.
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HDNodeWallet, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onnx } from "../../protocol/index.js";
import { MNIST_MLP_HASH, PPOCR_CLS_HASH } from "../../sdk/index.js";
import { lastJson, oracle, ROOT, start, type LongRunning, type RunResult } from "./helpers.js";

const MNEMONIC = "test test test test test test test test test test test junk";
const keyOf = (i: number) => HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).privateKey;

/** A command line exactly as printed for the user, run by a shell in the repository root. */
function shell(line: string, timeoutMs = 180_000): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("sh", ["-c", line], { cwd: ROOT, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${line} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

interface Ready {
  try: string[];
  dashboardUrl: string;
  dataDir: string;
  rpcUrl: string;
  relayerUrl: string;
  chainId: string;
  oracle: string;
  deployment: string;
  accounts: Array<{ role: string; address: string; privateKey: string }>;
}

describe("oracle: the first hour", () => {
  let dir: string;
  let dev: LongRunning;
  let ready: Ready;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-first-hour-"));
    dev = start(["dev", "--json", "--port", "0", "--relayer-port", "0", "--out", join(dir, "deployment.json"), "--data-dir", join(dir, "dev"), "--challenge-window", "3"]);
    ready = JSON.parse(await dev.waitFor(/"ready":true/)) as Ready;
  }, 180_000);

  afterAll(async () => {
    const code = await dev?.stop("SIGINT");
    rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  it("a worker whose signing key is not staked fails `worker start --check` and refuses to start, naming the key, the stake and the fix", async () => {
    const signer = Wallet.createRandom();
    const env = { WORKER_SIGNER_KEY: signer.privateKey, RABBITMQ_URL: "amqp://127.0.0.1:1", WORKER_MODEL_CACHE_DIR: join(dir, "w") };
    const args = ["--deployment", ready.deployment];

    // The check and the real start (refused before it connects anywhere): side by side.
    const [check, run] = await Promise.all([oracle(["worker", "start", "--check", ...args], env), oracle(["worker", "start", ...args], env)]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain("error [CONFIG_INVALID]");
    expect(check.stderr).toContain(`signing key ${signer.address} is not staked with the oracle ${ready.oracle}`);
    expect(check.stderr).toContain(`npm run oracle -- stake 1.1 --signer ${signer.address} --key <operator key>`);

    // Not only the check: starting it for real refuses the same way, before it connects anywhere.
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`signing key ${signer.address} is not staked`);
    expect(run.stderr).not.toContain("worker ready");

    // The fix the message names works: stake for the signer from an operator account, and the check passes.
    const operatorKey = keyOf(13);
    const staked = await oracle(["stake", "1.1", "--signer", signer.address, ...args, "--key", operatorKey]);
    expect(staked.code, staked.stderr).toBe(0);
    const ok = await oracle(["worker", "start", "--check", "--json", ...args], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(lastJson<{ ok: boolean }>(ok).ok).toBe(true);

    // Stake that is unbonding does not count: below the minimum, the check names the stake and the minimum.
    expect((await oracle(["unstake", "0.5", ...args, "--key", operatorKey])).code).toBe(0);
    const low = await oracle(["worker", "start", "--check", ...args], env);
    expect(low.code).toBe(1);
    expect(low.stderr).toContain(`signing key ${signer.address} (operator ${new Wallet(operatorKey).address}) has 0.6 ETH active stake`);
    expect(low.stderr).toContain("below the minimum 1.0 ETH");
    expect(low.stderr).toContain("npm run oracle -- stake 0.5 --key <operator key>");
  }, 300_000);

  it("worker start and relayer start read the default deployment file the help names, and a relayer without a broker is refused", async () => {
    const project = mkdtempSync(join(tmpdir(), "oracle-project-"));
    try {
      const env = { WORKER_SIGNER_KEY: Wallet.createRandom().privateKey, RABBITMQ_URL: "amqp://127.0.0.1:1" };
      const none = await oracle(["worker", "start", "--check"], env, 60_000, project);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain("allowedOracles");
      mkdirSync(join(project, ".data/oracle"), { recursive: true });
      copyFileSync(ready.deployment, join(project, ".data/oracle/deployment.json"));
      // Both read the copied default file: side by side.
      const [found, relayer] = await Promise.all([
        oracle(["worker", "start", "--check"], env, 60_000, project),
        oracle(["relayer", "start", "--check"], { RELAYER_KEY: keyOf(3), RABBITMQ_URL: "" }, 60_000, project),
      ]);
      expect(found.code).toBe(1);
      expect(found.stderr).toContain(`using the deployment ${join(project, ".data/oracle/deployment.json")}`);
      expect(found.stderr).not.toContain("allowedOracles");
      expect(found.stderr).toContain(`is not staked with the oracle ${ready.oracle}`);

      expect(relayer.code).toBe(1);
      expect(relayer.stderr).toContain("1 problem:");
      expect(relayer.stderr).toContain("RABBITMQ_URL: required (without a broker no worker process can reach this relayer's jobs)");
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it("every `Try:` line of the banner runs as printed: the shipped example inputs are answered", async () => {
    expect(ready.try.length).toBe(3);
    const [list, line, digit] = ready.try as [string, string, string];
    // The list reads only; the two requests go one after the other (one account's nonces).
    const listed = shell(list);
    const r = await shell(line);
    const l = await listed;
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain(`${PPOCR_CLS_HASH}  ppocr-cls`);
    expect(l.stdout).toContain(`${MNIST_MLP_HASH}  mnist-mlp`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/is final/);
    expect(r.stdout).toContain("upside down (180°)");
    const d = await shell(digit);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/answer {2}class 7 — 7/);
    // The OPTIMISTIC wait says when the window closes in wall-clock time (the chain's clock may run ahead).
    const closes = /challenge window closes in (\d+) s \((\d\d:\d\d:\d\d)\)/.exec(d.stderr);
    expect(closes, d.stderr).not.toBeNull();
    expect(Number(closes![1])).toBeLessThanOrEqual(4);
  }, 300_000);

  it("examples/ ships the sample inputs the README and the banner name, exactly as docs/guides/examples/make-inputs.ts renders them", async () => {
    const out = mkdtempSync(join(tmpdir(), "oracle-inputs-"));
    try {
      const made = await new Promise<number | null>((resolvePromise) => {
        const child = spawn(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "docs/guides/examples/make-inputs.ts")], { cwd: out, stdio: "ignore" });
        child.on("close", resolvePromise);
      });
      expect(made).toBe(0);
      for (const file of ["line.png", "line-upside-down.png", "line.npy", "digit.png", "digit.json"]) {
        expect(readFileSync(join(ROOT, "examples", file)).equals(readFileSync(join(out, file))), file).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("the guide's example scripts run against the dev stack as the guide shows them", async () => {
    const env = `ORACLE_DEPLOYMENT=${ready.deployment} ORACLE_KEY=${keyOf(4)}`;
    const sdk = await shell(`${env} npm exec -- tsx docs/guides/examples/sdk-request.ts examples/line.npy`);
    expect(sdk.code, sdk.stderr).toBe(0);
    expect(sdk.stdout).toContain("final");
    expect(sdk.stdout).toContain("upright (0°)");
    const dapp = await shell(`${env} npm exec -- tsx docs/guides/examples/text-direction-dapp.ts "Read the manual" --upside-down`);
    expect(dapp.code, dapp.stderr).toBe(0);
    expect(dapp.stdout).toContain("the contract received the result: upside down");
  });

  it("the relayer's address and the banner's dashboard link open the dashboard", async () => {
    const res = await fetch(`${ready.relayerUrl}/`, { redirect: "manual", headers: { accept: "text/html" } });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get("location")!, ready.relayerUrl).href).toBe(ready.dashboardUrl);
    const page = await fetch(ready.dashboardUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<html");
  });

  it("models go by name, hash prefix and the short form printed everywhere; an unknown one points to `model list`", async () => {
    const env = { ORACLE_DEPLOYMENT: ready.deployment };
    // Read-only commands (a refused request sends nothing): run side by side.
    const names = ["ppocr-cls", "0x491843a3", `${PPOCR_CLS_HASH.slice(0, 6)}…${PPOCR_CLS_HASH.slice(-4)}`, `${PPOCR_CLS_HASH.slice(0, 6)}...${PPOCR_CLS_HASH.slice(-4)}`];
    const missing = ["resnet-50", `0x${"ab".repeat(32)}`, "0xabcdef"];
    const [inspected, refused] = await Promise.all([
      Promise.all(names.map((name) => oracle(["model", "inspect", name, "--json"], env))),
      Promise.all(missing.map((m) => oracle(["request", "--model", m, "--input", "examples/digit.json", "--key", keyOf(4)], env))),
    ]);
    inspected.forEach((r, i) => {
      expect(r.code, `${names[i]}: ${r.stderr}`).toBe(0);
      expect(lastJson<{ modelHash: string }>(r).modelHash).toBe(PPOCR_CLS_HASH);
    });
    refused.forEach((r, i) => {
      expect(r.code, missing[i]).toBe(1);
      expect(r.stderr).toContain("error [MODEL_NOT_FOUND]");
      expect(r.stderr).toContain("npm run oracle -- model list` shows the registered models");
    });
  });

  it("what a request prints is true: NONE names the operator, no callback asked means no callback verdict, status decodes the answer", async () => {
    const env = { ORACLE_DEPLOYMENT: ready.deployment };
    const helped = oracle(["request", "--help"]);
    const r = await oracle(["request", "--model", "ppocr-cls", "--input", "examples/line.png", "--wait", "--json", "--key", keyOf(4)], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/final {6}paid out in 0x[0-9a-f]{64} \(result by operator 0x[0-9a-fA-F]{40}\)/);
    const out = lastJson<{ request: { requestId: string }; outcome: Record<string, unknown> }>(r);
    expect(out.outcome.callback).toBe("none requested");
    expect(out.outcome).not.toHaveProperty("callbackSucceeded");
    const status = await oracle(["status", out.request.requestId], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`request ${out.request.requestId} is final`);
    expect(status.stdout).toContain("answer  class 0 — upright (0°)");
    const help = await helped;
    for (const format of [".npy", ".json", ".png", ".jpg", "ppocr-cls"]) expect(help.stdout).toContain(format);
  });

  it("a second `oracle dev` never touches a running stack's data folder or deployment file, and says why", async () => {
    const before = readFileSync(ready.deployment, "utf8");
    // Three refused starts (each on its own data folder), side by side.
    const port = Number(new URL(ready.rpcUrl).port);
    const [sameDir, sameOut, taken] = await Promise.all([
      oracle(["dev", "--port", "0", "--relayer-port", "0", "--data-dir", ready.dataDir, "--out", join(dir, "other.json")]),
      oracle(["dev", "--port", "0", "--relayer-port", "0", "--data-dir", join(dir, "other"), "--out", ready.deployment]),
      oracle(["dev", "--port", String(port), "--relayer-port", "0", "--data-dir", join(dir, "other-port")]),
    ]);
    expect(sameDir.code).toBe(1);
    expect(sameDir.stderr).toContain(`error [DEV_STACK_RUNNING]: the data folder ${ready.dataDir} belongs to the \`oracle dev\` running as pid`);
    expect(sameDir.stderr).toContain("--data-dir <dir>");
    expect(sameOut.code).toBe(1);
    expect(sameOut.stderr).toContain(`error [DEV_STACK_RUNNING]: the deployment file ${ready.deployment} belongs to`);
    expect(readFileSync(ready.deployment, "utf8")).toBe(before);

    // The JSON-RPC port taken (8545 is where anvil and `hardhat node` usually run): named, with what answers there and the way out.
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain(`error [PORT_IN_USE]: port ${port} on 127.0.0.1 (the JSON-RPC endpoint) is already in use: a JSON-RPC node answers there`);
    expect(taken.stderr).toContain("chain id 31337");
    expect(taken.stderr).toContain(`dev --port ${port + 1}`);
    expect(taken.stderr).not.toContain("INTERNAL");
    expect(readFileSync(ready.deployment, "utf8")).toBe(before);
  }, 300_000);

  describe("a stack without workers, then the same data folder --fresh", () => {
    // One `oracle dev --workers 0` serves the timeout check and is the first run of the --fresh check.
    let dataDir: string;
    let out: string;
    let first: LongRunning;
    let firstReady: Ready;
    beforeAll(async () => {
      dataDir = join(dir, "restart");
      out = join(dir, "restart.json");
      first = start(["dev", "--json", "--port", "0", "--relayer-port", "0", "--workers", "0", "--data-dir", dataDir, "--out", out]);
      firstReady = JSON.parse(await first.waitFor(/"ready":true/)) as Ready;
    }, 180_000);
    afterAll(async () => {
      await first?.stop("SIGINT");
    });

    it("a request no worker takes times out saying why, after progress lines while it waits", async () => {
      const r = await oracle(["request", "--model", "mnist-mlp", "--input", "examples/digit.json", "--wait", "--timeout", "11", "--key", keyOf(4)], { ORACLE_DEPLOYMENT: out });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/requested: still waiting \(1\d s of 11 s\)/);
      expect(r.stderr).toMatch(/error \[TIMEOUT\]: request 0x[0-9a-f]{64} is still requested after 11 s: 1 job waits in the relayer's queue unanswered: no worker is taking jobs/);
    }, 300_000);

    it("`oracle dev --fresh` says it starts fresh and never reuses a request id (dev-restart.test.ts: without it the chain resumes)", async () => {
      const ids: string[] = [];
      const oracles: string[] = [];
      for (let run = 0; run < 2; run++) {
        const stack = run === 0 ? first : start(["dev", "--json", "--port", "0", "--relayer-port", "0", "--workers", "0", "--data-dir", dataDir, "--out", out, "--fresh"]);
        try {
          const r = run === 0 ? firstReady : (JSON.parse(await stack.waitFor(/"ready":true/)) as Ready);
          expect(stack.output()).toContain(`Starting a fresh local chain in ${dataDir} (Ctrl-C and \`oracle dev\` again resumes it; --fresh wipes it)`);
          expect(r.dataDir).toBe(dataDir);
          oracles.push(r.oracle);
          const sent = await oracle(["request", "--model", "mnist-mlp", "--input", "examples/digit.json", "--json", "--key", keyOf(4)], { ORACLE_DEPLOYMENT: out });
          expect(sent.code, sent.stderr).toBe(0);
          ids.push(lastJson<{ requestId: string }>(sent).requestId);
          if (run === 1) {
            // The first run's id is unknown to the new chain: not a new request under an old name.
            const old = await oracle(["status", ids[0]!, "--json"], { ORACLE_DEPLOYMENT: out });
            expect(old.code, old.stdout).toBe(1);
            expect(lastJson<{ error: { code: string } }>(old).error.code).toBe("REQUEST_NOT_FOUND");
          }
        } finally {
          expect(await stack.stop("SIGINT")).toBe(0);
        }
      }
      expect(oracles[1]).not.toBe(oracles[0]);
      expect(ids[1]).not.toBe(ids[0]);
    }, 300_000);
  });

  it("a model registered with a wrong shape is corrected with --update by its owner; OPTIMISTIC without a commitment is refused", async () => {
    const env = { ORACLE_DEPLOYMENT: ready.deployment };
    const owner = ready.accounts.find((a) => a.role === "modelOwner")!.privateKey;
    // The MNIST model with other producer metadata: the same graph, a new file hash.
    const model = onnx.ModelProto.decode(readFileSync(join(ROOT, "models/mnist-mlp.onnx")));
    model.producerVersion = "first-hour";
    const file = join(dir, "mnist-first-hour.onnx");
    writeFileSync(file, onnx.ModelProto.encode(model).finish());

    // The refusal sends nothing, but runs before the first registration: once the model is registered
    // the CLI says "already registered" first.
    const noCommit = await oracle(["model", "register", file, "--no-commit", "--tiers", "none,optimistic", "--key", owner], env);
    const wrong = await oracle(["model", "register", file, "--tiers", "none", "--input-shape", "1,49,1", "--json", "--key", owner], env);
    expect(noCommit.code).toBe(1);
    expect(noCommit.stderr).toContain("the OPTIMISTIC tier needs a commitment root");
    expect(noCommit.stderr).toContain("--tiers none");

    expect(wrong.code, wrong.stderr).toBe(0);
    const hash = lastJson<{ modelHash: string; input: { shape: number[] } }>(wrong);
    expect(hash.input.shape).toEqual([1, 49, 1]);

    const [again, stranger] = await Promise.all([
      oracle(["model", "register", file, "--tiers", "none", "--key", owner], env),
      oracle(["model", "register", file, "--update", "--tiers", "none", "--key", keyOf(4)], env),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("is already registered");
    expect(again.stderr).toContain("--update");
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toContain("only its owner can --update it");

    const fixed = await oracle(["model", "register", file, "--update", "--tiers", "none", "--json", "--key", owner], env);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(lastJson<{ modelHash: string; input: { shape: number[] } }>(fixed)).toMatchObject({ modelHash: hash.modelHash, input: { shape: [1, 7, 7] } });
    const served = await oracle(["request", "--model", hash.modelHash.slice(0, 12), "--input", "examples/digit.json", "--wait", "--json", "--key", keyOf(4)], env);
    expect(served.code, served.stderr).toBe(0);
    expect(lastJson<{ outcome: { stage: string } }>(served).outcome.stage).toBe("final");
  }, 300_000);
});
