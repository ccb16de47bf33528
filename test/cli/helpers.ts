/**
 * Runs the real `oracle` command (bin/oracle.js) as a child process: under the system's Node when
 * there is one (the shim must work on Node 20), else under the Node running the tests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = join(ROOT, "bin/oracle.js");
/** The Node that runs the shim: the system's (Node 20 on the build host) when present. */
export const SHIM_NODE = process.env.ORACLE_TEST_NODE ?? (existsSync("/usr/bin/node") ? "/usr/bin/node" : process.execPath);

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `oracle ...args` to completion (in the repository root, or `cwd`). */
export function oracle(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 180_000, cwd = ROOT): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(SHIM_NODE, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`oracle ${args.join(" ")} timed out after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** The last JSON object printed on stdout (--json). */
export function lastJson<T = Record<string, unknown>>(r: RunResult): T {
  const lines = r.stdout.trim().split("\n").filter((l) => l.startsWith("{"));
  if (lines.length === 0) throw new Error(`no JSON on stdout (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(lines[lines.length - 1]!) as T;
}

export interface LongRunning {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first stdout/stderr line matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM (or `signal`), then the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Starts a long-running `oracle` command (dev, worker start, relayer start), in the repository root or `cwd`. */
export function start(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): LongRunning {
  const child = spawn(SHIM_NODE, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    text += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return {
    child,
    output: () => text,
    waitFor(pattern, timeoutMs = 150_000) {
      return new Promise((resolvePromise, reject) => {
        const check = () => {
          const line = text.split("\n").find((l) => pattern.test(l));
          if (line !== undefined) {
            cleanup();
            resolvePromise(line);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern} from oracle ${args.join(" ")}\n${text}`));
        }, timeoutMs);
        const onExit = () => {
          cleanup();
          reject(new Error(`oracle ${args.join(" ")} exited (${child.exitCode}) before ${pattern}\n${text}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off("exit", onExit);
        };
        listeners.add(check);
        child.on("exit", onExit);
        check();
      });
    },
    async stop(signal = "SIGTERM", timeoutMs = 60_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** One JSON-RPC call. */
export async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error !== undefined) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}
