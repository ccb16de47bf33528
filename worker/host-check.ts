/**
 * Where and as whom a worker process runs. A model that reads a file relative to the worker's working
 * directory could sign and publish the worker's `worker.json`, key included; the model checks
 * (protocol/modelSafety.ts) and the private model folders close that path, and this is the second wall: a worker should run as an unprivileged user, from an empty
 * working directory, with its signer key in the environment (WORKER_SIGNER_KEY) or in a file outside
 * that directory.
 *
 * `worker/main.ts` checks this at start-up: WORKER_HOST_CHECK=warn (the default) logs each problem,
 * `refuse` exits before connecting to anything, `off` skips the check.
 */
import { readdirSync, readFileSync, realpathSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";

export type HostCheckMode = "warn" | "refuse" | "off";

export interface HostFacts {
  /** The process's user id (process.getuid?.()); undefined where the platform has none. */
  uid: number | undefined;
  /** The working directory. */
  cwd: string;
  /** The config file the worker was started with, if any. */
  configPath?: string;
}

/** The host check's mode from WORKER_HOST_CHECK; a clear error for anything else. */
export function hostCheckMode(value: string | undefined): HostCheckMode {
  if (value === undefined || value === "") return "warn";
  if (value === "warn" || value === "refuse" || value === "off") return value;
  throw new Error(`WORKER_HOST_CHECK must be warn, refuse or off (got ${JSON.stringify(value)})`);
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** True when `path` is `dir` or lies below it (after resolving links). */
function inside(path: string, dir: string): boolean {
  const rel = relative(real(dir), real(path));
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** A config file that names a key (signerKey, or any field ending in "Key" holding a 32-byte hex string). */
function holdsKey(path: string): boolean {
  try {
    return /"[A-Za-z]*[Kk]ey"\s*:\s*"(0x)?[0-9a-fA-F]{64}"/.test(readFileSync(path, "utf8"));
  } catch {
    return false;
  }
}

/**
 * Each way the process's placement exposes the worker's secrets, as a sentence naming the fix; none
 * for a worker run as a non-root user from an empty directory with its key outside it.
 */
export function workerHostProblems(facts: HostFacts): string[] {
  const problems: string[] = [];
  if (facts.uid === 0) {
    problems.push("the worker runs as root (uid 0): run it as an unprivileged user, so that nothing a model or an input reaches can read or change the host's files");
  }
  const config = facts.configPath === undefined ? undefined : resolve(facts.cwd, facts.configPath);
  if (config !== undefined && holdsKey(config) && inside(config, facts.cwd)) {
    problems.push(`the config file ${config} holds a key and lies inside the working directory ${facts.cwd}: keep the signer key in WORKER_SIGNER_KEY or in a file outside the working directory`);
  }
  let entries: string[] = [];
  try {
    entries = readdirSync(facts.cwd);
  } catch {
    // An unreadable working directory is as good as an empty one for this check.
  }
  if (entries.length > 0) {
    const shown = entries.slice(0, 5).join(", ") + (entries.length > 5 ? `, … (${entries.length} entries)` : "");
    problems.push(`the working directory ${facts.cwd} is not empty (${shown}): start the worker from an empty directory, so that a path relative to it names nothing`);
  }
  return problems;
}
