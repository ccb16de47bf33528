/**
 * Typed configuration: each service declares one zod schema (every setting with a description and a
 * default); `loadConfig` merges a config object with environment overrides, validates once at
 * start-up and reports every problem together.
 */
import { z } from "zod";
import { OracleError } from "./errors.js";

/**
 * Retired settings (keys that have no effect), by dotted path (`policy.fraction`), each with why: a
 * config that still sets one is refused (CONFIG_INVALID) rather than silently ignored, so an operator who
 * relied on it learns at start-up that it is gone.
 */
export type RetiredKeys = Readonly<Record<string, string>>;

function retiredProblems(input: unknown, retired: RetiredKeys): string[] {
  const problems: string[] = [];
  for (const [path, why] of Object.entries(retired)) {
    let at: unknown = input;
    for (const part of path.split(".")) at = typeof at === "object" && at !== null ? (at as Record<string, unknown>)[part] : undefined;
    if (at !== undefined) problems.push(`${path}: no longer supported (${why}); remove it`);
  }
  return problems;
}

export function loadConfig<S extends z.ZodType>(schema: S, input: unknown, retired: RetiredKeys = {}): z.infer<S> {
  const parsed = schema.safeParse(input);
  const gone = retiredProblems(input, retired);
  if (!parsed.success || gone.length > 0) {
    const problems = [...gone, ...(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`))];
    throw new OracleError("CONFIG_INVALID", `invalid configuration:\n  - ${problems.join("\n  - ")}`, { details: { problems } });
  }
  return parsed.data;
}

/**
 * Environment overrides: PREFIX_SOME_KEY=value sets `someKey` (top level only; nested objects are
 * given as JSON). Numbers and booleans are coerced by the schema (z.coerce).
 */
export function envOverrides(prefix: string, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const p = `${prefix}_`;
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(p) || value === undefined) continue;
    const camel = key
      .slice(p.length)
      .toLowerCase()
      .replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    out[camel] = value.startsWith("{") || value.startsWith("[") ? JSON.parse(value) : value;
  }
  return out;
}

/** Copies a config for logging with secrets replaced. */
export function redactConfig<T extends Record<string, unknown>>(config: T, secretKeys: readonly string[]): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...config };
  for (const k of secretKeys) if (copy[k] !== undefined) copy[k] = "[redacted]";
  return copy;
}
