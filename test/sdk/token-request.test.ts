/**
 * The SDK's `token` request option (docs/FEATURES.md, "ERC-20 fees") against the real contracts: a
 * one-transaction request with a signed EIP-2612 permit, an approve-first request, the default amount
 * from the model's token terms, and the refusals (token not accepted, amount below the terms).
 */
import { describe, it, expect } from "vitest";
import { network } from "hardhat";
import { OracleClient } from "../../sdk/client.js";
import { OracleSdkError } from "../../sdk/errors.js";
import { deploy, deployToken, events, modelInfo, send, submission, MODEL_HASH, TOKEN_FEE, TOKEN_MIN_WORKER_FEE, TOKEN_OWNER_FEE, Tier } from "../contracts/helpers.js";
import { packBatch } from "../../protocol/index.js";

const SMALL = `0x${"5a".repeat(32)}`;

describe("sdk: requests paid in an ERC-20 token", () => {
  it("test_sdkTokenRequest_permitOrApprove_defaultsAndRefusals", async () => {
    const conn = await network.create();
    const fx = await deploy(conn);
    // A small NONE-tier model (inline input) accepting the token.
    await send(fx.registry.connect(fx.modelOwner).registerModel(SMALL, modelInfo({ tiers: 1, input: { dtype: 1, shape: [1, 4] } })));
    const token = await deployToken(fx, "TestPermitToken", false);
    await send(fx.registry.connect(fx.modelOwner).setTokenTerms(SMALL, token.target, { accepted: true, ownerFee: TOKEN_OWNER_FEE, minWorkerFee: TOKEN_MIN_WORKER_FEE }));
    const client = await OracleClient.connect({ oracle: fx.oracleAddr, runner: fx.requester });
    const input = { dtype: "float32" as const, shape: [1, 4], data: Float32Array.from([0.1, 0.2, 0.3, 0.4]) };
    const before = await token.balanceOf(fx.requester.address);

    const sent = await client.request({ modelHash: SMALL, input, tier: Tier.NONE, token: { address: String(token.target), amount: TOKEN_FEE } });
    expect(sent.fee).toBe(0n);
    expect(sent.token).toEqual({ address: token.target, amount: TOKEN_FEE });
    expect(await token.allowance(fx.requester.address, fx.oracleAddr)).toBe(0n); // the permit, spent in the request
    const byDefault = await client.request({ modelHash: SMALL, input, tier: Tier.NONE, token: { address: String(token.target), permit: false } });
    expect(byDefault.token!.amount).toBe(TOKEN_OWNER_FEE + TOKEN_MIN_WORKER_FEE);
    expect(before - (await token.balanceOf(fx.requester.address))).toBe(TOKEN_FEE + TOKEN_OWNER_FEE + TOKEN_MIN_WORKER_FEE);

    const rc = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, sent.requestId, fx.signers[0]!))));
    expect(events(rc, fx.oracle, "RequestFulfilled")).toHaveLength(1);
    expect(await client.tokenBalance(String(token.target), fx.modelOwner.address)).toBe(TOKEN_OWNER_FEE);

    const code = async (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof OracleSdkError ? e.code : String(e)));
    expect(await code(client.request({ modelHash: SMALL, input, tier: Tier.NONE, token: { address: String(token.target), amount: 1n } }))).toBe("FEE_TOO_LOW");
    expect(await code(client.request({ modelHash: MODEL_HASH, input, tier: Tier.NONE, token: { address: String(token.target) } }))).toBe("FEE_TOO_LOW");
    expect(await code(client.request({ modelHash: SMALL, input, tier: Tier.NONE, token: { address: "nope" } }))).toBe("CONFIG_INVALID");
  });
});
