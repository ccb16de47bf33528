/**
 * Registered workers as the relayer saw them in the oracle's events (RelayerDb.workers), for the
 * dashboard's worker table: kept in the database so a restarted relayer still lists the workers
 * registered before its cursor.
 */
import type { DatabaseSync } from "node:sqlite";

export interface WorkerRow {
  operator: string;
  signer: string;
  registeredBlock: number;
  slashedWei: bigint;
  slashes: number;
}

/** Operators are kept as the events spell them (checksummed) and matched case-insensitively. */
export class WorkerTable {
  constructor(private readonly sql: DatabaseSync) {}

  /** A worker registered (again, after a re-scan: its row is replaced). */
  register(operator: string, signer: string, block: number): void {
    this.sql
      .prepare(
        `INSERT INTO workers(operator, signer, registeredBlock, slashedWei, slashes) VALUES(?, ?, ?, '0', 0)
         ON CONFLICT(operator) DO UPDATE SET signer = excluded.signer, registeredBlock = excluded.registeredBlock, slashedWei = '0', slashes = 0`,
      )
      .run(operator, signer, block);
  }

  changeSigner(operator: string, signer: string): void {
    this.sql.prepare("UPDATE workers SET signer = ? WHERE lower(operator) = ?").run(signer, operator.toLowerCase());
  }

  slashed(operator: string, amount: bigint): void {
    const row = this.sql.prepare("SELECT slashedWei FROM workers WHERE lower(operator) = ?").get(operator.toLowerCase()) as { slashedWei: string } | undefined;
    if (row === undefined) return;
    this.sql.prepare("UPDATE workers SET slashedWei = ?, slashes = slashes + 1 WHERE lower(operator) = ?").run((BigInt(row.slashedWei) + amount).toString(), operator.toLowerCase());
  }

  list(): WorkerRow[] {
    const rows = this.sql.prepare("SELECT * FROM workers ORDER BY registeredBlock, operator").all() as unknown as (Omit<WorkerRow, "slashedWei"> & { slashedWei: string })[];
    return rows.map((r) => ({ ...r, registeredBlock: Number(r.registeredBlock), slashes: Number(r.slashes), slashedWei: BigInt(r.slashedWei) }));
  }
}
