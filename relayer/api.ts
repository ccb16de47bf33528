/**
 * The relayer's HTTP API:
 *   GET  /health                 liveness, chain head and cursor, queue depth
 *   GET  /requests?state=&limit= recent requests
 *   GET  /requests/:id           one request with its reply and timeline
 *   PUT  /blobs/:hash            store a canonical tensor under its tensor hash (checked)
 *   POST /blobs                  store a canonical tensor, get its hash back
 *   GET  /blobs/:hash            fetch a stored tensor
 * Errors are JSON `{ error: { code, message, details } }` with a fitting status.
 */
import express, { type NextFunction, type Request, type Response } from "express";
import { BaseError, isError, type ErrorCode, type Logger } from "../protocol/index.js";
import { QUEUES } from "../protocol/index.js";
import type { JobQueue } from "../queue/index.js";
import { BlobStore } from "./blobs.js";
import type { OracleChain } from "./chain.js";
import type { RelayerDb, RequestState } from "./db.js";
import type { EventWatcher } from "./watcher.js";

const STATUS: Partial<Record<ErrorCode, number>> = {
  TENSOR_MALFORMED: 400,
  MESSAGE_INVALID: 400,
  INPUT_HASH_MISMATCH: 400,
  PAYLOAD_TOO_LARGE: 413,
  BLOB_NOT_FOUND: 404,
  REQUEST_NOT_FOUND: 404,
};

const STATES = new Set<RequestState>(["requested", "submitted", "challenged", "fulfilled", "refunded"]);

export interface ApiDeps {
  db: RelayerDb;
  blobs: BlobStore;
  chain: OracleChain;
  queue: JobQueue;
  watcher: EventWatcher;
  log: Logger;
  maxBlobBytes: number;
  publicUrl: () => string;
}

export function createApi(deps: ApiDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  const raw = express.raw({ type: () => true, limit: deps.maxBlobBytes });

  app.get("/health", async (_req, res) => {
    const head = await deps.chain.provider.getBlockNumber();
    res.json({
      ok: true,
      chainId: deps.chain.chainId.toString(),
      oracle: deps.chain.oracleAddress,
      head,
      cursor: deps.watcher.cursor(),
      queue: { jobs: await deps.queue.depth(QUEUES.jobs), results: await deps.queue.depth(QUEUES.results) },
      requests: deps.db.countByState(),
    });
  });

  app.get("/requests", (req, res) => {
    const state = typeof req.query.state === "string" ? req.query.state : undefined;
    if (state !== undefined && !STATES.has(state as RequestState)) {
      throw new BaseError("MESSAGE_INVALID", `unknown state "${state.slice(0, 40)}"`, { details: { allowed: [...STATES] } });
    }
    const limit = typeof req.query.limit === "string" ? Number.parseInt(req.query.limit, 10) : 100;
    res.json({ requests: deps.db.listRequests({ state: state as RequestState | undefined, limit: Number.isFinite(limit) ? limit : 100 }) });
  });

  app.get("/requests/:id", (req, res) => {
    const id = req.params.id.toLowerCase();
    const row = deps.db.getRequest(id);
    if (row === undefined) throw new BaseError("REQUEST_NOT_FOUND", `no request ${id.slice(0, 80)}`);
    const reply = deps.db.getReply(id);
    res.json({ request: row, reply: reply === undefined ? null : { kind: reply.kind, state: reply.state, reason: reply.reason, receivedAt: reply.receivedAt } });
  });

  app.put("/blobs/:hash", raw, async (req, res) => {
    const hash = await deps.blobs.put(bodyBytes(req), req.params.hash as string);
    res.status(201).json({ hash, uri: `${deps.publicUrl()}/blobs/${hash}` });
  });

  app.post("/blobs", raw, async (req, res) => {
    const hash = await deps.blobs.put(bodyBytes(req));
    res.status(201).json({ hash, uri: `${deps.publicUrl()}/blobs/${hash}` });
  });

  app.get("/blobs/:hash", async (req, res) => {
    const bytes = await deps.blobs.get(req.params.hash);
    res.type("application/octet-stream").send(bytes);
  });

  app.use((_req, _res) => {
    throw new BaseError("REQUEST_NOT_FOUND", "no such route");
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = toBaseError(error);
    const status = STATUS[e.code] ?? 500;
    if (status >= 500) deps.log.error({ err: error }, "API error");
    res.status(status).json({ error: e.toJSON() });
  });
  return app;
}

function bodyBytes(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

function toBaseError(error: unknown): BaseError {
  if (isError(error)) return error;
  const e = error as { type?: string; status?: number; limit?: number; length?: number } | null;
  if (e?.type === "entity.too.large") {
    return new BaseError("PAYLOAD_TOO_LARGE", `body exceeds the ${e.limit}-byte limit`, { details: { limit: e.limit, length: e.length } });
  }
  if (e?.status !== undefined && e.status < 500) return new BaseError("MESSAGE_INVALID", String((error as Error).message));
  return new BaseError("INTERNAL", "internal error", { cause: error });
}
