import { readFileSync } from "node:fs";

/**
 * A minimal reader for circom's .r1cs format (header + constraints sections) and a checker that
 * evaluates every constraint A·w * B·w = C·w (mod p) on a witness. Used by the soundness tests to
 * show that tampered witnesses are rejected without writing .wtns files.
 */
export type LinearCombination = [wire: number, coef: bigint][];
export interface R1cs {
  prime: bigint;
  nWires: number;
  nPubOut: number;
  nPubIn: number;
  nPrvIn: number;
  constraints: [LinearCombination, LinearCombination, LinearCombination][];
}

function readLe(buf: Buffer, off: number, n: number): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[off + i] as number);
  return v;
}

export function readR1cs(path: string): R1cs {
  const buf = readFileSync(path);
  if (buf.toString("ascii", 0, 4) !== "r1cs") throw new Error(`${path}: not an r1cs file`);
  const nSections = buf.readUInt32LE(8);
  let off = 12;
  const sections = new Map<number, [number, number]>();
  for (let s = 0; s < nSections; s++) {
    const type = buf.readUInt32LE(off);
    const size = Number(buf.readBigUInt64LE(off + 4));
    sections.set(type, [off + 12, size]);
    off += 12 + size;
  }
  const header = sections.get(1);
  const body = sections.get(2);
  if (!header || !body) throw new Error(`${path}: missing header or constraints section`);
  let p = header[0];
  const n8 = buf.readUInt32LE(p);
  const prime = readLe(buf, p + 4, n8);
  p += 4 + n8;
  const nWires = buf.readUInt32LE(p);
  const nPubOut = buf.readUInt32LE(p + 4);
  const nPubIn = buf.readUInt32LE(p + 8);
  const nPrvIn = buf.readUInt32LE(p + 12);
  const nConstraints = buf.readUInt32LE(p + 24);
  p = body[0];
  const readLc = (): LinearCombination => {
    const n = buf.readUInt32LE(p);
    p += 4;
    const lc: LinearCombination = [];
    for (let i = 0; i < n; i++) {
      lc.push([buf.readUInt32LE(p), readLe(buf, p + 4, n8)]);
      p += 4 + n8;
    }
    return lc;
  };
  const constraints: R1cs["constraints"] = [];
  for (let c = 0; c < nConstraints; c++) constraints.push([readLc(), readLc(), readLc()]);
  return { prime, nWires, nPubOut, nPubIn, nPrvIn, constraints };
}

/** Indices of the constraints the witness violates (empty: the witness satisfies the R1CS). */
export function failingConstraints(r1cs: R1cs, witness: readonly bigint[]): number[] {
  const p = r1cs.prime;
  const evalLc = (lc: LinearCombination) => {
    let acc = 0n;
    for (const [wire, coef] of lc) acc += coef * (witness[wire] as bigint);
    return ((acc % p) + p) % p;
  };
  const failing: number[] = [];
  r1cs.constraints.forEach(([a, b, c], i) => {
    if ((evalLc(a) * evalLc(b) - evalLc(c)) % p !== 0n) failing.push(i);
  });
  return failing;
}
