/** The API's per-client rate limit (config `api.rateLimit`). */
export interface RateLimitOptions {
  /** Average requests per second per client; 0 disables the limit. */
  perSecond: number;
  /** Bucket size: requests a client may make at once. */
  burst: number;
  /** Client addresses never limited. */
  exempt?: readonly string[];
  /** Most clients tracked; the least recently seen is forgotten first (its bucket starts full again). */
  maxClients?: number;
}

/**
 * Token buckets per key, least recently used first in the map (a Map keeps insertion order and a
 * key is re-inserted on every use), so memory is bounded by `maxClients` whatever the traffic.
 * Kept custom rather than express-rate-limit: that counts fixed windows on its own clock, while the
 * relayer needs a refilling bucket with a burst, the API's injectable clock, the wait in Retry-After,
 * and one limiter for three keys (address, signed identity, token verifications) inside one middleware.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly maxClients: number;

  constructor(private readonly options: RateLimitOptions) {
    this.maxClients = options.maxClients ?? 10_000;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `key`; returns 0 when allowed, else the ms until a token is available. */
  take(key: string, now: number): number {
    const { perSecond, burst } = this.options;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxClients) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      bucket = { tokens: burst, at: now };
    } else {
      this.buckets.delete(key);
      bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * perSecond);
      bucket.at = now;
    }
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / perSecond) * 1000);
  }
}
