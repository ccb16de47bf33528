import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

/**
 * Files that drive their own in-process chain, the canonical runtime and in-process clients (a blob store,
 * the challenger's daemon, the worker's answerer, each closed by its test): they share their worker's module
 * graph (isolate: false), so hardhat, ethers, the contract bindings and canonical/ are imported once per
 * worker instead of once per file (test/contracts: 76 s of CPU down to 41 s, the same 193 tests; 43 attack
 * files: 174 s down to 72 s). Every such file makes its own chain (network.create()) and touches no
 * process-wide state (no vi.mock, no process.env writes, no broker, no child process). Everything else keeps
 * a fresh module graph per file.
 */
const SHARED = [
  "test/contracts/**/*.test.ts",
  "test/canonical/**/*.test.ts",
  "test/protocol/**/*.test.ts",
  // The attacks that keep those rules (each checked to pass here). The game files also share
  // game-fixture.ts's lowered and canonically run PP-OCR model (clsWorld) instead of each building it.
  "test/attacks/{game-descent,game-e2e,game-e2e-daemons,game-honest,game-leaf-gas,game-no-terms,game-oracle,game-overflow,game-proofs,game-random,game-sock,game-terms,game-worst}.test.ts",
  "test/attacks/oracle-*.test.ts",
  "test/attacks/{chained,chained-token,challenger-flood,canonical-descent,convtranspose3d,create2-frontrun,dispute-conservation,dispute-open,dynamic-shape}.test.ts",
  "test/attacks/{large-outputs,multi-io-bundles,multi-io-dispute,multi-io-withheld,one-bit-every-kind,packed-batch,resize-linear,tolerance-drift,tolerance-drift-flip}.test.ts",
  "test/attacks/{redundancy,redundancy-compare,redundancy-token,subscriptions,subscriptions-conservation,subscriptions-token,token-paths-conservation}.test.ts",
  // The ZK files also share test/zk/fixture.ts's zk-ready models (built once per process).
  "test/zk/{adapter,dispute}.test.ts",
  "test/circuits/groth16.test.ts",
  "test/sdk/{subscriptions,token-request}.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two test files at a time even on a 2-core machine (vitest's default there is one): most files
    // wait on a chain, a broker, a browser or a child process for much of their time.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      { extends: true, test: { name: "chain", include: SHARED, isolate: false } },
      {
        extends: true,
        test: {
          name: "isolated",
          include: ["test/**/*.test.ts"],
          exclude: SHARED,
          // A RabbitMQ broker for the queue and end-to-end tests (RABBITMQ_URL to use an existing one).
          globalSetup: ["test/setup/rabbitmq.ts"],
        },
      },
    ],
  },
});
