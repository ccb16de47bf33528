/**
 * What `oracle model check` proves on-chain (that a model is "disputable on the canonical runtime and
 * on-chain"): every step of the program through the real StepVerifier on an in-process EVM (hardhat's
 * EDR; StepMaps, StepIndex, StepVerifier and the StepVerifierHarness batch contract deployed fresh),
 * sampled elements (first, middle, last) and, for a reduce step, sampled terms (0, K/2, K − 1, the first
 * padding term) compared bit for bit with canonical/element.ts (canonical/leaf-probe.ts), and the gas
 * of one leaf of the game: the verifier calls FraudGame makes for it, each decoding the step (the
 * codec reads parameter values where they are used, so a decode is O(#params), not O(#values)): `info`,
 * then for an element (proveStep) `outputHeader` + `reads` + `elementValue`; for a reduce leaf (proveFold)
 * `initReads` + `initRecord` or `termReads` + `foldTerm`; or `finalize`; each measured around its
 * external call, plus the step's bytes as the move's calldata once, at EIP-7623's floor rate (10 gas a
 * token: an upper bound on what they cost). Merkle proofs and the game's own bookkeeping come on top. The bisection over partial sums makes a reduce step's
 * leaf one fold, so a step is disputable on-chain when every call agrees and its worst leaf fits the
 * game's 2M gas per move.
 *
 * Operand values are synthetic (seeded per step, operand and element; weights are the real ones): the
 * verifier's arithmetic is checked, not the model's numbers, and no canonical run is needed.
 */
import { encodeStep, checkStep, type GasRow, numelOf, type Precision, type Program, type Step } from "../canonical/index.js";
import type { DType } from "../protocol/index.js";

/** The fraud game's budget for one move, leaf checks included (docs/CANONICAL.md). */
export const LEAF_GAS_LIMIT = 2_000_000;

/** The step's bytes as calldata of the move, at EIP-7623's floor rate: 10 gas a token, a zero byte 1 token, another 4. */
export function stepCalldataGas(enc: Uint8Array): number {
  let tokens = 0;
  for (const b of enc) tokens += b === 0 ? 1 : 4;
  return 10 * tokens;
}

export interface StepLeaf {
  step: number;
  op: string;
  kind: Step["kind"];
  node: string;
  opType: string;
  /** Gas of the worst leaf: the StepVerifier calls of one element, init, fold or finalize, `info` (and `outputHeader`) included. */
  leafGas: number;
  /** Worst gas per verifier function; `info` holds info (+ outputHeader for a map or move) + the step's calldata. */
  gas: GasRow & { info: number };
  /** Empty when every sampled call agreed with element.ts and the leaf fits LEAF_GAS_LIMIT. */
  failures: string[];
}

export interface OnchainProbe {
  verifier: string;
  gasLimit: number;
  steps: StepLeaf[];
  /** Steps that passed. */
  disputable: number;
  worst: StepLeaf | null;
  ms: number;
}

/** A seeded value in an operand's dtype: 32-bit mix of (seed, operand, index). */
function synthetic(dtype: DType, seed: number, k: number, i: number): number {
  let h = (Math.imul(seed, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  const u = h / 2 ** 32;
  switch (dtype) {
    case "float32":
      return Math.fround((u * 2 - 1) * 4);
    case "bool":
      return h & 1;
    case "int8":
      return (h & 0xff) - 128;
    case "uint8":
      return h & 0xff;
    case "int16":
      return (h & 0xffff) - 32768;
    case "uint16":
      return h & 0xffff;
    case "int32":
      return (h % 20001) - 10000;
    case "uint32":
      return h % 20001;
    default:
      return 0;
  }
}

/** Operand readers for one step: weights as stored, anything else seeded values computed on access. */
function readerOf(program: Program, step: Step): (k: number) => ArrayLike<number> {
  const arrays = step.operands.map((o, k) => {
    if (o.source === "weight") return program.weights[o.index]!.tensor.data as unknown as ArrayLike<number>;
    const dtype = step.operandTypes[k]!.dtype;
    const length = numelOf(step.operandTypes[k]!.shape);
    return new Proxy({ length } as ArrayLike<number>, {
      get(target, p) {
        if (typeof p === "string" && /^\d+$/.test(p)) return synthetic(dtype, step.index, k, Number(p));
        return Reflect.get(target, p);
      },
    });
  });
  return (k) => arrays[k]!;
}

const unique = (xs: number[], n: number) => [...new Set(xs.filter((x) => x >= 0 && x < n))];

export interface ProbeContracts {
  verifier: any;
  harness: any;
  close(): Promise<void>;
}

/** A fresh in-process chain with StepMaps, StepIndex, StepVerifier (linked) and StepVerifierHarness. */
export async function deployProbe(): Promise<ProbeContracts> {
  const { network } = await import("hardhat");
  const conn = await network.create();
  const maps = await conn.ethers.deployContract("StepMaps");
  const index = await conn.ethers.deployContract("StepIndex");
  const verifier: any = await conn.ethers.deployContract("StepVerifier", [], { libraries: { StepMaps: await maps.getAddress(), StepIndex: await index.getAddress() } });
  const harness: any = await conn.ethers.deployContract("StepVerifierHarness", [await verifier.getAddress()]);
  return { verifier, harness, close: async () => void (await conn.close?.()) };
}

/** One step through StepVerifier: its worst leaf gas and every disagreement with element.ts. */
export async function probeStep(contracts: ProbeContracts, program: Program, step: Step, precision: Precision): Promise<StepLeaf> {
  const numel = numelOf(step.output.shape);
  const es = unique([0, Math.floor(numel / 2), numel - 1], numel);
  const termsOf = (_e: number, K: number, padding: number[]) => unique([0, Math.floor(K / 2), K - 1, ...padding.slice(0, 1)], K);
  const bad: string[] = [];
  const failures: string[] = [];
  let gas: GasRow = { reads: 0, value: 0, init: 0, termReads: 0, fold: 0 };
  let info = 0;
  try {
    const raw = encodeStep(step);
    const checked = await checkStep(contracts.harness, step, readerOf(program, step), precision, es, termsOf, bad);
    gas = checked.gas;
    // proveStep also checks the claimed tensor's header against the step's.
    info = stepCalldataGas(raw) + checked.head.info + (step.kind !== "reduce" ? checked.head.outputHeader : 0);
    failures.push(...bad);
  } catch (error) {
    failures.push(`StepVerifier reverts: ${((error as Error).message ?? String(error)).split("\n")[0]!.slice(0, 200)}`);
  }
  const leafGas = info + (step.kind === "reduce" ? Math.max(gas.reads + gas.init, gas.termReads + gas.fold, gas.value) : gas.reads + gas.value);
  if (failures.length === 0 && leafGas > LEAF_GAS_LIMIT) failures.push(`a leaf needs ${leafGas} gas, above the game's ${LEAF_GAS_LIMIT} per move`);
  return { step: step.index, op: step.op, kind: step.kind, node: step.origin.node, opType: step.origin.opType, leafGas, gas: { ...gas, info }, failures };
}

/**
 * Probes every step of `program` (on `contracts`, else a fresh in-process chain). `onStep` reports
 * progress. Throws only when the chain or the contracts cannot be brought up (no build: run `npx hardhat build`).
 */
export async function probeOnchain(program: Program, precision: Precision, onStep?: (done: number, total: number) => void, contracts?: ProbeContracts): Promise<OnchainProbe> {
  const t0 = performance.now();
  const c = contracts ?? (await deployProbe());
  try {
    const steps: StepLeaf[] = [];
    for (const step of program.steps) {
      steps.push(await probeStep(c, program, step, precision));
      onStep?.(steps.length, program.steps.length);
    }
    const ok = steps.filter((s) => s.failures.length === 0);
    const worst = steps.reduce<StepLeaf | null>((w, s) => (w === null || s.leafGas > w.leafGas ? s : w), null);
    return { verifier: "StepVerifier (contracts/canonical/) on hardhat's in-process EVM", gasLimit: LEAF_GAS_LIMIT, steps, disputable: ok.length, worst, ms: Math.round(performance.now() - t0) };
  } finally {
    if (contracts === undefined) await c.close();
  }
}
