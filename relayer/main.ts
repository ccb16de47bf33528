/**
 * The relayer as its own process:
 *
 *   RPC_URL=http://127.0.0.1:8545 RELAYER_KEY=0x... ORACLE_ADDRESS=0x... RABBITMQ_URL=amqp://... \
 *     node --import tsx relayer/main.ts [config.json]
 *
 * Configuration: the optional JSON file (RelayerConfigSchema), overlaid with RELAYER_* variables
 * (RELAYER_DATA_DIR, RELAYER_POLL_INTERVAL_MS, RELAYER_API='{"port":9545}', ...). Without
 * RABBITMQ_URL the relayer runs an in-process queue (useful only with in-process workers, so a
 * warning is logged). RABBITMQ_NAMESPACE prefixes every queue name; RABBITMQ_CONNECTION_NAME names
 * the connection for rabbitmqctl. CHAIN_ID skips network detection (a node that is down at
 * start-up is then retried by the polling loop instead of failing the start). RPC_POLL_MS sets how
 * often receipts are polled (default 250 ms). SUBSCRIPTIONS_ADDRESS (set from the deployment by
 * `oracle relayer start`) is the InferenceSubscriptions contract whose due rounds it triggers.
 *
 * Without ORACLE_ADDRESS the relayer reads the deployment manifest of the chain RPC_URL serves,
 * `deployments/<chainId>.json` (ORACLE_MANIFESTS names another folder; written by `oracle deploy`,
 * protocol/manifest.ts): the oracle, the first block to scan, and the feature contracts it placed
 * (subscriptions, chained, redundancy), each unless a variable or the config file names its own.
 *
 * Several relayers on one broker: RELAYER_LEADER_ELECTION=true on each (own RELAYER_KEY and data
 * dir); the holder of the broker lease acts, the others follow and take over (docs/OPERATIONS.md).
 *
 * The API also serves GET /metrics (Prometheus, with process metrics), /healthz, /readyz and the live
 * dashboard at /dashboard/ (relayer/dashboard.ts).
 *
 * SIGTERM / SIGINT: close() (stop taking replies, finish the batch in flight, save the cursor) and
 * exit 0; a second signal exits at once. The process prints one JSON line
 * `{"msg":"relayer ready","url":...}` on its log once the API listens.
 */
import { readFileSync } from "node:fs";
import { JsonRpcProvider, Network, Wallet } from "ethers";
import { closeOnSignals, createLogger, envOverrides, serviceManifest, RelayerMetrics } from "../protocol/index.js";
import { InProcessQueue, RabbitMqQueue, type JobQueue } from "../queue/index.js";
import { Relayer } from "./relayer.js";
import type { RelayerConfigInput } from "./config.js";

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === "") throw new Error(`${name} is required`);
  return value;
}

export async function main(argv = process.argv.slice(2), env = process.env): Promise<void> {
  const log = createLogger("relayer");
  const file = argv[0] === undefined ? {} : (JSON.parse(readFileSync(argv[0], "utf8")) as RelayerConfigInput);
  // No ORACLE_ADDRESS: the manifest of the chain RPC_URL serves names the deployment.
  const found = await serviceManifest("relayer", env.RPC_URL, env, file as Record<string, unknown>);
  if (found !== undefined) log.info({ manifest: found.file, oracle: found.manifest.oracle }, "deployment read from the chain's manifest");
  const config = { ...file, ...envOverrides("RELAYER", env) } as RelayerConfigInput;
  // SUBSCRIPTIONS_ADDRESS (set from the deployment by `oracle relayer start`): the subscriptions contract to keep.
  if (env.SUBSCRIPTIONS_ADDRESS !== undefined && env.SUBSCRIPTIONS_ADDRESS !== "" && config.subscriptions?.address === undefined) {
    config.subscriptions = { ...config.subscriptions, address: env.SUBSCRIPTIONS_ADDRESS };
  }
  const rpcUrl = required(env, "RPC_URL");
  const chainId = env.CHAIN_ID === undefined ? undefined : BigInt(env.CHAIN_ID);
  const provider = new JsonRpcProvider(rpcUrl, chainId === undefined ? undefined : Network.from(chainId), {
    staticNetwork: chainId === undefined ? true : Network.from(chainId),
    pollingInterval: Number(env.RPC_POLL_MS ?? 250),
    // One request per HTTP call: a dropped connection then costs one call, not a batch.
    batchMaxCount: 1,
  });
  const signer = new Wallet(required(env, "RELAYER_KEY"), provider);
  const queue: JobQueue =
    env.RABBITMQ_URL === undefined || env.RABBITMQ_URL === ""
      ? new InProcessQueue()
      : await RabbitMqQueue.connect(env.RABBITMQ_URL, {
          logger: log.child({ layer: "queue" }),
          connectionName: env.RABBITMQ_CONNECTION_NAME ?? "relayer",
          namespace: env.RABBITMQ_NAMESPACE ?? "",
          connectTimeoutMs: 30_000,
        });
  if (queue instanceof InProcessQueue) log.warn("RABBITMQ_URL is not set: using an in-process queue that no worker process can reach");

  const relayer = await Relayer.start({ provider, signer, oracleAddress: required(env, "ORACLE_ADDRESS"), queue, logger: log, config, metrics: new RelayerMetrics({ defaultMetrics: true }) });
  log.info({ url: relayer.url, signer: signer.address, dataDir: relayer.config.dataDir }, "relayer ready");

  closeOnSignals(log, [() => relayer.close(), () => queue.close(), () => provider.destroy()], "relayer closed");
}

main().catch((error: unknown) => {
  createLogger("relayer").fatal({ err: error }, "relayer failed to start");
  process.exit(1);
});
