import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two test files at a time even on a 2-core machine (vitest's default there is one): most files
    // wait on a chain, a broker, a browser or a child process for much of their time.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // A RabbitMQ broker for the queue and end-to-end tests (RABBITMQ_URL to use an existing one).
    globalSetup: ["test/setup/rabbitmq.ts"],
  },
});
