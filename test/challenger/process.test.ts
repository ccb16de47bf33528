/**
 * The challenger as its own process (challenger/main.ts) against the in-process chain served over
 * HTTP JSON-RPC: configured only by CHALLENGER_* variables (no CHALLENGER_FRAUD_GAMES: the default
 * deployment's FraudGame is found on-chain), it re-runs a cheating worker's result canonically (test-only
 * fault injection: scripts/fault-injection.ts GameCheater, whose answerer defends a forged trace), plays the
 * game to a leaf proof, withdraws its reward, and exits 0 on SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Wallet, parseEther } from "ethers";
import { afterAll, describe, expect, it } from "vitest";
import { GameCheater } from "../../scripts/fault-injection.js";
import { CLS_MODEL_PATH, DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { classify, stateOf, textInput, uploadBlob } from "../e2e/helpers.js";

/** Serves the in-process chain's JSON-RPC over HTTP (single and batch requests). */
function rpcBridge(stack: LocalStack): Promise<{ url: string; server: Server }> {
  const one = async (req: { id: unknown; method: string; params?: unknown[] }) => {
    try {
      return { jsonrpc: "2.0", id: req.id, result: await stack.ethers.provider.send(req.method, req.params ?? []) };
    } catch (error) {
      const e = error as { code?: number; message: string; data?: unknown };
      return { jsonrpc: "2.0", id: req.id, error: { code: typeof e.code === "number" ? e.code : -32000, message: e.message, data: e.data } };
    }
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
        const reply = Array.isArray(body) ? await Promise.all(body.map(one)) : await one(body as never);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(reply, (_, v: unknown) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v)));
      })();
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server })));
}

describe("challenger process", () => {
  let stack: LocalStack | undefined;
  let bridge: { url: string; server: Server } | undefined;
  let child: ChildProcess | undefined;
  afterAll(async () => {
    child?.kill("SIGKILL");
    await new Promise<void>((resolve) => (bridge === undefined ? resolve() : bridge.server.close(() => resolve())));
    await stack?.close();
  });

  it("test_process_envConfigured_playsTheGame_cheaterSlashed_withdraws_exitsOnSigterm", async () => {
    stack = await startLocalStack({ resolver: "game", workers: 0 });
    const cheater = new GameCheater();
    await stack.addWorker({ traceBuilder: cheater, gameResponder: cheater.responder });
    bridge = await rpcBridge(stack);
    const key = Wallet.createRandom();
    await (await stack.accounts.admin.sendTransaction({ to: key.address, value: parseEther("10") })).wait();
    const id = await classify(stack, await uploadBlob(stack, textInput("Challenge me", true)));
    stack.relayer.poke();
    await waitFor(() => stateOf(stack!, id) === "submitted", 120_000, "the faulty result on-chain");

    let output = "";
    child = spawn("node_modules/.bin/node", ["--import", "tsx", "challenger/main.ts"], {
      env: {
        PATH: process.env.PATH,
        CHALLENGER_RPC_URL: bridge.url,
        CHALLENGER_PRIVATE_KEY: key.privateKey,
        CHALLENGER_ORACLE: await stack.oracle.getAddress(),
        CHALLENGER_BLOB_STORE_URL: stack.relayer.url,
        CHALLENGER_MODELS: JSON.stringify([{ path: CLS_MODEL_PATH, inputShape: [1, 3, 48, 192] }]),
        CHALLENGER_POLICY: JSON.stringify({ maxBondAtRisk: String(DEFAULT_PARAMS.challengeBond) }),
        CHALLENGER_POLL_INTERVAL_MS: "200",
        CHALLENGER_WITHDRAW_EVERY_POLLS: "1",
        METRICS_PORT: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child!.on("exit", (code) => resolve(code)));

    await waitFor(() => output.includes('"msg":"rewards withdrawn"'), 180_000, `the challenger's reward (output so far: ${output.slice(-2000)})`);
    expect(output).toContain('"msg":"challenger ready"');
    expect(output).toContain('"msg":"audit: gamePlayed"');
    expect(Number((await stack.game!.game(id)).ruling)).toBe(2); // WorkerFault
    expect(output).not.toContain(key.privateKey.slice(2));
    expect(await stack.oracle.state(id)).toBe(1n); // reopened
    expect(await stack.oracle.balanceOf(key.address)).toBe(0n);
    const balance = await stack.ethers.provider.getBalance(key.address);
    // Reward in (the slashed result bond less its burn share), less gas.
    expect(balance).toBeGreaterThan(parseEther("10") + DEFAULT_PARAMS.resultBond - (DEFAULT_PARAMS.resultBond * BigInt(DEFAULT_PARAMS.burnBps)) / 10_000n - parseEther("0.01"));

    // Its metrics and health endpoints (METRICS_PORT 0: any free port, logged).
    const metricsUrl = /"url":"(http:\/\/127\.0\.0\.1:\d+)","msg":"metrics and health endpoints listening"/.exec(output)?.[1];
    expect(metricsUrl, "the metrics server's URL in the log").toBeDefined();
    const scrape = await (await fetch(`${metricsUrl}/metrics`)).text();
    expect(scrape).toMatch(/oracle_challenger_checks_total\{[^}]*outcome="fault"[^}]*\} 1\b/);
    expect(scrape).toMatch(/oracle_challenger_challenges_opened_total\{[^}]*\} 1\b/);
    expect(scrape).toMatch(/oracle_challenger_disputes_total\{[^}]*outcome="won"[^}]*\} 1\b/);
    expect(scrape).toContain(`oracle_challenger_bonds_posted_wei_total{service="challenger"} ${DEFAULT_PARAMS.challengeBond}`);
    expect((await fetch(`${metricsUrl}/readyz`)).status).toBe(200);

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"challenger process exiting"');
  }, 300_000);
});
