/**
 * Execution-provider probing. onnxruntime-node throws when a session asks for a provider that is
 * not installed, so for each model the preferred providers are tried in order: those the binding
 * says are not bundled are skipped without a try, a session-creation failure moves on to the next,
 * and CPU is always the last resort. The provider that opened the session is reported with every
 * result (`ResultMessage.provider`).
 *
 * Installing the CUDA provider (operators with NVIDIA GPUs). The npm package bundles CPU and WebGPU
 * only; the CUDA 12 provider libraries are downloaded by onnxruntime-node's install script, which
 * needs to reach its download host (this project's build machine cannot, so its lockfile install
 * skips the step):
 *
 *     ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js
 *     # (package.json's allowScripts denies that script to npm install/rebuild)
 *
 * The host needs the CUDA 12 runtime and cuDNN 9 on its library path (LD_LIBRARY_PATH). Afterwards
 * `ort.listSupportedBackends()` lists cuda as bundled and the worker picks it up with its default
 * preferences; the worker's start-up log line "execution provider chosen" says which one ran.
 * TensorRT additionally needs the TensorRT libraries. If loading fails the worker logs why and
 * falls back to the next provider, so a broken GPU install degrades to CPU instead of failing jobs.
 */
import ort from "onnxruntime-node";
import type { Logger } from "pino";
import { OracleError } from "../protocol/index.js";
import type { ProviderName } from "./config.js";
import { ThreadedSession, type InferenceSessionLike } from "./ort-thread.js";
import { ProcessSession, type ModelProcessLimits } from "./model-process.js";

export interface BackendInfo {
  name: string;
  bundled: boolean;
}

export interface ProbeAttempt {
  provider: string;
  outcome: "opened" | "not-bundled" | "failed";
  ms?: number;
  error?: string;
}

export interface OpenedSession {
  session: InferenceSessionLike;
  /** The provider the session was created for. */
  provider: ProviderName;
  attempts: ProbeAttempt[];
}

export interface SessionSettings {
  graphOptimizationLevel: "disabled" | "basic" | "extended" | "layout" | "all";
  /** 0 lets ONNX Runtime choose. */
  intraOpNumThreads: number;
  /** Open each session in its own inference thread (worker/ort-thread.ts) instead of on the JS thread. */
  inferenceThread?: boolean;
  /**
   * Open each session in a child process of its own under these limits (worker/model-process.ts);
   * takes precedence over `inferenceThread`.
   */
  process?: ModelProcessLimits;
  /** Let cuda/tensorrt multiply float32 in TF32 (default false: `NVIDIA_TF32_OVERRIDE=0`, see gpuFloatPolicy). */
  cudaTf32?: boolean;
}

/** NVIDIA's switch that keeps cuBLAS/cuDNN (and so onnxruntime's CUDA and TensorRT providers) off TF32 for float32. */
export const TF32_OVERRIDE = "NVIDIA_TF32_OVERRIDE";

/**
 * Before a GPU session opens: unless TF32 is allowed, `NVIDIA_TF32_OVERRIDE=0`. onnxruntime's CUDA provider runs
 * float32 MatMul/Conv in TF32 by default (`use_tf32`), and onnxruntime-node passes only `deviceId` to it, so the
 * environment is the one switch a Node worker has. A model committed at fp32 has a τ_out that TF32 exceeds by two
 * orders of magnitude (docs/OPTIMISTIC.md "GPUs and TF32"): without this an honest GPU worker would be slashed. The
 * variable is read when NVIDIA's libraries initialise, and inherited by the model child processes.
 */
export function gpuFloatPolicy(provider: ProviderName, settings: Pick<SessionSettings, "cudaTf32">, env: NodeJS.ProcessEnv = process.env): void {
  if ((provider === "cuda" || provider === "tensorrt") && settings.cudaTf32 !== true) env[TF32_OVERRIDE] = "0";
}

export interface ProviderProberOptions {
  preferences: readonly ProviderName[];
  settings: SessionSettings;
  logger: Logger;
  /** What the binding ships; `ort.listSupportedBackends()` unless given (tests pretend). */
  listBackends?: () => readonly BackendInfo[];
}

/** The preference list as tried: duplicates dropped and cpu last. */
export function probeOrder(preferences: readonly ProviderName[]): ProviderName[] {
  const order: ProviderName[] = [...new Set(preferences.filter((p) => p !== "cpu"))];
  order.push("cpu");
  return order;
}

export class ProviderProber {
  private readonly log: Logger;
  private readonly order: ProviderName[];
  private readonly bundled: Map<string, boolean>;
  /** Providers whose shared library failed to load: not tried again in this process. */
  private readonly broken = new Map<string, string>();
  private warnedNoKernelCap = false;

  constructor(private readonly options: ProviderProberOptions) {
    this.log = options.logger.child({ layer: "providers" });
    this.order = probeOrder(options.preferences);
    const backends = (options.listBackends ?? (() => ort.listSupportedBackends()))();
    this.bundled = new Map(backends.map((b) => [b.name, b.bundled]));
  }

  /** The providers that will be tried, in order. */
  get preferences(): readonly ProviderName[] {
    return this.order;
  }

  /** Opens `modelPath` with the first provider that works. */
  async open(modelPath: string, context: Record<string, unknown> = {}): Promise<OpenedSession> {
    const attempts: ProbeAttempt[] = [];
    for (const provider of this.order) {
      if (provider !== "cpu" && this.bundled.get(provider) !== true) {
        attempts.push({ provider, outcome: "not-bundled" });
        continue;
      }
      const brokenBecause = this.broken.get(provider);
      if (brokenBecause !== undefined) {
        attempts.push({ provider, outcome: "failed", error: `skipped: ${brokenBecause}` });
        continue;
      }
      gpuFloatPolicy(provider, this.options.settings);
      const started = performance.now();
      try {
        const options = this.sessionOptions(provider);
        const { process: limits, inferenceThread } = this.options.settings;
        const session: InferenceSessionLike =
          limits !== undefined
            ? await ProcessSession.create(modelPath, options, limits)
            : inferenceThread === true
              ? await ThreadedSession.create(modelPath, options)
              : await ort.InferenceSession.create(modelPath, options);
        const ms = Math.round((performance.now() - started) * 10) / 10;
        if (session instanceof ProcessSession && provider === "cpu" && (limits?.dataBytes ?? 0) > 0 && !session.kernelCapped && !this.warnedNoKernelCap) {
          this.warnedNoKernelCap = true;
          this.log.warn(
            { ...context, limitMb: Math.round((limits?.dataBytes ?? 0) / 2 ** 20) },
            "prlimit (util-linux) is not installed: model processes' memory is capped by sampling only, and a model that allocates fast can overshoot modelMemoryLimitMb before it is killed",
          );
        }
        attempts.push({ provider, outcome: "opened", ms });
        this.log.info({ ...context, provider, ms, attempts }, "execution provider chosen");
        return { session, provider, attempts };
      } catch (error) {
        // A model that breaks the memory or time limit while loading would break it on every provider.
        if (error instanceof OracleError && (error.code === "MODEL_RESOURCE_LIMIT" || error.code === "CONFIG_INVALID")) throw error;
        const message = (error as Error).message ?? String(error);
        attempts.push({ provider, outcome: "failed", ms: Math.round(performance.now() - started), error: message.slice(0, 500) });
        if (isLoadFailure(message)) this.broken.set(provider, message.slice(0, 200));
        if (provider === "cpu") {
          // Even the CPU provider refuses it: the file is not a model ONNX Runtime can run.
          throw new OracleError("INFERENCE_FAILED", `the model cannot be loaded: ${message}`, { cause: error, details: { ...context, stage: "load", attempts } });
        }
        this.log.warn({ ...context, provider, err: message.slice(0, 500) }, "execution provider failed; trying the next");
      }
    }
    // Unreachable: cpu is always in the order and either opens or throws.
    throw new OracleError("PROVIDER_UNAVAILABLE", "no execution provider could open the model", { details: { ...context, attempts } });
  }

  private sessionOptions(provider: ProviderName): ort.InferenceSession.SessionOptions {
    const { graphOptimizationLevel, intraOpNumThreads } = this.options.settings;
    return {
      executionProviders: [provider],
      graphOptimizationLevel,
      ...(intraOpNumThreads > 0 ? { intraOpNumThreads } : {}),
    };
  }
}

/** A provider whose library or device is missing fails for every model; a model-specific failure does not. */
function isLoadFailure(message: string): boolean {
  return /failed to load|shared library|cannot open shared object|adapter|not (?:compiled|built|supported) in this build/i.test(message);
}
