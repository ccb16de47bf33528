/**
 * End to end on the local stack (in-process EVM, deployed contracts, the relayer, a real worker running
 * onnxruntime, the in-process queue): a stateful model with several named inputs and outputs
 * (models/vad-gru.onnx: audio frame, int64 sample rate, recurrent state in; probability and next state
 * out), served in NONE. The VoiceActivityDApp carries the state from each result into its next request;
 * the SDK sends inputs by name (inline and uploaded) and reads outputs by name; a bad bundle is rejected
 * by the worker and refunded, nothing lost.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleEntries, encodeBundle, encodeTensor, hashBundleEncoded, hashTensor, RefundReason, RequestStatus, Tier, bytesToHex, type Tensor } from "../../protocol/index.js";
import { sha256Hex } from "../../worker/index.js";
import { checkModel } from "../../cli/check.js";
import { ifModel } from "../attacks/resource-models.js";
import { OracleClient, isSdkError } from "../../sdk/index.js";
import { REQUEST_FEE, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { VoiceActivityDApp__factory, type VoiceActivityDApp } from "../../types/ethers-contracts/index.js";
import { frame, SR, VAD_FILE, VAD_HASH, ZERO_STATE } from "../worker/vad-fixtures.js";

const INPUTS = [
  { name: "input", dtype: 1, shape: [1, 64] },
  { name: "sr", dtype: 7, shape: [] },
  { name: "state", dtype: 1, shape: [1, 1, 8] },
];
const OUTPUTS = [
  { name: "output", dtype: 1, shape: [1, 1] },
  { name: "stateN", dtype: 1, shape: [1, 1, 8] },
];

describe("several named inputs and outputs, end to end (NONE tier)", () => {
  let stack: LocalStack;
  let dapp: VoiceActivityDApp;
  let session: ort.InferenceSession;
  const reference = async (f: Tensor, state: Float32Array) => {
    const r = await session.run({
      input: new ort.Tensor("float32", f.data as Float32Array, [1, 64]),
      sr: new ort.Tensor("int64", BigInt64Array.of(16000n), []),
      state: new ort.Tensor("float32", state, [1, 1, 8]),
    });
    return { output: r.output!.data as Float32Array, stateN: r.stateN!.data as Float32Array };
  };

  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE });
    session = await ort.InferenceSession.create(VAD_FILE);
    const info = {
      owner: await stack.accounts.modelOwner.getAddress(), fee: 0n, tiers: 1, active: true,
      resolver: "0x0000000000000000000000000000000000000000", zkVerifier: "0x0000000000000000000000000000000000000000",
      commitmentRoot: `0x${"00".repeat(32)}`, input: { dtype: 1, shape: [1] }, output: { dtype: 1, shape: [1] }, uris: [pathToFileURL(VAD_FILE).href],
    };
    await (await stack.registry.connect(stack.accounts.modelOwner).registerModelIO(VAD_HASH, info, INPUTS, OUTPUTS)).wait();
    dapp = await new VoiceActivityDApp__factory(stack.accounts.user).deploy(await stack.oracle.getAddress(), VAD_HASH, 16000, 300_000);
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("test_dapp_carriesStateAcrossFourFrames_equalsOnnxruntimeRunInSequence", async () => {
    let state = new Float32Array(8);
    for (let i = 0; i < 4; i++) {
      const f = frame(i);
      const deadline = (await stack.networkHelpers.time.latest()) + 3600;
      await (await dapp.pushFrame(encodeTensor(f), deadline, { value: REQUEST_FEE })).wait();
      stack.relayer.poke();
      await waitFor(async () => (await dapp.framesScored()) === BigInt(i + 1), 60_000, `frame ${i}`);
      const ref = await reference(f, state);
      // The dApp's state is the model's stateN for this frame, computed from the state it carried in.
      expect(await dapp.state()).toBe(bytesToHex(encodeTensor({ dtype: "float32", shape: [1, 1, 8], data: ref.stateN })));
      const p = Buffer.alloc(4);
      p.writeFloatLE(ref.output[0]!);
      expect(await dapp.lastProbabilityBits()).toBe(BigInt(p.readUInt32LE(0)));
      state = Float32Array.from(ref.stateN);
    }
    expect(await dapp.pending()).toBe(`0x${"00".repeat(32)}`);
  }, 180_000);

  it("test_sdk_inputsByName_inlineAndUploaded_outputsByName", async () => {
    const client = await OracleClient.connect({ oracle: await stack.oracle.getAddress(), runner: stack.accounts.user, relayerUrl: stack.relayer.url, pollIntervalMs: 100 });
    const model = await client.model(VAD_HASH);
    expect(model.inputs.map((s) => `${s.name}:${s.dtype}[${s.shape}]`)).toEqual(["input:float32[1,64]", "sr:int64[]", "state:float32[1,1,8]"]);
    expect(model.outputs.map((s) => s.name)).toEqual(["output", "stateN"]);
    const state = Float32Array.from({ length: 8 }, (_, k) => (k - 4) / 10);
    for (const upload of [false, true]) {
      // Numbers for the sample rate: the SDK fits it to the model's int64 scalar.
      const sent = await client.request({ modelHash: VAD_HASH, inputs: { state: { dtype: "float32", shape: [1, 1, 8], data: state }, input: frame(7), sr: { dtype: "int32", shape: [], data: Int32Array.of(16000) } }, upload });
      expect(sent.inputHash).toBe(hashBundleEncoded(encodeBundle({ input: frame(7), sr: SR, state: { dtype: "float32", shape: [1, 1, 8], data: state } })));
      expect(sent.inputURI !== undefined).toBe(upload);
      stack.relayer.poke();
      const outcome = await client.wait(sent.requestId, { timeoutMs: 60_000 });
      const outputs = await client.outputs(outcome.outputHash!, VAD_HASH);
      expect([...outputs.keys()]).toEqual(["output", "stateN"]);
      const ref = await reference(frame(7), state);
      expect(Array.from(outputs.get("output")!.data as Float32Array)).toEqual(Array.from(ref.output));
      expect(Array.from(outputs.get("stateN")!.data as Float32Array)).toEqual(Array.from(ref.stateN));
      // The relayer's dashboard API previews every input and output by name.
      // (The relayer stores what it saw after the chain made the request final: wait until it shows both.)
      type Detail = Record<"input" | "output", { bundle?: Array<{ name: string; dtype: string; shape: number[]; values: number[] }>; reason?: string }>;
      let detail: Detail | undefined;
      for (const until = Date.now() + 15_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
        detail = (await (await fetch(`${stack.relayer.url}/api/requests/${sent.requestId}`)).json()) as Detail;
        if (detail.input?.bundle !== undefined && detail.output?.bundle !== undefined) break;
      }
      if (detail?.input?.bundle === undefined || detail.output?.bundle === undefined) throw new Error(`the dashboard API shows no bundle preview: ${JSON.stringify(detail).slice(0, 400)}`);
      expect(detail.input.bundle.map((b) => `${b.name}:${b.dtype}[${b.shape}]`)).toEqual(["input:float32[1,64]", "sr:int64[]", "state:float32[1,1,8]"]);
      expect(detail.output.bundle.map((b) => b.name)).toEqual(["output", "stateN"]);
      expect(detail.output.bundle[1]!.values).toEqual(Array.from(ref.stateN));
    }
    // A misnamed input is refused before anything is sent, with the names.
    const e = await client.request({ modelHash: VAD_HASH, inputs: { input: frame(0), sr: SR, h: ZERO_STATE } }).catch((x: unknown) => x);
    expect(isSdkError(e, "INPUT_INVALID")).toBe(true);
    expect((e as Error).message).toMatch(/unexpected input "h"; missing input "state"; model 0x[0-9a-f]+ takes "input", "sr", "state"/);
  }, 180_000);

  it("test_badBundle_rejectedByTheWorker_refunded", async () => {
    const user = stack.accounts.user;
    // The sample rate as int32: a well-formed bundle that does not fit the model's spec.
    const bad = encodeBundle({ input: frame(0), sr: { dtype: "int32", shape: [], data: Int32Array.of(16000) }, state: ZERO_STATE });
    const deadline = (await stack.networkHelpers.time.latest()) + 3600;
    const receipt = (await (await stack.oracle.connect(user).requestInference({ modelHash: VAD_HASH, inputHash: `0x${"00".repeat(32)}`, input: bytesToHex(bad), inputURI: "", tier: Tier.NONE, callbackGasLimit: 0, deadline, maxInlineOutput: 0 }, { value: REQUEST_FEE })).wait())!;
    const id = receipt.logs.map((l) => stack.oracle.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested")!.args.requestId as string;
    stack.relayer.poke();
    await waitFor(async () => (await stack.oracle.getRequest(id)).status === BigInt(RequestStatus.Refunded), 60_000, "the refund");
    const refunds = await stack.oracle.queryFilter(stack.oracle.filters.RequestRefunded(id));
    expect(Number(refunds[0]!.args.reason)).toBe(RefundReason.RejectedByWorker);
    expect(refunds[0]!.args.amount).toBe(REQUEST_FEE);
    expect(bundleEntries(bad).map((x) => x.name)).toEqual(["input", "sr", "state"]);
  }, 120_000);

  it("test_ifModel_refusedForOptimisticWithItsReason_servedInNone", async () => {
    // y = If(c, x + x, x): control flow, which no one-step proof covers.
    const file = join(stack.dataDir, "if.onnx");
    const bytes = ifModel();
    writeFileSync(file, bytes);
    const report = await checkModel(file, { seeded: 1 });
    expect(report.verdicts.OPTIMISTIC.allowed).toBe(false);
    expect(report.verdicts.OPTIMISTIC.reasons.join("; ")).toMatch(/not disputable: If ×1/);
    expect(report.verdicts.NONE.allowed).toBe(true);
    const hash = sha256Hex(bytes);
    const owner = stack.accounts.modelOwner;
    await (await stack.registry.connect(owner).registerModel(hash, {
      owner: await owner.getAddress(), fee: 0n, tiers: 1, active: true,
      resolver: "0x0000000000000000000000000000000000000000", zkVerifier: "0x0000000000000000000000000000000000000000",
      commitmentRoot: `0x${"00".repeat(32)}`, input: { dtype: 1, shape: [1] }, output: { dtype: 1, shape: [1] }, uris: [pathToFileURL(file).href],
    })).wait();
    const x: Tensor = { dtype: "float32", shape: [1], data: Float32Array.of(21) };
    const deadline = (await stack.networkHelpers.time.latest()) + 3600;
    const receipt = (await (await stack.oracle.connect(stack.accounts.user).requestInference({ modelHash: hash, inputHash: `0x${"00".repeat(32)}`, input: bytesToHex(encodeTensor(x)), inputURI: "", tier: Tier.NONE, callbackGasLimit: 0, deadline, maxInlineOutput: 0 }, { value: REQUEST_FEE })).wait())!;
    const id = receipt.logs.map((l) => stack.oracle.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested")!.args.requestId as string;
    stack.relayer.poke();
    await waitFor(async () => (await stack.oracle.getRequest(id)).status === BigInt(RequestStatus.Fulfilled), 60_000, "the If model's result");
    const fulfilled = await stack.oracle.queryFilter(stack.oracle.filters.RequestFulfilled(id));
    expect(fulfilled[0]!.args.outputHash).toBe(hashTensor({ dtype: "float32", shape: [1], data: Float32Array.of(42) }));
  }, 180_000);
});
