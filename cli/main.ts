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
import {
  isBytes32,
  isError,
  DEFAULT_DEPLOY_SALT,
  parseSalt,
  OracleError,
  loadManifest,
  verifyManifest,
  writeManifest,
  deployContracts,
  loadDeployConfig,
} from "../protocol/index.js";
import { JsonRpcProvider, Wallet } from "ethers";
import { context, cliError, globals, output, Progress, reportError, writeJson, DEFAULT_DEPLOYMENT, DEFAULT_INLINE_OUTPUT_CAP, DEFAULT_MANIFEST_DIR, type GlobalOptions } from "./common.js";
// Each command loads its own module when it runs (`oracle --help` and a `stake` load neither the model checker nor the services).

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
  .description(
    "deploy ModelRegistry, InferenceOracle, the step verifier and the FraudGame (the default OPTIMISTIC resolver) to a JSON-RPC endpoint through the CREATE2 factory (the same deployer, config and salt give the same addresses on every EVM chain; a rerun reuses what is deployed); write the deployment JSON and the chain's manifest deployments/<chainId>.json",
  )
  .option("--config <file>", "deployment settings (JSON: admin, arbiter, disputeWindow, fraudGame, game{responseTime, moveClock, maxAttacks}, params{minStake, challengeWindow, paramsDelay, minGasPrice, ...}; amounts in ETH)")
  .option("--arbiter <address>", "also deploy an ArbiterResolver ruled by this account and make it the default OPTIMISTIC resolver: a TRUSTED party that decides every dispute at will (overrides the config's arbiter)")
  .option("--out <file>", "where to write the deployment JSON", DEFAULT_DEPLOYMENT)
  .option("--salt <salt>", "the deployment's base salt: 0x + 64 hex digits, or any text (hashed); every contract's salt is derived from it (default: the project's fixed salt)")
  .option("--manifest-dir <dir>", "folder of the per-chain manifests <chainId>.json (env ORACLE_MANIFESTS)", DEFAULT_MANIFEST_DIR)
  .option("--no-create2", "deploy with plain CREATE (addresses from the deployer's nonce; no manifest)")
  .option("--verify-manifest", "deploy nothing: check every contract of the connected chain's manifest against the code on chain (exit 1 on a difference)")
  .action(async (_o, cmd: Command) => {
    const o = globals(cmd) as GlobalOptions & { config?: string; out?: string; arbiter?: string; salt?: string; manifestDir?: string; create2?: boolean; verifyManifest?: boolean };
    const manifestDir = cmd.getOptionValueSource("manifestDir") === "default" && process.env.ORACLE_MANIFESTS ? process.env.ORACLE_MANIFESTS : (o.manifestDir ?? DEFAULT_MANIFEST_DIR);
    const rpcUrl = o.rpc ?? process.env.ORACLE_RPC_URL;
    if (rpcUrl === undefined) throw cliError("CONFIG_INVALID", "deploy needs --rpc <url> (or ORACLE_RPC_URL)");
    if (o.verifyManifest === true) {
      const provider = new JsonRpcProvider(rpcUrl, undefined, { batchMaxCount: 1, cacheTimeout: -1 });
      try {
        const chainId = (await provider.getNetwork()).chainId;
        const manifest = await loadManifest(manifestDir, chainId);
        if (manifest === undefined) throw cliError("CONFIG_INVALID", `no manifest for chain ${chainId} in ${resolve(manifestDir)}`);
        const checks = await verifyManifest(provider, manifest);
        const bad = checks.filter((c) => !c.ok);
        output(o.json === true, { chainId: manifest.chainId, ok: bad.length === 0, checks }, () => checks.map((c) => `${c.ok ? "ok      " : c.deployed ? "DIFFERS " : "MISSING "} ${c.name.padEnd(16)} ${c.address}${c.ok ? "" : ` (manifest ${c.expected}, chain ${c.deployed ? c.actual : "no code"})`}`));
        if (bad.length > 0) throw new OracleError("DEPLOYMENT_MISMATCH", `${bad.length} of ${checks.length} contracts differ from the manifest for chain ${manifest.chainId}: ${bad.map((c) => c.name).join(", ")}`, { details: { mismatched: bad } });
      } finally {
        provider.destroy();
      }
      return;
    }
    let input: unknown = {};
    if (o.config !== undefined) {
      try {
        input = JSON.parse(readFileSync(o.config, "utf8"));
      } catch (error) {
        throw cliError("CONFIG_INVALID", `cannot read --config ${o.config}: ${(error as Error).message}`);
      }
    }
    const config = loadDeployConfig(o.arbiter === undefined ? input : { ...(input as object), arbiter: o.arbiter });
    const ctx = await context({ ...o, rpc: rpcUrl, deployment: undefined }, { needDeployment: false }).catch((error: unknown) => {
      // A stale default deployment file for another chain must not block a fresh deployment.
      if (isError(error, "CONFIG_INVALID") && error.details.deploymentChainId !== undefined) return undefined;
      throw error;
    });
    const provider = ctx?.provider ?? new JsonRpcProvider(rpcUrl, undefined, { batchMaxCount: 1, cacheTimeout: -1 });
    try {
      const key = o.key ?? process.env.ORACLE_KEY;
      if (!isBytes32(key)) throw cliError("CONFIG_INVALID", "deploy needs --key <0x private key> (or ORACLE_KEY) of a funded account");
      const salt = o.create2 === false ? false : o.salt === undefined ? DEFAULT_DEPLOY_SALT : parseSalt(o.salt);
      const chainId = (await provider.getNetwork()).chainId;
      const previous = salt === false ? undefined : await loadManifest(manifestDir, chainId);
      // The manifest records one deployment per chain: another salt is another deployment, and would overwrite it.
      if (previous !== undefined && salt !== false && previous.salt.toLowerCase() !== salt.toLowerCase()) {
        throw new OracleError("DEPLOYMENT_MISMATCH", `${resolve(manifestDir, `${chainId}.json`)} records the deployment under salt ${previous.salt}; this one uses ${salt}: give that salt, or another --manifest-dir`, { details: { salt, manifestSalt: previous.salt } });
      }
      const deployment = await deployContracts(new Wallet(key, provider), config, new Progress(o.json === true), rpcUrl, { salt, ...(previous === undefined ? {} : { previous }) });
      const { manifest, factoryInstall, reused, ...record } = deployment;
      const file = writeJson(o.out ?? DEFAULT_DEPLOYMENT, record);
      const manifestFile = manifest === undefined ? undefined : await writeManifest(manifestDir, manifest);
      output(o.json === true, { ...record, file, ...(manifestFile === undefined ? {} : { manifest: manifestFile, salt: manifest!.salt, factoryInstall, reused }) }, () => [
        `registry  ${deployment.registry}`,
        `oracle    ${deployment.oracle}`,
        `resolver  ${deployment.resolver}${deployment.resolver !== undefined && deployment.resolver === deployment.fraudGame ? " (FraudGame)" : deployment.resolver === undefined ? "" : " (ArbiterResolver: a trusted party)"}`,
        ...(deployment.fraudGame === undefined ? [] : [`game      ${deployment.fraudGame}`]),
        `chain     ${deployment.chainId} (from block ${deployment.deployBlock})`,
        ...(manifest === undefined ? [] : [`salt      ${manifest.salt} (CREATE2; ${reused!.length} of ${Object.keys(manifest.contracts).length} contracts were already deployed)`]),
        `written   ${file}`,
        ...(manifestFile === undefined ? [] : [`manifest  ${manifestFile}`]),
      ]);
    } finally {
      provider.destroy();
    }
  });

const model = program.command("model").description("models in the registry");
model
  .command("register <file.onnx>")
  .description("register an ONNX model: hash, specs and commitment root from the file; with OPTIMISTIC it runs `model check` first, refuses when the verdict does not allow OPTIMISTIC (naming the blocking operators) and prints the CanonicalTerms (commitment, τ_out, τ_major) it calibrated (with --json, the whole check report under `check`)")
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
  .action(async (file: string, _o, cmd: Command) => (await import("./model.js")).modelRegister(file, globals(cmd) as never));
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
  .action(async (file: string, _o, cmd: Command) => (await import("./model.js")).modelCheck(file, globals(cmd) as never));
model
  .command("accept-token <model> <token>")
  .description("as the model's owner, accept an ERC-20 token for its fees (fees in the token's smallest units; requests pay with `request --token`), or stop with --remove")
  .option("--owner-fee <units>", "the owner's fee per request, in the token", "0")
  .option("--min-worker-fee <units>", "the least a request leaves for relayer and worker, in the token", "0")
  .option("--remove", "stop accepting the token (requests already made keep their terms)")
  .action(async (target: string, token: string, _o, cmd: Command) => (await import("./model.js")).modelAcceptToken(target, token, globals(cmd) as never));
model
  .command("list")
  .description("every model registered since the deployment")
  .action(async (_o, cmd: Command) => (await import("./model.js")).modelList(globals(cmd)));
model
  .command("inspect <hash|file>")
  .description("a model's hash, specs, fee, tiers, commitment root and URIs (a file: also computed from the file)")
  .option("--input-shape <dims>", "reference input shape for the commitment of a model with dynamic axes")
  .action(async (target: string, _o, cmd: Command) => (await import("./model.js")).modelInspect(target, globals(cmd) as never));

for (const service of ["worker", "relayer", "challenger"] as const) {
  program
    .command(service)
    .description(`run a ${service}`)
    .command("start")
    .description(
      {
        worker: "run a worker process: config file (worker/config.ts schema) + WORKER_* variables; needs RABBITMQ_URL (and RPC_URL for registry models)",
        relayer: "run a relayer process: config file (relayer/config.ts schema) + RELAYER_* variables; needs RPC_URL, RELAYER_KEY, ORACLE_ADDRESS (else read from deployments/<chainId>.json of the RPC's chain)",
        challenger:
          "run the challenger daemon: config file (challenger/config.ts schema) + CHALLENGER_* variables (rpcUrl, oracle and blobStoreUrl from --deployment); audits OPTIMISTIC results and proves faults on-chain",
      }[service],
    )
    .option("--config <file>", "JSON config file")
    .option("--check", "validate the configuration and exit")
    .action(async (_o, cmd: Command) => {
      const o = globals(cmd) as GlobalOptions & { config?: string; check?: boolean };
      const services = await import("./services.js");
      // --deployment, else ORACLE_DEPLOYMENT ("" for none), else the default file when there is one.
      const fromEnv = process.env.ORACLE_DEPLOYMENT;
      const deployment = o.deployment ?? (fromEnv !== undefined ? fromEnv || undefined : existsSync(DEFAULT_DEPLOYMENT) ? DEFAULT_DEPLOYMENT : undefined);
      if (deployment !== undefined && o.deployment === undefined && fromEnv === undefined && o.json !== true) process.stderr.write(`using the deployment ${resolve(deployment)}\n`);
      // No deployment file: the manifest of the chain the service's RPC endpoint serves, when no address is given.
      const base = { ...process.env };
      const fromChain = deployment === undefined ? await services.fromManifest(service, o.config, base, o.rpc) : {};
      if (fromChain.file !== undefined && o.json !== true) process.stderr.write(`using the deployment manifest ${fromChain.file}\n`);
      const env = { worker: services.checkWorker, relayer: services.checkRelayer, challenger: services.checkChallenger }[service](o.config, deployment, base, fromChain.problem === undefined ? [] : [fromChain.problem]);
      // A worker whose signing key is not staked would sign results the relayer drops: refuse to start.
      if (service === "worker") for (const note of await services.checkWorkerStake(o.config, env)) process.stderr.write(`note: ${note}\n`);
      if (o.check === true) {
        output(o.json === true, { ok: true }, () => [`the ${service} configuration is valid`]);
        return;
      }
      await services.runEntryPoint(service, o.config, env);
    });
}

program
  .command("stake [amount]")
  .description("stake ETH as a worker operator (registers on first use); no amount: show your stake")
  .option("--signer <address>", "the worker's signing address (first registration; default: the --key account)")
  .action(async (amount: string | undefined, _o, cmd: Command) => (await import("./stake.js")).stakeCommand(amount, globals(cmd) as never));
program
  .command("unstake <amount>")
  .description("start unbonding stake (withdrawable after the oracle's unbonding delay)")
  .action(async (amount: string, _o, cmd: Command) => (await import("./stake.js")).unstakeCommand(amount, globals(cmd)));
program
  .command("withdraw")
  .description("withdraw unbonded stake and credited fees")
  .action(async (_o, cmd: Command) => (await import("./stake.js")).withdrawCommand(globals(cmd)));

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
  .option("--max-inline-output <bytes>", "largest output the callback gets inline; longer ones come as their hash, the bytes at <relayer>/blobs/<hash> (0: the oracle's cap; 1: hash only)", "0")
  .option("--relayer <url>", "relayer API for large inputs and outputs (default: the deployment's)")
  .option("--token <address>", "pay the fee in this ERC-20 token (one the model accepts: `model accept-token`); --fee is then the callback's gas in ETH")
  .option("--token-amount <units>", "with --token: the fee in the token's smallest units (default: the model's minimum in the token)")
  .option("--no-permit", "with --token: approve the oracle in a transaction first instead of signing an EIP-2612 permit")
  .action(async (_o, cmd: Command) => (await import("./request.js")).requestCommand(globals(cmd) as never));
program
  .command("status <requestId>")
  .description("where a request is; --wait follows it to finality")
  .option("--wait", "wait for finality and print the output")
  .option("--timeout <s>", "how long --wait waits", "300")
  .option("--relayer <url>", "relayer API for the output (default: the deployment's)")
  .action(async (id: string, _o, cmd: Command) => (await import("./request.js")).statusCommand(id, globals(cmd) as never));
program
  .command("cancel <requestId>")
  .description("take back your open request once a staked worker rejected it (refunds the fee)")
  .action(async (id: string, _o, cmd: Command) => (await import("./request.js")).cancelCommand(id, globals(cmd) as never));

program
  .command("subscribe")
  .description("prepay recurring inference: up to --rounds requests, one every --every seconds (or blocks), each triggered by any keeper (the relayer keeps them) and delivered to --consumer or kept on-chain")
  .requiredOption("--model <name|hash>", "model: a name (ppocr-cls, mnist-mlp), the hash or its first digits")
  .requiredOption("--rounds <n>", "rounds to prepay")
  .requiredOption("--every <n>", "seconds between rounds (blocks with --blocks); the first is due at once")
  .option("--blocks", "count --every in blocks")
  .option("--input <file>", "every round's input (.npy, .json, .png/.jpg, canonical tensor), uploaded to the relayer's blob store")
  .option("--input-from-consumer", "ask the consumer contract's subscriptionInput(subId, round) for each round's input")
  .option("--consumer <address>", "contract that receives each result (ISubscriptionConsumer); none: results are kept on-chain")
  .option("--callback-gas <n>", "gas of the consumer's callback (0: none)", "0")
  .option("--fee <eth>", "fee per round (default: the minimum now, with the callback's gas priced twice)")
  .option("--keeper-reward <eth>", "paid per round to whoever triggers it", "0")
  .option("--window <s>", "each round's request deadline, in seconds after its trigger", "3600")
  .option("--tier <tier>", "none, optimistic or zk", "none")
  .option("--relayer <url>", "relayer API for the input upload (default: the deployment's)")
  .option("--subscriptions <address>", "InferenceSubscriptions contract (default: the deployment's)")
  .option("--token <address>", "pay each round's fee in this ERC-20 token (one the model accepts); callback gas and keeper rewards stay in ETH")
  .option("--token-amount <units>", "with --token: the fee per round in the token's smallest units (default: the model's minimum in the token)")
  .option("--no-permit", "with --token: approve the subscriptions contract in a transaction first instead of signing an EIP-2612 permit")
  .action(async (_o, cmd: Command) => (await import("./subscriptions.js")).subscribeCommand(globals(cmd) as never));
program
  .command("subscriptions")
  .description("your subscriptions (the --key account's; --all: everyone's), or with --id one subscription round by round")
  .option("--id <n>", "one subscription, with its rounds")
  .option("--owner <address>", "list this owner's subscriptions")
  .option("--all", "list every subscription")
  .option("--subscriptions <address>", "InferenceSubscriptions contract (default: the deployment's)")
  .action(async (_o, cmd: Command) => (await import("./subscriptions.js")).subscriptionsCommand(globals(cmd) as never));
program
  .command("unsubscribe <id>")
  .description("cancel your subscription: the unused prepaid rounds are refunded now; on a closed one, withdraw the refunds of rounds that were in flight")
  .option("--subscriptions <address>", "InferenceSubscriptions contract (default: the deployment's)")
  .action(async (id: string, _o, cmd: Command) => (await import("./subscriptions.js")).unsubscribeCommand(id, globals(cmd) as never));
const chain = program.command("chain").description("chained requests: the output of one model is the input of the next, in one request (ChainedInference; --chained or ORACLE_CHAINED)");
chain
  .command("deploy")
  .description("deploy ChainedInference for the deployment's oracle")
  .action(async (_o, cmd: Command) => (await import("./chain.js")).chainDeployCommand(globals(cmd)));
chain
  .command("request")
  .description("request a chain: every step's fee paid up front; with --wait advance it to its end and print where it ended")
  .requiredOption("--models <a,b,...>", "the chain's models in order (names or hashes); each step's output must be the next step's input type")
  .requiredOption("--input <file>", "step 0's input (as for `oracle request --input`)")
  .option("--chained <address>", "the ChainedInference contract (env ORACLE_CHAINED)")
  .option("--tier <tier>", "none or optimistic, for every step", "none")
  .option("--tip <eth>", "paid to each step's worker above the minimum fee", "0.001")
  .option("--deadline <s>", "seconds until the chain's deadline (each step gets an equal share of the time left)", "3600")
  .option("--wait", "advance the chain as its steps are delivered and wait for its end")
  .option("--timeout <s>", "how long --wait waits", "300")
  .option("--relayer <url>", "relayer API (its blob store holds outputs too large to inline; default: the deployment's)")
  .option("--token <address>", "pay every step's fee in this ERC-20 token (one every model accepts); the callbacks' gas is escrowed in ETH")
  .option("--token-tip <units>", "with --token: paid to each step's worker above the minimum, in the token's smallest units", "0")
  .option("--no-permit", "with --token: approve the chain contract in a transaction first instead of signing an EIP-2612 permit")
  .action(async (_o, cmd: Command) => (await import("./chain.js")).chainRequestCommand(globals(cmd) as never));
chain
  .command("status <chainId>")
  .description("where a chain is; --wait advances it to its end")
  .option("--chained <address>", "the ChainedInference contract (env ORACLE_CHAINED)")
  .option("--wait", "advance the chain as its steps are delivered and wait for its end")
  .option("--timeout <s>", "how long --wait waits", "300")
  .option("--relayer <url>", "relayer API (default: the deployment's)")
  .action(async (id: string, _o, cmd: Command) => (await import("./chain.js")).chainStatusCommand(id, globals(cmd) as never));
chain
  .command("advance <chainId>")
  .description("request the next step of a Ready chain with the previous step's output (anyone may)")
  .option("--chained <address>", "the ChainedInference contract (env ORACLE_CHAINED)")
  .option("--relayer <url>", "relayer API (default: the deployment's)")
  .action(async (id: string, _o, cmd: Command) => (await import("./chain.js")).chainAdvanceCommand(id, globals(cmd) as never));
const redundant = program.command("redundant").description("redundancy: one request answered by k distinct staked workers, final when they agree (RedundantInference; --redundant or ORACLE_REDUNDANT)");
redundant
  .command("deploy")
  .description("deploy RedundantInference for the deployment's oracle")
  .action(async (_o, cmd: Command) => (await import("./redundant.js")).redundantDeployCommand(globals(cmd)));
redundant
  .command("request")
  .description("request k answers (OPTIMISTIC) from distinct workers, (k + reserve) fees paid up front; with --wait attest, replace and deliver until decided")
  .requiredOption("--model <model>", "model name or hash")
  .requiredOption("--input <file>", "the input (as for `oracle request --input`); uploaded to the relayer when too large inline")
  .option("--k <n>", "distinct workers that must answer (2..8)", "2")
  .option("--reserve <n>", "prepaid replacements for duplicate or refunded answers (0..8)", "1")
  .option("--redundant <address>", "the RedundantInference contract (env ORACLE_REDUNDANT)")
  .option("--tip <eth>", "paid to each worker above the minimum fee", "0.001")
  .option("--token <address>", "pay each answer's fee in this ERC-20 token (one the model accepts); callback gas and attest rewards stay in ETH")
  .option("--token-tip <units>", "with --token: paid to each worker above the minimum, in the token's smallest units", "0")
  .option("--no-permit", "with --token: approve the redundancy contract in a transaction first instead of signing an EIP-2612 permit")
  .option("--attest-reward <eth>", "prepaid to whoever attests each answer and decides the job (k + reserve + 1 of them; unused refunded)", "0")
  .option("--deadline <s>", "seconds until the requests' deadline", "3600")
  .option("--wait", "attest, replace, decide and deliver as answers settle, until the job is decided")
  .option("--timeout <s>", "how long --wait waits", "300")
  .option("--relayer <url>", "relayer API (default: the deployment's)")
  .action(async (_o, cmd: Command) => (await import("./redundant.js")).redundantRequestCommand(globals(cmd) as never));
redundant
  .command("status <jobId>")
  .description("a job and each of its answers (worker, status, output hash)")
  .option("--redundant <address>", "the RedundantInference contract (env ORACLE_REDUNDANT)")
  .action(async (id: string, _o, cmd: Command) => (await import("./redundant.js")).redundantStatusCommand(id, globals(cmd) as never));
redundant
  .command("advance <jobId>")
  .description("attest fulfilled answers, replace duplicates from the reserve, decide (within τ_out) and deliver a job (anyone may)")
  .option("--redundant <address>", "the RedundantInference contract (env ORACLE_REDUNDANT)")
  .action(async (id: string, _o, cmd: Command) => (await import("./redundant.js")).redundantAdvanceCommand(id, globals(cmd) as never));
redundant
  .command("withdraw")
  .description("pull this key's credits: refunds, unused reserve and rewards, attester rewards earned")
  .option("--redundant <address>", "the RedundantInference contract (env ORACLE_REDUNDANT)")
  .option("--token <address>", "pull the credits in this ERC-20 token instead (a token job's refunds and unused reserve)")
  .action(async (_o, cmd: Command) => (await import("./redundant.js")).redundantWithdrawCommand(globals(cmd) as never));

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
