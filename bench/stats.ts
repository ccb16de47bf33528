/** Small measurement helpers the benches share: median, percentile, rounding, CPU time of child processes. */
import { readdirSync, readFileSync } from "node:fs";

/** The median (NaN for none). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/**
 * CPU ms used so far by this process's live children (the worker's model processes, worker/model-process.ts,
 * where inference runs by default): process.cpuUsage counts only this process. Linux /proc; 0 elsewhere.
 * Clock-tick resolution (10 ms), so per-job figures need runs of many jobs.
 */
export function childrenCpuMs(): number {
  try {
    const tick = 1000 / 100; // USER_HZ is 100 on Linux
    let total = 0;
    for (const pid of readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        total += (Number(fields[11]) + Number(fields[12])) * tick; // utime, stime (fields 14 and 15)
      } catch {
        // the child exited meanwhile
      }
    }
    return total;
  } catch {
    return 0;
  }
}

export const r1 = (x: number) => Number(x.toFixed(1));
export const r3 = (x: number) => Number(x.toFixed(3));

function cpuMsOfPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime in USER_HZ (100) ticks
}

/** Every live process as pid -> parent pid (Linux /proc; empty elsewhere). */
function processTable(): Map<number, number> {
  const table = new Map<number, number>();
  let names: string[] = [];
  try {
    names = readdirSync("/proc").filter((n) => /^\d+$/.test(n));
  } catch {
    return table;
  }
  for (const name of names) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      table.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

/**
 * CPU ms used so far by the live processes `roots` and all their descendants (a worker and its model
 * processes). Clock-tick resolution; processes that exited are not counted.
 */
export function treeCpuMs(roots: readonly number[]): number {
  const table = processTable();
  const wanted = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of table) {
      if (!wanted.has(pid) && wanted.has(ppid)) {
        wanted.add(pid);
        grew = true;
      }
    }
  }
  let total = 0;
  for (const pid of wanted) {
    try {
      total += cpuMsOfPid(pid);
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/** Pids whose command line contains `fragment` (e.g. a RabbitMQ node's name). */
export function pidsWithCommandLine(fragment: string): number[] {
  const out: number[] = [];
  for (const pid of processTable().keys()) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(fragment)) out.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** The machine's CPU time so far, all cores: busy and total ms (Linux /proc/stat; zeros elsewhere). */
export function machineCpuMs(): { busy: number; total: number } {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
    const t = line.trim().split(/\s+/).slice(1).map(Number);
    const total = t.reduce((a, b) => a + b, 0);
    const idle = (t[3] ?? 0) + (t[4] ?? 0); // idle + iowait
    return { busy: (total - idle) * 10, total: total * 10 };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** CPU per job of each part of a scale run (ms; workers with their model processes, the broker, this bench process) and the share of the machine busy. */
export interface RunCpu {
  workers: number;
  broker: number | undefined;
  bench: number;
  machineBusy: number;
}

/** Runs `fn` (a run of `jobs` jobs) and measures the CPU each part used per job meanwhile. */
export async function cpuPerJob<T>(jobs: number, workerPids: readonly number[], brokerPids: readonly number[], fn: () => Promise<T>): Promise<{ value: T; cpu: RunCpu }> {
  const w0 = treeCpuMs(workerPids);
  const b0 = brokerPids.length > 0 ? treeCpuMs(brokerPids) : undefined;
  const p0 = process.cpuUsage();
  const m0 = machineCpuMs();
  const value = await fn();
  const p = process.cpuUsage(p0);
  const m1 = machineCpuMs();
  return {
    value,
    cpu: {
      workers: (treeCpuMs(workerPids) - w0) / jobs,
      broker: b0 === undefined ? undefined : (treeCpuMs(brokerPids) - b0) / jobs,
      bench: (p.user + p.system) / 1000 / jobs,
      machineBusy: m1.total > m0.total ? (m1.busy - m0.busy) / (m1.total - m0.total) : NaN,
    },
  };
}
