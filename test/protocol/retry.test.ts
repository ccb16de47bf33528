/** protocol/retry.ts: the one retry loop of the worker's input fetch, the relayer's transactions and the challenger's blob reads. */
import { describe, expect, it } from "vitest";
import { retry } from "../../protocol/retry.js";

class Transient extends Error {}
class Final extends Error {}

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
    let tries = 0;
    const failure = retry(
      async () => {
        tries++;
        throw new Transient("down");
      },
      { attempts: 3, delayMs: () => 1, giveUp: (error, attempts) => new Final(`${(error as Error).message} after ${attempts}`) },
    );
    await expect(failure).rejects.toThrow(new Final("down after 3"));
    expect(tries).toBe(3);
  });

  it("does not retry an error retryIf refuses, nor past `until`, nor once the signal is aborted", async () => {
    let tries = 0;
    const refused = retry(
      async () => {
        tries++;
        throw new Final("404");
      },
      { attempts: 5, delayMs: () => 1, retryIf: (error) => !(error instanceof Final) },
    );
    await expect(refused).rejects.toBeInstanceOf(Final);
    expect(tries).toBe(1);

    tries = 0;
    const until = Date.now() + 250;
    const deadline = retry(
      async () => {
        tries++;
        throw new Transient("slow");
      },
      { attempts: 10, delayMs: () => 100, until },
    );
    await expect(deadline).rejects.toBeInstanceOf(Transient);
    // Waits of 100 ms: tries at ~0, ~100 and ~200 ms (2 on a slow machine); a wait ending past `until` is not begun.
    expect(tries).toBeGreaterThanOrEqual(2);
    expect(tries).toBeLessThanOrEqual(3);
    expect(Date.now()).toBeLessThan(until);

    const controller = new AbortController();
    tries = 0;
    const aborted = retry(
      async () => {
        tries++;
        controller.abort(new Final("shutting down"));
        throw new Transient("fetch failed");
      },
      { attempts: 5, delayMs: () => 1, signal: controller.signal },
    );
    await expect(aborted).rejects.toBeInstanceOf(Transient);
    expect(tries).toBe(1);
  });

  it("an abort during a wait is thrown when the wait ends, without another try", async () => {
    const controller = new AbortController();
    let tries = 0;
    const run = retry(
      async () => {
        tries++;
        setTimeout(() => controller.abort(new Final("shutting down")), 5);
        throw new Transient("fetch failed");
      },
      { attempts: 5, delayMs: () => 30, signal: controller.signal },
    );
    await expect(run).rejects.toThrow(new Final("shutting down"));
    expect(tries).toBe(1);
  });
});
