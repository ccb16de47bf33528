/**
 * `npm ci` from a clean clone stays on the npm registry and quiet: onnxruntime-node's installer (which
 * downloads CUDA binaries from NuGet) is denied by package.json's `allowScripts` policy instead of an
 * `.npmrc` key that npm 11 warns about on every command, and every other dependency's install
 * script is reviewed there. Verified from a scratch clone with `npm ci --prefer-offline`; here, on
 * this checkout: npm warns about nothing, has nothing unreviewed, and `npm rebuild onnxruntime-node`
 * runs no installer (no CUDA provider library appears).
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers.js";

function npm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("npm", args, { cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }));
  });
}

describe("npm install policy", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { allowScripts?: Record<string, boolean> };
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { hasInstallScript?: boolean }> };

  it("denies onnxruntime-node's installer and reviews every other install script in the lockfile", () => {
    expect(existsSync(join(ROOT, ".npmrc")) ? readFileSync(join(ROOT, ".npmrc"), "utf8") : "").not.toContain("onnxruntime-node-install");
    expect(pkg.allowScripts?.["onnxruntime-node"]).toBe(false);
    const scripted = new Set(Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript === true).map(([path]) => path.split("node_modules/").pop()!));
    for (const name of scripted) expect(pkg.allowScripts, `${name} has an install script`).toHaveProperty([name]);
  });

  it("npm warns about no project config and finds no unreviewed install script", async (ctx) => {
    const name = await npm(["pkg", "get", "name"]);
    expect(name.code).toBe(0);
    expect(name.stderr).not.toMatch(/warn/i);
    const pending = await npm(["approve-scripts", "--allow-scripts-pending"]);
    // An npm without the install-script policy (npm 10) runs the installer: README says to set ONNXRUNTIME_NODE_INSTALL=skip there.
    if (/Unknown command/i.test(pending.stderr)) ctx.skip();
    expect(pending.stderr).not.toMatch(/warn/i);
    expect(pending.stdout).toContain("No packages with unreviewed install scripts");
  }, 150_000);

  it("npm rebuild onnxruntime-node runs no installer: nothing is fetched from NuGet", async (ctx) => {
    if (/Unknown command/i.test((await npm(["approve-scripts", "--allow-scripts-pending"])).stderr)) ctx.skip();
    const r = await npm(["rebuild", "onnxruntime-node", "--foreground-scripts"]);
    expect(r.code, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`).not.toContain("script/install");
    expect(existsSync(join(ROOT, "node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so"))).toBe(false);
  }, 150_000);
});
