/**
 * End to end on the real stack: in-process EVM, deployed contracts, relayer, worker running the
 * real PP-OCR classifier, in-process queue. From the dApp's request to its callback, and every kind
 * of bad input ending in a clear error with nothing lost.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Wallet } from "ethers";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  QUEUES,
  RequestStatus,
  Tier,
  decodeTensor,
  encodeTensor,
  hashEncoded,
  oracleDomain,
  type Hex,
  type RequestId,
  signResultBatch,
  packBatch,
} from "../../protocol/index.js";
import { CLS_MODEL_PATH, MODEL_FEE, REQUEST_FEE, DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { classify, stateOf, textInput, uploadBlob } from "./helpers.js";

async function decodeRevert(stack: LocalStack, promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    const data = (e as { data?: string }).data ?? (e as { error?: { data?: string } }).error?.data;
    if (typeof data === "string") return stack.oracle.interface.parseError(data)?.name ?? data;
    throw e;
  }
  throw new Error("expected a revert");
}

describe("oracle end to end (optimistic tier)", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("answers every request through the callback with the model's real output, and pays everyone", async () => {
    const inputs = [
      ["Hello oracle", false],
      ["Upside down line", true],
      ["Verifiable inference", false],
      ["Another flipped one", true],
    ] as const;
    const ids: string[] = [];
    const encoded: Buffer[] = [];
    for (const [text, rotated] of inputs) {
      const bytes = textInput(text, rotated);
      encoded.push(bytes);
      ids.push(await classify(stack, await uploadBlob(stack, bytes)));
    }
    stack.relayer.poke();
    await waitFor(() => ids.every((id) => stateOf(stack, id) === "submitted"), 60_000, "submissions");
    for (const id of ids) expect(await stack.oracle.state(id)).toBe(BigInt(RequestStatus.Submitted));

    await stack.networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => ids.every((id) => stateOf(stack, id) === "fulfilled"), 60_000, "settlement");

    // The delivered output is exactly what onnxruntime computes for that input.
    const session = await ort.InferenceSession.create(CLS_MODEL_PATH);
    for (let i = 0; i < ids.length; i++) {
      const c = await stack.dapp.classification(ids[i]!);
      expect(c.received).toBe(true);
      const t = decodeTensor(encoded[i]!);
      const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", t.data as Float32Array, t.shape) });
      const probs = out[session.outputNames[0]!]!.data as Float32Array;
      const expected = encodeTensor({ dtype: "float32", shape: [1, 2], data: probs });
      expect(c.outputHash).toBe(hashEncoded(expected));
      expect(c.rotated180).toBe(probs[1]! > probs[0]!);
      expect(c.rotated180).toBe(inputs[i]![1]);
    }
    await session.release();

    // Payments: model owner its fee; the relayer, which settled and so ran the callbacks, their gas
    // fee (priced at request time) and its share of the rest; the worker the remainder, per request.
    const n = BigInt(ids.length);
    let relayerTotal = 0n;
    let workerTotal = 0n;
    for (const id of ids) {
      const callbackFee: bigint = (await stack.oracle.getRequest(id)).callbackFee;
      expect(callbackFee > 0n).toBe(true);
      const rest = REQUEST_FEE - MODEL_FEE - callbackFee;
      const relayerCut = (rest * BigInt(DEFAULT_PARAMS.relayerFeeBps)) / 10_000n;
      relayerTotal += relayerCut + callbackFee;
      workerTotal += rest - relayerCut;
    }
    expect(await stack.oracle.balanceOf(await stack.accounts.modelOwner.getAddress())).toBe(MODEL_FEE * n);
    expect(await stack.oracle.balanceOf(await stack.accounts.relayer.getAddress())).toBe(relayerTotal);
    expect(await stack.oracle.balanceOf(await stack.accounts.operator.getAddress())).toBe(workerTotal);
    const w = await stack.oracle.getWorker(await stack.accounts.operator.getAddress());
    expect(w.locked).toBe(0n); // every bond released at settlement
  });

  it("refunds an input of the wrong shape or dtype at once, with the worker's signed rejection", async () => {
    const wrongShape = encodeTensor({ dtype: "float32", shape: [1, 3, 32, 100], data: new Float32Array(3 * 32 * 100) });
    const wrongDtype = encodeTensor({ dtype: "int32", shape: [1, 3, 48, 192], data: new Int32Array(3 * 48 * 192) });
    const refundsBefore = await stack.dapp.refundCount();
    const dappBalanceBefore = await stack.ethers.provider.getBalance(await stack.dapp.getAddress());
    const ids = [await classify(stack, await uploadBlob(stack, wrongShape)), await classify(stack, await uploadBlob(stack, wrongDtype))];
    stack.relayer.poke();
    await waitFor(() => ids.every((id) => stateOf(stack, id) === "refunded"), 60_000, "refunds");
    for (const id of ids) expect(await stack.oracle.state(id)).toBe(BigInt(RequestStatus.Refunded));
    expect(await stack.dapp.refundCount()).toBe(refundsBefore + 2n);
    // The fee came back to the dApp in the refund call.
    expect(await stack.ethers.provider.getBalance(await stack.dapp.getAddress())).toBe(dappBalanceBefore + 2n * REQUEST_FEE);
    const reply = stack.relayer.db.getReply(ids[0]!);
    expect(JSON.parse(reply!.message).code).toBe("TENSOR_SPEC_MISMATCH");
  });

  it("refunds an input whose bytes do not match the declared hash, and one that is not a tensor", async () => {
    const a = await uploadBlob(stack, textInput("first", false));
    const b = await uploadBlob(stack, textInput("second", false));
    // Garbage bytes served from a plain HTTP server (the blob store itself refuses them).
    const garbage = Buffer.from("this is not a tensor at all");
    const server: Server = createServer((_req, res) => res.end(garbage));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
    try {
      const mismatch = await classify(stack, { hash: a.hash, uri: b.uri });
      const notTensor = await classify(stack, { hash: ("0x" + "ab".repeat(32)) as Hex, uri: url });
      stack.relayer.poke();
      await waitFor(() => [mismatch, notTensor].every((id) => stateOf(stack, id) === "refunded"), 60_000, "refunds");
      expect(JSON.parse(stack.relayer.db.getReply(mismatch)!.message).code).toBe("INPUT_HASH_MISMATCH");
      expect(JSON.parse(stack.relayer.db.getReply(notTensor)!.message).code).toBe("TENSOR_MALFORMED");
    } finally {
      server.close();
    }
  });

  it("refuses an unknown model, an oversized inline input and a malformed inline input on-chain", async () => {
    const deadline = (await stack.networkHelpers.time.latest()) + 3600;
    const base = {
      modelHash: stack.modelHash,
      inputHash: ("0x" + "00".repeat(32)) as Hex,
      input: "0x",
      inputURI: "",
      tier: Tier.OPTIMISTIC,
      callbackGasLimit: 100_000,
      deadline,
      maxInlineOutput: 0,
    };
    const oracle = stack.oracle.connect(stack.accounts.user);
    expect(await decodeRevert(stack, oracle.requestInference({ ...base, modelHash: "0x" + "77".repeat(32), inputURI: "x", inputHash: "0x" + "11".repeat(32) }, { value: REQUEST_FEE }))).toBe(
      "OracleModelNotFound",
    );
    const big = encodeTensor({ dtype: "uint8", shape: [DEFAULT_PARAMS.maxInlineInputBytes + 1], data: new Uint8Array(DEFAULT_PARAMS.maxInlineInputBytes + 1) });
    expect(await decodeRevert(stack, oracle.requestInference({ ...base, input: big }, { value: REQUEST_FEE }))).toBe("OracleInputTooLarge");
    expect(await decodeRevert(stack, oracle.requestInference({ ...base, input: "0x56494f5401" }, { value: REQUEST_FEE }))).toBe("OracleMalformedTensor");
    expect(await decodeRevert(stack, oracle.requestInference({ ...base, inputURI: "x", inputHash: "0x" + "11".repeat(32) }, { value: 1n }))).toBe("OracleFeeTooLow");
  });

  it("refuses oversized and malformed blobs with clear HTTP errors", async () => {
    const tooBig = new Uint8Array(stack.relayer.config.api.maxBlobBytes + 1);
    const res = await fetch(`${stack.relayer.url}/blobs`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: tooBig });
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe("PAYLOAD_TOO_LARGE");
    const bad = await fetch(`${stack.relayer.url}/blobs`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: Buffer.from("nope") });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe("TENSOR_MALFORMED");
    const missing = await fetch(`${stack.relayer.url}/blobs/0x${"cd".repeat(32)}`);
    expect(missing.status).toBe(404);
    const t = textInput("x", false);
    const wrongPut = await fetch(`${stack.relayer.url}/blobs/0x${"cd".repeat(32)}`, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(t) });
    expect((await wrongPut.json()).error.code).toBe("INPUT_HASH_MISMATCH");
  });

  it("reports health and request status over HTTP, with clear errors", async () => {
    const health = await (await fetch(`${stack.relayer.url}/health`)).json();
    expect(health.ok).toBe(true);
    expect(health.chainId).toBe(stack.chainId.toString());
    expect(health.oracle).toBe(await stack.oracle.getAddress());
    expect(health.cursor).toBeLessThanOrEqual(health.head);
    expect(health.requests.fulfilled).toBeGreaterThanOrEqual(4);

    const list = await (await fetch(`${stack.relayer.url}/requests?state=fulfilled&limit=2`)).json();
    expect(list.requests).toHaveLength(2);
    expect(list.requests.every((r: { state: string }) => r.state === "fulfilled")).toBe(true);
    const one = await (await fetch(`${stack.relayer.url}/requests/${list.requests[0].id}`)).json();
    expect(one.request.id).toBe(list.requests[0].id);
    expect(one.reply).toMatchObject({ kind: "result", state: "submitted" });

    const badState = await fetch(`${stack.relayer.url}/requests?state=lost`);
    expect(badState.status).toBe(400);
    expect((await badState.json()).error.code).toBe("MESSAGE_INVALID");
    const unknown = await fetch(`${stack.relayer.url}/requests/0x${"12".repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe("REQUEST_NOT_FOUND");
  });

  it("drops a forged result (unstaked signer) and still serves the request honestly", async () => {
    const input = await uploadBlob(stack, textInput("forgery target", false));
    // Pause the honest worker so the forgery arrives first.
    await stack.workers[0]!.close();
    const id = await classify(stack, input);
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "requested", 10_000, "request seen");
    const forger = Wallet.createRandom();
    const fakeOutput = encodeTensor({ dtype: "float32", shape: [1, 2], data: new Float32Array([0, 1]) });
    const statement = { requestId: id as RequestId, modelHash: stack.modelHash, inputHash: input.hash, outputHash: hashEncoded(fakeOutput) };
    const domain = oracleDomain(stack.chainId, await stack.oracle.getAddress());
    const signed = await signResultBatch(forger, domain, [statement], forger.address);
    await stack.queue.publish(QUEUES.results, {
      kind: "batch",
      chainId: stack.chainId.toString(),
      oracle: await stack.oracle.getAddress(),
      payee: forger.address,
      signer: forger.address,
      signature: signed.signature,
      items: [{ ...statement, output: `0x${fakeOutput.toString("hex")}`, provider: "cpu", timings: {}, observedAt: Date.now() }],
    });
    await waitFor(async () => (await stack.queue.deadLetters(QUEUES.results)).length > 0, 10_000, "forgery dead-lettered");
    const dead = await stack.queue.deadLetters(QUEUES.results);
    expect(dead.at(-1)!.reason).toContain("SIGNATURE_INVALID");
    expect(stateOf(stack, id)).toBe("requested");
    // A fresh honest worker picks the job up (it was never acked by the closed one).
    const { Worker, RegistryCatalog } = await import("../../worker/index.js");
    const honest = new Worker({
      queue: stack.queue,
      logger: (await import("../../protocol/index.js")).createLogger("worker", { level: "silent" }),
      catalog: new RegistryCatalog({ provider: stack.ethers.provider, registry: await stack.registry.getAddress() }),
      config: {
        signerKey: stack.workerSigners[0]!.privateKey,
        allowedOracles: [{ chainId: stack.chainId, oracle: await stack.oracle.getAddress() }],
        modelCacheDir: `${stack.dataDir}/worker-honest/models`,
        modelSchemes: ["http", "https", "file", "npm"], // opt in: the local stack's models are npm:/file: URIs
        blobStoreUrl: stack.relayer.url,
      },
    });
    await honest.start();
    stack.workers[0] = honest;
    await waitFor(() => stateOf(stack, id) === "submitted", 60_000, "honest submission");
    const row = stack.relayer.db.getRequest(id)!;
    expect(row.outputHash).not.toBe(statement.outputHash);
  });

  it("refuses a replayed signature on-chain", async () => {
    const fulfilled = stack.relayer.db.listRequests({ state: "submitted", limit: 1 })[0] ?? stack.relayer.db.listRequests({ state: "fulfilled", limit: 1 })[0];
    expect(fulfilled).toBeDefined();
    // The worker-signed batch the result came in, replayed whole.
    const reply = JSON.parse(stack.relayer.db.getReply(fulfilled!.id)!.message);
    const batch = JSON.parse(stack.relayer.db.getBatch(reply.batch)!.message);
    const replay = stack.oracle.connect(stack.accounts.relayer).submitBatch.staticCall(...packBatch({
      payee: batch.payee,
      signature: batch.signature,
      items: batch.items.map((i: { requestId: string; outputHash: string }) => ({ requestId: i.requestId, outputHash: i.outputHash, output: "0x", proof: "0x" })),
    }));
    // Every item is skipped (already served): nothing is accepted twice.
    expect(await replay).toBe(0n);
  });
});

describe("oracle end to end (none tier, expiry)", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("settles a NONE-tier result in the submitting transaction", async () => {
    const id = await classify(stack, await uploadBlob(stack, textInput("instant", true)));
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "fulfilled", 60_000, "fulfilment");
    const row = stack.relayer.db.getRequest(id)!;
    expect(row.finalTx).toBe(row.submitTx);
    expect((await stack.dapp.classification(id)).rotated180).toBe(true);
  });

  it("refunds a request nobody serves by its deadline, without any call from the requester", async () => {
    await stack.workers[0]!.close();
    const balanceBefore = await stack.ethers.provider.getBalance(await stack.dapp.getAddress());
    const id = await classify(stack, await uploadBlob(stack, textInput("nobody home", false)), { deadlineIn: 120 });
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "requested", 10_000, "request seen");
    await stack.networkHelpers.time.increase(121);
    stack.relayer.poke();
    await waitFor(() => stateOf(stack, id) === "refunded", 30_000, "refund");
    expect(await stack.ethers.provider.getBalance(await stack.dapp.getAddress())).toBe(balanceBefore + REQUEST_FEE);
    expect(Number(stack.relayer.db.getRequest(id)!.refundReason)).toBe(0); // Expired
  });
});
