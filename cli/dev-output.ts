/** What `oracle dev` tells its user (cli/dev.ts): the banner of a running stack, and the challenger's audits as plain lines. */
import { levels as pinoLevels, pino } from "pino";
import { REDACTED_KEYS, type Logger } from "../protocol/index.js";

/** The ready record `oracle dev` prints (as JSON with --json). */
export interface DevReady {
  rpcUrl: string;
  relayerUrl: string;
  dashboardUrl: string;
  chainId: string;
  registry: string;
  oracle: string;
  resolver: string;
  challenger?: string;
  deployment: string;
  dataDir: string;
  models: Array<{ modelHash: string; name: string }>;
  workers: string[];
  accounts?: Array<{ role: string; address: string; privateKey: string }>;
  challengeWindow: number;
  try: string[];
}

/** What the banner says beyond the ready record. */
export interface DevBannerFacts {
  /** Disputes go to the FraudGame (else the ArbiterResolver). */
  fraudGame: boolean;
  /** Why the default deployment file is not this stack's, when it is not. */
  heldBy: string | undefined;
  /** The deployment file is the default one every other command reads. */
  defaultFile: boolean;
  stateLine: string;
  /** The ZK verifier adapter, with --zk. */
  zkAdapter: string | undefined;
  rabbitmq: string | undefined;
  blockTime: number;
}

/** The human banner of a running `oracle dev`. */
export function devBanner(ready: DevReady, f: DevBannerFacts): string[] {
  return [
    "",
    "The oracle is running locally. Ctrl-C stops it.",
    "",
    `  Dashboard    ${ready.dashboardUrl}   (open it in a browser: requests, workers, disputes, live)`,
    `  JSON-RPC     ${ready.rpcUrl}   (chain id ${ready.chainId}; MetaMask: add this network)`,
    `  Relayer API  ${ready.relayerUrl}   (GET /health, /requests, /blobs/<hash>)`,
    `  Registry     ${ready.registry}`,
    `  Oracle       ${ready.oracle}`,
    `  Resolver     ${ready.resolver}${!f.fraudGame ? "   (ArbiterResolver: the arbiter account rules, a trusted party)" : "   (FraudGame: bisection over canonical traces, one step checked on-chain)"}`,
    ...(ready.challenger === undefined ? [] : [`  Challenger   ${ready.challenger}   (audits every OPTIMISTIC result in full, proves faults on-chain; NONE results are never audited)`]),
    `  Deployment   ${ready.deployment}   (${f.heldBy ?? (f.defaultFile ? "read by every other oracle command" : `pass --deployment ${ready.deployment} or ORACLE_DEPLOYMENT=${ready.deployment} to other commands`)})`,
    `  Data folder  ${ready.dataDir}   (locked while this stack runs)`,
    `  State        ${f.stateLine}`,
    ...(f.zkAdapter === undefined ? [] : [`  ZK           mnist-mlp answers with a Groth16 proof checked on chain (verifier ${f.zkAdapter}); DEVELOPMENT KEYS: anyone can forge proofs, never use them for value`]),
    `  Queue        ${f.rabbitmq === undefined ? "in-process (only this process's workers)" : `RabbitMQ ${f.rabbitmq.replace(/\/\/[^@]*@/, "//***@")}`}`,
    `  Workers      ${ready.workers.length} (signers ${ready.workers.join(", ") || "none"})`,
    `  Challenge window ${ready.challengeWindow} s; a block every ${f.blockTime} s`,
    "",
    "  Models (name or hash wherever a command takes a model):",
    ...ready.models.map((m) => `    ${m.modelHash}  ${m.name}`),
    "",
    "  Accounts (Hardhat's well-known development keys — never use them on a real network):",
    ...(ready.accounts ?? []).map((a) => `    ${a.role.padEnd(11)} ${a.address}  ${a.privateKey}`),
    "",
    ...ready.try.map((c, i) => `  ${i === 0 ? "Try:" : "    "}  ${c}`),
    "",
  ];
}

/**
 * The challenger's logger in `oracle dev`: its audits are what `--challenger` is for, so each one is
 * also told on stderr as a plain line at any log level; everything else follows --log-level.
 */
export function challengerLogger(level: string): Logger {
  const threshold = pinoLevels.values[process.env.LOG_LEVEL ?? level] ?? pinoLevels.values.warn!;
  return pino(
    { name: "oracle", level: "info", base: { service: "challenger" }, redact: { paths: REDACTED_KEYS, censor: "[redacted]" } },
    {
      write(line: string) {
        const entry = JSON.parse(line) as { level: number; msg?: string; requestId?: string; checkedElements?: number; opIndex?: number; ruling?: number; outcome?: string; rounds?: number };
        if (entry.level >= threshold) process.stdout.write(line);
        const kind = /^audit: (\w+)$/.exec(entry.msg ?? "")?.[1];
        if (kind === undefined || kind === "skipped" || kind === "deferred") return;
        const id = `${String(entry.requestId).slice(0, 10)}…`;
        process.stderr.write(
          kind === "honest"
            ? `challenger: audited ${id}: honest (${entry.checkedElements ?? "?"} output elements within τ_out of the canonical re-run)\n`
            : kind === "gamePlayed"
              ? `challenger: audited ${id}: beyond τ_out, FraudGame played: ruling ${["None", "WorkerRight", "WorkerFault", "OutputMinor"][Number(entry.ruling)] ?? entry.ruling} (${entry.outcome}, ${entry.rounds} rounds)\n`
              : `challenger: audited ${id}: WRONG RESULT, ${kind} (the worker is slashed; see the dashboard's dispute timeline)\n`,
        );
      },
    },
  ) as unknown as Logger;
}
