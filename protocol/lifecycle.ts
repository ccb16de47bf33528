import type { Logger } from "./logger.js";

/**
 * For a service's process entry point: on the first SIGTERM or SIGINT, runs every close step in
 * order (each even if an earlier one throws), then exits 0, or 1 if a step failed; a second
 * signal exits at once.
 */
export function closeOnSignals(log: Logger, steps: readonly (() => Promise<unknown> | unknown)[], done: string): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "closing: finishing work in flight");
    void (async () => {
      let code = 0;
      for (const step of steps) {
        try {
          await step();
        } catch (error) {
          log.error({ err: error }, "close step failed");
          code = 1;
        }
      }
      log.info(done);
      process.exit(code);
    })();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
