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
    private readonly options: { maxBytes: number; retentionSeconds: number },
  ) {
    this.dir = join(dataDir, "blobs");
    mkdirSync(this.dir, { recursive: true });
  }

  static normalizeHash(hash: string): TensorHash {
    const h = hash.toLowerCase();
    if (!HASH_RE.test(h)) throw new BaseError("TENSOR_MALFORMED", `"${hash.slice(0, 80)}" is not a 0x-prefixed 32-byte hash`);
    return h as TensorHash;
  }

  /** Validates, hashes and stores `bytes`; with `expected`, refuses a mismatch. Returns the hash. */
  async put(bytes: Uint8Array, expected?: string): Promise<TensorHash> {
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
    const expiresAt = now + this.options.retentionSeconds * 1000;
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

  /** Deletes expired blobs; returns how many. */
  async collectGarbage(now = Date.now()): Promise<number> {
    const rows = this.db.db.prepare("SELECT hash FROM blobs WHERE expiresAt <= ?").all(now) as { hash: string }[];
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
