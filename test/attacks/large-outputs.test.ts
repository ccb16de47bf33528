/**
 * Issue 18, large outputs: attacks on the per-request inline threshold (RequestParams.maxInlineOutput)
 * and on hash-only delivery (size proofs, "VIOH" || header || dataRoot; docs/PROTOCOL.md "Large outputs").
 * - requester: a threshold above the params' cap is refused at request time;
 * - worker: claiming "too large" for a small output (a size proof where the dApp wants the bytes) is
 *   skipped, and so is a forged size proof (a header that does not open the signed hash);
 * - relayer / anyone settling: dropping a small output's bytes (empty, or a size proof) is refused, so
 *   the honest delivery with the bytes lands;
 * - worker withholding the bytes of an honest result: the requester still gets an answer it can check
 *   (anyone with the canonical output delivers it, inline or by size proof; a settlement without either
 *   waits OUTPUT_GRACE and then carries the committed hash, the default outcome);
 * - blob store: wrong bytes at the output's URI are refused by the SDK (OUTPUT_HASH_MISMATCH).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { network } from "hardhat";
import {
  deploy, events, expectRevert, expectSkipped, now, record, request, requestParams, send, submission, tensorF32, FEE, INPUT_HASH, MODEL_HASH, OUTPUT, OUTPUT_HASH,
  PARAMS, Status, Tier, type Connection, type Fx,
} from "../contracts/helpers.js";
import { hashEncoded, fromHex, bytesToHex, sizeProof, packBatch } from "../../protocol/index.js";
import { OracleClient, isSdkError } from "../../sdk/index.js";

const MAP = tensorF32([1, 1, 64, 64], Array.from({ length: 64 * 64 }, (_, i) => (i % 5) / 5));
const MAP_HASH = hashEncoded(MAP);
const OUTPUT_GRACE = 86_400;

describe("attack: large outputs (issue 18)", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(deploy);

  async function dapp(fx: Fx, tier: number) {
    const d: any = await fx.ethers.deployContract("LargeOutputDApp", [fx.oracleAddr, MODEL_HASH, MODEL_HASH, tier, 200_000]);
    const ask = async (fn: "detect" | "classify") => {
      const receipt = await send(d.connect(fx.requester)[fn](INPUT_HASH, "ipfs://page.png", (await now(fx)) + 86_400n, { value: FEE }));
      return events(receipt, fx.oracle, "InferenceRequested")[0]!.args.requestId as string;
    };
    return { d, ask };
  }

  it("test_requestInference_thresholdAboveCap_reverts", async () => {
    const fx = await fixture();
    const p = await requestParams(fx, { maxInlineOutput: PARAMS.maxInlineOutputBytes + 1 });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(p, { value: FEE }), fx.oracle, "OracleInlineOutputTooHigh", [
      BigInt(PARAMS.maxInlineOutputBytes + 1), BigInt(PARAMS.maxInlineOutputBytes),
    ]);
    // At the cap exactly it is taken.
    const { id } = await request(fx, { maxInlineOutput: PARAMS.maxInlineOutputBytes });
    expect(Number((await fx.oracle.getRequest(id)).maxInlineOutput)).toBe(PARAMS.maxInlineOutputBytes);
  });

  it("test_submitBatch_workerClaimsTooLargeForSmallOutput_skipped_thenHonestInline_succeeds", async () => {
    const fx = await fixture();
    const { d, ask } = await dapp(fx, Tier.NONE);
    const id = await ask("classify");
    // The worker signs the true hash but sends the size proof: the dApp would get no bytes.
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { output: sizeProof(OUTPUT) }))), fx.oracle, "OracleOutputInlineRequired");
    expect(Number(await fx.oracle.state(id))).toBe(Status.Requested);
    expect((await d.delivery(id)).received).toBe(false);
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[1]!, { output: OUTPUT }))));
    const got = await d.delivery(id);
    expect([got.received, got.isInline, got.output]).toEqual([true, true, bytesToHex(OUTPUT)]);
  });

  it("test_submitBatch_forgedSizeProof_skipped", async () => {
    const fx = await fixture();
    const { d, ask } = await dapp(fx, Tier.NONE);
    const id = await ask("detect");
    const real = fromHex(sizeProof(MAP));
    // Another data root under the map's header: does not open the signed hash.
    const forged = Buffer.from(real);
    forged[forged.length - 1] = forged[forged.length - 1]! ^ 1;
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: MAP_HASH, output: forged }))), fx.oracle, "OracleOutputHashMismatch");
    // A header claiming a bigger shape than the worker signed: also another hash.
    const bigger = Buffer.from(real);
    bigger.writeUInt32BE(128, 4 + 8 + 12);
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: MAP_HASH, output: bigger }))), fx.oracle, "OracleOutputHashMismatch");
    // Truncated, or a rank that does not match the length: malformed.
    await expectSkipped(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: MAP_HASH, output: real.subarray(0, real.length - 1) }))), fx.oracle, "OracleMalformedTensor");
    expect((await d.delivery(id)).received).toBe(false);
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: MAP_HASH, output: real }))));
    expect((await d.delivery(id)).outputHash).toBe(MAP_HASH);
  });

  it("test_settle_relayerDropsSmallInlineOutput_reverts_thenHonestDelivery_succeeds", async () => {
    const fx = await fixture();
    const { d, ask } = await dapp(fx, Tier.OPTIMISTIC);
    const id = await ask("classify");
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { output: OUTPUT }))));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    const rec = record(fx.ops[0]!.address, fx.relayer.address, OUTPUT_HASH);
    // A griefing settler drops the bytes, as empty or as a (valid) size proof of the small output.
    await expectRevert(fx.oracle.connect(fx.other).settle({ requestId: id, record: rec, output: "0x", proof: [] }), fx.oracle, "OracleOutputMissing");
    await expectRevert(fx.oracle.connect(fx.other).settle({ requestId: id, record: rec, output: sizeProof(OUTPUT), proof: [] }), fx.oracle, "OracleOutputInlineRequired", [
      BigInt(OUTPUT.byteLength), BigInt(PARAMS.maxInlineOutputBytes),
    ]);
    expect((await d.delivery(id)).received).toBe(false);
    await send(fx.oracle.connect(fx.relayer).settle({ requestId: id, record: rec, output: OUTPUT, proof: [] }));
    const got = await d.delivery(id);
    expect([got.received, got.isInline, got.output]).toEqual([true, true, bytesToHex(OUTPUT)]);
  });

  it("test_settle_workerWithholdsBytes_anyoneWithCanonicalOutputDelivers_elseHashAfterGrace", async () => {
    const fx = await fixture();
    const { d, ask } = await dapp(fx, Tier.OPTIMISTIC);
    // Small output, bytes withheld: the worker signs the hash and publishes nothing.
    const small = await ask("classify");
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, small, fx.signers[0]!))));
    // Large output, bytes withheld too.
    const big = await ask("detect");
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, big, fx.signers[0]!, { outputHash: MAP_HASH }))));
    await conn.networkHelpers.time.increase(PARAMS.challengeWindow);
    const recSmall = record(fx.ops[0]!.address, fx.relayer.address, OUTPUT_HASH);
    const recBig = record(fx.ops[0]!.address, fx.relayer.address, MAP_HASH);
    // Anyone who ran the model canonically has the bytes (the committed hash is the canonical one, or a
    // challenger would have disputed it): they settle the small one inline, the large one by size proof.
    await send(fx.oracle.connect(fx.other).settle({ requestId: small, record: recSmall, output: OUTPUT, proof: [] }));
    expect((await d.delivery(small)).output).toBe(bytesToHex(OUTPUT));
    // Without anyone: the large one settles without bytes only after OUTPUT_GRACE, with its hash.
    await expectRevert(fx.oracle.connect(fx.other).settle({ requestId: big, record: recBig, output: "0x", proof: [] }), fx.oracle, "OracleOutputMissing");
    await conn.networkHelpers.time.increase(OUTPUT_GRACE);
    const receipt = await send(fx.oracle.connect(fx.other).settle({ requestId: big, record: recBig, output: "0x", proof: [] }));
    expect(events(receipt, fx.oracle, "RequestFulfilled")[0]!.args.outputDelivered).toBe(false);
    const got = await d.delivery(big);
    expect([got.received, got.isInline, got.outputHash]).toEqual([true, false, MAP_HASH]);
  });

  describe("SDK: wrong bytes at the output's URI", () => {
    let server: Server;
    let url: string;
    const served = new Map<string, Buffer>();
    beforeAll(async () => {
      server = createServer((req, res) => {
        const bytes = served.get((req.url ?? "").split("/").pop() ?? "");
        if (bytes === undefined) return void res.writeHead(404).end();
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) }).end(bytes);
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("test_fetchOutput_wrongBytesAtUri_refused_rightMirror_succeeds", async () => {
      const fx = await fixture();
      const { ask } = await dapp(fx, Tier.NONE);
      const id = await ask("detect");
      await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: MAP_HASH, output: sizeProof(MAP) }))));
      // A lying blob store serves another map (a well-formed tensor, another hash) under the hash.
      const other = tensorF32([1, 1, 64, 64], Array.from({ length: 64 * 64 }, () => 0));
      served.set(MAP_HASH.toLowerCase(), other);
      const client = await OracleClient.connect({ oracle: fx.oracleAddr, runner: fx.ethers.provider, relayerUrl: url, pollIntervalMs: 50 });
      const e = await client.fetchOutput(id).catch((x: unknown) => x);
      expect(isSdkError(e, "OUTPUT_HASH_MISMATCH")).toBe(true);
      expect((e as Error).message).toMatch(/refused/);
      // Garbage, not even a tensor: refused the same way.
      served.set(MAP_HASH.toLowerCase(), Buffer.from("not a tensor"));
      expect(isSdkError(await client.fetchOutput(id).catch((x: unknown) => x), "OUTPUT_HASH_MISMATCH")).toBe(true);
      // A mirror holding the real bytes (anyone who recomputed them) is tried next, and checked.
      const mirror = createServer((_req, res) => void res.writeHead(200).end(MAP));
      await new Promise<void>((r) => mirror.listen(0, "127.0.0.1", r));
      try {
        const got = await client.fetchOutput(id, { mirrors: [`http://127.0.0.1:${(mirror.address() as AddressInfo).port}`] });
        expect(got.inline).toBe(false);
        expect(got.outputHash).toBe(MAP_HASH);
        expect(Buffer.from(got.bytes).equals(MAP)).toBe(true);
        expect(got.uri).toMatch(new RegExp(`/blobs/${MAP_HASH}$`));
      } finally {
        await new Promise<void>((r) => mirror.close(() => r()));
      }
    });
  });
});
