/**
 * Fuzzing the canonical tensor decoder (decodeTensor, decodeHeader, hashEncoded) with random and
 * hostile inputs: random bytes, truncations and bit flips of valid tensors, every dtype code,
 * ranks 0..255, claimed shapes far larger than the payload. Each input must either decode to a
 * tensor that re-encodes to the same bytes, or throw TENSOR_MALFORMED with a format code; never
 * anything else, and never allocate more than the input (checked through RSS). FUZZ_SEED replays.
 */
import { describe, expect, it } from "vitest";
import {
  DTYPES,
  HEADER_FIXED_BYTES,
  MAX_RANK,
  TENSOR_MAGIC,
  TensorFormatCode,
  decodeHeader,
  decodeTensor,
  encodeTensor,
  hashEncoded,
  hashTensor,
  isError,
  seededRandom,
  type DType,
} from "../../protocol/index.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20261121);
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 3000);
const FORMAT_CODES = new Set(Object.values(TensorFormatCode).filter((v) => typeof v === "number"));

type Outcome = "ok" | `malformed:${number}`;

/** Runs every decoder entry point on `bytes` and checks they agree; returns the outcome. */
function probe(bytes: Uint8Array, where: string): Outcome {
  let outcome: Outcome | undefined;
  for (const fn of [decodeHeader, decodeTensor, hashEncoded] as const) {
    let got: Outcome;
    try {
      const value = fn(bytes);
      got = "ok";
      if (fn === decodeTensor) {
        const t = value as ReturnType<typeof decodeTensor>;
        // A tensor that decodes is canonical: it re-encodes to the same bytes and hashes the same.
        expect(Buffer.from(encodeTensor(t)).equals(Buffer.from(bytes)), `${where}: re-encoding`).toBe(true);
        expect(hashTensor(t), `${where}: hash`).toBe(hashEncoded(bytes));
      }
    } catch (error) {
      if (!isError(error, "TENSOR_MALFORMED")) throw new Error(`${where}: ${fn.name} threw something other than TENSOR_MALFORMED: ${String(error)}`, { cause: error });
      const code = error.details.formatCode as number;
      expect(FORMAT_CODES.has(code), `${where}: format code ${code}`).toBe(true);
      expect(error.message.length, `${where}: message length`).toBeLessThan(600);
      got = `malformed:${code}`;
    }
    if (outcome !== undefined) expect(got, `${where}: ${fn.name} disagrees`).toBe(outcome);
    outcome = got;
  }
  return outcome!;
}

function header(dtypeCode: number, shape: number[], rank = shape.length): Buffer {
  const h = Buffer.alloc(HEADER_FIXED_BYTES + 4 * shape.length);
  TENSOR_MAGIC.copy(h, 0);
  h[4] = 1;
  h[5] = dtypeCode;
  h[6] = rank;
  shape.forEach((d, i) => h.writeUInt32BE(d >>> 0, HEADER_FIXED_BYTES + 4 * i));
  return h;
}

/**
 * A random well-formed tensor, encoded by hand and by encodeTensor: the two must agree, and the
 * encoder must refuse exactly what the decoder refuses (empty tensors with a large leading
 * dimension, e.g. [5, 5, 0]: a bug this fuzzer found, the encoder used to produce undecodable bytes).
 */
function randomValidTensor(random: () => number): Buffer {
  const names = Object.keys(DTYPES) as DType[];
  for (;;) {
    const dtype = names[Math.floor(random() * names.length)]!;
    const rank = Math.floor(random() * 5);
    const shape = Array.from({ length: rank }, () => Math.floor(random() * 6));
    const count = shape.reduce((a, b) => a * b, 1);
    const bytes = new Uint8Array(count * DTYPES[dtype].size);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    const manual = Buffer.concat([header(DTYPES[dtype].code, shape), bytes]);
    const data = new DTYPES[dtype].array(bytes.buffer, 0, count);
    let encoded: Buffer | undefined;
    try {
      encoded = encodeTensor({ dtype, shape, data });
    } catch (error) {
      expect(isError(error, "TENSOR_MALFORMED"), String(error)).toBe(true);
    }
    if (encoded === undefined) {
      expect(probe(manual, `${dtype}[${shape}] refused by the encoder`)).toBe(`malformed:${TensorFormatCode.BadLength}`);
      continue;
    }
    expect(encoded.equals(manual), `${dtype}[${shape}]: encoder output`).toBe(true);
    return manual;
  }
}

describe("fuzz: canonical tensor decoder", () => {
  it(`survives ${ITERATIONS} random, truncated and bit-flipped inputs (seed ${SEED})`, () => {
    const random = seededRandom(SEED);
    const rssBefore = process.memoryUsage().rss;
    const outcomes = new Map<string, number>();
    const tally = (o: Outcome) => outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
    for (let i = 0; i < ITERATIONS; i++) {
      const valid = randomValidTensor(random);
      expect(probe(valid, `valid #${i}`)).toBe("ok");
      const kind = i % 4;
      let bytes: Uint8Array;
      if (kind === 0) {
        // Random bytes, sometimes behind a correct magic.
        bytes = new Uint8Array(Math.floor(random() * 96));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
        if (random() < 0.5 && bytes.length >= 8) TENSOR_MAGIC.copy(bytes, 0), (bytes[4] = 1), (bytes[7] = 0);
      } else if (kind === 1) {
        bytes = valid.subarray(0, Math.floor(random() * valid.length)); // truncated
      } else if (kind === 2) {
        bytes = Buffer.from(valid);
        const flips = 1 + Math.floor(random() * 3);
        for (let f = 0; f < flips && bytes.length > 0; f++) bytes[Math.floor(random() * Math.min(bytes.length, 48))]! ^= 1 << Math.floor(random() * 8);
      } else {
        bytes = Buffer.concat([valid, Buffer.alloc(1 + Math.floor(random() * 8))]); // trailing bytes
      }
      tally(probe(bytes, `mutated #${i} (kind ${kind})`));
    }
    const grownMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    console.log(`tensor fuzz: ${ITERATIONS} mutated inputs, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}, RSS +${grownMiB.toFixed(1)} MiB`);
    expect(grownMiB).toBeLessThan(256);
  });

  it("handles every dtype code 0..255 and every rank 0..255", () => {
    for (let code = 0; code < 256; code++) {
      const known = Object.values(DTYPES).find((d) => d.code === code);
      const bytes = Buffer.concat([header(code, [2]), Buffer.alloc(2 * (known?.size ?? 1))]);
      expect(probe(bytes, `dtype ${code}`)).toBe(known === undefined ? `malformed:${TensorFormatCode.BadDtype}` : "ok");
    }
    for (let rank = 0; rank < 256; rank++) {
      const shape = Array.from({ length: rank }, () => 1);
      const bytes = Buffer.concat([header(DTYPES.uint8.code, shape), Buffer.alloc(1)]);
      expect(probe(bytes, `rank ${rank}`)).toBe(rank <= MAX_RANK ? "ok" : `malformed:${TensorFormatCode.BadRank}`);
      // Claimed rank with no dims at all.
      expect(probe(header(DTYPES.uint8.code, [], rank), `bare rank ${rank}`)).toBe(
        rank === 0 ? `malformed:${TensorFormatCode.BadLength}` : rank <= MAX_RANK ? `malformed:${TensorFormatCode.TooShort}` : `malformed:${TensorFormatCode.BadRank}`,
      );
    }
  });

  it("refuses claimed shapes far larger than the payload without allocating them", () => {
    const rssBefore = process.memoryUsage().rss;
    const huge = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];
    const cases: number[][] = [
      [0xffffffff],
      huge,
      [65536, 65536, 65536],
      [1, 1, 1, 1, 1, 1, 1, 0xffffffff],
      [0, 0xffffffff], // zero elements in total, but a dimension bigger than the payload
      [2 ** 26, 2 ** 26],
    ];
    for (const shape of cases) {
      for (const dtype of Object.keys(DTYPES) as DType[]) {
        const bytes = Buffer.concat([header(DTYPES[dtype].code, shape), Buffer.alloc(64)]);
        const outcome = probe(bytes, `${dtype}[${shape}]`);
        expect(outcome).toBe(`malformed:${TensorFormatCode.BadLength}`);
      }
    }
    expect((process.memoryUsage().rss - rssBefore) / 2 ** 20).toBeLessThan(64);
  });
});
