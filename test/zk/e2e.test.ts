/**
 * End to end on the real stack (in-process chain, relayer, worker with its prover threads): a
 * ZK-tier request from the DigitClassifierDApp is proven by the worker, submitted by the relayer,
 * verified by the generated adapter, settled and called back, all in one transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import ort from "onnxruntime-node";
import { openChallenge } from "../../challenger/index.js";
import { argmax } from "../../circuits/index.js";
import { createLogger, querySubmitted, Tier } from "../../protocol/index.js";
import { DEFAULT_PARAMS, REQUEST_FEE, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { digits, MNIST_PATH } from "./fixture.js";

describe("ZK tier end to end", () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({ zk: true, tier: Tier.ZK, logger: createLogger("oracle", { level: "error" }) });
  }, 600_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("a digit is classified, proven, verified, settled and called back in the relayer's one transaction", async () => {
    const zk = stack.zk!;
    const oracle = stack.oracle;
    const ds = digits(3, 40);
    const deadline = BigInt((await stack.ethers.provider.getBlock("latest"))!.timestamp) + 3600n;
    const ids: string[] = [];
    for (const d of ds) {
      const rc = (await (await zk.dapp.classify(d.tensor, deadline, { value: REQUEST_FEE })).wait())!;
      const ev = rc.logs.map((l) => { try { return oracle.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "InferenceRequested");
      ids.push(String(ev!.args.requestId));
    }
    stack.relayer.poke();
    await waitFor(async () => (await Promise.all(ids.map((id) => zk.dapp.prediction(id)))).every((p) => p.received), 180_000, "the callbacks");

    const session = await ort.InferenceSession.create(MNIST_PATH);
    for (const [i, id] of ids.entries()) {
      const p = await zk.dapp.prediction(id);
      expect(p.decoded).toBe(true);
      // Submission, proof check, settlement and callback share one transaction.
      const submitted = await querySubmitted(stack.ethers.provider, await oracle.getAddress(), { requestId: id });
      const fulfilled = await oracle.queryFilter(oracle.filters.RequestFulfilled(id));
      expect(submitted).toHaveLength(1);
      expect(fulfilled).toHaveLength(1);
      expect(fulfilled[0]!.transactionHash).toBe(submitted[0]!.transactionHash);
      expect(fulfilled[0]!.args.callbackSucceeded).toBe(true);
      const tx = await stack.ethers.provider.getTransaction(submitted[0]!.transactionHash!);
      expect(oracle.interface.parseTransaction(tx!)?.name).toBe("submitBatch");
      // The proven digit is the model's answer (onnxruntime on the same file).
      const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor("int8", ds[i]!.pixels, [1, 7, 7]) });
      expect(Number(p.digit)).toBe(argmax(out[session.outputNames[0]!]!.data as Int8Array));
    }
    await session.release();
    // The relayer needed no settle transaction for ZK results.
    expect(stack.relayer.transactions.filter((t) => t.label === "settleMany")).toHaveLength(0);
  });

  it("an OPTIMISTIC result on the zk model that is challenged is answered by the worker's answerer with a proof", async () => {
    const zk = stack.zk!;
    const { oracle } = stack;
    const [d] = digits(1, 60);
    const deadline = BigInt((await stack.ethers.provider.getBlock("latest"))!.timestamp) + 3600n;
    const rc = (await (await oracle.connect(stack.accounts.user).requestInference(
      { modelHash: zk.modelHash, inputHash: "0x" + "00".repeat(32), input: d!.tensor, inputURI: "", tier: Tier.OPTIMISTIC, callbackGasLimit: 0, deadline, maxInlineOutput: 0 },
      { value: REQUEST_FEE },
    )).wait())!;
    const id = String(rc.logs.map((l) => { try { return oracle.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "InferenceRequested")!.args.requestId);
    stack.relayer.poke();
    const results = async () => querySubmitted(stack.ethers.provider, await oracle.getAddress(), { requestId: id });
    await waitFor(async () => (await results()).length === 1, 120_000, "the OPTIMISTIC result");
    const sub = (await results())[0]!;
    const submitReceipt = (await stack.ethers.provider.getTransactionReceipt(sub.transactionHash!))!;
    await (await openChallenge(oracle.connect(stack.accounts.arbiter) as never, await oracle.getAddress(), id, submitReceipt.logs, DEFAULT_PARAMS.challengeBond)).wait();
    await waitFor(async () => (await oracle.queryFilter(oracle.filters.DisputeResolved(id))).length === 1, 120_000, "the answered challenge");
    const [resolved] = await oracle.queryFilter(oracle.filters.DisputeResolved(id));
    expect(Number(resolved!.args.ruling)).toBe(1); // Ruling.WorkerRight
    expect(resolved!.args.byDefault).toBe(false);
    // The answerer records its outcome after its answering transaction is mined: wait for it, not race it.
    await waitFor(() => zk.answerer!.outcomes.get(id.toLowerCase()) === "answered", 30_000, "the answerer to record its answer");
  });
});
