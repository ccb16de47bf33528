/** One retry loop for every service (input fetches, blob fetches, transactions). */
import { setTimeout as sleep } from "node:timers/promises";

export interface RetryOptions {
  /** Tries in all (1: no retry). */
  attempts: number;
  /** The wait, in ms, after failed try `attempt` (counted from 1, failing with `error`) before the next. */
  delayMs: (attempt: number, error: unknown) => number;
  /** Whether the error of try `attempt` is worth another try (default: every error). */
  retryIf?: (error: unknown, attempt: number) => boolean;
  /** No retry whose wait would end at or after this time (epoch ms). */
  until?: number;
  /** No retry once aborted; an abort during a wait ends the wait at once and is thrown (its reason). */
  signal?: AbortSignal;
  /** What to throw when giving up after `attempts` tries (default: the last error as it is). */
  giveUp?: (error: unknown, attempts: number) => unknown;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Calls `fn(attempt)` until it resolves or a failure is not to be retried (see RetryOptions). */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const delay = options.delayMs(attempt, error);
      const again =
        attempt < options.attempts &&
        options.signal?.aborted !== true &&
        (options.retryIf?.(error, attempt) ?? true) &&
        (options.until === undefined || Date.now() + delay < options.until);
      if (!again) throw options.giveUp === undefined ? error : options.giveUp(error, attempt);
      options.onRetry?.(error, attempt, delay);
      try {
        await sleep(delay, undefined, options.signal === undefined ? {} : { signal: options.signal });
      } catch {
        // Aborted during the wait: its reason is thrown just below.
      }
      options.signal?.throwIfAborted();
    }
  }
}
