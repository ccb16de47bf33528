/**
 * One writer per input-cache folder (worker/input-cache.ts). The log (worker/input-log.ts) appends at
 * positions it tracks itself, so two caches appending to one folder would write over each other's
 * records (never served: every read is hash-checked, but lost). A folder is taken by writing the
 * process id to its `lock` file; a lock whose process is gone (a crash) is taken over. A cache that
 * finds its folder held (another worker process started in the same directory with the default
 * `inputCacheDir`, or a second worker in the same process) keeps its inputs in a subfolder of its own,
 * `instance-<pid>-<n>`; the folder's next owner imports what such a subfolder holds once its process
 * is gone. Two processes taking the same stale lock in the same instant is not guarded against.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** Folders held by a cache of this process. */
const heldHere = new Set<string>();
let instances = 0;

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether a live cache holds `dir` (this process's own earlier life, a reused pid, counts as gone). */
export function folderHeld(dir: string): boolean {
  if (heldHere.has(resolve(dir))) return true;
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, "lock"), "utf8"));
  } catch {
    return false;
  }
  return pid !== process.pid && alive(pid);
}

/** Takes `dir` when no live cache holds it; else a fresh subfolder of it. Returns the folder taken. */
export function takeFolder(dir: string): string {
  const folder = folderHeld(dir) ? join(dir, `instance-${process.pid}-${++instances}`) : dir;
  // A subfolder left by an earlier life of this pid (a restarted container) is taken over as it is.
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, "lock"), String(process.pid));
  heldHere.add(resolve(folder));
  return folder;
}

/** Gives `folder` up (its lock file removed while it still names this process). */
export function releaseFolder(folder: string): void {
  heldHere.delete(resolve(folder));
  try {
    if (Number(readFileSync(join(folder, "lock"), "utf8")) === process.pid) rmSync(join(folder, "lock"), { force: true });
  } catch {
    // gone already
  }
}

/** The subfolders of `dir` left by caches whose process is gone (to import, then remove). */
export function abandonedInstances(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^instance-\d+-\d+$/.test(e.name) && !folderHeld(join(dir, e.name)))
    .map((e) => join(dir, e.name));
}
