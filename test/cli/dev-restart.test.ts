/**
 * `oracle dev` keeps its chain, relayer database and blob store across restarts (a journal replayed
 * with every block hash checked): Ctrl-C and start again, an earlier request and its result are still
 * there and a new request gets a new id; a journal that does not replay, or other chain-shaping flags,
 * are refused with the --fresh hint; `--fresh` wipes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lastJson, oracle, start, type LongRunning } from "./helpers.js";

interface Ready {
  rpcUrl: string;
  relayerUrl: string;
  oracle: string;
  deployment: string;
  dataDir: string;
  workers: string[];
  accounts: Array<{ role: string; privateKey: string }>;
  state: { resumed: boolean; blocks: number; requests: number };
}
interface Requested {
  request: { requestId: string; inputHash: string };
  outcome: { stage: string; outputHash: string };
}

describe("oracle dev across restarts", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "oracle-dev-state-"));
  const out = join(dataDir, "deployment.json");
  const args = ["dev", "--json", "--port", "0", "--relayer-port", "0", "--data-dir", dataDir, "--out", out, "--challenge-window", "3"];
  let running: LongRunning | undefined;
  const up = async (extra: string[] = []): Promise<Ready> => {
    running = start([...args, ...extra]);
    return JSON.parse(await running.waitFor(/"ready":true/, 240_000)) as Ready;
  };
  const down = async () => {
    expect(await running!.stop("SIGINT")).toBe(0);
    running = undefined;
  };
  afterAll(async () => {
    await running?.stop("SIGINT");
    rmSync(dataDir, { recursive: true, force: true });
  });
  const request = async (ready: Ready): Promise<Requested> => {
    const key = ready.accounts.find((a) => a.role === "user")!.privateKey;
    const r = await oracle(["request", "--model", "ppocr-cls", "--input", "examples/line-upside-down.png", "--tier", "none", "--wait", "--json"], { ORACLE_DEPLOYMENT: ready.deployment, ORACLE_KEY: key });
    expect(r.code, r.stderr).toBe(0);
    return lastJson<Requested>(r);
  };

  it("resumes the chain, the requests, their results and input blobs (twice); an open request is served after the restart; a new request gets a new id; --fresh wipes", async () => {
    // First run without workers: the request stays open across the restart.
    const first = await up(["--workers", "0"]);
    expect(first.state).toEqual({ resumed: false, blocks: 0, requests: 0 });
    const key = first.accounts.find((a) => a.role === "user")!.privateKey;
    const sent = await oracle(["request", "--model", "ppocr-cls", "--input", "examples/line-upside-down.png", "--tier", "none", "--json"], { ORACLE_DEPLOYMENT: first.deployment, ORACLE_KEY: key });
    expect(sent.code, sent.stderr).toBe(0);
    const openId = lastJson<{ requestId: string; inputHash: string }>(sent);
    await down();

    // Resumed with a worker: the open request is served, and a new one gets a new id.
    const second = await up();
    expect(second.state.resumed).toBe(true);
    expect(second.state.requests).toBe(1);
    expect(second.oracle).toBe(first.oracle);
    expect(second.relayerUrl).toBe(first.relayerUrl);
    const served = await oracle(["status", openId.requestId, "--wait", "--timeout", "60", "--json"], { ORACLE_DEPLOYMENT: second.deployment });
    expect(served.code, served.stderr).toBe(0);
    const one = { request: openId, outcome: lastJson<{ outcome: { stage: string; outputHash: string } }>(served).outcome };
    expect(one.outcome.stage).toBe("final");
    const two = await request(second);
    expect(two.request.requestId).not.toBe(one.request.requestId);
    expect(two.outcome.stage).toBe("final");
    await down();

    // Resumed again: both requests and their results, on chain and in the relayer's database; the inputs in the blob store.
    const third = await up();
    expect(third.state.resumed).toBe(true);
    expect(third.state.requests).toBe(2);
    expect(third.state.blocks).toBeGreaterThan(second.state.blocks);
    expect(third.oracle).toBe(first.oracle);
    expect(third.workers).toEqual(second.workers);
    // With --relayer-port 0 the relayer takes its last port again: uploaded inputs' URIs still resolve.
    expect(third.relayerUrl).toBe(second.relayerUrl);
    for (const r of [one, two]) {
      const status = await oracle(["status", r.request.requestId, "--json"], { ORACLE_DEPLOYMENT: third.deployment });
      expect(status.code, status.stderr).toBe(0);
      expect(lastJson<{ stage: string; outputHash: string }>(status)).toMatchObject({ stage: "final", outputHash: r.outcome.outputHash });
      expect((await fetch(`${third.relayerUrl}/requests/${r.request.requestId}`)).status).toBe(200);
      expect((await fetch(`${third.relayerUrl}/blobs/${r.request.inputHash}`)).status).toBe(200);
    }
    const three = await request(third);
    expect([one.request.requestId, two.request.requestId]).not.toContain(three.request.requestId);
    await down();

    // Other chain-shaping flags are refused before anything starts, naming --fresh.
    const other = await oracle([...args, "--challenge-window", "5"]);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain("error [DEV_STATE_UNUSABLE]");
    expect(other.stderr).toContain("--challenge-window 3");
    expect(other.stderr).toContain("dev --fresh");

    // A journal whose replay gives another chain is refused (here: one block's recorded hash altered).
    const journal = join(dataDir, "chain.jsonl");
    const original = readFileSync(journal, "utf8");
    const lines = original.trim().split("\n");
    const i = lines.findIndex((l) => l.startsWith('{"b":5,'));
    expect(i).toBeGreaterThan(0);
    lines[i] = lines[i]!.replace(/"h":"0x[0-9a-f]{4}/, '"h":"0xdead');
    writeFileSync(journal, `${lines.join("\n")}\n`);
    const tampered = await oracle(args);
    expect(tampered.code).not.toBe(0);
    expect(tampered.stderr).toContain("error [DEV_STATE_UNUSABLE]");
    expect(tampered.stderr).toContain("replayed block 5 differs from the recorded one");
    expect(tampered.stderr).toContain("dev --fresh");
    writeFileSync(journal, original);

    // --fresh: a new chain (new addresses), the old request unknown, the relayer's database empty.
    const fresh = await up(["--fresh"]);
    expect(fresh.state).toEqual({ resumed: false, blocks: 0, requests: 0 });
    expect(fresh.oracle).not.toBe(first.oracle);
    const gone = await oracle(["status", one.request.requestId, "--json"], { ORACLE_DEPLOYMENT: fresh.deployment });
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain("REQUEST_NOT_FOUND");
    expect((await fetch(`${fresh.relayerUrl}/requests/${one.request.requestId}`)).status).toBe(404);
    await down();
  }, 900_000);
});
