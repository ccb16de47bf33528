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

  it("resumes the chain, the request, its result and its input blob; a new request gets a new id; --fresh wipes", async () => {
    const first = await up();
    expect(first.state).toEqual({ resumed: false, blocks: 0, requests: 0 });
    const one = await request(first);
    expect(one.outcome.stage).toBe("final");
    await down();

    const second = await up();
    expect(second.state.resumed).toBe(true);
    expect(second.state.requests).toBe(1);
    expect(second.state.blocks).toBeGreaterThan(10);
    expect(second.oracle).toBe(first.oracle);
    expect(second.workers).toEqual(first.workers);
    // The earlier request and its result, on chain and in the relayer's database; its input in the blob store.
    const status = await oracle(["status", one.request.requestId, "--json"], { ORACLE_DEPLOYMENT: second.deployment });
    expect(status.code, status.stderr).toBe(0);
    expect(lastJson<{ stage: string; outputHash: string }>(status)).toMatchObject({ stage: "final", outputHash: one.outcome.outputHash });
    const row = await fetch(`${second.relayerUrl}/requests/${one.request.requestId}`);
    expect(row.status).toBe(200);
    const blob = await fetch(`${second.relayerUrl}/blobs/${one.request.inputHash}`);
    expect(blob.status).toBe(200);
    // The chain goes on from where it stopped: a new request, a new id, answered by the same worker.
    const two = await request(second);
    expect(two.request.requestId).not.toBe(one.request.requestId);
    expect(two.outcome.stage).toBe("final");
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
