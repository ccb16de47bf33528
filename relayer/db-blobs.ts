/** The blob store's index in the relayer's database (RelayerDb.blobs): hash, size and retention of every stored blob. */
import type { DatabaseSync } from "node:sqlite";

export interface BlobIndexRow {
  hash: string;
  size: number;
  createdAt: number;
  expiresAt: number;
}

export class BlobIndex {
  constructor(private readonly sql: DatabaseSync) {}

  get(hash: string): BlobIndexRow | undefined {
    return this.sql.prepare("SELECT * FROM blobs WHERE hash = ?").get(hash.toLowerCase()) as BlobIndexRow | undefined;
  }

  has(hash: string): boolean {
    return this.sql.prepare("SELECT 1 FROM blobs WHERE hash = ?").get(hash.toLowerCase()) !== undefined;
  }

  /** Indexes a stored blob, or extends a known one's retention to at least `expiresAt`. */
  put(hash: string, size: number, createdAt: number, expiresAt: number): void {
    this.sql
      .prepare("INSERT INTO blobs(hash, size, createdAt, expiresAt) VALUES(?, ?, ?, ?) ON CONFLICT(hash) DO UPDATE SET expiresAt = MAX(expiresAt, excluded.expiresAt)")
      .run(hash, size, createdAt, expiresAt);
  }

  /** Keeps each blob at least `retentionMs` from its upload; returns how many rows it touched. */
  keep(hashes: Iterable<string>, retentionMs: number): number {
    const keep = this.sql.prepare("UPDATE blobs SET expiresAt = MAX(expiresAt, createdAt + ?) WHERE hash = ?");
    let kept = 0;
    for (const h of hashes) kept += Number(keep.run(retentionMs, h).changes);
    return kept;
  }

  setExpiry(hash: string, expiresAt: number): void {
    this.sql.prepare("UPDATE blobs SET expiresAt = ? WHERE hash = ?").run(expiresAt, hash);
  }

  delete(hash: string): void {
    this.sql.prepare("DELETE FROM blobs WHERE hash = ?").run(hash);
  }

  expired(now: number): { hash: string; createdAt: number }[] {
    return this.sql.prepare("SELECT hash, createdAt FROM blobs WHERE expiresAt <= ?").all(now) as unknown as { hash: string; createdAt: number }[];
  }

  /** Bytes of all indexed blobs. */
  totalBytes(): number {
    return Number((this.sql.prepare("SELECT COALESCE(SUM(size), 0) AS n FROM blobs").get() as { n: number }).n);
  }

  /** The earliest expiry (ms since the epoch), undefined when nothing is stored. */
  nextExpiry(): number | undefined {
    const row = this.sql.prepare("SELECT MIN(expiresAt) AS t FROM blobs").get() as { t: number | null };
    return row.t ?? undefined;
  }
}
