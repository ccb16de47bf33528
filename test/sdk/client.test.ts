/**
 * OracleClient against the real local stack (stack/local-stack.ts): the in-process chain and
 * contracts, the relayer with its blob store, a worker running the PP-OCR classifier in
 * onnxruntime-node. Fees, uploads, finality through every stage, verified outputs, and each error code.
 */
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { textLineTensor } from "../../examples/text-images.js";
import { encodeTensor, hashEncoded, Tier } from "../../protocol/index.js";
import { DEFAULT_PARAMS, MODEL_FEE, startLocalStack, type LocalStack } from "../../stack/local-stack.js";
import { describeOutput, isSdkError, OracleClient, type Progress, type SdkErrorCode } from "../../sdk/index.js";

async function codeOf(p: Promise<unknown>): Promise<SdkErrorCode | string> {
  try {
    await p;
  } catch (error) {
    return isSdkError(error) ? error.code : `not an SDK error: ${(error as Error).message}`;
  }
  return "no error";
}

describe("OracleClient on the local stack", () => {
  let stack: LocalStack;
  let client: OracleClient;

  beforeAll(async () => {
    stack = await startLocalStack();
    client = await OracleClient.connect({ oracle: await stack.oracle.getAddress(), runner: stack.accounts.user, relayerUrl: stack.relayer.url, pollIntervalMs: 50 });
  });
  afterAll(async () => stack?.close());

  it("reads the model's terms and quotes the fee (model fee + minimum worker fee)", async () => {
    const model = await client.model(stack.modelHash);
    expect(model).toMatchObject({ fee: MODEL_FEE, tiers: [Tier.NONE, Tier.OPTIMISTIC], active: true, input: { dtype: "float32", shape: [1, 3, 48, 192] }, output: { dtype: "float32", shape: [1, 2] } });
    expect(await client.quote(stack.modelHash)).toEqual({ ownerFee: MODEL_FEE, minWorkerFee: DEFAULT_PARAMS.minWorkerFee, callbackFee: 0n, minimum: MODEL_FEE + DEFAULT_PARAMS.minWorkerFee });
    // A callback's gas is priced in, at least at minGasPrice.
    const withCallback = await client.quote(stack.modelHash, 200_000);
    expect(withCallback.callbackFee >= 200_000n * DEFAULT_PARAMS.minGasPrice).toBe(true);
    expect(withCallback.minimum).toBe(MODEL_FEE + DEFAULT_PARAMS.minWorkerFee + withCallback.callbackFee);
  });

  it("NONE tier: uploads the large input, reports requested -> submitted -> final, and returns the verified output", async () => {
    const stages: Progress[] = [];
    const sent = await client.request({ modelHash: stack.modelHash, input: textLineTensor("Honest workers win", { rotated: true }), tier: Tier.NONE });
    expect(sent.inputURI).toBe(`${stack.relayer.url}/blobs/${sent.inputHash}`);
    expect(sent.inputHash).toBe(hashEncoded(encodeTensor(textLineTensor("Honest workers win", { rotated: true }))));
    const outcome = await client.wait(sent.requestId, { onProgress: (p) => stages.push(p), timeoutMs: 60_000 });
    expect(stages.map((s) => s.stage)).toEqual(["requested", "submitted", "final"]);
    expect(outcome).toMatchObject({ stage: "final", callbackSucceeded: false });
    const output = await client.output(outcome.outputHash!);
    expect(output.shape).toEqual([1, 2]);
    expect(describeOutput(output, stack.modelHash).top).toMatchObject({ index: 1, label: "upside down (180°)" });
    // The requester paid exactly the quoted minimum.
    expect((await stack.oracle.getRequest(sent.requestId)).fee).toBe(MODEL_FEE + DEFAULT_PARAMS.minWorkerFee);
  });

  it("OPTIMISTIC tier: `until: submitted` returns with the challenge deadline; waiting for final times out (TIMEOUT) until the window has passed", async () => {
    const sent = await client.request({ modelHash: stack.modelHash, input: textLineTensor("Stake and sign"), tier: Tier.OPTIMISTIC });
    const submitted = await client.wait(sent.requestId, { until: "submitted", timeoutMs: 60_000 });
    expect(submitted.stage).toBe("submitted");
    expect(submitted.challengeDeadline).toBeGreaterThan((await stack.networkHelpers.time.latest()) + 500);
    const early = client.wait(sent.requestId, { timeoutMs: 300 });
    await expect(early).rejects.toMatchObject({ code: "TIMEOUT", details: { stage: "submitted", until: "final" } });
    await stack.networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    const final = await client.wait(sent.requestId, { timeoutMs: 60_000 });
    expect(final.stage).toBe("final");
    expect(describeOutput(await client.output(final.outputHash!), stack.modelHash).top?.index).toBe(0);
  });

  it("a request a worker rejects (its input cannot be fetched) ends in REQUEST_REFUNDED", async () => {
    const bytes = encodeTensor(textLineTensor("never uploaded"));
    const inputHash = hashEncoded(bytes);
    const deadline = (await stack.networkHelpers.time.latest()) + 3600;
    const tx = await stack.oracle.connect(stack.accounts.user).requestInference(
      { modelHash: stack.modelHash, inputHash, input: "0x", inputURI: `${stack.relayer.url}/blobs/${inputHash}`, tier: Tier.NONE, callbackGasLimit: 0, deadline, maxInlineOutput: 0 },
      { value: MODEL_FEE + DEFAULT_PARAMS.minWorkerFee },
    );
    const receipt = (await tx.wait())!;
    const id = receipt.logs.map((l) => stack.oracle.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested")!.args.requestId as string;
    await expect(client.wait(id, { timeoutMs: 60_000 })).rejects.toMatchObject({ code: "REQUEST_REFUNDED", details: { reason: "RejectedByWorker" } });
  });

  it("refuses bad requests with stable codes, sending nothing", async () => {
    const user = await stack.accounts.user.getAddress();
    const nonce = await stack.ethers.provider.getTransactionCount(user);
    const input = textLineTensor("x");
    expect(await codeOf(client.request({ modelHash: stack.modelHash, input, tier: Tier.ZK }))).toBe("TIER_UNSUPPORTED");
    expect(await codeOf(client.request({ modelHash: stack.modelHash, input, fee: 1n }))).toBe("FEE_TOO_LOW");
    expect(await codeOf(client.request({ modelHash: `0x${"11".repeat(32)}`, input }))).toBe("MODEL_NOT_FOUND");
    expect(await codeOf(client.request({ modelHash: stack.modelHash, input: { dtype: "float32", shape: [1, 3, 48, 100], data: new Float32Array(3 * 48 * 100) } }))).toBe("INPUT_INVALID");
    expect(await codeOf(client.request({ modelHash: stack.modelHash, input: new Uint8Array([1, 2, 3]) }))).toBe("INPUT_INVALID");
    const noRelayer = await OracleClient.connect({ oracle: await stack.oracle.getAddress(), runner: stack.accounts.user });
    expect(await codeOf(noRelayer.request({ modelHash: stack.modelHash, input }))).toBe("INPUT_UPLOAD_FAILED");
    expect(await stack.ethers.provider.getTransactionCount(user)).toBe(nonce);

    expect(await codeOf(client.status(`0x${"22".repeat(32)}`))).toBe("REQUEST_NOT_FOUND");
    expect(await codeOf(client.status("0x1234"))).toBe("CONFIG_INVALID");
    expect(await codeOf(client.output(`0x${"33".repeat(32)}`))).toBe("OUTPUT_UNAVAILABLE");
    expect(await codeOf(OracleClient.connect({ oracle: "not an address", runner: stack.ethers.provider }))).toBe("CONFIG_INVALID");
    expect(await codeOf(OracleClient.connect({ oracle: Wallet.createRandom().address, runner: stack.ethers.provider }))).toBe("CONFIG_INVALID");
  });

  it("a contract revert is TX_REVERTED with the Solidity error's name", async () => {
    // Bypass the client's own checks to reach the contract: a deadline in the past.
    const err = await client.request({ modelHash: stack.modelHash, input: textLineTensor("late"), deadlineSeconds: -10 }).catch((e: unknown) => e);
    expect(isSdkError(err, "TX_REVERTED")).toBe(true);
    expect((err as { details: { revert: string } }).details.revert).toBe("OracleDeadlineInvalid");
  });

  // Last in this file: it moves the clock past a params change (rejectionQuorum 1 -> 2).
  it("a rejection below the quorum leaves the request open; only its requester cancels it (finding 3)", async () => {
    await (await stack.oracle.connect(stack.accounts.admin).scheduleParams({ ...DEFAULT_PARAMS, rejectionQuorum: 2 })).wait();
    await stack.networkHelpers.time.increase(DEFAULT_PARAMS.paramsDelay);
    const bytes = encodeTensor(textLineTensor("never uploaded either"));
    const inputHash = hashEncoded(bytes);
    const deadline = (await stack.networkHelpers.time.latest()) + 3600;
    const fee = MODEL_FEE + DEFAULT_PARAMS.minWorkerFee;
    const tx = await stack.oracle.connect(stack.accounts.user).requestInference(
      { modelHash: stack.modelHash, inputHash, input: "0x", inputURI: `${stack.relayer.url}/blobs/${inputHash}`, tier: Tier.NONE, callbackGasLimit: 0, deadline, maxInlineOutput: 0 },
      { value: fee },
    );
    const receipt = (await tx.wait())!;
    const id = receipt.logs.map((l) => stack.oracle.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested")!.args.requestId as string;
    // The one worker rejects (its input cannot be fetched): recorded, not refunded.
    const until = Date.now() + 60_000;
    let status = await client.status(id);
    while (status.rejections === undefined && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      status = await client.status(id);
    }
    expect(status).toMatchObject({ stage: "requested", rejections: { count: 1, quorum: 2 } });
    // Someone else cannot cancel it.
    const stranger = await OracleClient.connect({ oracle: await stack.oracle.getAddress(), runner: stack.accounts.modelOwner });
    const err = await stranger.cancelRequest(id).catch((e: unknown) => e);
    expect(isSdkError(err, "TX_REVERTED")).toBe(true);
    expect((err as { details: { revert: string } }).details.revert).toBe("OracleNotRequester");
    // Its requester takes the fee back.
    expect((await client.cancelRequest(id)).refunded).toBe(fee);
    await expect(client.wait(id, { timeoutMs: 10_000 })).rejects.toMatchObject({ code: "REQUEST_REFUNDED", details: { reason: "CancelledByRequester" } });
  });
});
