/** What keeps two `oracle dev` stacks apart (cli/dev.ts): the data folder lock, the deployment file's holder, taken ports named. */
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { errorChain } from "../protocol/index.js";
import { cliError, oracleCommand } from "./common.js";

/** The `oracle dev` process that holds a data folder or deployment file, if it still runs. */
export interface Holder {
  pid: number;
  rpcUrl?: string;
  dataDir?: string;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function readHolder(file: string, field?: string): Holder | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const raw = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    const h = (field === undefined ? raw : raw[field]) as Holder | undefined;
    return h !== undefined && typeof h.pid === "number" && alive(h.pid) ? h : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `port` on `host` can be listened on now. */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once("error", () => resolvePort(false));
    server.listen(port, host, () => server.close(() => resolvePort(true)));
  });
}

/** Refuses a data folder that a running `oracle dev` holds. */
export function refuseIfHeld(dataDir: string): void {
  const holder = readHolder(join(dataDir, "lock.json"));
  if (holder === undefined) return;
  throw cliError(
    "DEV_STACK_RUNNING",
    `the data folder ${dataDir} belongs to the \`oracle dev\` running as pid ${holder.pid}${holder.rpcUrl === undefined ? "" : ` (${holder.rpcUrl})`}: stop it first, or give this stack its own folder with --data-dir <dir>`,
    { dataDir, pid: holder.pid },
  );
}

/** The chain kept in a data folder cannot be resumed: say why and how to start over. */
export function unusableState(dataDir: string, why: string): Error {
  return cliError(
    "DEV_STATE_UNUSABLE",
    `cannot resume the chain kept in ${dataDir}: ${why}. Start over with ${oracleCommand()} dev --fresh (wipes its chain, relayer database and blobs), or keep it and use another folder with --data-dir <dir>`,
    { dataDir, reason: why },
  );
}

/** What answers on a taken port, to name it in the error: a JSON-RPC node (anvil, hardhat node, another dev), an oracle relayer, or unknown. */
async function whoListens(host: string, port: number): Promise<string | undefined> {
  const base = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const signal = AbortSignal.timeout(1500);
  try {
    const res = await fetch(base, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify([{ jsonrpc: "2.0", id: 1, method: "web3_clientVersion" }, { jsonrpc: "2.0", id: 2, method: "eth_chainId" }]), signal });
    const body = (await res.json()) as Array<{ id: number; result?: string }>;
    const version = body.find((r) => r.id === 1)?.result;
    const chain = body.find((r) => r.id === 2)?.result;
    if (chain !== undefined) return `a JSON-RPC node answers there (${version ?? "unknown client"}, chain id ${BigInt(chain)})`;
  } catch {
    // not JSON-RPC; try the relayer's API
  }
  try {
    const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(1500) });
    if (res.ok && /oracle|chain|queue/i.test(await res.text())) return "an oracle relayer API answers there (another `oracle dev` or `relayer start`)";
  } catch {
    // nothing we recognise
  }
  return undefined;
}

/** Listens with `start`; EADDRINUSE becomes PORT_IN_USE naming the port, what holds it and the option that moves it. */
export async function listening<T>(what: string, option: string, host: string, port: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if (![...errorChain(error)].some((e) => (e as NodeJS.ErrnoException).code === "EADDRINUSE")) throw error;
    const holder = await whoListens(host, port);
    const usual = option === "--port" ? "anvil, `hardhat node`, ganache or another `oracle dev` usually listen on 8545" : "another `oracle dev` or `oracle relayer start` usually listens on 9545";
    throw cliError(
      "PORT_IN_USE",
      `port ${port} on ${host} (the ${what}) is already in use: ${holder ?? usual}. ` +
        `Stop that process, or start this stack on another port: ${oracleCommand()} dev ${option} ${port + 1} (${option} 0 takes any free port)`,
      { host, port, option, ...(holder === undefined ? {} : { holder }) },
    );
  }
}
