/**
 * demo:features `chained`: a two-model chain on the in-process stack. A 28x28 picture (examples/digit.png)
 * goes to the MNIST preprocessing model (scripts/chain-models.ts: 4x4 pooling, int8 quantization), whose
 * int8 [1,7,7] output becomes the input of the MNIST MLP (models/mnist-mlp.onnx), in one chained request
 * (ChainedInference) made by the example ChainedDigitDApp. The real relayer and workers serve both steps;
 * the SDK (sdk/chained.ts followChain) advances the chain when step 0 is delivered. The dApp's callback must
 * hold B's output of A's output: its hash is compared with both models run here with onnxruntime-node.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseEther } from "ethers";
import * as ort from "onnxruntime-node";
import { encodeTensor, hashEncoded, Tier, type Tensor } from "../../protocol/index.js";
import { decodePng, chainIdOf, chainStepFees, chainedContract, followChain, mnistPicture, ChainStatus } from "../../sdk/index.js";
import { ChainedDigitDApp__factory } from "../../types/ethers-contracts/index.js";
import { writeMnistPreprocess, PREPROCESS_INPUT, PREPROCESS_OUTPUT } from "../chain-models.js";
import { MNIST_MODEL_PATH, MODEL_FEE, sha256File, type LocalStack } from "../../stack/local-stack.js";
import type { FeatureDemo, FeatureReport } from "./types.js";

const INT8 = 3;

/** Runs `model` on `input` (its only input and output) with onnxruntime-node. */
async function runLocally(model: string | Uint8Array, input: Tensor): Promise<Tensor> {
  const session = typeof model === "string" ? await ort.InferenceSession.create(model) : await ort.InferenceSession.create(model);
  const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor(input.dtype, input.data as Float32Array, input.shape) });
  const t = out[session.outputNames[0]!]!;
  return { dtype: t.type as Tensor["dtype"], shape: [...t.dims], data: t.data as Tensor["data"] } as Tensor;
}

/** Registers the chain's two models (MNIST preprocessing written here, the MNIST MLP), once per stack. */
export async function registerChainModels(stack: LocalStack): Promise<{ pre: { modelHash: string; path: string }; mnistHash: string }> {
  const { registry, accounts } = stack;
  const resolver = await stack.resolver.getAddress();
  const owner = await accounts.modelOwner.getAddress();
  const pre = writeMnistPreprocess(join(stack.dataDir, "chain-models"));
  const register = async (modelHash: string, path: string, input: { dtype: number; shape: readonly number[] }, output: { dtype: number; shape: readonly number[] }) => {
    if (await registry.isRegistered(modelHash)) return;
    await (
      await registry.connect(accounts.modelOwner).registerModel(modelHash, {
        owner,
        fee: MODEL_FEE,
        tiers: 0b011, // NONE and OPTIMISTIC
        active: true,
        resolver,
        zkVerifier: "0x0000000000000000000000000000000000000000",
        commitmentRoot: "0x" + "00".repeat(32),
        input: { dtype: input.dtype, shape: [...input.shape] },
        output: { dtype: output.dtype, shape: [...output.shape] },
        uris: [`file://${path}`],
      })
    ).wait();
  };
  const mnistHash = sha256File(MNIST_MODEL_PATH);
  await register(pre.modelHash, pre.path, PREPROCESS_INPUT, PREPROCESS_OUTPUT);
  await register(mnistHash, MNIST_MODEL_PATH, { dtype: INT8, shape: [1, 7, 7] }, { dtype: INT8, shape: [1, 10] });
  return { pre, mnistHash };
}

export const chained: FeatureDemo = {
  name: "chained",
  title: "Chained requests: picture -> MNIST preprocessing (ONNX) -> MNIST MLP, one request, two disputable steps",
  async run(stack: LocalStack, say): Promise<FeatureReport> {
    const { oracle, accounts, relayer } = stack;
    const { pre, mnistHash } = await registerChainModels(stack);
    say(`  models: preprocessing ${pre.modelHash.slice(0, 10)}… (float32 [1,1,28,28] -> int8 [1,7,7]), MNIST MLP ${mnistHash.slice(0, 10)}… (int8 [1,7,7] -> int8 [1,10])`);

    const user = accounts.user;
    // The deployment's own ChainedInference (protocol/deployment.ts places one beside the oracle).
    const chainedAddr = await stack.chained.getAddress();
    const dapp = await new ChainedDigitDApp__factory(user).deploy(chainedAddr, pre.modelHash, mnistHash, Tier.NONE);
    const chainedC = chainedContract(chainedAddr, user);
    const fees = await chainStepFees(
      chainedC,
      [{ modelHash: pre.modelHash, tier: Tier.NONE }, { modelHash: mnistHash, tier: Tier.NONE }],
      { consumerGas: Number(await dapp.CONSUMER_GAS()), tip: parseEther("0.001") },
    );

    const picture = mnistPicture(decodePng(readFileSync(join(import.meta.dirname, "..", "..", "examples", "digit.png"))));
    const encoded = encodeTensor(picture);
    const fromBlock = await stack.ethers.provider.getBlockNumber();
    const deadline = BigInt((await stack.ethers.provider.getBlock("latest"))!.timestamp) + 600n;
    const requestTx = await (await dapp.classify(encoded, deadline, fees, `${relayer.url}/blobs/`, { value: fees.reduce((a, b) => a + b, 0n) })).wait();
    const chainId = chainIdOf(chainedC, requestTx!);
    if (chainId === undefined) throw new Error("classify requested no chain");
    say(`  chain ${chainId} requested (${encoded.byteLength}-byte picture inline, fees ${fees.map((f) => f.toString()).join(" + ")} wei, gas ${requestTx!.gasUsed})`);

    const advanceGas: bigint[] = [];
    const final = await followChain(chainedC, chainId, {
      blobStoreUrl: relayer.url,
      fromBlock,
      timeoutMs: 120_000,
      pollMs: 100,
      onStatus: (s) => say(`  chain ${chainId}: step ${s.current} ${ChainStatus[s.status]}${s.status === ChainStatus.Ready ? ` (output ${s.outputHash.slice(0, 10)}…, advancing)` : ""}`),
    });
    for (const log of await chainedC.queryFilter(chainedC.filters.ChainStepRequested(chainId), fromBlock)) {
      const r = await stack.ethers.provider.getTransactionReceipt(log.transactionHash);
      if (r !== null && r.hash !== requestTx!.hash) advanceGas.push(r.gasUsed);
    }
    // Each step's delivery (the relayer's submitBatch, callback included).
    const stepGas: bigint[] = [];
    for (const id of final.requestIds) {
      const [ev] = await oracle.queryFilter(oracle.filters.RequestFulfilled(id), fromBlock);
      if (ev !== undefined) stepGas.push((await stack.ethers.provider.getTransactionReceipt(ev.transactionHash))!.gasUsed);
    }

    // Both models here, with onnxruntime-node: the chain's result must be B(A(picture)).
    const small = await runLocally(readFileSync(pre.path), picture);
    const logits = await runLocally(MNIST_MODEL_PATH, small);
    const expectedHash = hashEncoded(encodeTensor(logits));
    const expectedDigit = [...(logits.data as Int8Array)].reduce((best, v, i, a) => (v > a[best]! ? i : best), 0);
    const prediction = await dapp.prediction(chainId);
    // Step 0's recorded output is A(picture) as computed here.
    const [step0] = await chainedC.queryFilter(chainedC.filters.ChainStepDelivered(chainId), fromBlock);
    const intermediateHash = hashEncoded(encodeTensor(small));
    const intermediateMatches = step0 !== undefined && step0.args.outputHash.toLowerCase() === intermediateHash;
    const delivered =
      intermediateMatches &&
      final.status === ChainStatus.Completed && final.callbackSucceeded && prediction.received && prediction.decoded &&
      prediction.outputHash.toLowerCase() === expectedHash && Number(prediction.digit) === expectedDigit;
    say(`  dApp received digit ${prediction.digit} (output ${prediction.outputHash.slice(0, 10)}…); local onnxruntime: digit ${expectedDigit} (${expectedHash.slice(0, 10)}…)`);
    return {
      delivered,
      chainId: chainId.toString(),
      contract: chainedAddr,
      steps: final.stepCount,
      status: ChainStatus[final.status],
      digit: Number(prediction.digit),
      localDigit: expectedDigit,
      outputHash: prediction.outputHash,
      matchesLocal: prediction.outputHash.toLowerCase() === expectedHash,
      intermediateHash,
      intermediateMatchesLocal: intermediateMatches,
      gasPerDelivery: Number(requestTx!.gasUsed + advanceGas.reduce((a, b) => a + b, 0n)),
      gas: { requestChain: Number(requestTx!.gasUsed), advance: advanceGas.map(Number), stepDeliveries: stepGas.map(Number) },
    };
  },
};
