/**
 * The `oracle` command line (docs/guides/): a local development stack, deployment, models, the
 * services, operator staking and inference requests. Run it as `oracle ...` (bin/oracle.js, any
 * Node >= 20: it re-runs itself on the bundled Node 22) or `npm run oracle -- ...`.
 *
 * Exit status: 0 success, 1 a failure (printed as `error [CODE]: message`), 2 a usage error.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { JsonRpcProvider, Wallet } from "ethers";
import { context, cliError, globals, output, Progress, reportError, writeJson, DEFAULT_DEPLOYMENT, type GlobalOptions } from "./common.js";
import { deployContracts, loadDeployConfig } from "./deploy.js";
import { DEFAULT_INLINE_OUTPUT_CAP } from "./check.js";
import { modelAcceptToken, modelCheck, modelInspect, modelList, modelRegister } from "./model.js";
import { cancelCommand, requestCommand, statusCommand } from "./request.js";
import { checkChallenger, checkRelayer, checkWorker, checkWorkerStake, runEntryPoint } from "./services.js";
import { stakeCommand, unstakeCommand, withdrawCommand } from "./stake.js";

const program = new Command("oracle")
  .description("Verifiable AI inference oracle: local stack, deployment, models, services, staking and requests")
  .option("--deployment <file>", `deployment JSON written by \`oracle dev\` / \`oracle deploy\` (env ORACLE_DEPLOYMENT; default ${DEFAULT_DEPLOYMENT})`)
  .option("--rpc <url>", "JSON-RPC endpoint (env ORACLE_RPC_URL; default: the deployment's)")
  .option("--key <hex>", "private key that signs transactions (env ORACLE_KEY)")
  .option("--json", "print the result as one JSON object on stdout (progress stays on stderr)")
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(str) })
  .exitOverride();

program
  .command("dev")
  .description("run the whole oracle locally: chain (JSON-RPC), contracts, models, relayer, workers (and with --challenger the challenger daemon); until Ctrl-C. The chain, relayer database and blobs are kept in the data folder: Ctrl-C and dev again resumes them (--fresh wipes them)")
  .option("--host <host>", "address the JSON-RPC endpoint and the relayer API listen on", "127.0.0.1")
  .option("--port <n>", "JSON-RPC port (0: any free port)", "8545")
  .option("--relayer-port <n>", "relayer API port (0: any free port)", "9545")
  .option("--out <file>", `where to write the deployment JSON (default ${DEFAULT_DEPLOYMENT}, unless another running \`oracle dev\` holds it: then <data-dir>/deployment.json)`)
  .option("--data-dir <dir>", "chain journal, relayer database, blobs and worker model cache; one per stack, locked while it runs (default .data/dev/<JSON-RPC port>; with --port 0 each start is fresh unless this is given)")
  .option("--fresh", "wipe the data folder's chain, relayer database and blobs and start a new chain (default: resume them)")
  .option("--workers <n>", "in-process workers (0-4)", "1")
  .option("--challenge-window <s>", "seconds an OPTIMISTIC result can be challenged", "60")
  .option("--block-time <s>", "mine a block every this many seconds besides each transaction (0: only on transactions)", "1")
  .option("--rabbitmq <url>", "use this RabbitMQ broker instead of the in-process queue (worker processes elsewhere can then join)")
  .option("--challenger", "register the models with the FraudGame (canonical terms set, τ_out calibrated), have every worker answer the games on its results, and run the challenger daemon re-running every OPTIMISTIC result canonically and playing the game on a result beyond τ_out")
  .option("--zk", "also offer the MNIST model on the ZK tier: workers answer with Groth16 proofs checked on chain (development keys; the circuit and keys are built once, then cached)")
  .option("--log-level <level>", "service log level (info shows every step)", "warn")
  .action(async (_o, cmd: Command) => {
    const o = globals(cmd);
    const { dev } = await import("./dev.js");
    await dev({
      host: String(o.host), port: Number(o.port), relayerPort: Number(o.relayerPort),
      ...(o.out === undefined ? {} : { out: String(o.out) }), ...(o.dataDir === undefined ? {} : { dataDir: String(o.dataDir) }),
      workers: Number(o.workers), challengeWindow: Number(o.challengeWindow), blockTime: Number(o.blockTime),
      ...(o.rabbitmq === undefined ? {} : { rabbitmq: String(o.rabbitmq) }), challenger: o.challenger === true, zk: o.zk === true, logLevel: String(o.logLevel), json: o.json === true, fresh: o.fresh === true,
    });
  });

program
  .command("deploy")
  .description("deploy ModelRegistry, InferenceOracle, the step verifier and the FraudGame (the default OPTIMISTIC resolver) to a JSON-RPC endpoint; write the deployment JSON")
  .option("--config <file>", "deployment settings (JSON: admin, arbiter, disputeWindow, fraudGame, game{responseTime, moveClock, maxAttacks}, params{minStake, challengeWindow, paramsDelay, minGasPrice, ...}; amounts in ETH)")
  .option("--arbiter <address>", "also deploy an ArbiterResolver ruled by this account and make it the default OPTIMISTIC resolver: a TRUSTED party that decides every dispute at will (overrides the config's arbiter)")
  .option("--out <file>", "where to write the deployment JSON", DEFAULT_DEPLOYMENT)
  .action(async (_o, cmd: Command) => {
    const o = globals(cmd) as GlobalOptions & { config?: string; out?: string; arbiter?: string };
    let input: unknown = {};
    if (o.config !== undefined) {
      try {
        input = JSON.parse(readFileSync(o.config, "utf8"));
      } catch (error) {
        throw cliError("CONFIG_INVALID", `cannot read --config ${o.config}: ${(error as Error).message}`);
      }
    }
    const config = loadDeployConfig(o.arbiter === undefined ? input : { ...(input as object), arbiter: o.arbiter });
    const rpcUrl = o.rpc ?? process.env.ORACLE_RPC_URL;
    if (rpcUrl === undefined) throw cliError("CONFIG_INVALID", "deploy needs --rpc <url> (or ORACLE_RPC_URL)");
    const ctx = await context({ ...o, rpc: rpcUrl, deployment: undefined }, { needDeployment: false }).catch((error: unknown) => {
      // A stale default deployment file for another chain must not block a fresh deployment.
      if ((error as { code?: string }).code === "CONFIG_INVALID" && String((error as Error).message).includes("deployment is for chain")) return undefined;
      throw error;
    });
    const provider = ctx?.provider ?? new JsonRpcProvider(rpcUrl, undefined, { batchMaxCount: 1, cacheTimeout: -1 });
    try {
      const key = o.key ?? process.env.ORACLE_KEY;
      if (key === undefined || !/^0x[0-9a-fA-F]{64}$/.test(key)) throw cliError("CONFIG_INVALID", "deploy needs --key <0x private key> (or ORACLE_KEY) of a funded account");
      const deployment = await deployContracts(new Wallet(key, provider), config, new Progress(o.json === true), rpcUrl);
      const file = writeJson(o.out ?? DEFAULT_DEPLOYMENT, deployment);
      output(o.json === true, { ...deployment, file }, () => [
        `registry  ${deployment.registry}`,
        `oracle    ${deployment.oracle}`,
        `resolver  ${deployment.resolver}${deployment.resolver !== undefined && deployment.resolver === deployment.fraudGame ? " (FraudGame)" : deployment.resolver === undefined ? "" : " (ArbiterResolver: a trusted party)"}`,
        ...(deployment.fraudGame === undefined ? [] : [`game      ${deployment.fraudGame}`]),
        `chain     ${deployment.chainId} (from block ${deployment.deployBlock})`,
        `written   ${file}`,
      ]);
    } finally {
      provider.destroy();
    }
  });

const model = program.command("model").description("models in the registry");
model
  .command("register <file.onnx>")
  .description("register an ONNX model: hash, specs and commitment root from the file; with OPTIMISTIC it runs `model check` first, refuses when the verdict does not allow OPTIMISTIC (naming the blocking operators) and prints the CanonicalTerms (commitment, τ_out, τ_major) it calibrated")
  .option("--fee <eth>", "owner's fee per request", "0.002")
  .option("--tiers <list>", "tiers offered: none, optimistic, zk", "none,optimistic")
  .option("--uri <uri...>", "where workers fetch the file (http(s)://, file://, npm:...); default: this file's file:// URL")
  .option("--resolver <address>", "dispute resolver (default: the deployment's)")
  .option("--owner <address>", "model owner (default: the --key account)")
  .option("--input-shape <dims>", "input shape to register, 0 = any size (default: the file's; dynamic axes 0)")
  .option("--output-shape <dims>", "output shape to register (default: the file's)")
  .option("--no-commit", "register without a commitment root (then only --tiers none or zk)")
  .option("--update", "change the terms of a model you own (fee, tiers, shapes, URIs, resolver): e.g. a wrong --input-shape")
  .option("--inputs <n>", "with OPTIMISTIC: seeded held inputs for the τ_out calibration of `model check`", "8")
  .option("--calibration-input <file...>", "with OPTIMISTIC: representative inputs for the τ_out calibration (as `model check --input`)")
  .option("--max-inline-output <bytes>", "with OPTIMISTIC: the inline output cap the check holds the output to", String(DEFAULT_INLINE_OUTPUT_CAP))
  .action(async (file: string, _o, cmd: Command) => modelRegister(file, globals(cmd) as never));
model
  .command("check <file.onnx>")
  .description("what the oracle can promise for a model: per operator what lowers canonically (or why not) and what StepVerifier proves on-chain with the worst leaf gas, the widest reduction, the bisection rounds, the commitment's peak memory, τ_out calibrated against onnxruntime (every optimization level, 1/2/default threads, wasm), the canonical runtime's speed, and a verdict per tier (NONE, OPTIMISTIC, ZK) with reasons")
  .option("--input-shape <dims>", "the input shape to commit to (needed where the file's has symbolic dimensions)")
  .option("--input <file...>", "real held inputs for the calibration (.npy, .json, .png/.jpg for the shipped image models, canonical tensors)")
  .option("--inputs <n>", "seeded random held inputs for the calibration", "4")
  .option("--range <lo,hi>", "value range of the seeded inputs (default -1,1 for floats, the dtype's range for integers)")
  .option("--max-inline-output <bytes>", "inline output cap OPTIMISTIC needs", String(DEFAULT_INLINE_OUTPUT_CAP))
  .option("--precision <p>", "the precision to commit at and calibrate against: fp32, tf32, fp16, bf16", "fp32")
  .option("--no-calibrate", "skip the τ_out calibration (fast; no CanonicalTerms)")
  .option("--no-onchain", "skip proving every step through StepVerifier on an in-process EVM (no on-chain column, no leaf gas)")
  .action(async (file: string, _o, cmd: Command) => modelCheck(file, globals(cmd) as never));
model
  .command("accept-token <model> <token>")
  .description("as the model's owner, accept an ERC-20 token for its fees (fees in the token's smallest units; requests pay with `request --token`), or stop with --remove")
  .option("--owner-fee <units>", "the owner's fee per request, in the token", "0")
  .option("--min-worker-fee <units>", "the least a request leaves for relayer and worker, in the token", "0")
  .option("--remove", "stop accepting the token (requests already made keep their terms)")
  .action(async (target: string, token: string, _o, cmd: Command) => modelAcceptToken(target, token, globals(cmd) as never));
model
  .command("list")
  .description("every model registered since the deployment")
  .action(async (_o, cmd: Command) => modelList(globals(cmd)));
model
  .command("inspect <hash|file>")
  .description("a model's hash, specs, fee, tiers, commitment root and URIs (a file: also computed from the file)")
  .option("--input-shape <dims>", "reference input shape for the commitment of a model with dynamic axes")
  .action(async (target: string, _o, cmd: Command) => modelInspect(target, globals(cmd) as never));

const CHECKS = { worker: checkWorker, relayer: checkRelayer, challenger: checkChallenger } as const;
for (const service of ["worker", "relayer", "challenger"] as const) {
  program
    .command(service)
    .description(`run a ${service}`)
    .command("start")
    .description(
      {
        worker: "run a worker process: config file (worker/config.ts schema) + WORKER_* variables; needs RABBITMQ_URL (and RPC_URL for registry models)",
        relayer: "run a relayer process: config file (relayer/config.ts schema) + RELAYER_* variables; needs RPC_URL, RELAYER_KEY, ORACLE_ADDRESS",
        challenger:
          "run the challenger daemon: config file (challenger/config.ts schema) + CHALLENGER_* variables (rpcUrl, oracle and blobStoreUrl from --deployment); audits OPTIMISTIC results and proves faults on-chain",
      }[service],
    )
    .option("--config <file>", "JSON config file")
    .option("--check", "validate the configuration and exit")
    .action(async (_o, cmd: Command) => {
      const o = globals(cmd) as GlobalOptions & { config?: string; check?: boolean };
      // --deployment, else ORACLE_DEPLOYMENT ("" for none), else the default file when there is one.
      const fromEnv = process.env.ORACLE_DEPLOYMENT;
      const deployment = o.deployment ?? (fromEnv !== undefined ? fromEnv || undefined : existsSync(DEFAULT_DEPLOYMENT) ? DEFAULT_DEPLOYMENT : undefined);
      if (deployment !== undefined && o.deployment === undefined && fromEnv === undefined && o.json !== true) process.stderr.write(`using the deployment ${resolve(deployment)}\n`);
      const env = CHECKS[service](o.config, deployment, process.env);
      // A worker whose signing key is not staked would sign results the relayer drops: refuse to start.
      if (service === "worker") for (const note of await checkWorkerStake(o.config, env)) process.stderr.write(`note: ${note}\n`);
      if (o.check === true) {
        output(o.json === true, { ok: true }, () => [`the ${service} configuration is valid`]);
        return;
      }
      await runEntryPoint(service, o.config, env);
    });
}

program
  .command("stake [amount]")
  .description("stake ETH as a worker operator (registers on first use); no amount: show your stake")
  .option("--signer <address>", "the worker's signing address (first registration; default: the --key account)")
  .action(async (amount: string | undefined, _o, cmd: Command) => stakeCommand(amount, globals(cmd) as never));
program
  .command("unstake <amount>")
  .description("start unbonding stake (withdrawable after the oracle's unbonding delay)")
  .action(async (amount: string, _o, cmd: Command) => unstakeCommand(amount, globals(cmd)));
program
  .command("withdraw")
  .description("withdraw unbonded stake and credited fees")
  .action(async (_o, cmd: Command) => withdrawCommand(globals(cmd)));

program
  .command("request")
  .description("send an inference request; with --wait follow it to finality and print the output")
  .requiredOption("--model <name|hash>", "model: a name (ppocr-cls, mnist-mlp), the hash, its first digits or the short form 0x4918…3640")
  .requiredOption("--input <[name=]file...>", "input: .npy, .json (nested arrays, or {dtype, shape, data}), a canonical tensor file, or for the image models .png / .jpg (baseline JPEG); a model with several inputs takes one `name=file` per input (repeat --input)")
  .option("--tier <tier>", "none, optimistic or zk", "none")
  .option("--fee <eth>", "fee to pay (default: the minimum, model fee + minimum worker fee)")
  .option("--wait", "wait for the result and print it")
  .option("--timeout <s>", "how long --wait waits", "300")
  .option("--deadline <s>", "seconds until the request expires and is refunded", "3600")
  .option("--callback-gas <n>", "callback gas (0: the requester is not called back)", "0")
  .option("--relayer <url>", "relayer API for large inputs and outputs (default: the deployment's)")
  .option("--token <address>", "pay the fee in this ERC-20 token (one the model accepts: `model accept-token`); --fee is then the callback's gas in ETH")
  .option("--token-amount <units>", "with --token: the fee in the token's smallest units (default: the model's minimum in the token)")
  .option("--no-permit", "with --token: approve the oracle in a transaction first instead of signing an EIP-2612 permit")
  .action(async (_o, cmd: Command) => requestCommand(globals(cmd) as never));
program
  .command("status <requestId>")
  .description("where a request is; --wait follows it to finality")
  .option("--wait", "wait for finality and print the output")
  .option("--timeout <s>", "how long --wait waits", "300")
  .option("--relayer <url>", "relayer API for the output (default: the deployment's)")
  .action(async (id: string, _o, cmd: Command) => statusCommand(id, globals(cmd) as never));
program
  .command("cancel <requestId>")
  .description("take back your open request once a staked worker rejected it (refunds the fee)")
  .action(async (id: string, _o, cmd: Command) => cancelCommand(id, globals(cmd) as never));

async function run(): Promise<void> {
  // A stray "--" (from `npm run oracle -- ...`) is not an argument.
  const argv = process.argv[2] === "--" ? [...process.argv.slice(0, 2), ...process.argv.slice(3)] : process.argv;
  try {
    await program.parseAsync(argv);
  } catch (error) {
    const e = error as { code?: string; exitCode?: number };
    if (typeof e.code === "string" && e.code.startsWith("commander.")) {
      process.exitCode = e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help" ? 0 : (e.exitCode ?? 2);
      if (process.exitCode === 1) process.exitCode = 2;
      return;
    }
    process.exitCode = reportError(error, process.argv.includes("--json"));
  }
}

await run();
