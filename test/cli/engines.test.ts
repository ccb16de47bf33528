/**
 * The Node version the README and package.json promise is the truth: every installed package's
 * `engines.node` accepts it, except the ones the README names as running only on the bundled Node 22
 * (whose EBADENGINE warning from `npm ci` on an older Node it explains).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers.js";

type Version = [number, number, number];

const parse = (v: string): Version => {
  const [a = 0, b = 0, c = 0] = v.replace(/^v/, "").split(".").map((n) => Number.parseInt(n, 10));
  return [a, b, c];
};
const cmp = (x: Version, y: Version) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2];

/** Whether `version` satisfies an npm range made of `||`, `>=`, `>`, `^`, `~`, `<`, `<=`, exact versions and X-ranges such as `20` (what engines fields use). */
export function satisfies(version: string, range: string): boolean {
  const v = parse(version);
  return range.split("||").some((alt) =>
    alt
      .trim()
      .replace(/([<>=^~]+)\s+/g, "$1")
      .split(/\s+/)
      .filter((c) => c !== "" && c !== "*" && c !== "x")
      .every((comp) => {
        const m = /^(>=|<=|>|<|\^|~|=)?(.+)$/.exec(comp)!;
        const op = m[1] ?? "=";
        const w = parse(m[2]!);
        const c = cmp(v, w);
        switch (op) {
          case ">=":
            return c >= 0;
          case ">":
            return c > 0;
          case "<=":
            return c <= 0;
          case "<":
            return c < 0;
          case "^":
            return c >= 0 && v[0] === w[0] && (w[0] !== 0 || v[1] === w[1]);
          case "~":
            return c >= 0 && v[0] === w[0] && v[1] === w[1];
          default: {
            // A bare partial version is an X-range, as npm reads it: "20" is 20.x.x, "20.1" is 20.1.x.
            const given = m[2]!.split(".").filter((p) => p !== "x" && p !== "X" && p !== "*").length;
            return v.slice(0, given).every((part, i) => part === w[i]);
          }
        }
      }),
  );
}

describe("engines", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } };
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean }> };
  const floor = /^>=\s*(\d+\.\d+(?:\.\d+)?)$/.exec(pkg.engines.node)?.[1];
  /** Run only on the Node 22 that `npm ci` installs (bin/oracle.js and every npm script use it); named in the README. */
  const BUNDLED_NODE_ONLY = ["@nomicfoundation/edr"];
  const bundledOnly = (name: string) => BUNDLED_NODE_ONLY.some((p) => name === p || name.startsWith(`${p}-`));

  it("package.json states a minimum Node version, the lockfile agrees, and the README names it", () => {
    expect(floor).toBeDefined();
    expect((lock.packages[""]!.engines as { node: string }).node).toBe(pkg.engines.node);
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).toContain(`Node ${floor!.replace(/\.0$/, "")}+`);
    for (const name of BUNDLED_NODE_ONLY) expect(readme).toContain(`EBADENGINE\` for \`${name}\``);
  });

  it("every installed package accepts that minimum, but for the ones that run only on the bundled Node 22", () => {
    const refused: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path === "") continue;
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (range === undefined) continue;
      const name = path.replace(/^.*node_modules\//, "");
      if (bundledOnly(name)) continue;
      if (!satisfies(floor!, range)) refused.push(`${name} (${range})`);
    }
    expect(refused).toEqual([]);
  });

  it("the range checker itself", () => {
    expect(satisfies("20.19.0", ">= 20.19.0")).toBe(true);
    expect(satisfies("20.18.0", ">= 20.19.0")).toBe(false);
    expect(satisfies("20.19.0", "^20.0.0 || ^22.0.0 || >=24.0.0")).toBe(true);
    expect(satisfies("21.1.0", "^20.0.0 || ^22.0.0 || >=24.0.0")).toBe(false);
    expect(satisfies("20.19.0", ">= 22")).toBe(false);
    expect(satisfies("20.19.0", "^14.21.3 || >=16")).toBe(true);
    expect(satisfies("20.19.0", ">=18 <21")).toBe(true);
    expect(satisfies("20.19.0", "20 || >=22")).toBe(true);
    expect(satisfies("21.1.0", "20 || >=22")).toBe(false);
    expect(satisfies("20.19.0", "20.18")).toBe(false);
    expect(satisfies("20.19.3", "20.19.x")).toBe(true);
  });
});
