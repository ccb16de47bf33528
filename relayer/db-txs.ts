/** The transaction manager's table in the relayer's database (RelayerDb.txs): one row per (account, nonce). */
import type { DatabaseSync } from "node:sqlite";
import { TXS_SCHEMA, type StoredCall, type TxRow, type TxState } from "./tx-records.js";

interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export class TxTable {
  constructor(private readonly sql: DatabaseSync) {
    sql.exec(TXS_SCHEMA);
  }

  rows(account: string, state?: TxState): TxRow[] {
    if (state === undefined) return this.sql.prepare("SELECT * FROM txs WHERE account = ? ORDER BY nonce").all(account) as unknown as TxRow[];
    return this.sql.prepare("SELECT * FROM txs WHERE account = ? AND state = ? ORDER BY nonce").all(account, state) as unknown as TxRow[];
  }

  row(account: string, nonce: number): TxRow | undefined {
    return this.sql.prepare("SELECT * FROM txs WHERE account = ? AND nonce = ?").get(account, nonce) as TxRow | undefined;
  }

  highestNonce(account: string): number | null {
    return (this.sql.prepare("SELECT MAX(nonce) AS n FROM txs WHERE account = ?").get(account) as { n: number | null }).n;
  }

  /** Marks the transactions mined after `forkBlock` pending again (a reorg undid them); returns them as they were. */
  unmineAfter(account: string, forkBlock: number, now: number): TxRow[] {
    const rows = this.sql.prepare("SELECT * FROM txs WHERE account = ? AND state = 'mined' AND minedBlock > ?").all(account, forkBlock) as unknown as TxRow[];
    this.sql.prepare("UPDATE txs SET state = 'pending', minedHash = NULL, minedBlock = NULL, sentAt = ? WHERE account = ? AND state = 'mined' AND minedBlock > ?").run(now, account, forkBlock);
    return rows;
  }

  /** Records a new call at `nonce` (replacing whatever the nonce held), before it is broadcast. */
  record(account: string, nonce: number, label: string, call: StoredCall, fees: Fees, now: number): void {
    this.sql
      .prepare(
        `INSERT INTO txs(account, nonce, label, request, hashes, maxFeePerGas, maxPriorityFeePerGas, bumps, sentAt, state)
         VALUES(?, ?, ?, ?, '[]', ?, ?, 0, ?, 'pending')
         ON CONFLICT(account, nonce) DO UPDATE SET label = excluded.label, request = excluded.request, hashes = '[]',
           maxFeePerGas = excluded.maxFeePerGas, maxPriorityFeePerGas = excluded.maxPriorityFeePerGas, bumps = 0,
           sentAt = excluded.sentAt, state = 'pending', minedHash = NULL, minedBlock = NULL`,
      )
      .run(account, nonce, label, JSON.stringify(call), fees.maxFeePerGas.toString(), fees.maxPriorityFeePerGas.toString(), now);
  }

  /** Records a gap filler at `nonce` (a row already there keeps its recorded fees). */
  recordFiller(account: string, nonce: number, call: StoredCall, fees: Fees, now: number): void {
    this.sql
      .prepare(
        `INSERT INTO txs(account, nonce, label, request, hashes, maxFeePerGas, maxPriorityFeePerGas, bumps, sentAt, state)
         VALUES(?, ?, 'gap-filler', ?, '[]', ?, ?, 0, ?, 'pending')
         ON CONFLICT(account, nonce) DO UPDATE SET label = 'gap-filler', request = excluded.request, hashes = '[]', bumps = 0,
           sentAt = excluded.sentAt, state = 'pending', minedHash = NULL, minedBlock = NULL`,
      )
      .run(account, nonce, JSON.stringify(call), fees.maxFeePerGas.toString(), fees.maxPriorityFeePerGas.toString(), now);
  }

  setSent(account: string, nonce: number, hashes: string[], fees: Fees, now: number): void {
    this.sql
      .prepare("UPDATE txs SET hashes = ?, maxFeePerGas = ?, maxPriorityFeePerGas = ?, sentAt = ? WHERE account = ? AND nonce = ?")
      .run(JSON.stringify(hashes), fees.maxFeePerGas.toString(), fees.maxPriorityFeePerGas.toString(), now, account, nonce);
  }

  setPending(account: string, nonce: number): void {
    this.sql.prepare("UPDATE txs SET state = 'pending', minedHash = NULL, minedBlock = NULL WHERE account = ? AND nonce = ?").run(account, nonce);
  }

  setBumps(account: string, nonce: number, bumps: number, sentAt: number): void {
    this.sql.prepare("UPDATE txs SET bumps = ?, sentAt = ? WHERE account = ? AND nonce = ?").run(bumps, sentAt, account, nonce);
  }

  addBump(account: string, nonce: number): void {
    this.sql.prepare("UPDATE txs SET bumps = bumps + 1 WHERE account = ? AND nonce = ?").run(account, nonce);
  }

  setMined(account: string, nonce: number, hash: string, block: number): void {
    this.sql.prepare("UPDATE txs SET state = 'mined', minedHash = ?, minedBlock = ? WHERE account = ? AND nonce = ?").run(hash, block, account, nonce);
  }

  setLost(account: string, nonce: number): void {
    this.sql.prepare("UPDATE txs SET state = 'lost' WHERE account = ? AND nonce = ?").run(account, nonce);
  }
}
