/**
 * One canonical step checked on-chain (docs/CANONICAL.md, "The one-step verifier"): sampled elements
 * and terms of a step through StepVerifier (by way of the StepVerifierHarness contract: one call per
 * batch, gasleft() around each verifier call), compared bit for bit with canonical/element.ts, and the
 * worst gas of each verifier function. Shared by the StepVerifier test suites and `oracle model check`
 * (cli/leaf-gas.ts), which measure the same thing; the caller deploys the contracts (hardhat), so this
 * file needs nothing but an ethers contract object.
 */
import { encodeStep } from "./commitment.js";
import { finalizeReduce, mapElement, moveElement, moveSource, reduceTerms } from "./element.js";
import type { Precision } from "./float.js";
import { canonicalBits, encodePartial, partialStates, precisionCode } from "./partial.js";
import type { Step } from "./program.js";
import { DTYPES } from "../protocol/index.js";

const MASK64 = (1n << 64n) - 1n;
export const hex64 = (b: bigint | number) => "0x" + (BigInt(b) & MASK64).toString(16).padStart(16, "0");
const hexOf = (u: Uint8Array) => "0x" + Buffer.from(u).toString("hex");

/** An element value as StepVerifier's uint64: binary64 bits of a float (canonical NaN), int64 of an integer. */
export function wordOf(dtype: string, v: number): bigint {
  return dtype === "float32" ? canonicalBits(v) : BigInt(v) & MASK64;
}

/** The v1 tensor header of a step's output. */
export function headerOf(step: Step): string {
  const b = Buffer.alloc(8 + 4 * step.output.shape.length);
  b.write("VIOT", 0, "latin1");
  b[4] = 1;
  b[5] = DTYPES[step.output.dtype].code;
  b[6] = step.output.shape.length;
  step.output.shape.forEach((d, i) => b.writeUInt32BE(d, 8 + 4 * i));
  return "0x" + b.toString("hex");
}

type Reader = (k: number) => ArrayLike<number>;

/** A reader whose every element access is logged as [operand, index] (in the order element.ts reads). */
function loggingReader(read: Reader | null, log: [number, number][]): Reader {
  return (k) => {
    const target = read === null ? {} : read(k);
    return new Proxy(target as object, {
      get(t, p) {
        if (typeof p === "string" && /^\d+$/.test(p)) {
          log.push([k, Number(p)]);
          return read === null ? 1 : (t as ArrayLike<number>)[Number(p)];
        }
        return Reflect.get(t, p);
      },
    }) as ArrayLike<number>;
  };
}

/**
 * The reads of element e's init and of each of its K terms, from reduceTerms itself: every operand
 * element reads as 1, so a term is 1 where it reads its operands and +0 or −∞ in the padding (a
 * resize_linear term, the weight, always reads); the
 * logged accesses are then dealt to the terms that read, in order.
 */
export function reduceReads(step: Step, e: number): { init: [number, number][]; terms: [number, number][][] } {
  const log: [number, number][] = [];
  const r = reduceTerms(step, loggingReader(null, log), e, "fp32");
  const init = log.filter(([k]) => k === 2);
  const perOp = [log.filter(([k]) => k === 0), log.filter(([k]) => k === 1)];
  const pairs = ["conv", "convtranspose", "matmul", "conv3d", "convtranspose3d"].includes(step.op);
  const terms = Array.from(r.terms, (v) => {
    // A resize_linear term is the element times its weight (0 on an exact grid point): it always reads.
    if (v !== 1 && step.op !== "resize_linear") return [];
    return pairs ? [perOp[0]!.shift()!, perOp[1]!.shift()!] : [perOp[0]!.shift()!];
  });
  if (perOp[0]!.length + perOp[1]!.length !== 0) throw new Error(`step ${step.index}: unassigned reads`);
  return { init, terms };
}

export interface GasRow {
  reads: number;
  value: number;
  init: number;
  termReads: number;
  fold: number;
}

export interface StepCheck {
  elements: number;
  terms: number;
  gas: GasRow;
  /** Gas of the `info` call and of the `outputHeader` call, around each external call (no transaction calldata). */
  head: { info: number; outputHeader: number };
}

const readsText = (rs: any[]) => rs.map((r) => `${Number(r[0])}:${r[1]}`).join(",");
const wantText = (rs: [number, number][]) => rs.map(([k, i]) => `${k}:${i}`).join(",");

/**
 * Checks elements `es` of `step` (and, for a reduce step, terms `termsOf(e, K, padding)` of each) in one
 * harness call: reads, elementValue / initReads, initRecord, termReads, foldTerm, finalize, the header
 * and numel/K. Returns mismatches in `bad`.
 */
export async function checkStep(
  harness: any,
  step: Step,
  read: Reader,
  precision: Precision,
  es: number[],
  termsOf: (e: number, K: number, padding: number[]) => number[],
  bad: string[],
): Promise<StepCheck> {
  const enc = "0x" + encodeStep(step).toString("hex");
  const elems: { e: bigint; values: bigint[]; last: string }[] = [];
  const terms: { e: bigint; t: bigint; prev: string; values: bigint[] }[] = [];
  const want: { reads: string; value: bigint; init?: string }[] = [];
  const wantTerms: { reads: string; fold: string; what: string }[] = [];
  let K = 0;
  const dtypeOf = (k: number) => step.operandTypes[k]!.dtype;
  const valuesAt = (rs: [number, number][]) => rs.map(([k, i]) => wordOf(dtypeOf(k), read(k)[i]!));
  for (const e of es) {
    if (step.kind === "map") {
      const log: [number, number][] = [];
      const v = mapElement(step, loggingReader(read, log), e, precision);
      elems.push({ e: BigInt(e), values: valuesAt(log), last: "0x" + "00".repeat(32) });
      want.push({ reads: wantText(log), value: wordOf(step.output.dtype, v) });
    } else if (step.kind === "move") {
      const src = moveSource(step, e);
      // A constant step or a constant pad's outside element reads nothing.
      const rs: [number, number][] = src.operand < 0 ? [] : [[src.operand, src.index]];
      elems.push({ e: BigInt(e), values: valuesAt(rs), last: "0x" + "00".repeat(32) });
      want.push({ reads: wantText(rs), value: wordOf(step.output.dtype, moveElement(step, read, e)) });
    } else {
      const integer = step.output.dtype !== "float32";
      const r = reduceTerms(step, read, e, precision);
      K = r.terms.length;
      const states = partialStates(r, integer);
      const recs = states.map((s) => hexOf(encodePartial(s)));
      const rr = reduceReads(step, e);
      const fin = finalizeReduce(step, r, states.at(-1)!.acc, precision);
      elems.push({ e: BigInt(e), values: valuesAt(rr.init), last: recs.at(-1)! });
      want.push({ reads: wantText(rr.init), value: wordOf(step.output.dtype, fin), init: recs[0]! });
      const padding = rr.terms.flatMap((t, i) => (t.length === 0 ? [i] : []));
      for (const t of new Set(termsOf(e, K, padding))) {
        terms.push({ e: BigInt(e), t: BigInt(t), prev: recs[t]!, values: valuesAt(rr.terms[t]!) });
        wantTerms.push({ reads: wantText(rr.terms[t]!), fold: recs[t + 1]!, what: `e ${e} t ${t}` });
      }
    }
  }
  // Batches of elements and terms (EDR caps a call at 2^24 gas).
  const [EB, TB] = [12, 32];
  const reads: any[] = [];
  const values: bigint[] = [];
  const inits: string[] = [];
  const termReads: any[] = [];
  const folds: string[] = [];
  const gas = [0, 0, 0, 0, 0];
  let o: any;
  for (let c = 0; c * EB < elems.length || c * TB < terms.length || c === 0; c++) {
    o = await harness.run.staticCall(enc, precisionCode(precision), elems.slice(c * EB, (c + 1) * EB), terms.slice(c * TB, (c + 1) * TB), { gasLimit: 16_000_000n });
    reads.push(...o.reads);
    values.push(...o[4]);
    inits.push(...o.inits);
    termReads.push(...o.termReads);
    folds.push(...o.folds);
    o.gas.forEach((g: bigint, j: number) => (gas[j] = Math.max(gas[j]!, Number(g))));
  }
  const what = `step ${step.index} ${step.kind} ${step.op} ${precision}`;
  const note = (m: string) => {
    if (bad.length < 30) bad.push(`${what}: ${m}`);
  };
  if (o.header !== headerOf(step)) note(`header ${o.header}`);
  if (Number(o.numel) !== step.output.shape.reduce((a, d) => a * d, 1)) note(`numel ${o.numel}`);
  if (step.kind === "reduce" && Number(o.terms) !== K) note(`K ${o.terms} want ${K}`);
  if (step.kind !== "reduce" && o.terms !== 0n) note(`K ${o.terms} for a ${step.kind}`);
  want.forEach((w, i) => {
    const e = es[i];
    if (readsText(reads[i]) !== w.reads) note(`e ${e} reads ${readsText(reads[i])} want ${w.reads}`);
    if (values[i] !== w.value) note(`e ${e} value ${hex64(values[i]!)} want ${hex64(w.value)}`);
    if (w.init !== undefined && inits[i] !== w.init) note(`e ${e} init ${inits[i]} want ${w.init}`);
  });
  wantTerms.forEach((w, i) => {
    if (readsText(termReads[i]) !== w.reads) note(`${w.what} termReads ${readsText(termReads[i])} want ${w.reads}`);
    if (folds[i] !== w.fold) note(`${w.what} fold ${folds[i]} want ${w.fold}`);
  });
  const [reads0, value, init, termReads0, fold] = gas as [number, number, number, number, number];
  const head = { info: Number(o.headGas[0]), outputHeader: Number(o.headGas[1]) };
  return { elements: es.length, terms: terms.length, gas: { reads: reads0, value, init, termReads: termReads0, fold }, head };
}
