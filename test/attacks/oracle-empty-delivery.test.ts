/**
 * Issue 12, finding 2 ("empty delivery"). Before: anyone could `settle` first with `output = ""`: the
 * dApp's callback fired without the output bytes (TextDirectionDApp: `received` true, nothing
 * decoded), and the relayer's own settle then reverted.
 * Now: a request with a callback is delivered only with the output bytes that hash to the signed
 * outputHash: NONE/ZK in the submission, OPTIMISTIC in the settlement until one day (OUTPUT_GRACE)
 * after the challenge window; only after that may an output too large to inline settle without it.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import {
  deploy, events, expectRevert, now, record, send, submission, tensorF32, FEE, INPUT_HASH, MODEL_HASH, PARAMS, Tier, type Connection, type Fx,
} from "../contracts/helpers.js";
import { hashEncoded, packBatch } from "../../protocol/index.js";

const ROTATED = tensorF32([1, 2], [0.2, 0.8]);

describe("attack: empty delivery (finding 2)", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  async function classify(fx: Fx, tier: number) {
    const d: any = await fx.ethers.deployContract("TextDirectionDApp", [fx.oracleAddr, MODEL_HASH, tier, 150_000]);
    const receipt = await send(d.connect(fx.requester).classify(INPUT_HASH, "ipfs://line.png", (await now(fx)) + 86_400n, { value: FEE }));
    return { d, id: events(receipt, fx.oracle, "InferenceRequested")[0]!.args.requestId as string };
  }

  it("test_settle_emptyOutputFirst_reverts_thenRelayerDeliversOutput_succeeds", async () => {
    const fx = await fixture();
    const { d, id } = await classify(fx, Tier.OPTIMISTIC);
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: hashEncoded(ROTATED) }))));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    const rec = record(fx.ops[0]!.address, fx.relayer.address, hashEncoded(ROTATED));
    // The attacker races to settle first without the output ...
    await expectRevert(fx.oracle.connect(fx.other).settle({ requestId: id, record: rec, output: "0x", proof: [] }), fx.oracle, "OracleOutputMissing");
    // ... or with other bytes.
    const other = tensorF32([1, 2], [0.9, 0.1]);
    await expectRevert(fx.oracle.connect(fx.other).settle({ requestId: id, record: rec, output: other, proof: [] }), fx.oracle, "OracleOutputHashMismatch");
    expect((await d.classification(id)).received).toBe(false);
    // The relayer's settlement with the real output goes through and the dApp decodes it.
    await send(fx.oracle.connect(fx.relayer).settle({ requestId: id, record: rec, output: ROTATED, proof: [] }));
    const c = await d.classification(id);
    expect(c.received).toBe(true);
    expect(c.decoded).toBe(true);
    expect(c.rotated180).toBe(true);
  });

  it("test_submitBatch_noneCopyWithOutputStripped_skipped", async () => {
    const fx = await fixture();
    const { d, id } = await classify(fx, Tier.NONE);
    const sub = await submission(fx, id, fx.signers[0]!, { outputHash: hashEncoded(ROTATED), output: ROTATED });
    // A front-runner copies the relayer's batch and strips the output (the output bytes are not signed,
    // only its hash): the stripped item is skipped, not accepted.
    const stripped = { ...sub, items: [{ ...sub.items[0]!, output: "0x" }] };
    const receipt = await send(fx.oracle.connect(fx.other).submitBatch(...packBatch(stripped)));
    const skipped = events(receipt, fx.oracle, "ResultSkipped");
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.args.reason).toBe(fx.oracle.interface.getError("OracleOutputMissing")!.selector);
    expect((await d.classification(id)).received).toBe(false);
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub)));
    expect((await d.classification(id)).decoded).toBe(true);
  });
});
