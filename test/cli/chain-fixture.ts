/** A hardhat chain in-process, served over HTTP, for `oracle deploy` and `oracle model register` tests. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HDNodeWallet } from "ethers";
import { network } from "hardhat";
import { oracle } from "./helpers.js";

const MNEMONIC = "test test test test test test test test test test test junk";

export interface RegisterChain {
  /** A temp dir for files the test writes (removed by close). */
  dir: string;
  url: string;
  /** Hardhat's account #i private key. */
  keyOf(i: number): string;
  /** `oracle deploy` with account #0; returns the deployment file. */
  deploy(): Promise<string>;
  close(): Promise<void>;
}

export async function startRegisterChain(prefix: string): Promise<RegisterChain> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const server = await network.createServer("default", "127.0.0.1");
  const { port } = await server.listen();
  const url = `http://127.0.0.1:${port}`;
  const keyOf = (i: number) => HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).privateKey;
  return {
    dir,
    url,
    keyOf,
    async deploy() {
      const deployment = join(dir, "deployment.json");
      const deployed = await oracle(["deploy", "--rpc", url, "--key", keyOf(0), "--out", deployment, "--json"], { ORACLE_MANIFESTS: join(dir, "deployments") });
      if (deployed.code !== 0) throw new Error(`oracle deploy failed (${deployed.code}): ${deployed.stderr}`);
      return deployment;
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
