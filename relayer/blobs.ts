/**
 * Content-addressed blob store: canonical tensors (inputs, outputs, trace tensors) kept on disk
 * under their tensor hash, indexed in the relayer database with an expiry. A blob is accepted only
 * if it is a well-formed tensor whose hash is the key it is stored under.
 */
import { mkdirSync } from "node:fs";
import { open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { BaseError, hashEncoded, type TensorHash } from "../protocol/index.js";
import type { RelayerDb } from "./db.js";

const HASH_RE = /^0x[0-9a-f]{64}$/;

export class BlobStore {
  private readonly dir: string;

  constructor(
    dataDir: string,
    private readonly db: RelayerDb,
    private readonly options: {
      maxBytes: number;
      /** How long a referenced blob (an on-chain request's input, a worker's upload) is kept. */
      retentionSeconds: number;
      /** How long any other blob is kept (default: `retentionSeconds`). */
      unreferencedSeconds?: number;
    },
  ) {
    this.dir = join(dataDir, "blobs");
    mkdirSync(this.dir, { recursive: true });
  }

  static normalizeHash(hash: string): TensorHash {
    const h = hash.toLowerCase();
    if (!HASH_RE.test(h)) throw new BaseError("TENSOR_MALFORMED", `"${hash.slice(0, 80)}" is not a 0x-prefixed 32-byte hash`);
    return h as TensorHash;
  }

  /**
   * Validates, hashes and stores `bytes`; with `expected`, refuses a mismatch. Returns the hash.
   * A `referenced` blob is kept `retentionSeconds`, any other `unreferencedSeconds` (unless an
   * on-chain request names it as its input by the time it expires: see collectGarbage).
   */
  async put(bytes: Uint8Array, expected?: string, options: { referenced?: boolean } = {}): Promise<TensorHash> {
    if (bytes.byteLength > this.options.maxBytes) {
      throw new BaseError("PAYLOAD_TOO_LARGE", `blob of ${bytes.byteLength} bytes exceeds the ${this.options.maxBytes}-byte limit`, {
        details: { size: bytes.byteLength, limit: this.options.maxBytes },
      });
    }
    const hash = hashEncoded(bytes); // throws TENSOR_MALFORMED with the reason
    if (expected !== undefined && BlobStore.normalizeHash(expected) !== hash) {
      throw new BaseError("INPUT_HASH_MISMATCH", `blob hashes to ${hash}, not ${expected}`, { details: { expected, actual: hash } });
    }
    const now = Date.now();
    const expiresAt = now + this.retentionMs(options.referenced ?? true);
    const known = this.db.db.prepare("SELECT hash FROM blobs WHERE hash = ?").get(hash);
    if (known === undefined) {
      const tmp = join(this.dir, `.${randomUUID()}.tmp`);
      await writeFile(tmp, bytes);
      await rename(tmp, this.path(hash));
    }
    this.db.db
      .prepare("INSERT INTO blobs(hash, size, createdAt, expiresAt) VALUES(?, ?, ?, ?) ON CONFLICT(hash) DO UPDATE SET expiresAt = MAX(expiresAt, excluded.expiresAt)")
      .run(hash, bytes.byteLength, now, expiresAt);
    return hash;
  }

  async get(hash: string): Promise<Buffer> {
    const h = BlobStore.normalizeHash(hash);
    const known = this.db.db.prepare("SELECT hash FROM blobs WHERE hash = ?").get(h);
    if (known === undefined) throw new BaseError("BLOB_NOT_FOUND", `no blob ${h}`, { details: { hash: h } });
    try {
      return await readFile(this.path(h));
    } catch (cause) {
      throw new BaseError("BLOB_NOT_FOUND", `blob ${h} is indexed but its file is missing`, { cause, details: { hash: h } });
    }
  }

  /** The first `bytes` bytes of a stored blob (all of it when shorter); BLOB_NOT_FOUND when absent. */
  async head(hash: string, bytes: number): Promise<Buffer> {
    const h = BlobStore.normalizeHash(hash);
    let handle;
    try {
      handle = await open(this.path(h), "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new BaseError("BLOB_NOT_FOUND", `no blob ${h}`, { details: { hash: h } });
      throw error;
    }
    try {
      const buffer = Buffer.alloc(bytes);
      const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  has(hash: string): boolean {
    return this.db.db.prepare("SELECT hash FROM blobs WHERE hash = ?").get(hash.toLowerCase()) !== undefined;
  }

  private retentionMs(referenced: boolean): number {
    return (referenced ? this.options.retentionSeconds : this.options.unreferencedSeconds ?? this.options.retentionSeconds) * 1000;
  }

  /** Whether an on-chain request (as the relayer has seen it) names `hash` as its input. */
  isRequestInput(hash: string): boolean {
    return this.db.db.prepare("SELECT 1 FROM requests WHERE lower(inputHash) = ? LIMIT 1").get(hash.toLowerCase()) !== undefined;
  }

  /** Bytes of all stored blobs. */
  storedBytes(): number {
    return (this.db.db.prepare("SELECT COALESCE(SUM(size), 0) AS n FROM blobs").get() as { n: number }).n;
  }

  /** When the next stored blob expires (ms since the epoch), or undefined when none is stored. */
  nextExpiry(): number | undefined {
    const row = this.db.db.prepare("SELECT MIN(expiresAt) AS t FROM blobs").get() as { t: number | null };
    return row.t ?? undefined;
  }

  /**
   * Deletes expired blobs; returns how many. An expired blob that an on-chain request names as its
   * input (uploaded before the request was made, so stored as unreferenced) is kept for the
   * referenced retention counted from its upload instead.
   */
  async collectGarbage(now = Date.now()): Promise<number> {
    const expired = this.db.db.prepare("SELECT hash, createdAt FROM blobs WHERE expiresAt <= ?").all(now) as { hash: string; createdAt: number }[];
    const rows: { hash: string }[] = [];
    for (const row of expired) {
      const keepUntil = row.createdAt + this.retentionMs(true);
      if (keepUntil > now && this.isRequestInput(row.hash)) {
        this.db.db.prepare("UPDATE blobs SET expiresAt = ? WHERE hash = ?").run(keepUntil, row.hash);
      } else {
        rows.push(row);
      }
    }
    for (const { hash } of rows) {
      this.db.db.prepare("DELETE FROM blobs WHERE hash = ?").run(hash);
      await rm(this.path(hash), { force: true });
    }
    return rows.length;
  }

  private path(hash: string): string {
    return join(this.dir, hash.slice(2));
  }
}
