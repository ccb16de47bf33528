/**
 * packages/contracts: `npm pack` makes an installable package of the consumer contract, the
 * interfaces and the RequestId type, and a dApp project outside this repository installs the tarball
 * and compiles a consumer against it (solc-js, the compiler this repository pins), resolving the
 * imports from its own node_modules as Hardhat does.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../cli/helpers.js";

const CONSUMER = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {InferenceConsumer} from "@inference-oracle/contracts/consumer/InferenceConsumer.sol";
import {IInferenceOracle} from "@inference-oracle/contracts/interfaces/IInferenceOracle.sol";
import {RequestId} from "@inference-oracle/contracts/types/RequestId.sol";

contract MyConsumer is InferenceConsumer {
    bytes32 public lastOutputHash;

    constructor(address oracle_) InferenceConsumer(oracle_) {}

    function ask(IInferenceOracle.RequestParams memory params) external payable returns (RequestId) {
        return _requestInference(params, msg.value);
    }

    function _onResult(RequestId, bytes32 outputHash, bytes calldata) internal override {
        lastOutputHash = outputHash;
    }

    function _onRefund(RequestId, uint8) internal override {}
}
`;

describe("packages/contracts", () => {
  const work = mkdtempSync(join(tmpdir(), "oracle-package-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("npm pack makes a package a project outside the repository installs and compiles a consumer against", () => {
    const packed = execFileSync("npm", ["pack", "--pack-destination", work, "--json"], { cwd: join(ROOT, "packages/contracts"), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const [info] = JSON.parse(packed) as Array<{ filename: string; files: Array<{ path: string }> }>;
    expect(info!.files.map((f) => f.path).sort()).toEqual(
      ["README.md", "consumer/InferenceConsumer.sol", "interfaces/IDisputeGame.sol", "interfaces/IInferenceConsumer.sol", "interfaces/IInferenceOracle.sol", "interfaces/IModelRegistry.sol", "interfaces/IOracleTokenFees.sol", "interfaces/IStepVerifier.sol", "interfaces/IZkVerifier.sol", "package.json", "types/RequestId.sol"].sort(),
    );
    // The packed sources are the repository's, byte for byte.
    for (const f of info!.files.filter((x) => x.path.endsWith(".sol"))) {
      expect(readFileSync(join(ROOT, "packages/contracts", f.path), "utf8")).toBe(readFileSync(join(ROOT, "contracts", f.path), "utf8"));
    }

    const app = join(work, "my-dapp");
    mkdirSync(join(app, "contracts"), { recursive: true });
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "my-dapp", version: "1.0.0", private: true }));
    execFileSync("npm", ["install", join(work, info!.filename), "--offline", "--no-audit", "--no-fund"], { cwd: app, stdio: ["ignore", "pipe", "pipe"] });
    const installed = join(app, "node_modules/@inference-oracle/contracts");
    expect(existsSync(join(installed, "consumer/InferenceConsumer.sol"))).toBe(true);
    expect(JSON.parse(readFileSync(join(app, "package.json"), "utf8")).dependencies).toHaveProperty("@inference-oracle/contracts");
    writeFileSync(join(app, "contracts/MyConsumer.sol"), CONSUMER);

    // Compile as Hardhat would: sources by path, imports found under the project's node_modules.
    const solc = createRequire(import.meta.url)("solc") as { compile(input: string, callbacks: { import(path: string): { contents?: string; error?: string } }): string };
    const input = {
      language: "Solidity",
      sources: { "contracts/MyConsumer.sol": { content: CONSUMER } },
      settings: { outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
    };
    const findImports = (path: string) => {
      const file = join(app, "node_modules", path);
      return existsSync(file) ? { contents: readFileSync(file, "utf8") } : { error: `not found: ${path}` };
    };
    const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as {
      errors?: Array<{ severity: string; formattedMessage: string }>;
      contracts: Record<string, Record<string, { abi: Array<{ name?: string }>; evm: { bytecode: { object: string } } }>>;
    };
    expect((out.errors ?? []).filter((e) => e.severity === "error").map((e) => e.formattedMessage)).toEqual([]);
    const my = out.contracts["contracts/MyConsumer.sol"]!.MyConsumer!;
    expect(my.evm.bytecode.object.length).toBeGreaterThan(1000);
    expect(my.abi.map((f) => f.name)).toEqual(expect.arrayContaining(["onInferenceResult", "onInferenceRefunded", "ask", "lastOutputHash"]));
    expect(readdirSync(work).some((f) => f.endsWith(".tgz"))).toBe(true);
  });
});
