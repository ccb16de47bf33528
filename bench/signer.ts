/**
 * Sign time of the worker's signer, in one run:
 *   noble:    worker/signer.ts, @noble/curves secp256k1 (constant-time k·G), today's signer
 *   baseline: bench/baseline/bigint-signer.ts, an older signer kept for comparison (OpenSSL k·G, BigInt
 *             arithmetic with a variable-time nonce inverse)
 *   ethers:   Wallet.signTypedData (the reference both must equal byte for byte)
 * Each signs the same EIP-712 ResultBatch statements (one per batch of results, docs/V2.md §3); rounds are interleaved so machine noise hits all
 * alike; medians of per-round means. Writes bench/results/signer.json and prints a table.
 *
 * Usage: tsx bench/signer.ts [--n 500] [--rounds 5]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { Wallet, hexlify, randomBytes } from "ethers";
import { oracleDomain, signBatch, type BatchStatement } from "../protocol/index.js";
import { FastSigner } from "../worker/index.js";
import { BigIntSigner as BaselineSigner } from "./baseline/bigint-signer.js";

const { values } = parseArgs({ options: { n: { type: "string", default: "500" }, rounds: { type: "string", default: "5" } } });
const n = Number(values.n);
const rounds = Number(values.rounds);

const key = hexlify(randomBytes(32));
const wallet = new Wallet(key);
const noble = new FastSigner(key);
const baseline = new BaselineSigner(key);
const domain = oracleDomain(31337n, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const h = () => hexlify(randomBytes(32)) as `0x${string}`;
const statements: BatchStatement[] = Array.from({ length: n }, () => ({ resultsRoot: h(), payee: wallet.address }));

// Equality first: a faster signer that signs differently is worth nothing.
for (const st of statements.slice(0, 20)) {
  const ref = await signBatch(wallet, domain, st);
  if (noble.signBatch(domain, st) !== ref || baseline.signBatch(domain, st) !== ref) throw new Error("signatures differ from ethers");
}

function timeSync(sign: (st: BatchStatement) => string): number {
  const t0 = process.hrtime.bigint();
  for (const st of statements) sign(st);
  return Number(process.hrtime.bigint() - t0) / 1e3 / n; // µs per signature
}
async function timeAsync(sign: (st: BatchStatement) => Promise<string>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (const st of statements) await sign(st);
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

// warm-up (JIT, noble's precomputed table, OpenSSL context)
timeSync((st) => noble.signBatch(domain, st));
timeSync((st) => baseline.signBatch(domain, st));
const samples = { noble: [] as number[], baseline: [] as number[], ethers: [] as number[] };
for (let r = 0; r < rounds; r++) {
  samples.noble.push(timeSync((st) => noble.signBatch(domain, st)));
  samples.baseline.push(timeSync((st) => baseline.signBatch(domain, st)));
  samples.ethers.push(await timeAsync((st) => signBatch(wallet, domain, st)));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const result = {
  when: new Date().toISOString(),
  host: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg() },
  node: process.version,
  signaturesPerRound: n,
  rounds,
  microsPerSignature: { noble: median(samples.noble), baseline: median(samples.baseline), ethers: median(samples.ethers) },
  nobleVsBaseline: median(samples.noble) / median(samples.baseline),
  samples,
};
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/signer.json", `${JSON.stringify(result, null, 2)}\n`);
console.log(`EIP-712 Result signature, µs per signature (median of ${rounds} rounds x ${n}), load ${loadavg()[0]!.toFixed(2)}:`);
console.log(`  noble (worker/signer.ts, now)         ${result.microsPerSignature.noble.toFixed(1)}`);
console.log(`  baseline (BigInt signer, before)      ${result.microsPerSignature.baseline.toFixed(1)}`);
console.log(`  ethers Wallet.signTypedData           ${result.microsPerSignature.ethers.toFixed(1)}`);
console.log(`  noble / baseline                      ${result.nobleVsBaseline.toFixed(2)}x`);
