// One prover thread of worker/prover.ts (plain JavaScript so it loads under node, tsx and vitest
// alike). Receives { id, input, wasmPath, zkeyPath } and answers { id, proof, publicSignals, ms } or
// { id, error }. snarkjs (ffjavascript) runs its own helper threads from here, never on the worker's
// main thread.
import { parentPort } from "node:worker_threads";
import * as snarkjs from "snarkjs";

parentPort.on("message", async (msg) => {
  const started = performance.now();
  try {
    const { proof, publicSignals } = await snarkjs.groth16.fullProve(msg.input, msg.wasmPath, msg.zkeyPath);
    parentPort.postMessage({ id: msg.id, proof, publicSignals, ms: performance.now() - started });
  } catch (error) {
    parentPort.postMessage({ id: msg.id, error: String(error?.message ?? error) });
  }
});
