import { makeError, type ContractRunner, type TransactionRequest } from "ethers";
import { describe, expect, it } from "vitest";
import { IModelRegistry__factory, isError, type Hex } from "../../protocol/index.js";
import { DEFAULT_PROVIDERS, RegistryCatalog, StaticCatalog, Worker, loadWorkerConfig, redactWorkerConfig } from "../../worker/index.js";
import { CHAIN_ID, CLS_HASH, CLS_URI, ORACLE, SIGNER_KEY } from "./fixtures.js";

const REGISTRY = "0x0000000000000000000000000000000000000abc";
const iface = IModelRegistry__factory.createInterface();

/** A ContractRunner that answers `model(hash)` and `modelIO(hash)` from a map (or fails like a node would). */
function fakeRunner(models: Map<string, unknown[]>, failure?: () => Error): ContractRunner & { calls: number } {
  const runner = {
    provider: null,
    calls: 0,
    async call(tx: TransactionRequest): Promise<string> {
      runner.calls++;
      if (failure !== undefined) throw failure();
      const fn = iface.parseTransaction({ data: tx.data as string })!.name as "model" | "modelIO";
      const [hash] = iface.decodeFunctionData(fn, tx.data as string);
      const info = models.get(String(hash).toLowerCase());
      if (info === undefined) {
        const data = iface.encodeErrorResult("RegistryModelNotFound", [hash]);
        throw makeError("execution reverted", "CALL_EXCEPTION", { action: "call", data, reason: null, transaction: { to: REGISTRY, data: tx.data as string }, invocation: null, revert: null });
      }
      // modelIO of a model registered without names: its input and output, unnamed.
      if (fn === "modelIO") return iface.encodeFunctionResult("modelIO", [[["", ...(info[7] as unknown[])]], [["", ...(info[8] as unknown[])]]]);
      return iface.encodeFunctionResult("model", [info]);
    },
  };
  return runner;
}

function info(active = true, dtype = 1): unknown[] {
  const zero = "0x0000000000000000000000000000000000000000";
  return [ORACLE, 10n, 3, active, zero, zero, `0x${"00".repeat(32)}`, [dtype, [1, 3, 48, 0]], [1, [1, 2]], [CLS_URI]];
}

describe("RegistryCatalog", () => {
  it("test_getModel_registered_mapsSpecsAndCaches", async () => {
    const runner = fakeRunner(new Map([[CLS_HASH, info()]]));
    const catalog = new RegistryCatalog({ registry: REGISTRY, provider: runner });
    const entry = await catalog.getModel(CLS_HASH);
    expect(entry).toEqual({ modelHash: CLS_HASH, uris: [CLS_URI], input: { dtype: "float32", shape: [1, 3, 48, 0] }, output: { dtype: "float32", shape: [1, 2] } });
    await Promise.all([catalog.getModel(CLS_HASH), catalog.getModel(CLS_HASH.toUpperCase().replace("0X", "0x") as Hex)]);
    // One read of the model (its terms and its named specs), then the cache.
    expect(runner.calls).toBe(2);
  });

  it("test_getModel_unknownInactiveOrBadDtype_isModelUnknown", async () => {
    const inactive = `0x${"11".repeat(32)}` as Hex;
    const badDtype = `0x${"22".repeat(32)}` as Hex;
    const catalog = new RegistryCatalog({ registry: REGISTRY, provider: fakeRunner(new Map([[inactive, info(false)], [badDtype, info(true, 99)]])) });
    for (const h of [`0x${"33".repeat(32)}` as Hex, inactive, badDtype]) {
      const e = await catalog.getModel(h).catch((x: unknown) => x);
      expect(isError(e, "MODEL_UNKNOWN") && !e.retryable, h).toBe(true);
    }
  });

  it("test_getModel_rpcFailure_isRetryable", async () => {
    const runner = fakeRunner(new Map(), () => makeError("connection refused", "NETWORK_ERROR", { event: "x" }));
    const e = await new RegistryCatalog({ registry: REGISTRY, provider: runner }).getModel(CLS_HASH).catch((x: unknown) => x);
    expect(isError(e, "CHAIN_UNAVAILABLE") && e.retryable).toBe(true);
  });
});

describe("StaticCatalog", () => {
  it("test_getModel_pinnedAndUnknown", async () => {
    const catalog = new StaticCatalog([{ modelHash: CLS_HASH, uris: [CLS_URI], input: { dtype: "float32", shape: [1, 3, 48, 192] }, output: { dtype: "float32", shape: [1, 2] } }]);
    expect((await catalog.getModel(CLS_HASH)).uris).toEqual([CLS_URI]);
    expect(isError(await catalog.getModel(`0x${"44".repeat(32)}` as Hex).catch((x: unknown) => x), "MODEL_UNKNOWN")).toBe(true);
  });
});

describe("WorkerConfig", () => {
  const base = { signerKey: SIGNER_KEY, allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }] };

  it("test_load_defaults", () => {
    const c = loadWorkerConfig(base, {});
    expect(c.providers).toEqual([...DEFAULT_PROVIDERS]);
    expect(c.providers).not.toContain("webgpu");
    expect(c.maxInputBytes).toBe(16 * 1024 * 1024);
    expect(c.maxInlineOutputBytes).toBe(4096);
    expect(c.allowedOracles[0]!.chainId).toBe(31337n);
    expect(c.inputSchemes).toEqual(["http", "https"]);
  });

  it("test_load_envOverrides", () => {
    const c = loadWorkerConfig(base, { WORKER_PROVIDERS: "webgpu,cpu", WORKER_PREFETCH: "8", WORKER_ALLOWED_ORACLES: `[{"chainId":"1","oracle":"${ORACLE}"}]` });
    expect(c.providers).toEqual(["webgpu", "cpu"]);
    expect(c.prefetch).toBe(8);
    expect(c.allowedOracles[0]!.chainId).toBe(1n);
  });

  it("test_load_reportsEveryProblem", () => {
    const e = (() => {
      try {
        loadWorkerConfig({ signerKey: "0x12", allowedOracles: [], providers: ["cuda", "metal"], prefetch: 0 }, {});
      } catch (x) {
        return x;
      }
    })();
    expect(isError(e, "CONFIG_INVALID")).toBe(true);
    const problems = (e as { details: { problems: string[] } }).details.problems;
    expect(problems.map((p) => p.split(":")[0])).toEqual(expect.arrayContaining(["signerKey", "allowedOracles", "providers.1", "prefetch"]));
  });

  it("test_load_v1TraceSettings_refusedNotIgnored", () => {
    // WORKER_TRACE=full once published traces; a worker now commits its canonical trace only when disputed.
    const e = (() => {
      try {
        loadWorkerConfig(base, { WORKER_TRACE: "full", WORKER_TRACE_CHECKPOINTS: '{"every":4}' });
      } catch (x) {
        return x;
      }
    })();
    expect(isError(e, "CONFIG_INVALID")).toBe(true);
    const problems = (e as { details: { problems: string[] } }).details.problems;
    expect(problems).toEqual([expect.stringMatching(/^trace: no longer supported \(.*disputed\); remove it$/), expect.stringMatching(/^traceCheckpoints: no longer supported/)]);
    // A Worker constructed in code (the local stack, tests) refuses them the same way.
    expect(() => new Worker({ config: { ...base, traceBatching: false } as never, queue: undefined as never, catalog: undefined as never })).toThrow(/traceBatching: no longer supported/);
  });

  it("test_redact_hidesSigner", () => {
    const shown = JSON.stringify(redactWorkerConfig(loadWorkerConfig(base, {})));
    expect(shown).not.toContain(SIGNER_KEY.slice(2));
    expect(shown).toContain("[redacted]");
  });
});
