import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const CIRCUITS_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = join(CIRCUITS_DIR, "..");
export const TEMPLATES_DIR = join(CIRCUITS_DIR, "templates");
/** Gitignored; one folder per circuit source hash. */
export const BUILD_DIR = join(CIRCUITS_DIR, "build");
const CIRCOM2 = join(REPO_ROOT, "node_modules", ".bin", "circom2");

export interface CircuitBuild {
  dir: string;
  name: string;
  r1csPath: string;
  symPath: string;
  wasmPath: string;
  /** circom's own summary (constraint counts etc.), captured at compile time. */
  log: string;
  nonLinearConstraints: number;
  linearConstraints: number;
  /** true when the build came from the cache. */
  cached: boolean;
  compileSeconds: number;
}

/** Hash of everything the compiled output depends on: the source and every template. */
export function circuitKey(source: string): string {
  const h = createHash("sha256").update(source);
  for (const f of readdirSync(TEMPLATES_DIR).sort()) h.update(f).update(readFileSync(join(TEMPLATES_DIR, f)));
  return h.digest("hex").slice(0, 16);
}

function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}:\n${out}`))));
  });
}

/**
 * The include root for "circomlib/circuits/...", relative to the repo root. circom2's WASI file
 * system cannot follow a symlinked node_modules (a worktree sharing another checkout's), so then
 * circomlib's circuits are copied once into BUILD_DIR/lib (gitignored).
 */
function nodeModulesDir(): string {
  const circomlib = join(REPO_ROOT, "node_modules", "circomlib");
  let real: string;
  try {
    real = realpathSync(circomlib);
  } catch {
    return "node_modules";
  }
  if (real === circomlib) return "node_modules";
  const lib = join(BUILD_DIR, "lib");
  if (!existsSync(join(lib, "circomlib", "circuits", "bitify.circom"))) {
    const tmp = `${lib}.tmp-${process.pid}`;
    cpSync(join(real, "circuits"), join(tmp, "circomlib", "circuits"), { recursive: true });
    try { renameSync(tmp, lib); } catch { rmSync(tmp, { recursive: true, force: true }); }
  }
  return relative(REPO_ROOT, lib);
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

/**
 * Runs `make` unless `output` exists, holding `<output>.lock` (an atomic mkdir) so that concurrent
 * processes wait for one maker instead of repeating minutes of work. A lock older than `staleMs`
 * (a crashed maker) is taken over.
 */
export async function onceAcrossProcesses(output: string, make: () => Promise<void>, staleMs = 10 * 60_000): Promise<void> {
  const lock = `${output}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  for (;;) {
    if (existsSync(output)) return;
    try {
      mkdirSync(lock);
    } catch {
      let age = 0;
      try { age = Date.now() - statSync(lock).mtimeMs; } catch { continue; }
      if (age > staleMs) rmSync(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      if (!existsSync(output)) await make();
      return;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

/**
 * Compiles circom source with circom2 (--r1cs --wasm --sym --O2) into BUILD_DIR/<name>-<key>/,
 * reusing an earlier build of the same source. Writes to a temp folder and renames, so a
 * crashed or concurrent build never leaves a half-written cache entry.
 */
export async function buildCircuit(name: string, source: string): Promise<CircuitBuild> {
  const key = circuitKey(source);
  const dir = join(BUILD_DIR, `${name}-${key}`);
  const paths = {
    r1csPath: join(dir, `${name}.r1cs`),
    symPath: join(dir, `${name}.sym`),
    wasmPath: join(dir, `${name}_js`, `${name}.wasm`),
  };
  const started = performance.now();
  let cached = true;
  // Test files run in parallel processes: one compiles, the others wait for it. `dir` appears only
  // by renaming a finished build into place.
  if (!existsSync(join(dir, "build.log"))) await onceAcrossProcesses(dir, async () => {
    cached = false;
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(tmp, { recursive: true });
    try {
      writeFileSync(join(tmp, `${name}.circom`), source);
      // circom2 is WASI: it only sees the cwd and its parents, so run from the repo root with relative paths.
      const rel = relative(REPO_ROOT, tmp);
      const log = await run(CIRCOM2, [join(rel, `${name}.circom`), "--r1cs", "--wasm", "--sym", "--O2", "-o", rel, "-l", relative(REPO_ROOT, TEMPLATES_DIR), "-l", nodeModulesDir()], REPO_ROOT);
      // The generated witness calculator is CommonJS; the repo is "type": "module".
      writeFileSync(join(tmp, "package.json"), `{ "type": "commonjs" }\n`);
      writeFileSync(join(tmp, "build.log"), stripAnsi(log));
      try { renameSync(tmp, dir); } catch (e) { if (!existsSync(join(dir, "build.log"))) throw e; }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
  const log = readFileSync(join(dir, "build.log"), "utf8");
  const count = (label: string) => Number(new RegExp(`^${label}: (\\d+)`, "m").exec(log)?.[1] ?? NaN);
  return {
    dir, name, ...paths, log,
    nonLinearConstraints: count("non-linear constraints"),
    linearConstraints: count("linear constraints"),
    cached,
    compileSeconds: (performance.now() - started) / 1000,
  };
}

type WitnessBuilder = (code: Buffer) => Promise<{
  calculateWitness(input: Record<string, unknown>, sanityCheck: boolean): Promise<bigint[]>;
}>;

export interface WitnessCalculator {
  /** Full witness (index 0 is the constant 1), as circom numbers it in the .sym file. */
  calculate(input: Record<string, bigint[] | bigint>): Promise<bigint[]>;
}

/** Loads a circuit's generated wasm witness calculator once, for many witnesses. */
export async function loadWitnessCalculator(build: CircuitBuild): Promise<WitnessCalculator> {
  const require = createRequire(import.meta.url);
  const builder = require(join(build.dir, `${build.name}_js`, "witness_calculator.js")) as WitnessBuilder;
  const wc = await builder(readFileSync(build.wasmPath));
  return { calculate: (input) => wc.calculateWitness(input, true) };
}

/** Signal name (e.g. "main.c_l0_relu.out[3]") -> witness index; eliminated signals are left out. */
export function readSymbols(build: CircuitBuild): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of readFileSync(build.symPath, "utf8").split("\n")) {
    const [, idx, , name] = line.split(",");
    if (name !== undefined && Number(idx) >= 0) map.set(name, Number(idx));
  }
  return map;
}
