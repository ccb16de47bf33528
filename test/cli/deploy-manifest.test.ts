/**
 * `oracle deploy` with CREATE2 and its manifest, through the real command line on a JSON-RPC chain (chain id
 * 4242): it writes deployments/4242.json (relative to the working folder), a rerun reuses every contract,
 * `--verify-manifest` checks the code hashes (and fails on a tampered manifest), and a command with no
 * deployment file reads the connected chain's manifest.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lastJson, oracle, rpc } from "./helpers.js";
import type { DeploymentManifest } from "../../protocol/index.js";

// Hardhat's default account #0 (`test test ... junk`): public knowledge, local chains only.
const KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

describe("oracle deploy: CREATE2 and the per-chain manifest", () => {
  let dir: string;
  let url: string;
  let server: Awaited<ReturnType<typeof network.createServer>> | undefined;
  // No deployment file and no ORACLE_* from the environment: only what each test passes.
  const env = { ORACLE_DEPLOYMENT: "", ORACLE_RPC_URL: "", ORACLE_KEY: "", ORACLE_MANIFESTS: "" };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-manifest-"));
    server = await network.createServer({ network: "default", override: { chainId: 4242 } }, "127.0.0.1");
    const { port } = await server.listen();
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let first: { oracle: string; registry: string; manifest: string; salt: string; factoryInstall: string; reused: string[] };

  it("deploys through the CREATE2 factory and writes deployments/<chainId>.json", async () => {
    const r = await oracle(["deploy", "--rpc", url, "--key", KEY, "--out", join(dir, "out", "deployment.json"), "--json"], env, 180_000, dir);
    expect(r.code, r.stderr).toBe(0);
    first = lastJson(r);
    expect(first.manifest).toBe(join(dir, "deployments", "4242.json"));
    expect(first.factoryInstall).toBe("presigned");
    expect(first.reused).toEqual([]);
    const manifest = JSON.parse(readFileSync(first.manifest, "utf8")) as DeploymentManifest;
    expect(manifest).toMatchObject({ version: 1, chainId: "4242", oracle: first.oracle, registry: first.registry, salt: first.salt });
    expect(Object.keys(manifest.contracts).length).toBe(16); // no ArbiterResolver unless asked (TokenFees, ZkDisputeResolver and the three feature contracts included)
    expect(manifest.gitCommit).toMatch(/^[0-9a-f]{40}$/);
    expect(String(await rpc(url, "eth_getCode", [first.oracle, "latest"])).length).toBeGreaterThan(100);
  });

  it("a second run reuses every contract and sends nothing", async () => {
    const before = await rpc(url, "eth_blockNumber");
    const r = await oracle(["deploy", "--rpc", url, "--key", KEY, "--out", join(dir, "out", "deployment.json"), "--json"], env, 180_000, dir);
    expect(r.code, r.stderr).toBe(0);
    const again = lastJson<typeof first>(r);
    expect(again.oracle).toBe(first.oracle);
    expect(again.factoryInstall).toBe("present");
    expect(again.reused.length).toBe(16);
    expect(await rpc(url, "eth_blockNumber")).toBe(before);
  });

  it("a deployment file for another chain (ORACLE_DEPLOYMENT) is refused by other commands, but does not block a deploy", async () => {
    const stale = join(dir, "out", "stale.json");
    writeFileSync(stale, JSON.stringify({ ...JSON.parse(readFileSync(join(dir, "out", "deployment.json"), "utf8")), chainId: "1" }));
    const list = await oracle(["model", "list", "--rpc", url, "--json"], { ...env, ORACLE_DEPLOYMENT: stale }, 60_000, dir);
    expect(list.code).toBe(1);
    expect(list.stderr).toMatch(/CONFIG_INVALID.*the deployment is for chain 1 but .* serves chain 4242/);
    const r = await oracle(["deploy", "--rpc", url, "--key", KEY, "--out", join(dir, "out", "deployment.json"), "--json"], { ...env, ORACLE_DEPLOYMENT: stale }, 180_000, dir);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson<typeof first>(r).reused.length).toBe(16);
  });

  it("another --salt would overwrite the chain's manifest: refused before anything is sent", async () => {
    const before = await rpc(url, "eth_blockNumber");
    const r = await oracle(["deploy", "--rpc", url, "--key", KEY, "--salt", "another", "--out", join(dir, "out", "other.json")], env, 180_000, dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/DEPLOYMENT_MISMATCH.*records the deployment under salt/);
    expect(await rpc(url, "eth_blockNumber")).toBe(before);
  });

  it("a command without a deployment file reads the connected chain's manifest; without one it says so", async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "oracle-no-manifest-"));
    // Three read-only lookups (in the manifest's folder, by --deployment, and where there is none): side by side.
    const [withManifest, named, without] = await Promise.all([
      oracle(["model", "list", "--rpc", url, "--json"], env, 60_000, dir),
      // --deployment takes a manifest file as well (so do the services' --deployment).
      oracle(["model", "list", "--rpc", url, "--deployment", first.manifest, "--json"], env, 60_000, tmpdir()),
      oracle(["model", "list", "--rpc", url, "--json"], env, 60_000, elsewhere),
    ]);
    expect(withManifest.code, withManifest.stderr).toBe(0);
    expect(lastJson(withManifest)).toEqual({ models: [] });
    expect(named.code, named.stderr).toBe(0);
    expect(lastJson(named)).toEqual({ models: [] });
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/no deployment.*manifest for chain 4242/);
    rmSync(elsewhere, { recursive: true, force: true });
  });

  it("--verify-manifest passes, then fails naming the contract whose recorded code hash was changed; deploy refuses that manifest", async () => {
    const ok = await oracle(["deploy", "--verify-manifest", "--rpc", url, "--json"], env, 60_000, dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(lastJson<{ ok: boolean; checks: unknown[] }>(ok)).toMatchObject({ ok: true });
    const manifest = JSON.parse(readFileSync(first.manifest, "utf8")) as DeploymentManifest;
    manifest.contracts.InferenceOracle!.codeHash = `0x${"11".repeat(32)}`;
    writeFileSync(first.manifest, JSON.stringify(manifest));
    const bad = await oracle(["deploy", "--verify-manifest", "--rpc", url], env, 60_000, dir);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/DIFFERS\s+InferenceOracle/);
    expect(bad.stderr).toMatch(/DEPLOYMENT_MISMATCH.*1 of 16 contracts differ.*InferenceOracle/);
    const refused = await oracle(["deploy", "--rpc", url, "--key", KEY, "--out", join(dir, "out", "deployment.json")], env, 180_000, dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/DEPLOYMENT_MISMATCH.*InferenceOracle.*code hash/);
  });
});
