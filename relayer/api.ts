/**
 * The relayer's HTTP API:
 *   GET  /health                 liveness, chain head and cursor, queue depth
 *   GET  /requests?state=&limit= recent requests
 *   GET  /requests/:id           one request with its reply and timeline
 *   PUT  /blobs/:hash            store a canonical tensor under its tensor hash (checked)
 *   POST /blobs                  store a canonical tensor, get its hash back
 *   GET  /blobs/:hash            fetch a stored tensor
 * plus what `extend` mounts (relayer/dashboard.ts: /metrics, /healthz, /readyz, /dashboard, /api/*).
 * Errors are JSON `{ error: { code, message, details } }` with a fitting status.
 *
 * Limits (config `api`): each client address has a token bucket (`rateLimit`), and a client over
 * its budget gets 429 RATE_LIMITED with Retry-After; a body larger than `maxBodyBytes` on any route
 * but the blob uploads (`maxBlobBytes`) gets 413 PAYLOAD_TOO_LARGE before it is read, and the
 * connection is closed so the client stops sending.
 *
 * Blob uploads: `application/octet-stream` only and never cross-site (no CORS);
 * anonymous ones (not an on-chain request's input, not from `blobQuota.allowlist`) within a
 * per-client byte budget, a global quota on stored bytes and caps on uploads in progress (429 with
 * Retry-After); every body streamed to a temporary file and hashed as it arrives, cut off below a
 * minimum rate (408).
 */
import express, { type NextFunction, type Request, type Response } from "express";
import { BLOB_AUTH_HEADER, OracleError, isError, parseBlobAuth, verifyBlobAuth, type ErrorCode } from "../protocol/index.js";
import { QUEUES } from "../protocol/index.js";
import { clientAddress, normalizeAddress } from "./limits.js";
import { ByteBudget, clientKey } from "./quota.js";
import type { RequestState } from "./db.js";
import { DEFAULT_UPLOAD_LIMITS, type ApiDeps, type UploadLimits } from "./api-options.js";
import { TokenBuckets } from "./rate-limit.js";

export { DEFAULT_UPLOAD_LIMITS, type ApiDeps, type BlobAuthOptions, type BlobQuotaOptions, type UploadLimits } from "./api-options.js";
export { TokenBuckets, type RateLimitOptions } from "./rate-limit.js";

const STATUS: Partial<Record<ErrorCode, number>> = {
  TENSOR_MALFORMED: 400,
  MESSAGE_INVALID: 400,
  INPUT_HASH_MISMATCH: 400,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  CHAIN_UNAVAILABLE: 503,
  QUEUE_UNAVAILABLE: 503,
  BLOB_NOT_FOUND: 404,
  REQUEST_NOT_FOUND: 404,
  TIMEOUT: 408,
  AUTH_INVALID: 401,
};

const STATES = new Set<RequestState>(["requested", "submitted", "challenged", "fulfilled", "refunded", "orphaned"]);

export function createApi(deps: ApiDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  const uploadLimits: UploadLimits = { ...DEFAULT_UPLOAD_LIMITS, ...deps.uploadLimits };
  const uploadsByClient = new Map<string, number>();
  let uploads = 0;
  const now = deps.now ?? Date.now;
  const proxies = new Set((deps.trustProxy ?? []).map(normalizeAddress));

  // Per-address token buckets (`rateLimit`): every request that is not a known identity's.
  const limit = deps.rateLimit;
  const addressBuckets = limit !== undefined && limit.perSecond > 0 ? new TokenBuckets(limit) : undefined;
  const exempt = new Set(limit?.exempt ?? []);
  const takeAddress = (req: Request, res: Response): void => {
    if (addressBuckets === undefined || limit === undefined) return;
    const client = clientAddress(req, proxies);
    if (exempt.has(client) || exempt.has(req.socket.remoteAddress ?? "")) return;
    const waitMs = addressBuckets.take(client, now());
    if (waitMs === 0) return;
    res.set("retry-after", String(Math.max(1, Math.ceil(waitMs / 1000))));
    throw new OracleError("RATE_LIMITED", `too many requests from this address; retry in ${waitMs} ms`, {
      details: { retryAfterMs: waitMs, perSecond: limit.perSecond, burst: limit.burst },
    });
  };

  // A signed request (protocol/blobAuth.ts) from a known party is that party's, wherever it comes
  // from: its own rate limit and upload budget, never its address's. A token that does not verify,
  // or an upload signed by nobody the relayer knows, is refused (401): never silently anonymous.
  // Verifying costs an ecrecover (~7 ms here): a token is verified once and then found in a cache.
  const auth = deps.blobAuth;
  const identityBuckets = auth === undefined || auth.rateLimit.perSecond <= 0 ? undefined : new TokenBuckets({ ...auth.rateLimit, maxClients: 10_000 });
  const identityBytes = auth === undefined ? undefined : new ByteBudget({ bytes: auth.bytesPerIdentity, windowMs: auth.windowMs, maxClients: 10_000 });
  const verified = new Map<string, string>();
  // New tokens verified per client address (a client signs one every 30 s): 20 at once, 5 a second.
  // Ordinary requests do not spend this, so a plain flood from a challenger's address cannot keep
  // its token from being verified; a flood of forged tokens is bounded by it.
  const verifications = new TokenBuckets({ perSecond: 5, burst: 20, maxClients: 10_000 });
  app.use(async (req, res, next) => {
    const header = req.headers[BLOB_AUTH_HEADER];
    if (header === undefined) return next();
    if (auth === undefined) throw new OracleError("AUTH_INVALID", "this relayer takes no signed requests (no blobAuth configured)");
    const token = String(header);
    parseBlobAuth(token, now()); // format and time: cheap, and a cached token expires with them
    let address = verified.get(token);
    if (address === undefined) {
      const waitMs = verifications.take(clientKey(clientAddress(req, proxies)), now());
      if (waitMs > 0) {
        res.set("retry-after", String(Math.max(1, Math.ceil(waitMs / 1000))));
        throw new OracleError("RATE_LIMITED", `too many new signed tokens from this address; retry in ${waitMs} ms`, { details: { retryAfterMs: waitMs } });
      }
      address = verifyBlobAuth(token, now());
      if (verified.size >= 10_000) verified.delete(verified.keys().next().value!);
      verified.set(token, address);
    }
    let party: string | undefined;
    try {
      party = await auth.identify(address);
    } catch (cause) {
      throw new OracleError("CHAIN_UNAVAILABLE", "could not check who signed the request", { cause, retryable: true });
    }
    if (party === undefined) {
      // A read signed by a key this relayer does not list (a challenger it does not know) is served
      // as anonymous; an upload claiming an identity nobody can be held to is refused.
      if (req.method === "GET" || req.method === "HEAD") return next();
      throw new OracleError("AUTH_INVALID", `${address} is neither a registered worker's signer nor an identity this relayer lists`);
    }
    res.locals.identity = address;
    res.locals.party = party;
    if (identityBuckets !== undefined) {
      const waitMs = identityBuckets.take(`id:${address}`, now());
      if (waitMs > 0) {
        res.set("retry-after", String(Math.max(1, Math.ceil(waitMs / 1000))));
        throw new OracleError("RATE_LIMITED", `too many requests from ${address}; retry in ${waitMs} ms`, { details: { retryAfterMs: waitMs, ...auth.rateLimit } });
      }
    }
    next();
  });

  if (addressBuckets !== undefined) {
    app.use((req, res, next) => {
      if (res.locals.identity === undefined) takeAddress(req, res);
      next();
    });
  }

  // Only blob uploads read a body (up to maxBlobBytes); anything else larger than maxBodyBytes is
  // refused unread. A declared length over the limit is answered at once with the connection closed,
  // rather than after the whole body has been received and discarded (what the body parser does).
  const maxBodyBytes = deps.maxBodyBytes ?? 64 * 1024;
  app.use((req, res, next) => {
    const blobUpload = (req.method === "POST" || req.method === "PUT") && (req.path === "/blobs" || req.path.startsWith("/blobs/"));
    const limit = blobUpload ? deps.maxBlobBytes : maxBodyBytes;
    const declared = req.headers["content-length"];
    const length = declared === undefined ? 0 : Number(declared);
    // A chunked body of unknown length: the blob parser counts it as it streams; other routes never read it.
    if (!(length <= limit)) {
      res.set("connection", "close");
      throw new OracleError("PAYLOAD_TOO_LARGE", `body exceeds the ${limit}-byte limit of ${req.method} ${req.path.slice(0, 80)}`, {
        details: { limit, length: Number.isFinite(length) ? length : String(declared).slice(0, 40) },
      });
    }
    next();
  });

  app.get("/health", async (_req, res) => {
    let head: number;
    try {
      head = await deps.chain.provider.getBlockNumber();
    } catch (cause) {
      throw new OracleError("CHAIN_UNAVAILABLE", "the chain node does not answer", { cause, retryable: true });
    }
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
      throw new OracleError("MESSAGE_INVALID", `unknown state "${state.slice(0, 40)}"`, { details: { allowed: [...STATES] } });
    }
    const limit = typeof req.query.limit === "string" ? Number.parseInt(req.query.limit, 10) : 100;
    res.json({ requests: deps.db.listRequests({ state: state as RequestState | undefined, limit: Number.isFinite(limit) ? limit : 100 }) });
  });

  app.get("/requests/:id", (req, res) => {
    const id = req.params.id.toLowerCase();
    const row = deps.db.getRequest(id);
    if (row === undefined) throw new OracleError("REQUEST_NOT_FOUND", `no request ${id.slice(0, 80)}`);
    const reply = deps.db.getReply(id);
    res.json({ request: row, reply: reply === undefined ? null : { kind: reply.kind, state: reply.state, reason: reply.reason, receivedAt: reply.receivedAt } });
  });

  // Blob uploads. Browsers: only a non-simple content type is accepted, so a page of another origin
  // cannot upload without a CORS preflight, which this API never answers (no Access-Control-*
  // headers anywhere); a request a browser marks as cross-site is refused outright. Quotas: an upload
  // that no on-chain request and no allowlisted worker references counts against its client's byte
  // budget and the global quota, both checked on the declared length before the body is read.
  const quota = deps.blobQuota;
  const budget = quota === undefined ? undefined : new ByteBudget({ bytes: quota.perClientBytes, windowMs: quota.windowMs, maxClients: quota.maxClients });
  const allowlist = new Set((quota?.allowlist ?? []).map(normalizeAddress));
  let inflight = 0;
  const admitUpload = (req: Request, res: Response, next: NextFunction) => {
    const type = String(req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/octet-stream") {
      res.set("connection", "close");
      throw new OracleError("MESSAGE_INVALID", "blob uploads must be sent as content-type application/octet-stream", { details: { contentType: type.slice(0, 80) } });
    }
    const site = req.headers["sec-fetch-site"];
    if (site === "cross-site" || site === "same-site") {
      res.set("connection", "close");
      throw new OracleError("MESSAGE_INVALID", "blob uploads from another site's web page are refused", { details: { secFetchSite: site } });
    }
    const encoding = String(req.headers["content-encoding"] ?? "identity").toLowerCase();
    if (encoding !== "identity") {
      res.set("connection", "close");
      throw new OracleError("MESSAGE_INVALID", "blob uploads are not accepted with a content-encoding", { details: { contentEncoding: encoding.slice(0, 40) } });
    }
    const hash = typeof req.params.hash === "string" ? req.params.hash : undefined;
    const client = clientAddress(req, proxies);
    const identity = res.locals.identity as string | undefined;
    if (identity !== undefined && identityBytes !== undefined && auth !== undefined) {
      const declared = req.headers["content-length"];
      if (declared === undefined) {
        res.set("connection", "close");
        throw new OracleError("MESSAGE_INVALID", "a signed blob upload must declare its Content-Length");
      }
      const waitMs = identityBytes.take(identity, Number(declared), now());
      if (waitMs > 0) {
        res.set("retry-after", String(Math.max(1, Math.ceil(waitMs / 1000))));
        res.set("connection", "close");
        throw new OracleError("RATE_LIMITED", `${identity}'s upload budget is spent; retry in ${Math.ceil(waitMs / 1000)} s`, {
          details: { retryAfterMs: waitMs, bytesPerIdentity: auth.bytesPerIdentity, windowMs: auth.windowMs },
        });
      }
    }
    const referenced = identity !== undefined || allowlist.has(client) || allowlist.has(normalizeAddress(req.socket.remoteAddress ?? "")) || (hash !== undefined && deps.blobs.isRequestInput(hash));
    res.locals.referenced = referenced;
    if (referenced) return next();
    if (auth?.required === true) {
      res.set("connection", "close");
      throw new OracleError("AUTH_INVALID", `anonymous blob uploads are refused here: sign the request (${BLOB_AUTH_HEADER}) as a registered worker or a listed identity, or upload an on-chain request's input`);
    }
    // Anonymous uploads in progress: a global cap and one per client.
    const key = clientKey(client);
    const mine = uploadsByClient.get(key) ?? 0;
    if (uploads >= uploadLimits.maxConcurrent || mine >= uploadLimits.maxConcurrentPerClient) {
      res.set("retry-after", "1");
      res.set("connection", "close");
      throw new OracleError("RATE_LIMITED", "too many blob uploads in progress; retry in 1 s", {
        details: { retryAfterMs: 1000, maxConcurrent: uploadLimits.maxConcurrent, maxConcurrentPerClient: uploadLimits.maxConcurrentPerClient },
      });
    }
    uploads++;
    uploadsByClient.set(key, mine + 1);
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      uploads--;
      const left = (uploadsByClient.get(key) ?? 1) - 1;
      if (left <= 0) uploadsByClient.delete(key);
      else uploadsByClient.set(key, left);
    };
    res.once("finish", finished);
    res.once("close", finished);
    if (budget === undefined || quota === undefined) return next();
    const declared = req.headers["content-length"];
    if (declared === undefined) {
      res.set("connection", "close");
      throw new OracleError("MESSAGE_INVALID", "an anonymous blob upload must declare its Content-Length");
    }
    const length = Number(declared);
    const refuse = (waitMs: number, why: string, details: Record<string, unknown>) => {
      res.set("retry-after", String(Math.max(1, Math.ceil(waitMs / 1000))));
      res.set("connection", "close");
      throw new OracleError("RATE_LIMITED", `${why}; retry in ${Math.ceil(waitMs / 1000)} s`, { details: { retryAfterMs: waitMs, ...details } });
    };
    const stored = deps.blobs.storedBytes() + inflight;
    if (stored + length > quota.maxStoredBytes) {
      const next = deps.blobs.nextExpiry();
      refuse(Math.min(3_600_000, Math.max(1000, (next ?? now() + 60_000) - now())), "the blob store is full for anonymous uploads", { maxStoredBytes: quota.maxStoredBytes });
    }
    const waitMs = budget.take(clientKey(client), length, now());
    if (waitMs > 0) refuse(waitMs, "this client's upload budget is spent", { perClientBytes: quota.perClientBytes, windowMs: quota.windowMs });
    inflight += length;
    let released = false;
    const release = () => {
      if (!released) (released = true), (inflight -= length);
    };
    res.once("finish", release);
    res.once("close", release);
    next();
  };

  // The body is streamed to a temporary file and hashed as it arrives (relayer/blobs.ts putStream).
  const stream = { maxBytes: deps.maxBlobBytes, minBytesPerSecond: uploadLimits.minBytesPerSecond, rateWindowMs: uploadLimits.rateWindowMs };
  const storeUpload = async (req: Request, res: Response, expected: string | undefined) => {
    try {
      return await deps.blobs.putStream(req, stream, expected, { referenced: res.locals.referenced === true });
    } catch (error) {
      // The rest of a refused body is not read: close the connection once the answer is sent.
      if (!req.readableEnded) res.set("connection", "close");
      throw error;
    }
  };

  app.put("/blobs/:hash", admitUpload, async (req, res) => {
    const hash = await storeUpload(req, res, req.params.hash as string);
    res.status(201).json({ hash, uri: `${deps.publicUrl()}/blobs/${hash}` });
  });

  app.post("/blobs", admitUpload, async (req, res) => {
    const hash = await storeUpload(req, res, undefined);
    res.status(201).json({ hash, uri: `${deps.publicUrl()}/blobs/${hash}` });
  });

  app.get("/blobs/:hash", async (req, res) => {
    const bytes = await deps.blobs.get(req.params.hash);
    res.type("application/octet-stream").send(bytes);
  });

  deps.extend?.(app);

  app.use((_req, _res) => {
    throw new OracleError("REQUEST_NOT_FOUND", "no such route");
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = toOracleError(error);
    const status = STATUS[e.code] ?? 500;
    if (status === 503) deps.log.warn({ err: error }, "API dependency unavailable");
    else if (status >= 500) deps.log.error({ err: error }, "API error");
    if (res.headersSent) return void res.end();
    res.status(status).json({ error: e.toJSON() });
  });
  return app;
}

function toOracleError(error: unknown): OracleError {
  if (isError(error)) return error;
  const e = error as { type?: string; status?: number; limit?: number; length?: number } | null;
  if (e?.type === "entity.too.large") {
    return new OracleError("PAYLOAD_TOO_LARGE", `body exceeds the ${e.limit}-byte limit`, { details: { limit: e.limit, length: e.length } });
  }
  if (e?.status !== undefined && e.status < 500) return new OracleError("MESSAGE_INVALID", String((error as Error).message));
  return new OracleError("INTERNAL", "internal error", { cause: error });
}
