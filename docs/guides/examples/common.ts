/**
 * What the guide's example scripts share: the deployment file `oracle dev` writes, and a plain
 * one-line message (no stack trace) with the exit status 2 for a wrong argument, 1 otherwise.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

/** Prints `message` (and the usage line) on stderr and exits: 2 for a usage error, 1 for any other. */
export function fail(message: string, usage?: string): never {
  process.stderr.write(`${message}\n${usage === undefined ? "" : `usage: ${usage}\n`}`);
  process.exit(usage === undefined ? 1 : 2);
}

export interface ExampleDeployment {
  rpcUrl: string;
  oracle: string;
  registry: string;
  relayerUrl: string;
  deployBlock: number;
  accounts: Array<{ role: string; privateKey: string }>;
}

/** ORACLE_DEPLOYMENT, else `oracle dev`'s default file; a clear message when there is none. */
export function readDeployment(): ExampleDeployment {
  const file = resolve(process.env.ORACLE_DEPLOYMENT || ".data/oracle/deployment.json");
  if (!existsSync(file)) fail(`no deployment file at ${file}: start the local oracle first (npm run oracle -- dev), or set ORACLE_DEPLOYMENT`);
  return JSON.parse(readFileSync(file, "utf8")) as ExampleDeployment;
}
