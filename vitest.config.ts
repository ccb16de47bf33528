import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // A RabbitMQ broker for the queue and end-to-end tests (RABBITMQ_URL to use an existing one).
    globalSetup: ["test/setup/rabbitmq.ts"],
  },
});
