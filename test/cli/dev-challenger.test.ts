/**
 * `oracle dev --challenger`, run for real (bin/oracle.js as a child process): the models registered with
 * the FraudGame, every OPTIMISTIC result audited canonically by the challenger daemon, an honest one
 * final; and the challenger guide's audit-result.ts example against the same stack. The rest of the
 * command line against `oracle dev`: cli.test.ts.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HDNodeWallet, Wallet } from "ethers";
import { afterAll, describe, expect, it } from "vitest";
import { renderTextLine } from "../../examples/text-images.js";
import { encodePng, PPOCR_CLS_HASH } from "../../sdk/index.js";
import { lastJson, oracle, ROOT, start, type LongRunning } from "./helpers.js";

interface Ready {
  resolver: string;
  challenger: string;
  accounts: Array<{ role: string; address: string; privateKey: string }>;
}

describe("oracle dev --challenger", () => {
  let dir: string;
  let dev: LongRunning | undefined;

  afterAll(async () => {
    const code = await dev?.stop("SIGINT");
    rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  it("registers the models with the FraudGame, audits every OPTIMISTIC result canonically, and lets an honest one go final", async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-cli-challenger-"));
    const deployment = join(dir, "deployment.json");
    // At the default log level: the challenger's audits are told on stderr all the same.
    dev = start(["dev", "--challenger", "--json", "--port", "0", "--relayer-port", "0", "--out", deployment, "--data-dir", join(dir, "dev"), "--challenge-window", "3"]);
    const ready = JSON.parse(await dev.waitFor(/^\{"ready":true,"rpcUrl"/m)) as Ready;
    const record = JSON.parse(readFileSync(deployment, "utf8")) as { resolver: string; fraudGame: string };
    expect(ready.resolver).toBe(record.fraudGame);
    expect(record.fraudGame).not.toBe(record.resolver);
    expect(ready.challenger).toBe(new Wallet(HDNodeWallet.fromPhrase("test test test test test test test test test test test junk", undefined, "m/44'/60'/0'/0/12").privateKey).address);
    const env = { ORACLE_DEPLOYMENT: deployment };
    const inspect = lastJson<{ onChain: { resolver: string; commitmentRoot: string } }>(await oracle(["model", "inspect", PPOCR_CLS_HASH, "--json"], env));
    expect(inspect.onChain.resolver).toBe(record.fraudGame);
    expect(inspect.onChain.commitmentRoot).not.toMatch(/^0x0{64}$/);

    const image = renderTextLine("Audited and final");
    const png = join(dir, "line.png");
    writeFileSync(png, encodePng(image.width, image.height, image.pixels, 1));
    const user = ready.accounts.find((a) => a.role === "user")!.privateKey;
    const r = await oracle(["request", "--model", PPOCR_CLS_HASH, "--input", png, "--tier", "optimistic", "--wait", "--json", "--key", user], env);
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson<{ request: { requestId: string }; outcome: { stage: string } }>(r);
    expect(out.outcome.stage).toBe("final");
    // The daemon re-ran the honest result canonically and did not challenge it.
    await dev.waitFor(new RegExp(`challenger: audited ${out.request.requestId.slice(0, 10)}…: honest \\(\\d+ output elements within τ_out of the canonical re-run\\)`));
    expect(dev.output()).not.toMatch(/WRONG RESULT|availability challenge posted/);

    // The challenger guide's "Try it on the local stack": the same audit by hand, from the script it names.
    const audit = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolvePromise) => {
      execFile(join(ROOT, "node_modules/.bin/tsx"), ["docs/guides/examples/audit-result.ts", out.request.requestId], { cwd: ROOT, env: { ...process.env, ORACLE_DEPLOYMENT: deployment }, timeout: 120_000 }, (error, stdout, stderr) =>
        resolvePromise({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }),
      );
    });
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(/^request 0x[0-9a-f]{4}…[0-9a-f]{4}: model 0x4918…3640, output 0x[0-9a-f]{4}…[0-9a-f]{4} by operator 0x[0-9a-fA-F]{40}$/m);
    expect(audit.stdout).toMatch(/^honest: output within τ_out of the canonical re-run \(fp32, 2 elements, \d+ ms\)$/m);
    // A request id with no result is refused with the command that shows where it is.
    const none = await new Promise<{ code: number | null; stderr: string }>((resolvePromise) => {
      execFile(join(ROOT, "node_modules/.bin/tsx"), ["docs/guides/examples/audit-result.ts", `0x${"ab".repeat(32)}`], { cwd: ROOT, env: { ...process.env, ORACLE_DEPLOYMENT: deployment }, timeout: 120_000 }, (error, _stdout, stderr) =>
        resolvePromise({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stderr }),
      );
    });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no submitted result for 0xabab");
  }, 300_000);
});
