/** Small measurement helpers the benches share: median, percentile, rounding, CPU time of child processes. */
import { readFileSync } from "node:fs";

export function median(xs: number[]): number {
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
