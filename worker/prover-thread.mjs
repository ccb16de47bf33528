// One prover thread of worker/prover.ts (plain JavaScript so it loads under node, tsx and vitest
// alike). Receives { id, input, wasmPath, zkeyPath } and answers { id, proof, publicSignals, ms } or
// { id, error }. ffjavascript's thread helper (the web-worker package) can only spawn threads from
// the main thread, so each prover thread proves single-threaded; the pool runs proofs in parallel.
import { parentPort } from "node:worker_threads";
import * as snarkjs from "snarkjs";

parentPort.on("message", async (msg) => {
  const started = performance.now();
  try {
    const { proof, publicSignals } = await snarkjs.groth16.fullProve(msg.input, msg.wasmPath, msg.zkeyPath, undefined, undefined, { singleThread: true });
    parentPort.postMessage({ id: msg.id, proof, publicSignals, ms: performance.now() - started });
  } catch (error) {
    parentPort.postMessage({ id: msg.id, error: String(error?.message ?? error) });
  }
});
