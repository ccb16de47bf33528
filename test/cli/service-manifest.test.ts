/**
 * Services find their deployment by the chain they are pointed at (protocol/manifest.ts): after `oracle deploy`
 * wrote deployments/4243.json, a relayer process given only RPC_URL and its key serves that oracle, and
 * `oracle relayer|worker|challenger start` with no deployment file fill their addresses from the manifest of the
 * RPC's chain. A chain without a manifest, a node that does not answer, and addresses given explicitly are
 * each told apart.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { network } from "hardhat";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { manifestForRpc, manifestServiceEnv, serviceManifest, type DeploymentManifest, isError } from "../../protocol/index.js";
import { CLS_MODEL_PATH } from "../../stack/local-stack.js";
import { lastJson, oracle, ROOT } from "./helpers.js";

// Hardhat's default accounts #0 and #1 (`test test ... junk`): public knowledge, local chains only.
const KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const RELAYER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

describe("services read the deployment manifest of the RPC's chain", () => {
  let dir: string;
  let empty: string;
  let url: string;
  let manifest: DeploymentManifest;
  let server: Awaited<ReturnType<typeof network.createServer>> | undefined;
  // No deployment file, no manifest folder and no address from the environment: only what each test passes.
  const none = { ORACLE_DEPLOYMENT: "", ORACLE_RPC_URL: "", ORACLE_KEY: "", ORACLE_MANIFESTS: "", ORACLE_ADDRESS: "", REGISTRY_ADDRESS: "", WORKER_ALLOWED_ORACLES: "", CHALLENGER_ORACLE: "", CHAIN_ID: "" };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-svc-manifest-"));
    empty = join(dir, "elsewhere");
    mkdirSync(empty);
    server = await network.createServer({ network: "default", override: { chainId: 4243 } }, "127.0.0.1");
    const { port } = await server.listen();
    url = `http://127.0.0.1:${port}`;
    const r = await oracle(["deploy", "--rpc", url, "--key", KEY, "--out", join(dir, "out", "deployment.json"), "--json"], none, 240_000, dir);
    expect(r.code, r.stderr).toBe(0);
    const file = lastJson<{ manifest: string }>(r).manifest;
    expect(file).toBe(join(dir, "deployments", "4243.json"));
    manifest = JSON.parse(readFileSync(file, "utf8")) as DeploymentManifest;
  }, 300_000);
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("manifestForRpc finds the manifest by the node's chain id; manifestServiceEnv fills only what is not given", async () => {
    const found = await manifestForRpc(url, join(dir, "deployments"));
    expect(found.chainId).toBe(4243n);
    expect(found.file).toBe(join(dir, "deployments", "4243.json"));
    expect(found.manifest.oracle).toBe(manifest.oracle);

    const relayer = manifestServiceEnv("relayer", found, {});
    expect(relayer).toMatchObject({ ORACLE_ADDRESS: manifest.oracle, CHAIN_ID: "4243", RELAYER_START_BLOCK: String(manifest.blockNumber) });
    expect(relayer.SUBSCRIPTIONS_ADDRESS).toBe(manifest.contracts.InferenceSubscriptions!.address);
    // A variable already set, or a setting of the config file, wins over the manifest.
    const given = manifestServiceEnv("relayer", found, { ORACLE_ADDRESS: "0x" + "11".repeat(20) }, { startBlock: 7, subscriptions: { address: "0x" + "22".repeat(20) } });
    expect(given.ORACLE_ADDRESS).toBeUndefined();
    expect(given.RELAYER_START_BLOCK).toBeUndefined();
    expect(given.SUBSCRIPTIONS_ADDRESS).toBeUndefined();
    expect(JSON.parse(manifestServiceEnv("worker", found, {}).WORKER_ALLOWED_ORACLES!)).toEqual([{ chainId: "4243", oracle: manifest.oracle }]);
    expect(manifestServiceEnv("worker", found, {}).REGISTRY_ADDRESS).toBe(manifest.registry);
    expect(manifestServiceEnv("worker", found, {}, { allowedOracles: [] }).WORKER_ALLOWED_ORACLES).toBeUndefined();
    // The feature contracts a deployment placed are watched by the relayer, unless its file names its own.
    const entry = Object.values(found.manifest.contracts)[0]!;
    const chained = "0x" + "33".repeat(20);
    const redundant = "0x" + "44".repeat(20);
    const withFeatures = { ...found, manifest: { ...found.manifest, contracts: { ...found.manifest.contracts, ChainedInference: { ...entry, address: chained }, RedundantInference: { ...entry, address: redundant } } } };
    expect(manifestServiceEnv("relayer", withFeatures, {})).toMatchObject({ RELAYER_CHAINED: JSON.stringify([chained]), RELAYER_REDUNDANT: JSON.stringify([redundant]) });
    const own = manifestServiceEnv("relayer", withFeatures, {}, { chained: [], redundant: [] });
    expect(own.RELAYER_CHAINED).toBeUndefined();
    expect(own.RELAYER_REDUNDANT).toBeUndefined();
    expect(manifestServiceEnv("challenger", found, {})).toEqual({ CHALLENGER_ORACLE: manifest.oracle, CHALLENGER_START_BLOCK: String(manifest.blockNumber) });

    // serviceManifest reads nothing when the oracle is named.
    const env: NodeJS.ProcessEnv = { ORACLE_MANIFESTS: join(dir, "no-such-folder"), CHALLENGER_ORACLE: manifest.registry };
    expect(await serviceManifest("challenger", url, env)).toBeUndefined();
    expect(env.CHALLENGER_ORACLE).toBe(manifest.registry);
  });

  it("a chain without a manifest is CONFIG_INVALID naming the file looked for; a node that does not answer is CHAIN_UNAVAILABLE", async () => {
    const missing = await manifestForRpc(url, empty).catch((e: unknown) => e);
    expect(isError(missing, "CONFIG_INVALID")).toBe(true);
    expect((missing as Error).message).toContain(join(empty, "4243.json"));
    const down = await manifestForRpc("http://127.0.0.1:9", empty).catch((e: unknown) => e);
    expect(isError(down, "CHAIN_UNAVAILABLE")).toBe(true);
  });

  it("a relayer process given only RPC_URL and its key serves the manifest's oracle and subscriptions contract", async () => {
    const child = spawn(process.execPath, ["--import", pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href, join(ROOT, "relayer/main.ts")], {
      cwd: dir,
      env: { ...process.env, ...none, RPC_URL: url, RELAYER_KEY, RELAYER_DATA_DIR: join(dir, "relayer"), RELAYER_API: JSON.stringify({ port: 0 }), RABBITMQ_URL: "", LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    child.stderr.on("data", (d: Buffer) => (text += d.toString()));
    try {
      const ready = await new Promise<{ url: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "relayer ready" within 120 s:\n${text}`)), 120_000);
        const check = () => {
          const line = text.split("\n").find((l) => l.includes('"relayer ready"'));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve(JSON.parse(line) as { url: string });
          }
        };
        child.stdout.on("data", check);
        child.stderr.on("data", check);
        child.on("exit", (code) => reject(new Error(`the relayer exited (${code}):\n${text}`)));
      });
      const read = text.split("\n").find((l) => l.includes("deployment read from the chain's manifest"));
      expect(read, text).toBeDefined();
      expect(JSON.parse(read!)).toMatchObject({ manifest: join(dir, "deployments", "4243.json"), oracle: manifest.oracle });
      const stats = (await (await fetch(`${ready.url}/api/stats`)).json()) as { oracle: string; chainId: string; cursor: number };
      expect(stats.oracle.toLowerCase()).toBe(manifest.oracle.toLowerCase());
      expect(stats.chainId).toBe("4243");
      // The subscriptions panel serves the manifest's InferenceSubscriptions.
      const subs = (await (await fetch(`${ready.url}/api/subscriptions`)).json()) as { enabled: boolean; address: string };
      expect(subs).toMatchObject({ enabled: true, address: manifest.contracts.InferenceSubscriptions!.address });
      // ...and the ChainedInference and RedundantInference it placed, when it placed them.
      for (const [route, name] of [["chains", "ChainedInference"], ["redundancy", "RedundantInference"]] as const) {
        const { contracts } = (await (await fetch(`${ready.url}/api/${route}`)).json()) as { contracts: { address: string }[] };
        const placed = manifest.contracts[name]?.address;
        expect(contracts.map((c) => c.address)).toEqual(placed === undefined ? [] : [placed.toLowerCase()]);
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
    }
  }, 180_000);

  it("`oracle <service> start --check` with no deployment file fills the addresses from the manifest, or says which file is missing", async () => {
    const relayerEnv = { ...none, RPC_URL: url, RELAYER_KEY, RABBITMQ_URL: "amqp://127.0.0.1:5672" };
    const ok = await oracle(["relayer", "start", "--check"], relayerEnv, 120_000, dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`using the deployment manifest ${join(dir, "deployments", "4243.json")}`);
    const missing = await oracle(["relayer", "start", "--check"], relayerEnv, 120_000, empty);
    expect(missing.code).not.toBe(0);
    // Listed with every other problem of the configuration.
    expect(missing.stderr).toContain(`no deployment manifest for chain 4243 (looked for ${join(empty, "deployments", "4243.json")})`);
    expect(missing.stderr).toContain("ORACLE_ADDRESS: required");
    expect(missing.stderr).toContain("2 problems");
    // An address given explicitly needs no manifest.
    const explicit = await oracle(["relayer", "start", "--check"], { ...relayerEnv, ORACLE_ADDRESS: manifest.oracle }, 120_000, empty);
    expect(explicit.code, explicit.stderr).toBe(0);

    // The worker checks its key's stake with the manifest's oracle (account #0 deployed it, and is not staked).
    const worker = await oracle(["worker", "start", "--check"], { ...none, RPC_URL: url, RABBITMQ_URL: "amqp://127.0.0.1:5672", WORKER_SIGNER_KEY: KEY }, 120_000, dir);
    expect(worker.code).not.toBe(0);
    expect(worker.stderr).toContain(`is not staked with the oracle ${manifest.oracle} (chain 4243)`);

    const challenger = await oracle(
      ["challenger", "start", "--check"],
      { ...none, CHALLENGER_RPC_URL: url, CHALLENGER_PRIVATE_KEY: RELAYER_KEY, CHALLENGER_BLOB_STORE_URL: "http://127.0.0.1:9", CHALLENGER_MODELS: JSON.stringify([{ path: CLS_MODEL_PATH, inputShape: [1, 3, 48, 192] }]) },
      120_000,
      dir,
    );
    expect(challenger.code, challenger.stderr).toBe(0);
    expect(challenger.stderr).toContain("using the deployment manifest");
  }, 300_000);
});
