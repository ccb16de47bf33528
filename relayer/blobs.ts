/**
 * Content-addressed blob store: canonical tensors (inputs, outputs, trace tensors) and tensor bundles
 * (the inputs and outputs of models with several, protocol/bundle.ts) kept on disk under their hash,
 * indexed in the relayer database with an expiry. A blob is accepted only if it is a well-formed
 * tensor or bundle whose hash is the key it is stored under.
 */
import { createWriteStream, mkdirSync } from "node:fs";
import { open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createHash, randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { OracleError, BYTES32_LOWER_PATTERN, isZeroHex, CHUNK_BYTES, decodeHeaderOf, decodeTensor, hashBundleEncoded, isTensorBundle, manifestHashes, merkleRoot, sha256, bytesToHex, type TensorHash } from "../protocol/index.js";
import type { RelayerDb } from "./db.js";

const HASH_RE = BYTES32_LOWER_PATTERN;

/**
 * The tensor hash of a canonical encoding fed in pieces (protocol/tensor.ts hashEncoded): the header
 * is kept, the data is cut into CHUNK_BYTES leaves as it arrives, so memory is 32 bytes per KiB of
 * data (2 MiB for a 64 MiB blob) instead of the blob itself.
 */
export class StreamingTensorHash {
  private head = Buffer.alloc(0);
  private headerBytes: number | undefined;
  private readonly chunk = Buffer.allocUnsafe(CHUNK_BYTES + 1);
  private fill = 0;
  private readonly leaves: Buffer[] = [];
  /** A bundle (VIOB, several named tensors) is kept whole and hashed at the end (it is bounded by maxBytes). */
  private bundle: Buffer[] | undefined;
  total = 0;

  constructor() {
    this.chunk[0] = 0;
  }

  update(piece: Uint8Array): void {
    this.total += piece.byteLength;
    if (this.bundle !== undefined) {
      this.bundle.push(Buffer.from(piece));
      return;
    }
    let data = piece;
    if (this.headerBytes === undefined || this.head.byteLength < this.headerBytes) {
      const want = (this.headerBytes ?? 8) - this.head.byteLength;
      this.head = Buffer.concat([this.head, data.subarray(0, want)]);
      data = data.subarray(Math.min(want, data.byteLength));
      if (this.headerBytes === undefined && this.head.byteLength >= 8) {
        if (isTensorBundle(this.head)) {
          this.bundle = [this.head, Buffer.from(data)];
          return;
        }
        this.headerBytes = 8 + 4 * this.head[6]!;
        return data.byteLength > 0 ? ((this.total -= data.byteLength), this.update(data)) : undefined;
      }
      if (this.headerBytes === undefined || this.head.byteLength < this.headerBytes) return;
    }
    let at = 0;
    while (at < data.byteLength) {
      const n = Math.min(CHUNK_BYTES - this.fill, data.byteLength - at);
      this.chunk.set(data.subarray(at, at + n), 1 + this.fill);
      this.fill += n;
      at += n;
      if (this.fill === CHUNK_BYTES) {
        this.leaves.push(createHash("sha256").update(this.chunk).digest());
        this.fill = 0;
      }
    }
  }

  /** Checks the encoding against its total length (TENSOR_MALFORMED) and returns its hash. */
  digest(): TensorHash {
    if (this.bundle !== undefined) return hashBundleEncoded(Buffer.concat(this.bundle));
    const h = decodeHeaderOf(this.head, this.total);
    if (this.fill > 0 || this.leaves.length === 0) this.leaves.push(createHash("sha256").update(this.chunk.subarray(0, this.fill + 1)).digest());
    return bytesToHex(sha256(Buffer.from([2]), this.head.subarray(0, h.headerBytes), merkleRoot(this.leaves))) as TensorHash;
  }
}

export interface StreamLimits {
  /** Largest body; more is cut off with PAYLOAD_TOO_LARGE. */
  maxBytes: number;
  /** A body slower than this over any `rateWindowMs` (after the first) is cut off with TIMEOUT. */
  minBytesPerSecond: number;
  rateWindowMs: number;
}

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
    if (!HASH_RE.test(h)) throw new OracleError("TENSOR_MALFORMED", `"${hash.slice(0, 80)}" is not a 0x-prefixed 32-byte hash`);
    return h as TensorHash;
  }

  /**
   * Validates, hashes and stores `bytes`; with `expected`, refuses a mismatch. Returns the hash.
   * A `referenced` blob is kept `retentionSeconds`, any other `unreferencedSeconds` (unless an
   * on-chain request names it as its input by the time it expires: see collectGarbage).
   */
  async put(bytes: Uint8Array, expected?: string, options: { referenced?: boolean } = {}): Promise<TensorHash> {
    if (bytes.byteLength > this.options.maxBytes) {
      throw new OracleError("PAYLOAD_TOO_LARGE", `blob of ${bytes.byteLength} bytes exceeds the ${this.options.maxBytes}-byte limit`, {
        details: { size: bytes.byteLength, limit: this.options.maxBytes },
      });
    }
    const hash = hashBundleEncoded(bytes); // a tensor's or a bundle's hash; throws TENSOR_MALFORMED with the reason
    if (expected !== undefined && BlobStore.normalizeHash(expected) !== hash) {
      throw new OracleError("INPUT_HASH_MISMATCH", `blob hashes to ${hash}, not ${expected}`, { details: { expected, actual: hash } });
    }
    const now = Date.now();
    const expiresAt = now + this.retentionMs(options.referenced ?? true);
    if (!this.db.blobs.has(hash)) {
      const tmp = join(this.dir, `.${randomUUID()}.tmp`);
      await writeFile(tmp, bytes);
      await rename(tmp, this.path(hash));
    }
    this.db.blobs.put(hash, bytes.byteLength, now, expiresAt);
    return hash;
  }

  /**
   * Streams an upload to a temporary file, hashing as it arrives (nothing held in memory but the
   * leaf hashes), then checks and stores it as `put` does. A body over `maxBytes`, slower than the
   * minimum rate, aborted by the client or malformed leaves no file behind.
   */
  async putStream(body: Readable, limits: StreamLimits, expected?: string, options: { referenced?: boolean } = {}): Promise<TensorHash> {
    const want = expected === undefined ? undefined : BlobStore.normalizeHash(expected);
    const tmp = join(this.dir, `.${randomUUID()}.tmp`);
    const file = createWriteStream(tmp, { flags: "wx" });
    const hasher = new StreamingTensorHash();
    const maxBytes = Math.min(limits.maxBytes, this.options.maxBytes);
    try {
      await new Promise<void>((resolve, reject) => {
        let windowStart = Date.now();
        let windowBytes = 0;
        let settled = false;
        const fail = (error: unknown) => {
          if (settled) return;
          settled = true;
          clearInterval(timer);
          body.off("data", onData);
          body.pause();
          file.destroy();
          reject(error);
        };
        const timer = setInterval(() => {
          const now = Date.now();
          if (now - windowStart < limits.rateWindowMs) return;
          const rate = (windowBytes * 1000) / (now - windowStart);
          if (rate < limits.minBytesPerSecond) {
            fail(new OracleError("TIMEOUT", `upload slower than ${limits.minBytesPerSecond} bytes/s; cut off`, { details: { received: hasher.total, bytesPerSecond: Math.round(rate) } }));
            return;
          }
          windowStart = now;
          windowBytes = 0;
        }, Math.max(50, Math.min(1000, limits.rateWindowMs / 4)));
        const onData = (piece: Buffer) => {
          windowBytes += piece.byteLength;
          if (hasher.total + piece.byteLength > maxBytes) {
            fail(new OracleError("PAYLOAD_TOO_LARGE", `blob exceeds the ${maxBytes}-byte limit`, { details: { limit: maxBytes } }));
            return;
          }
          hasher.update(piece);
          if (!file.write(piece)) {
            body.pause();
            file.once("drain", () => settled || body.resume());
          }
        };
        body.on("data", onData);
        body.once("error", fail);
        body.once("aborted", () => fail(new OracleError("MESSAGE_INVALID", "the client aborted the upload")));
        body.once("close", () => {
          if (!body.readableEnded) fail(new OracleError("MESSAGE_INVALID", "the upload ended before its body"));
        });
        file.once("error", fail);
        body.once("end", () => {
          if (settled) return;
          clearInterval(timer);
          file.end(() => {
            if (settled) return;
            settled = true;
            resolve();
          });
        });
      });
      const hash = hasher.digest(); // throws TENSOR_MALFORMED with the reason
      if (want !== undefined && want !== hash) {
        throw new OracleError("INPUT_HASH_MISMATCH", `blob hashes to ${hash}, not ${expected}`, { details: { expected, actual: hash } });
      }
      const now = Date.now();
      if (!this.has(hash)) await rename(tmp, this.path(hash));
      this.db.blobs.put(hash, hasher.total, now, now + this.retentionMs(options.referenced ?? true));
      return hash;
    } finally {
      // Moved into place when stored and new; otherwise (refused, cut off, a duplicate) it goes.
      await rm(tmp, { force: true });
    }
  }

  async get(hash: string): Promise<Buffer> {
    const h = BlobStore.normalizeHash(hash);
    if (!this.db.blobs.has(h)) throw new OracleError("BLOB_NOT_FOUND", `no blob ${h}`, { details: { hash: h } });
    try {
      return await readFile(this.path(h));
    } catch (cause) {
      throw new OracleError("BLOB_NOT_FOUND", `blob ${h} is indexed but its file is missing`, { cause, details: { hash: h } });
    }
  }

  /** The first `bytes` bytes of a stored blob (all of it when shorter); BLOB_NOT_FOUND when absent. */
  async head(hash: string, bytes: number): Promise<Buffer> {
    const h = BlobStore.normalizeHash(hash);
    let handle;
    try {
      handle = await open(this.path(h), "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new OracleError("BLOB_NOT_FOUND", `no blob ${h}`, { details: { hash: h } });
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
    return this.db.blobs.has(hash);
  }

  private retentionMs(referenced: boolean): number {
    return (referenced ? this.options.retentionSeconds : this.options.unreferencedSeconds ?? this.options.retentionSeconds) * 1000;
  }

  /** Whether an on-chain request (as the relayer has seen it) names `hash` as its input. */
  isRequestInput(hash: string): boolean {
    // Event hashes are stored as ethers writes them (lowercase); the index answers at once.
    return this.db.isRequestInput(hash);
  }

  /**
   * Gives the blobs a verified worker result names (its output, its trace manifest and, for a
   * manifest up to `maxManifestBytes`, the manifest's rows) the referenced retention, counted from
   * their upload: a worker that is not on the upload allowlist still has its trace kept.
   */
  async keepResult(outputHash: string, traceRoot: string, maxManifestBytes = 1 << 20): Promise<number> {
    const hashes = [outputHash, traceRoot].map((h) => h.toLowerCase()).filter((h) => HASH_RE.test(h) && !isZeroHex(h));
    const root = traceRoot.toLowerCase();
    const manifest = this.db.blobs.get(root);
    if (manifest !== undefined && manifest.size <= maxManifestBytes) {
      try {
        hashes.push(...manifestHashes(decodeTensor(await this.get(root))).map((h) => h.toLowerCase()));
      } catch {
        // Not a manifest (or gone): only the blobs named directly are kept.
      }
    }
    return this.db.blobs.keep(new Set(hashes), this.retentionMs(true));
  }

  /** Bytes of all stored blobs. */
  storedBytes(): number {
    return this.db.blobs.totalBytes();
  }

  /** When the next stored blob expires (ms since the epoch), or undefined when none is stored. */
  nextExpiry(): number | undefined {
    return this.db.blobs.nextExpiry();
  }

  /**
   * Deletes expired blobs; returns how many. An expired blob that an on-chain request names as its
   * input (uploaded before the request was made, so stored as unreferenced) is kept for the
   * referenced retention counted from its upload instead.
   */
  async collectGarbage(now = Date.now()): Promise<number> {
    const expired = this.db.blobs.expired(now);
    const rows: { hash: string }[] = [];
    for (const row of expired) {
      const keepUntil = row.createdAt + this.retentionMs(true);
      if (keepUntil > now && this.isRequestInput(row.hash)) {
        this.db.blobs.setExpiry(row.hash, keepUntil);
      } else {
        rows.push(row);
      }
    }
    for (const { hash } of rows) {
      this.db.blobs.delete(hash);
      await rm(this.path(hash), { force: true });
    }
    return rows.length;
  }

  private path(hash: string): string {
    return join(this.dir, hash.slice(2));
  }
}
