/** The dashboard's read-only queries over the relayer's database (RelayerDb.dashboard). */
import type { DatabaseSync } from "node:sqlite";

export interface LatencyRow {
  id: string;
  state: string;
  tier: number;
  observedAt: number;
  submittedAt: number | null;
  finalAt: number | null;
}

export class DashboardQueries {
  constructor(private readonly sql: DatabaseSync) {}

  /** Replies held, by state. */
  repliesByState(): Record<string, number> {
    const rows = this.sql.prepare("SELECT state, COUNT(*) AS n FROM replies GROUP BY state").all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  pendingReplies(): number {
    return Number((this.sql.prepare("SELECT COUNT(*) AS n FROM replies WHERE state = 'pending'").get() as { n: number }).n);
  }

  /** The latest `limit` requests with a submission or a final outcome, newest first. */
  latency(limit = 300): LatencyRow[] {
    return this.sql
      .prepare("SELECT id, state, tier, observedAt, submittedAt, finalAt FROM requests WHERE submittedAt IS NOT NULL OR finalAt IS NOT NULL ORDER BY observedAt DESC LIMIT ?")
      .all(limit) as unknown as LatencyRow[];
  }

  /** Requests served per worker (lower-case operator) and state. */
  servedByWorker(): Map<string, Record<string, number>> {
    const rows = this.sql.prepare("SELECT lower(worker) AS worker, state, COUNT(*) AS n FROM requests WHERE worker IS NOT NULL GROUP BY lower(worker), state").all() as { worker: string; state: string; n: number }[];
    return rows.reduce((m, r) => m.set(r.worker, { ...(m.get(r.worker) ?? {}), [r.state]: Number(r.n) }), new Map<string, Record<string, number>>());
  }

  /** What changes whenever a request moves (the event stream's change detector). */
  requestsFingerprint(): Record<string, number | null> {
    return this.sql
      .prepare("SELECT COUNT(*) AS n, MAX(observedAt) AS o, MAX(submittedAt) AS s, MAX(finalAt) AS f, MAX(replyAt) AS r, SUM(state = 'challenged') AS c FROM requests")
      .get() as Record<string, number | null>;
  }
}
