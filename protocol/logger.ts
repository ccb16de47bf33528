import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger } from "pino";

/** Keys whose values never reach a log line. */
export const REDACTED_KEYS = ["privateKey", "*.privateKey", "signerKey", "*.signerKey", "mnemonic", "*.mnemonic", "password", "*.password", "authorization"];

/**
 * The root logger of a service. Layers take `logger.child({ layer })`, and every line about one
 * request carries `requestId`. LOG_LEVEL overrides the level; "silent" turns logging off.
 */
export function createLogger(service: string, options: LoggerOptions = {}): Logger {
  return pino({
    ...options,
    name: service,
    level: process.env.LOG_LEVEL ?? options.level ?? "info",
    redact: { paths: REDACTED_KEYS, censor: "[redacted]" },
  });
}
