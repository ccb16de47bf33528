/**
 * solhint with the recommended rules (.solhint.json) is clean over contracts/: issue 12, "solhint with
 * the recommended rules clean in CI". Runs the same command as `npm run lint:sol`, as a child process,
 * and fails on any warning or error; a second case shows the same setup does report a violation, so a
 * broken config or glob cannot pass silently.
 */
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");
const SOLHINT = join(ROOT, "node_modules/solhint/solhint.js");

interface Report {
  filePath: string;
  line: number;
  ruleId: string;
  message: string;
}

/**
 * Runs solhint (no update check: --disc) with the repository's config and returns its exit status and
 * reports. Output goes to a file, not a pipe: solhint exits with process.exit, which can cut a piped
 * report short.
 */
function solhint(files: string[], cwd = ROOT): { status: number | null; reports: Report[]; raw: string } {
  const dir = mkdtempSync(join(tmpdir(), "solhint-"));
  try {
    const out = join(dir, "report.json");
    const fd = openSync(out, "w");
    let status: number | null;
    try {
      const run = spawnSync(
        process.execPath,
        [SOLHINT, "--disc", "--noPoster", "--max-warnings", "0", "-c", join(ROOT, ".solhint.json"), "-f", "json", ...files],
        { cwd, stdio: ["ignore", fd, "pipe"], timeout: 60_000 },
      );
      status = run.status;
    } finally {
      closeSync(fd);
    }
    const raw = readFileSync(out, "utf8");
    // The json formatter prints one array of reports (plus a summary object on warnings).
    const start = raw.indexOf("[");
    const parsed: unknown = start >= 0 ? JSON.parse(raw.slice(start, raw.lastIndexOf("]") + 1)) : [];
    const reports = (parsed as Array<Partial<Report>>).filter((r): r is Report => typeof r.ruleId === "string");
    return { status, reports, raw };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("solhint (npm run lint:sol)", () => {
  it("contracts/ has no warning or error under the recommended rules", () => {
    const { status, reports, raw } = solhint(["contracts/**/*.sol"]);
    const lines = reports.map((r) => `${r.filePath}:${r.line} ${r.ruleId}: ${r.message}`);
    expect(lines, raw).toEqual([]);
    expect(status, raw).toBe(0);
  });

  it("reports a violation under the same config (the check can fail)", () => {
    const dir = mkdtempSync(join(tmpdir(), "solhint-bad-"));
    try {
      const bad = join(dir, "Bad.sol");
      writeFileSync(
        bad,
        [
          "// SPDX-License-Identifier: MIT",
          "pragma solidity ^0.8.28;",
          "contract Bad {",
          "    function owner() external view returns (address) {",
          "        return tx.origin;",
          "    }",
          "}",
          "",
        ].join("\n"),
      );
      // solhint only lints files under its working directory.
      const { status, reports } = solhint(["Bad.sol"], dir);
      expect(reports.map((r) => r.ruleId)).toContain("avoid-tx-origin");
      expect(status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("skips only the generated snarkjs verifiers", () => {
    const ignored = readFileSync(join(ROOT, ".solhintignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    expect(ignored.every((p) => /^contracts\/zk\/\w+Groth16Verifier\.sol$/.test(p)), ignored.join(", ")).toBe(true);
  });
});
