/**
 * Compiles a model's generated Groth16 verifier and IZkVerifier adapter with solc-js (the pinned npm
 * compiler, the repo's settings: optimizer 1000 runs, cancun) and deploys them with ethers. Used by
 * `npm run zk:ready` and bench/zk.ts, so a model needs no Hardhat rebuild to become zk-ready.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, normalize } from "node:path";
import { ContractFactory, type Signer } from "ethers";
import { REPO_ROOT } from "./build.js";

export interface CompiledContract {
  abi: unknown[];
  bytecode: string;
  deployedBytecode: string;
}

export interface ZkContractsSources {
  groth16Contract: string;
  groth16Sol: string;
  adapterContract: string;
  adapterSol: string;
}

/** EIP-170 limit on deployed code. */
export const MAX_CODE_BYTES = 24_576;

type Solc = { compile(input: string, callbacks?: { import: (path: string) => { contents?: string; error?: string } }): string };

/** Compiled output by source hash: solc-js takes seconds per compile, and the output is deterministic. */
const compiledCache = new Map<string, { groth16: CompiledContract; adapter: CompiledContract }>();

export function compileZkContracts(src: ZkContractsSources): { groth16: CompiledContract; adapter: CompiledContract } {
  const key = createHash("sha256").update(JSON.stringify(src)).digest("hex");
  const hit = compiledCache.get(key);
  if (hit !== undefined) return hit;
  const result = compileUncached(src);
  compiledCache.set(key, result);
  return result;
}

function compileUncached(src: ZkContractsSources): { groth16: CompiledContract; adapter: CompiledContract } {
  const require = createRequire(import.meta.url);
  const solc = require("solc") as Solc;
  const g = `contracts/zk/${src.groth16Contract}.sol`;
  const a = `contracts/zk/${src.adapterContract}.sol`;
  const input = {
    language: "Solidity",
    sources: { [g]: { content: src.groth16Sol }, [a]: { content: src.adapterSol } },
    settings: {
      optimizer: { enabled: true, runs: 1000 },
      evmVersion: "cancun",
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const findImports = (path: string) => {
    const file = join(REPO_ROOT, normalize(path));
    // Imports resolve inside the repo's contracts/ only.
    if (!file.startsWith(join(REPO_ROOT, "contracts")) || !existsSync(file)) return { error: `not found: ${path}` };
    return { contents: readFileSync(file, "utf8") };
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>;
  };
  const errors = (out.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) throw new Error(`solc: ${errors.map((e) => e.formattedMessage).join("\n")}`);
  const pick = (file: string, name: string): CompiledContract => {
    const c = out.contracts[file]?.[name];
    if (c === undefined) throw new Error(`solc produced no ${name} in ${file}`);
    return { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}`, deployedBytecode: `0x${c.evm.deployedBytecode.object}` };
  };
  return { groth16: pick(g, src.groth16Contract), adapter: pick(a, src.adapterContract) };
}

export const codeBytes = (hex: string) => (hex.length - 2) / 2;

/** Deploys the verifier, then the adapter pointing at it; returns both addresses. */
export async function deployZkContracts(
  signer: Signer,
  compiled: { groth16: CompiledContract; adapter: CompiledContract },
): Promise<{ groth16: string; adapter: string }> {
  const g = await new ContractFactory(compiled.groth16.abi as never, compiled.groth16.bytecode, signer).deploy();
  await g.waitForDeployment();
  const groth16 = await g.getAddress();
  const a = await new ContractFactory(compiled.adapter.abi as never, compiled.adapter.bytecode, signer).deploy(groth16);
  await a.waitForDeployment();
  return { groth16, adapter: await a.getAddress() };
}
