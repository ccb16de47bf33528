import { beforeAll, describe, expect, it } from "vitest";
import {
  buildCircuit, failingConstraints, loadWitnessCalculator, packInt8Words, readR1cs, readSymbols,
  type CircuitBuild, type R1cs, type WitnessCalculator,
} from "../../circuits/index.js";
import { fe, fixture, randInt, rng, signed } from "./helpers.js";

// Integer references for each template.
const relu = (x: number) => Math.max(x, 0);
const floorDiv16 = (x: number) => Math.floor(x / 16);
const clip = (x: number) => Math.min(7, Math.max(-5, x));
const mat = (x: number[]) => {
  const w = [[1, -2], [3, 4], [-128, 127]];
  const [b, m] = [[10, -10], [3, -5]];
  return [0, 1].map((n) => (x.reduce((acc, xi, k) => acc + xi * (w[k]?.[n] ?? 0), 0) + (b[n] ?? 0)) * (m[n] ?? 0));
};

describe("circuit templates (test wrapper vs integer references)", () => {
  let build: CircuitBuild;
  let r1cs: R1cs;
  let wc: WitnessCalculator;
  let sym: Map<string, number>;

  beforeAll(async () => {
    build = await buildCircuit("template_harness", fixture("template_harness.circom"));
    r1cs = readR1cs(build.r1csPath);
    wc = await loadWitnessCalculator(build);
    sym = readSymbols(build);
  });

  const wire = (name: string) => {
    const i = sym.get(name);
    if (i === undefined) throw new Error(`signal ${name} not in the witness`);
    return i;
  };
  /** Sets a signal if --O2 kept it as a wire; a substituted signal is implied by the others. */
  const setIfKept = (w: bigint[], name: string, v: bigint) => {
    const i = sym.get(name);
    if (i !== undefined) w[i] = v;
  };

  function makeInput(rand: () => number, edge: number) {
    const edges = [-512, -1, 0, 1, 511];
    return {
      reluIn: Array.from({ length: 8 }, (_, i) => (i === 0 ? (edges[edge % 5] as number) : randInt(rand, -512, 511))),
      divIn: Array.from({ length: 8 }, (_, i) => (i === 0 ? [0, 15, 16, 1023, 17][edge % 5] as number : randInt(rand, 0, 1023))),
      clipIn: Array.from({ length: 8 }, (_, i) => (i === 0 ? [-1000, -6, -5, 7, 8, 1000][edge % 6] as number : randInt(rand, -1000, 1000))),
      bytes: Array.from({ length: 40 }, (_, i) => (i === 0 ? [-128, 127, 0, -1][edge % 4] as number : randInt(rand, -128, 127))),
      matIn: Array.from({ length: 3 }, () => randInt(rand, -128, 127)),
    };
  }

  async function witnessFor(input: ReturnType<typeof makeInput>): Promise<bigint[]> {
    const toBig = (v: number[]) => v.map(BigInt);
    return wc.calculate({ reluIn: toBig(input.reluIn), divIn: toBig(input.divIn), clipIn: toBig(input.clipIn), bytes: toBig(input.bytes), matIn: toBig(input.matIn) });
  }

  it("every template agrees with its integer reference on 200 inputs, edges included", async () => {
    const rand = rng(7);
    for (let t = 0; t < 200; t++) {
      const input = makeInput(rand, t);
      const w = await witnessFor(input);
      const out = (name: string, i: number) => Number(signed(r1cs, w[wire(`main.${name}[${i}]`)] as bigint));
      for (let i = 0; i < 8; i++) {
        expect(out("reluOut", i)).toBe(relu(input.reluIn[i] as number));
        expect(out("divOut", i)).toBe(floorDiv16(input.divIn[i] as number));
        expect(out("clipOut", i)).toBe(clip(input.clipIn[i] as number));
      }
      for (let i = 0; i < 40; i++) expect(out("back", i)).toBe(input.bytes[i]);
      expect([0, 1].map((i) => w[wire(`main.words[${i}]`)])).toEqual(packInt8Words(input.bytes));
      expect([0, 1].map((i) => out("matOut", i))).toEqual(mat(input.matIn));
      if (t < 5) expect(failingConstraints(r1cs, w)).toEqual([]);
    }
  });

  it("rejects a rounding that is off by one (remainder out of range)", async () => {
    const input = makeInput(rng(1), 0);
    input.divIn[1] = 100; // floor(100 / 16) = 6 rem 4
    const honest = await witnessFor(input);
    const w = honest.slice();
    // Claim quotient 5 with remainder 20: in === q*16 + r still holds, but r needs 5 bits.
    w[wire("main.divOut[1]")] = 5n;
    for (let k = 0; k < 6; k++) setIfKept(w, `main.div.quotientRange[1].out[${k}]`, BigInt((5 >> k) & 1));
    for (let k = 0; k < 4; k++) setIfKept(w, `main.div.remainderRange[1].out[${k}]`, BigInt((20 >> k) & 1));
    expect(failingConstraints(r1cs, honest)).toEqual([]);
    expect(failingConstraints(r1cs, w).length).toBeGreaterThan(0);
  });

  it("rejects a Relu that zeroes a positive value or passes a negative one", async () => {
    const input = makeInput(rng(2), 0);
    input.reluIn[2] = 300;
    input.reluIn[3] = -300;
    const honest = await witnessFor(input);
    const zeroed = honest.slice();
    zeroed[wire("main.reluOut[2]")] = 0n;
    expect(failingConstraints(r1cs, zeroed).length).toBeGreaterThan(0);
    const passed = honest.slice();
    passed[wire("main.reluOut[3]")] = fe(r1cs, -300);
    expect(failingConstraints(r1cs, passed).length).toBeGreaterThan(0);
  });

  it("rejects a Clip output that skips the clamp", async () => {
    const input = makeInput(rng(3), 0);
    input.clipIn[4] = 500;
    const w = await witnessFor(input);
    expect(Number(signed(r1cs, w[wire("main.clipOut[4]")] as bigint))).toBe(7);
    w[wire("main.clipOut[4]")] = 500n;
    expect(failingConstraints(r1cs, w).length).toBeGreaterThan(0);
  });

  it("refuses to unpack or pack a value outside int8", async () => {
    const input = makeInput(rng(4), 0);
    input.bytes[5] = 128;
    await expect(witnessFor(input)).rejects.toThrow();
  });

  it("negative control: without the remainder range check the off-by-one rounding is accepted", async () => {
    const unsafe = await buildCircuit("unsafe_div", fixture("unsafe_div.circom"));
    const ur1cs = readR1cs(unsafe.r1csPath);
    const usym = readSymbols(unsafe);
    const uwc = await loadWitnessCalculator(unsafe);
    const w = await uwc.calculate({ in: [100n, 0n, 1n, 2n, 3n, 4n, 5n, 6n] });
    const q = usym.get("main.out[0]") as number;
    expect(w[q]).toBe(6n);
    w[q] = 5n;
    for (let k = 0; k < 6; k++) w[usym.get(`main.quotientRange[0].out[${k}]`) as number] = BigInt((5 >> k) & 1);
    expect(failingConstraints(ur1cs, w)).toEqual([]);
  });
});
