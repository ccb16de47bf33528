/**
 * packages/sdk: `npm pack` compiles the SDK (with the protocol files and contract bindings it uses)
 * into an installable package; a TypeScript project outside this repository installs the tarball,
 * type-checks against its declarations and runs it on Node, getting the same tensor hashes as the
 * repository's own code.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hashTensor, tensorFromJson } from "../../sdk/index.js";
import { ROOT } from "../cli/helpers.js";

const APP = `import { describeOutput, encodeTensor, fitToSpec, hashTensor, isSdkError, MNIST_MLP_HASH, modelCard, OracleClient, tensorFromJson, Tier, type Tensor } from "@inference-oracle/sdk";
import { readFileSync } from "node:fs";

const digit: Tensor = fitToSpec(tensorFromJson(JSON.parse(readFileSync(process.argv[2]!, "utf8")), "int8"), { dtype: "int8", shape: [1, 7, 7] });
const out = describeOutput({ dtype: "int8", shape: [1, 10], data: Int8Array.from([0, 0, 0, 0, 0, 0, 0, 9, 0, 0]) }, MNIST_MLP_HASH);
let code = "";
try {
  tensorFromJson([[1, 2]]);
} catch (error) {
  if (isSdkError(error)) code = error.code;
}
const tier: Tier = Tier.OPTIMISTIC;
console.log(JSON.stringify({
  shape: digit.shape,
  hash: hashTensor(digit),
  bytes: encodeTensor(digit).length,
  label: out.top?.label,
  card: modelCard(MNIST_MLP_HASH)?.name,
  code,
  tier,
  client: typeof OracleClient.connect,
}));
`;

describe("packages/sdk", () => {
  const work = mkdtempSync(join(tmpdir(), "oracle-sdk-package-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("npm pack makes a package a TypeScript project outside the repository installs, type-checks against and runs", () => {
    const packed = execFileSync("npm", ["pack", "--pack-destination", work, "--json"], { cwd: join(ROOT, "packages/sdk"), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const [info] = JSON.parse(packed.slice(packed.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(["dist/sdk/index.js", "dist/sdk/index.d.ts", "dist/protocol/tensor.js", "package.json", "README.md"]));
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);

    const app = join(work, "my-app");
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "my-app", version: "1.0.0", private: true, type: "module" }));
    execFileSync("npm", ["install", join(work, info!.filename), "--offline", "--no-audit", "--no-fund", "--legacy-peer-deps"], { cwd: app, stdio: ["ignore", "pipe", "pipe"] });
    // ethers is the package's peer dependency: the app brings its own (here, the one this repository pins;
    // linked after the install, which would prune what it did not install itself).
    mkdirSync(join(app, "node_modules/@types"), { recursive: true });
    symlinkSync(join(ROOT, "node_modules/ethers"), join(app, "node_modules/ethers"));
    symlinkSync(join(ROOT, "node_modules/@types/node"), join(app, "node_modules/@types/node"));
    writeFileSync(join(app, "app.ts"), APP);
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { target: "ES2023", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "out", types: ["node"], skipLibCheck: false }, files: ["app.ts"] }),
    );
    // Type-checked against the package's declarations, compiled, and run on Node.
    execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: app, stdio: ["ignore", "pipe", "pipe"] });
    const run = execFileSync(process.execPath, [join(app, "out/app.js"), join(ROOT, "examples/digit.json")], { cwd: app, encoding: "utf8" });
    const got = JSON.parse(run) as { shape: number[]; hash: string; label: string; card: string; code: string; tier: number; client: string };
    const local = tensorFromJson(JSON.parse(readFileSync(join(ROOT, "examples/digit.json"), "utf8")), "int8");
    expect(got).toMatchObject({ shape: [1, 7, 7], label: "7", code: "INPUT_INVALID", tier: 1, client: "function" });
    expect(got.card).toContain("MNIST");
    expect(got.hash).toBe(hashTensor({ ...local, shape: [1, 7, 7] }));
  }, 120_000);
});
