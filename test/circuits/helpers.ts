import { seededRandom } from "../../protocol/index.js";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { R1cs } from "../../circuits/index.js";

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), "utf8");
}

/** Field element for a signed integer, as the witness holds it. */
export function fe(r1cs: R1cs, v: bigint | number): bigint {
  const x = BigInt(v) % r1cs.prime;
  return x < 0n ? x + r1cs.prime : x;
}

/** Signed integer for a field element (values above p/2 are negative). */
export function signed(r1cs: R1cs, v: bigint): bigint {
  return v > r1cs.prime / 2n ? v - r1cs.prime : v;
}

/** Deterministic PRNG for test inputs. */
export const rng = seededRandom;

export function randInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** Index of every wire -> the constraints it appears in, so single-wire tampering is cheap to check. */
export function constraintsByWire(r1cs: R1cs): Map<number, number[]> {
  const map = new Map<number, number[]>();
  r1cs.constraints.forEach((c, i) => {
    const wires = new Set<number>();
    for (const lc of c) for (const [w] of lc) wires.add(w);
    for (const w of wires) {
      const list = map.get(w) ?? [];
      list.push(i);
      map.set(w, list);
    }
  });
  return map;
}

export function satisfiesSubset(r1cs: R1cs, witness: readonly bigint[], subset: readonly number[]): boolean {
  const p = r1cs.prime;
  const ev = (lc: [number, bigint][]) => {
    let acc = 0n;
    for (const [w, c] of lc) acc += c * (witness[w] as bigint);
    return acc % p;
  };
  return subset.every((i) => {
    const [a, b, c] = r1cs.constraints[i] as R1cs["constraints"][number];
    return (ev(a) * ev(b) - ev(c)) % p === 0n;
  });
}
