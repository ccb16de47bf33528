/**
 * Makes an integer ONNX model zk-ready: compile the circuit, phase-2 setup from the kept powers of
 * tau, generate the Groth16 verifier + IZkVerifier adapter, compile them with solc-js and, given a
 * chain, deploy them and register (or update) the model's zkVerifier.
 *
 *   npm run zk:ready -- <model.onnx> [--out contracts/zk] [--vkey file] [--ptau file]
 *                                    [--rpc URL --registry ADDR --key 0x...] [--fee wei] [--uri URI...]
 *
 * Without --rpc it only generates and compiles. --ptau: a public ceremony's powers of tau (e.g. the
 * Hermez/Polygon ceremony's powersOfTau28_hez_final_<n>.ptau) instead of the committed development
 * file circuits/ptau/pot12_dev.ptau, whose toxic waste is public (docs/ZK.md, "Trusted setup").
 */
import { resolve } from "node:path";
import { Command } from "commander";
import { JsonRpcProvider, Wallet } from "ethers";
import { makeZkReady, REPO_ROOT } from "../circuits/index.js";

const program = new Command()
  .name("zk:ready")
  .argument("<model>", "integer ONNX model (the compiler's operator set)")
  .option("--out <dir>", "where the generated Solidity goes", resolve(REPO_ROOT, "contracts", "zk"))
  .option("--vkey <file>", "where the verification key goes (default: <model>.vkey.json beside the model)")
  .option("--ptau <file>", "powers of tau for phase 2 (default: the committed development file)")
  .option("--rpc <url>", "JSON-RPC endpoint to deploy to")
  .option("--registry <address>", "ModelRegistry to register or update the model in")
  .option("--key <hex>", "deployer private key (or ZK_READY_KEY)")
  .option("--fee <wei>", "model fee when registering a new model", "0")
  .option("--uri <uri...>", "where workers fetch the model, when registering a new model")
  .parse();

const opts = program.opts<{ out: string; vkey?: string; ptau?: string; rpc?: string; registry?: string; key?: string; fee: string; uri?: string[] }>();
const modelPath = resolve(program.args[0]!);
const key = opts.key ?? (process.env.ZK_READY_KEY || undefined);
if (opts.rpc !== undefined && key === undefined) {
  console.error("--rpc needs --key (or ZK_READY_KEY)");
  process.exit(2);
}
const signer = opts.rpc !== undefined ? new Wallet(key!, new JsonRpcProvider(opts.rpc)) : undefined;
const result = await makeZkReady({
  modelPath,
  outDir: resolve(opts.out),
  ...(opts.vkey ? { vkeyPath: resolve(opts.vkey) } : {}),
  ...(opts.ptau ? { ptauPath: resolve(opts.ptau) } : {}),
  ...(signer ? { signer } : {}),
  ...(opts.registry ? { registry: opts.registry } : {}),
  fee: BigInt(opts.fee),
  ...(opts.uri ? { uris: opts.uri } : {}),
  progress: (line) => console.error(line),
});
console.log(JSON.stringify({
  modelHash: result.artifacts.modelHash,
  constraints: result.artifacts.constraints,
  zkey: result.artifacts.zkeyPath,
  wasm: result.artifacts.wasmPath,
  files: result.files,
  deployedBytes: result.bytecodeBytes,
  deployed: result.deployed,
  registry: result.registry,
}, null, 2));
// snarkjs keeps bn128 worker threads alive.
process.exit(0);
