/**
 * Issue 14, several named inputs and outputs: the attacks on a bundle.
 *
 * - A carrier swaps two outputs of a signed result (the same bytes under exchanged names): the bundle
 *   hash commits to each name with its tensor's hash, so the oracle refuses the delivery
 *   (OracleOutputHashMismatch) and the dApp never sees it.
 * - A worker signs the outputs swapped: another hash than the honest result's (a different claim, the
 *   one a dispute would be about), and the dApp, which reads its outputs by name and layout, keeps its
 *   state instead of taking the probability for the state.
 * - A requester commits to one input bundle and supplies another (inline on chain, or at the inputURI
 *   a worker fetches): refused on chain (OracleInputHashMismatch) and by the worker (reason 4).
 * - A malformed inline bundle is refused by the oracle with its format code, as a malformed tensor is.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { network } from "hardhat";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploy, events, expectRevert, modelInfo, now, send, submission, FEE, type Connection, type Fx } from "../contracts/helpers.js";
import {
  bundleEntries,
  encodeBundle,
  encodeBundleOf,
  encodeTensor,
  hashBundleEncoded,
  RejectReason,
  bytesToHex,
  type Hex,
  type Tensor,
  packBatch,
} from "../../protocol/index.js";
import { frame, SR, VAD_HASH, VAD_MODEL, ZERO_STATE } from "../worker/vad-fixtures.js";
import { attackJob, attackWorker, type AttackWorker } from "./harness.js";
import { loopbackServer, type LoopbackServer } from "../worker/fixtures.js";

const FILE = join(process.cwd(), "models", "vad-gru.onnx");
const INPUTS = [
  { name: "input", dtype: 1, shape: [1, 64] },
  { name: "sr", dtype: 7, shape: [] },
  { name: "state", dtype: 1, shape: [1, 1, 8] },
];
const OUTPUTS = [
  { name: "output", dtype: 1, shape: [1, 1] },
  { name: "stateN", dtype: 1, shape: [1, 1, 8] },
];

/** onnxruntime's outputs for one frame from the zero state, as a bundle. */
async function honestOutput(f: Tensor): Promise<Buffer> {
  const session = await ort.InferenceSession.create(FILE);
  const r = await session.run({
    input: new ort.Tensor("float32", f.data as Float32Array, [1, 64]),
    sr: new ort.Tensor("int64", BigInt64Array.of(16000n), []),
    state: new ort.Tensor("float32", new Float32Array(8), [1, 1, 8]),
  });
  return encodeBundle({
    output: { dtype: "float32", shape: [1, 1], data: r.output!.data as Float32Array },
    stateN: { dtype: "float32", shape: [1, 1, 8], data: r.stateN!.data as Float32Array },
  });
}

/** The same two tensors under exchanged names. */
function swapped(bundle: Buffer): Buffer {
  const [a, b] = bundleEntries(bundle);
  return encodeBundleOf([{ name: a!.name, encoded: b!.encoded }, { name: b!.name, encoded: a!.encoded }]);
}

describe("attack: swapped outputs and substituted input bundles", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });

  async function vad(fx: Fx) {
    await send(fx.registry.connect(fx.modelOwner).registerModelIO(VAD_HASH, modelInfo({ tiers: 1 }), INPUTS, OUTPUTS));
    const dapp: any = await fx.ethers.deployContract("VoiceActivityDApp", [fx.oracleAddr, VAD_HASH, 16000, 300_000]);
    const f = frame(0);
    const receipt = await send(dapp.connect(fx.requester).pushFrame(encodeTensor(f), (await now(fx)) + 3600n, { value: FEE }));
    const [ev] = events(receipt, fx.oracle, "InferenceRequested");
    // The dApp built the input bundle on chain: byte for byte protocol/bundle.ts's, and the oracle stored its bundle hash.
    const expectedInput = encodeBundle({ input: f, sr: SR, state: ZERO_STATE });
    expect(ev!.args.input).toBe(bytesToHex(expectedInput));
    expect(ev!.args.inputHash).toBe(hashBundleEncoded(expectedInput));
    return { dapp, id: ev!.args.requestId as string, f };
  }

  it("test_submit_carrierSwapsTwoOutputs_refused_dAppGetsTheHonestBundle", async () => {
    const fx = await conn.networkHelpers.loadFixture(deploy);
    const { dapp, id, f } = await vad(fx);
    const honest = await honestOutput(f);
    const sub = await submission(fx, id, fx.signers[0]!, { outputHash: hashBundleEncoded(honest), output: bytesToHex(honest) });
    const bad = swapped(honest);
    expect(hashBundleEncoded(bad)).not.toBe(hashBundleEncoded(honest));
    // A carrier copies the batch and swaps the outputs' bytes (only their hash is signed): the item is skipped.
    const carried = await send(fx.oracle.connect(fx.other).submitBatch(...packBatch({ ...sub, items: [{ ...sub.items[0]!, output: bytesToHex(bad) }] })));
    const skipped = events(carried, fx.oracle, "ResultSkipped");
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.args.reason).toBe(fx.oracle.interface.getError("OracleOutputHashMismatch")!.selector);
    expect(await dapp.framesScored()).toBe(0n);
    // The real bundle goes through: the dApp takes the probability and carries stateN as its next state.
    await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub)));
    expect(await dapp.framesScored()).toBe(1n);
    expect(await dapp.state()).toBe(bytesToHex(bundleEntries(honest)[1]!.encoded));
    const p = Buffer.alloc(4);
    p.writeFloatLE((bundleEntries(honest)[0]!.encoded.readFloatLE(16)));
    expect(await dapp.lastProbabilityBits()).toBe(BigInt(p.readUInt32LE(0)));
  });

  it("test_submit_workerSignsSwappedOutputs_otherClaim_dAppKeepsItsState", async () => {
    const fx = await conn.networkHelpers.loadFixture(deploy);
    const { dapp, id, f } = await vad(fx);
    const bad = swapped(await honestOutput(f));
    const before = await dapp.state();
    const receipt = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: hashBundleEncoded(bad), output: bytesToHex(bad) }))));
    // Delivered (the worker's word, NONE tier) but under names that do not fit: nothing decoded.
    expect(events(receipt, dapp, "FrameOutOfLine")).toHaveLength(1);
    expect(events(receipt, dapp, "FrameScored")).toHaveLength(0);
    expect(await dapp.state()).toBe(before);
    expect(await dapp.pending()).toBe(`0x${"00".repeat(32)}`);
  });

  it("test_request_inlineBundleOtherThanCommitted_or_malformed_refused", async () => {
    const fx = await conn.networkHelpers.loadFixture(deploy);
    await send(fx.registry.connect(fx.modelOwner).registerModelIO(VAD_HASH, modelInfo({ tiers: 1 }), INPUTS, OUTPUTS));
    const committed = encodeBundle({ input: frame(0), sr: SR, state: ZERO_STATE });
    const supplied = encodeBundle({ input: frame(1), sr: SR, state: ZERO_STATE });
    const params = async (input: Buffer, inputHash: string) => ({ modelHash: VAD_HASH, inputHash, input: bytesToHex(input), inputURI: "", tier: 0, callbackGasLimit: 0, deadline: (await now(fx)) + 3600n, maxInlineOutput: 0 });
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(await params(supplied, hashBundleEncoded(committed)), { value: FEE }), fx.oracle, "OracleInputHashMismatch", [hashBundleEncoded(committed), hashBundleEncoded(supplied)]);
    // Names out of order: not a canonical bundle (code 8), whatever hash it claims.
    const [a, b, c] = bundleEntries(committed);
    const unsorted = Buffer.concat([committed.subarray(0, 8), ...[b!, a!, c!].map((e) => Buffer.concat([Buffer.from([e.name.length]), Buffer.from(e.name), Buffer.from([0, 0, e.encoded.byteLength >> 8, e.encoded.byteLength & 0xff]), e.encoded]))]);
    await expectRevert(fx.oracle.connect(fx.requester).requestInference(await params(unsorted, `0x${"00".repeat(32)}`), { value: FEE }), fx.oracle, "OracleMalformedTensor", [8]);
    // The committed bundle itself is taken, under its bundle hash.
    const receipt = await send(fx.oracle.connect(fx.requester).requestInference(await params(committed, `0x${"00".repeat(32)}`), { value: FEE }));
    expect(events(receipt, fx.oracle, "InferenceRequested")[0]!.args.inputHash).toBe(hashBundleEncoded(committed));
  });

  it("test_gas_statefulFrames_pushAndDeliver", async () => {
    // docs/PROTOCOL.md "Tensor bundles": what a stateful dApp pays per frame (the oracle hashes the
    // 375-byte input bundle and the 102-byte output bundle; the dApp builds one and stores 52 bytes of the other).
    const fx = await conn.networkHelpers.loadFixture(deploy);
    const { dapp, id, f } = await vad(fx);
    const honest = await honestOutput(f);
    const first = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, id, fx.signers[0]!, { outputHash: hashBundleEncoded(honest), output: bytesToHex(honest) }))));
    const push = await send(dapp.connect(fx.requester).pushFrame(encodeTensor(frame(1)), (await now(fx)) + 3600n, { value: FEE }));
    const next = events(push, fx.oracle, "InferenceRequested")[0]!.args.requestId as string;
    const out = honest; // a bundle of the model's layout (its values do not change the gas)
    const second = await send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(await submission(fx, next, fx.signers[0]!, { outputHash: hashBundleEncoded(out), output: bytesToHex(out) }))));
    expect(await dapp.framesScored()).toBe(2n);
    // Measured 259.8k (push, state slots warm), 281.0k (first delivery: state slots written from zero), 175.6k after.
    expect(Number(push.gasUsed)).toBeLessThan(280_000);
    expect(Number(first.gasUsed)).toBeLessThan(300_000);
    expect(Number(second.gasUsed)).toBeLessThan(200_000);
  });

  describe("worker side", () => {
    let w: AttackWorker;
    let host: LoopbackServer;
    let served: Buffer = Buffer.alloc(0);
    beforeAll(async () => {
      host = await loopbackServer((_req, _body, res) => void res.writeHead(200, { "content-type": "application/octet-stream" }).end(served));
      w = await attackWorker([VAD_MODEL], { modelSchemes: ["file"], fetchAllowedAddresses: ["127.0.0.0/8", "::1"], inputSchemes: ["http"] });
    });
    afterAll(async () => {
      await w?.close();
      await host?.close();
    });

    it("test_serve_inputUriServesAnotherBundle_rejectedHashMismatch", async () => {
      const committed = encodeBundle({ input: frame(0), sr: SR, state: ZERO_STATE });
      // The host serves a bundle under the committed names, but with another frame in it.
      served = encodeBundle({ input: frame(1), sr: SR, state: ZERO_STATE });
      const job = { ...attackJob(VAD_HASH as Hex, ZERO_STATE), input: "0x", inputURI: `${host.url}/input`, inputHash: hashBundleEncoded(committed) };
      const reply = await w.serve(job);
      expect(reply.kind, JSON.stringify(reply)).toBe("rejection");
      expect(reply.reason).toBe(RejectReason.InputHashMismatch);
      // The committed bundle at the same URI is served.
      served = committed;
      const ok = await w.serve({ ...job, requestId: `0x${"ab".repeat(32)}` });
      expect(ok.kind, JSON.stringify(ok)).toBe("result");
    });
  });
});
