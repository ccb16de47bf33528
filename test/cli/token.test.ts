/**
 * The CLI's ERC-20 fee commands against `oracle dev` (docs/FEATURES.md, "ERC-20 fees"): the model's owner
 * accepts a permit token (`oracle model accept-token`), the user pays a request in it with a signed
 * EIP-2612 permit (`oracle request --token --wait`), the dev stack's worker answers, and the owner's token
 * pull balance holds its fee; a token the model does not accept is refused with FEE_TOO_LOW.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderTextLine } from "../../examples/text-images.js";
import { encodePng, PPOCR_CLS_HASH } from "../../sdk/index.js";
import { IOracleTokenFees__factory, TestPermitToken__factory } from "../../types/ethers-contracts/index.js";
import { lastJson, oracle, start, type LongRunning } from "./helpers.js";

interface Ready {
  rpcUrl: string;
  oracle: string;
  deployment: string;
  accounts: Array<{ role: string; address: string; privateKey: string }>;
}

describe("oracle CLI: fees in an ERC-20 token", () => {
  let dir: string;
  let dev: LongRunning;
  let ready: Ready;
  let env: NodeJS.ProcessEnv;
  const account = (role: string) => ready.accounts.find((a) => a.role === role)!;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-cli-token-"));
    dev = start(["dev", "--json", "--port", "0", "--relayer-port", "0", "--out", join(dir, "deployment.json"), "--data-dir", join(dir, "dev")]);
    ready = JSON.parse(await dev.waitFor(/"ready":true/)) as Ready;
    env = { ORACLE_DEPLOYMENT: ready.deployment };
  });

  afterAll(async () => {
    const code = await dev?.stop("SIGINT");
    rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  it("accept-token, then request --token with a permit, answered and paid in the token", async () => {
    const provider = new JsonRpcProvider(ready.rpcUrl, undefined, { staticNetwork: true });
    const user = new NonceManager(new Wallet(account("user").privateKey, provider));
    const userAddress = account("user").address;
    const token = await new TestPermitToken__factory(user).deploy();
    await token.waitForDeployment();
    const tokenAddress = await token.getAddress();
    await (await token.mint(userAddress, 10n ** 20n)).wait();
    const stranger = await new TestPermitToken__factory(user).deploy();
    await stranger.waitForDeployment();

    const accepted = await oracle(["model", "accept-token", PPOCR_CLS_HASH, tokenAddress, "--owner-fee", "3000", "--min-worker-fee", "1000", "--json", "--key", account("modelOwner").privateKey], env);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(lastJson<{ accepted: boolean; ownerFee: string }>(accepted)).toMatchObject({ accepted: true, ownerFee: "3000" });

    const image = renderTextLine("paid in tokens");
    const png = join(dir, "line.png");
    writeFileSync(png, encodePng(image.width, image.height, image.pixels, 1));
    const r = await oracle(["request", "--model", PPOCR_CLS_HASH, "--input", png, "--token", tokenAddress, "--token-amount", "10000", "--wait", "--json", "--key", account("user").privateKey], env);
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson<{ request: { token: { address: string; amount: string } }; outcome: { stage: string }; output: { values: number[] } }>(r);
    expect(out.request.token).toEqual({ address: tokenAddress, amount: "10000" });
    expect(out.outcome.stage).toBe("final");
    expect(out.output.values).toHaveLength(2);
    expect(await token.balanceOf(userAddress)).toBe(10n ** 20n - 10_000n);
    const fees = IOracleTokenFees__factory.connect(ready.oracle, provider);
    expect(await fees.tokenBalanceOf(account("modelOwner").address, tokenAddress)).toBe(3000n);

    const refused = await oracle(["request", "--model", PPOCR_CLS_HASH, "--input", png, "--token", await stranger.getAddress(), "--json", "--key", account("user").privateKey], env);
    expect(refused.code).toBe(1);
    expect(lastJson<{ error: { code: string } }>(refused).error.code).toBe("FEE_TOO_LOW");
    provider.destroy();
  });
});
