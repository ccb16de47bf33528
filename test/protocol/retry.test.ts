/** protocol/retry.ts: the one retry loop of the worker's input fetch, the relayer's transactions and the challenger's blob reads. */
import { describe, expect, it } from "vitest";
import { retry } from "../../protocol/retry.js";

class Transient extends Error {}
class Final extends Error {}

/** A function that always fails with `make(attempt)`, counting its calls. */
function failing(make: (attempt: number) => Error): { fn: (attempt: number) => Promise<never>; tries: () => number } {
  let tries = 0;
  return {
    fn: async (attempt) => {
      tries++;
      throw make(attempt);
    },
    tries: () => tries,
  };
}

describe("retry", () => {
  it("tries until success, waiting delayMs(attempt) between tries, and resolves with the result", async () => {
    const tries: number[] = [];
    const waits: number[] = [];
    const started = Date.now();
    const value = await retry(
      async (attempt) => {
        tries.push(attempt);
        if (attempt < 3) throw new Transient(`try ${attempt}`);
        return "done";
      },
      { attempts: 5, delayMs: (attempt) => 20 * attempt, onRetry: (_error, _attempt, ms) => waits.push(ms) },
    );
    expect(value).toBe("done");
    expect(tries).toEqual([1, 2, 3]);
    expect(waits).toEqual([20, 40]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
  });

  it("gives up after `attempts` tries with giveUp's error, told how many tries were made", async () => {
    const down = failing(() => new Transient("down"));
    const failure = retry(down.fn, { attempts: 3, delayMs: () => 1, giveUp: (error, attempts) => new Final(`${(error as Error).message} after ${attempts}`) });
    await expect(failure).rejects.toThrow(new Final("down after 3"));
    expect(down.tries()).toBe(3);
  });

  it("does not retry an error retryIf refuses, nor past `until`, nor once the signal is aborted", async () => {
    const notFound = failing(() => new Final("404"));
    await expect(retry(notFound.fn, { attempts: 5, delayMs: () => 1, retryIf: (error) => !(error instanceof Final) })).rejects.toBeInstanceOf(Final);
    expect(notFound.tries()).toBe(1);

    const until = Date.now() + 250;
    const slow = failing(() => new Transient("slow"));
    await expect(retry(slow.fn, { attempts: 10, delayMs: () => 100, until })).rejects.toBeInstanceOf(Transient);
    // Waits of 100 ms: tries at ~0, ~100 and ~200 ms (2 on a slow machine); a wait ending past `until` is not begun.
    expect(slow.tries()).toBeGreaterThanOrEqual(2);
    expect(slow.tries()).toBeLessThanOrEqual(3);
    expect(Date.now()).toBeLessThan(until);

    const controller = new AbortController();
    const shutdown = failing(() => {
      controller.abort(new Final("shutting down"));
      return new Transient("fetch failed");
    });
    await expect(retry(shutdown.fn, { attempts: 5, delayMs: () => 1, signal: controller.signal })).rejects.toBeInstanceOf(Transient);
    expect(shutdown.tries()).toBe(1);
  });

  it("an abort during a wait ends the wait at once and is thrown, without another try", async () => {
    const controller = new AbortController();
    const fetching = failing(() => {
      setTimeout(() => controller.abort(new Final("shutting down")), 5);
      return new Transient("fetch failed");
    });
    const started = Date.now();
    await expect(retry(fetching.fn, { attempts: 5, delayMs: () => 30_000, signal: controller.signal })).rejects.toThrow(new Final("shutting down"));
    expect(fetching.tries()).toBe(1);
    // The 30 s wait was cut short by the abort (a close must not wait out a backoff).
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
