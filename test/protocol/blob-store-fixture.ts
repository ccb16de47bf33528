/** A real relayer API (relayer/api.ts createApi) over a real blob store and database, on a free port, for the blob client's tests. */
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, encodeTensor } from "../../protocol/index.js";
import { createApi, type ApiDeps, type BlobAuthOptions, BlobStore, RelayerDb } from "../../relayer/index.js";

export interface RelayerStore {
  url: string;
  dir: string;
  db: RelayerDb;
  blobs: BlobStore;
  /** Every address the relayer asked `identify` about (one per signed request). */
  identified: string[];
  close(): Promise<void>;
}

export interface RelayerStoreOptions {
  /** Signer addresses (lower case) the relayer knows as parties. */
  known?: string[];
  /** Refuse anonymous uploads (401). */
  required?: boolean;
  /** The first this many signed requests fail with 503 (the chain lookup behind `identify` is down). */
  unavailable?: number;
  maxBlobBytes?: number;
}

export async function startRelayerStore(options: RelayerStoreOptions = {}): Promise<RelayerStore> {
  const dir = mkdtempSync(join(tmpdir(), "blob-client-"));
  const db = new RelayerDb(dir);
  const maxBlobBytes = options.maxBlobBytes ?? 4 << 20;
  const blobs = new BlobStore(dir, db, { maxBytes: maxBlobBytes, retentionSeconds: 3600, unreferencedSeconds: 600 });
  const identified: string[] = [];
  let failures = options.unavailable ?? 0;
  const blobAuth: BlobAuthOptions = {
    identify: async (address) => {
      identified.push(address);
      if (failures > 0) {
        failures--;
        throw new Error("chain lookup down");
      }
      return options.known?.includes(address) === true ? "worker" : undefined;
    },
    rateLimit: { perSecond: 0, burst: 1 },
    bytesPerIdentity: 1 << 30,
    windowMs: 3_600_000,
    required: options.required ?? false,
  };
  let url = "";
  const deps = {
    log: createLogger("test", { level: "silent" }),
    db,
    blobs,
    maxBlobBytes,
    publicUrl: () => url,
    blobQuota: { perClientBytes: 1 << 30, windowMs: 3_600_000, maxStoredBytes: 1 << 30 },
    blobAuth,
  } as unknown as ApiDeps;
  const server: Server = createApi(deps).listen(0, "127.0.0.1");
  await new Promise<void>((r) => server.once("listening", () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    dir,
    db,
    blobs,
    identified,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A canonical float32 tensor of `n` elements (4n + 16 bytes), distinct per seed. */
export function tensorBytes(seed: number, n = 1024): Buffer {
  return encodeTensor({ dtype: "float32", shape: [1, n], data: new Float32Array(n).map((_, i) => seed * 1_000_003 + i) });
}
