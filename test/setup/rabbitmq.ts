/**
 * vitest globalSetup: a RabbitMQ broker for every test run. With RABBITMQ_URL set, that broker is
 * used as it is. Otherwise scripts/rabbitmq.sh starts a private test node (installing Debian's
 * rabbitmq-server first when missing) on its own port, node name and state dir, so a developer's
 * node (scripts/rabbitmq.sh start, port 5673) is never touched.
 *
 * Several test runs may share the node (the checkout can be shared): each run holds a lease
 * (`acquire`/`release`, under one lock in the script), and the last one out stops the node if a
 * test run started it. A broker that cannot start fails the run loudly, with the script's output;
 * the RabbitMQ tests never skip.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    rabbitmqUrl: string;
  }
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const script = join(root, "scripts/rabbitmq.sh");
// The node name and port are derived from the checkout's path, so two checkouts (git worktrees,
// parallel CI jobs on one machine) testing at once each get their own broker instead of one
// stopping the other's node. RABBITMQ_TEST_NODENAME / RABBITMQ_TEST_PORT override them.
const checkoutTag = createHash("sha256").update(root).digest();
/** The environment scripts/rabbitmq.sh needs to address this checkout's test node. */
export const testBrokerEnv = {
  ...process.env,
  RABBITMQ_STATE_DIR: join(root, ".data/rabbitmq-test"),
  RABBITMQ_NODENAME: process.env.RABBITMQ_TEST_NODENAME ?? `oracle-vitest-${checkoutTag.toString("hex", 0, 4)}@localhost`,
  // 6000..9999: clear of the developer node (5673) and of a system broker (5672); the Erlang
  // distribution port (AMQP port + 20000) stays below 30000.
  RABBITMQ_NODE_PORT: process.env.RABBITMQ_TEST_PORT ?? String(6000 + (checkoutTag.readUInt16BE(4) % 4000)),
};

function run(args: string[], timeout = 240_000): string {
  return execFileSync(script, args, { env: testBrokerEnv, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout }).trim();
}

export default function setup(project: TestProject): () => void {
  const given = process.env.RABBITMQ_URL;
  if (given !== undefined && given !== "") {
    project.provide("rabbitmqUrl", given);
    return () => {};
  }
  const lease = String(process.pid);
  const started = Date.now();
  let url: string;
  try {
    url = run(["acquire", lease]);
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    try {
      run(["release", lease], 60_000);
    } catch {
      // the start failure below is the error to report
    }
    throw new Error(`could not start the test RabbitMQ broker (scripts/rabbitmq.sh acquire): ${e.message}\n${e.stderr ?? ""}${e.stdout ?? ""}`);
  }
  if (process.env.RABBITMQ_SETUP_VERBOSE) console.log(`rabbitmq test broker ${url} ready in ${Date.now() - started} ms`);
  project.provide("rabbitmqUrl", url);
  return () => {
    try {
      run(["release", lease], 90_000);
    } catch (error) {
      console.error(`could not release the test RabbitMQ broker: ${(error as Error).message}`);
    }
  };
}

/** rabbitmqctl against the test node (for tests that drop connections). */
export function rabbitmqctl(...args: string[]): string {
  return execFileSync(script, ["ctl", ...args], { env: testBrokerEnv, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 }).trim();
}
