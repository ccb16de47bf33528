/**
 * Child processes for the fault tests: the relayer and workers run as real processes
 * (relayer/main.ts, worker/main.ts under tsx) so that SIGKILL is a real crash, and the broker is
 * driven through scripts/rabbitmq.sh ctl without blocking the test's event loop.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { JsonRpcProvider, type JsonRpcSigner } from "ethers";
import { network } from "hardhat";
import type { JsonRpcServer } from "hardhat/types/network";
import { Tier } from "../../protocol/index.js";
import { deployOracle } from "../../stack/local-stack.js";
import { TextDirectionDApp__factory, type InferenceOracle, type TextDirectionDApp } from "../../types/ethers-contracts/index.js";
import { testBrokerEnv } from "../setup/rabbitmq.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Parsed JSON log lines (the last 500) and anything else printed. */
  lines: string[];
  /** Resolves with the first log line whose msg is `msg`; rejects if the process exits first. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `node --import tsx <script>` in the repository root with `env` added to the environment. */
export function startService(name: string, script: string, env: Record<string, string>, args: string[] = []): ServiceProcess {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: { msg: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  let buffered = "";
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      if (lines.length > 500) lines.shift();
      if (!line.startsWith("{")) continue;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        for (const w of [...waiters]) {
          if (parsed.msg === w.msg) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(parsed);
          }
        }
      } catch {
        // not a log line
      }
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | string>((res) => child.on("exit", (code, signal) => res(code ?? signal ?? -1)));
  return {
    name,
    child,
    lines,
    exited,
    waitForLog(msg, timeoutMs = 60_000) {
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`${name}: no "${msg}" log line in ${timeoutMs} ms; last output:\n${lines.slice(-20).join("\n")}`)), timeoutMs);
        waiters.push({
          msg,
          resolve: (line) => {
            clearTimeout(timer);
            res(line);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          rej(new Error(`${name} exited (${code}) before logging "${msg}"; last output:\n${lines.slice(-30).join("\n")}`));
        });
      });
    },
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** A TCP port free right now on loopback that a restarted service can take again (see freeStablePort). */
export function freePort(): Promise<number> {
  return freeStablePort();
}


/** rabbitmqctl against the test node, without blocking the event loop (each call boots an Erlang VM: about 1 s). */
export function rabbitmqctlAsync(...args: string[]): Promise<string> {
  return new Promise((res, rej) =>
    execFile(join(ROOT, "scripts/rabbitmq.sh"), ["ctl", ...args], { env: testBrokerEnv, encoding: "utf8", timeout: 60_000 }, (error, stdout, stderr) =>
      error ? rej(new Error(`rabbitmqctl ${args.join(" ")}: ${error.message}\n${stderr}`)) : res(stdout.trim()),
    ),
  );
}

/** A RabbitMQ node of a test's own (scripts/rabbitmq.sh with its own name, ports and state dir), which the test may stop and start. */
export interface BrokerNode {
  url: string;
  /** rabbitmqctl against this node. */
  ctl(...args: string[]): Promise<string>;
  /** Starts the node (keeping its data); resolves with the milliseconds it took to answer. */
  start(): Promise<number>;
  /** Stops the node; resolves with the milliseconds it took. */
  stop(): Promise<number>;
  /** Stops the node and deletes its state. */
  remove(): Promise<void>;
}

function script(env: NodeJS.ProcessEnv, args: string[], timeout = 120_000): Promise<string> {
  return new Promise((res, rej) =>
    execFile(join(ROOT, "scripts/rabbitmq.sh"), args, { env, encoding: "utf8", timeout }, (error, stdout, stderr) =>
      error ? rej(new Error(`rabbitmq.sh ${args.join(" ")}: ${error.message}\n${stderr}`)) : res(stdout.trim()),
    ),
  );
}

/** Starts a private broker node (fresh state) for one test, e.g. one whose restarts must not disturb other test files. */
/**
 * A free port below Linux's ephemeral range (32768-60999), for a server that must get the same port
 * back after a restart: a port from that range can be taken meanwhile as the source port of any
 * outgoing connection or by any `listen(0)` (seen in CI: the restarted broker failed with eaddrinuse).
 */
async function freeStablePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = createServer();
    const ok = await new Promise<boolean>((r) => {
      server.once("error", () => r(false));
      server.listen(port, "127.0.0.1", () => r(true));
    });
    if (ok) {
      await new Promise<void>((r) => server.close(() => r()));
      return port;
    }
  }
}

export async function startBrokerNode(name: string): Promise<BrokerNode> {
  const port = await freeStablePort();
  let dist = await freeStablePort();
  while (dist === port) dist = await freeStablePort();
  const stateDir = join(ROOT, ".data", `rabbitmq-${name}`);
  const env = {
    ...process.env,
    RABBITMQ_STATE_DIR: stateDir,
    RABBITMQ_NODENAME: `${name}@localhost`,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(dist),
  };
  const { rmSync } = await import("node:fs");
  rmSync(stateDir, { recursive: true, force: true });
  const timed = async (args: string[]) => {
    const t = Date.now();
    await script(env, args);
    return Date.now() - t;
  };
  await timed(["start"]);
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    ctl: (...args) => script(env, ["ctl", ...args], 60_000),
    start: () => timed(["start"]),
    stop: () => timed(["stop"]),
    async remove() {
      await script(env, ["stop"]).catch(() => undefined);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** The chain of a fault test, served over JSON-RPC (so service processes and the RPC proxy can reach it), with the contracts deployed. */
export interface ServedChain {
  server: JsonRpcServer;
  url: string;
  provider: JsonRpcProvider;
  chainId: bigint;
  deployBlock: number;
  /** Hardhat's account `i` (0 admin, 1 model owner, 4 user, 5 arbiter; 6+ free for operators). */
  signer(i: number): Promise<JsonRpcSigner>;
  admin: JsonRpcSigner;
  oracle: InferenceOracle;
  oracleAddress: string;
  registryAddress: string;
  /** The example dApp, requesting OPTIMISTIC results of the text-direction classifier. */
  dapp: TextDirectionDApp;
}

/** Hardhat's EDR chain on a random loopback port, the oracle deployed (stack/local-stack.ts deployOracle) and a TextDirectionDApp. */
export async function servedChain(): Promise<ServedChain> {
  const server = await network.createServer("default", "127.0.0.1");
  const { port } = await server.listen();
  const url = `http://127.0.0.1:${port}`;
  const provider = new JsonRpcProvider(url, undefined, { staticNetwork: true, pollingInterval: 50 });
  const chainId = (await provider.getNetwork()).chainId;
  const signer = (i: number): Promise<JsonRpcSigner> => provider.getSigner(i);
  const [admin, modelOwner, user, arbiter] = await Promise.all([0, 1, 4, 5].map(signer));
  const deployBlock = await provider.getBlockNumber();
  const deployed = await deployOracle({ admin: admin!, modelOwner: modelOwner!, arbiter: arbiter! });
  const oracle = deployed.oracle as InferenceOracle;
  const oracleAddress = await oracle.getAddress();
  const dapp = await new TextDirectionDApp__factory(user!).deploy(oracleAddress, deployed.modelHash, Tier.OPTIMISTIC, 200_000);
  await dapp.waitForDeployment();
  return { server, url, provider, chainId, deployBlock, signer, admin: admin!, oracle, oracleAddress, registryAddress: await deployed.registry.getAddress(), dapp };
}
