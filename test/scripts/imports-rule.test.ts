/**
 * The import rule (scripts/imports-rule.ts): another module is reached only through its index, with the stated
 * exceptions; checked on sources written here, as check-imports.ts and fix-imports.ts see them.
 */
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { ROOT, moduleNames, violationsIn } from "../../scripts/imports-rule.js";

const modules = moduleNames();
const violations = (file: string, code: string) => violationsIn(ts.createSourceFile(join(ROOT, file), code, ts.ScriptTarget.Latest, true), modules).map((v) => `${v.line} ${v.target}`);

describe("scripts/imports-rule.ts", () => {
  it("test_moduleNames_foldersWithAnIndex", () => {
    expect(modules).toEqual(expect.arrayContaining(["canonical", "protocol", "queue", "relayer", "sdk", "worker"]));
    expect(modules).not.toContain("stack");
    expect(modules).not.toContain("cli");
  });

  it("test_violationsIn_deepImportFromOutside_reported_indexNot", () => {
    const code = [
      'import { oracleDomain } from "../protocol/eip712.js";',
      'import { Tier } from "../protocol/index.js";',
      'export { JobQueue } from "../queue/types.js";',
      'import type { Hex } from "../protocol/types.js";',
      'const later = await import("../worker/main.js");',
    ].join("\n");
    expect(violations("cli/x.ts", code)).toEqual(["1 protocol/eip712.ts", "3 queue/types.ts", "4 protocol/types.ts"]);
  });

  it("test_violationsIn_insideTheModule_andItsOwnTests_allowed", () => {
    expect(violations("protocol/x.ts", 'import { a } from "./eip712.js";')).toEqual([]);
    expect(violations("test/protocol/x.test.ts", 'import { a } from "../../protocol/eip712.js";')).toEqual([]);
    expect(violations("test/worker/x.test.ts", 'import { a } from "../../protocol/eip712.js";')).toEqual(["1 protocol/eip712.ts"]);
  });

  it("test_violationsIn_statedExceptions_allowed", () => {
    // The SDK package compiles only the protocol files it imports; the fraud-game files stay out of protocol/index.ts.
    expect(violations("sdk/x.ts", 'import { a } from "../protocol/hex.js";')).toEqual([]);
    expect(violations("worker/x.ts", 'import { GameWorker } from "../protocol/fraud-game-client.js";')).toEqual([]);
    expect(violations("sdk/x.ts", 'import { a } from "../worker/config.js";')).toEqual(["1 worker/config.ts"]);
    // A service's entry point never goes through an index (loaded early, it would not start).
    expect(violations("cli/x.ts", 'import { startChallenger } from "../challenger/main.js";')).toEqual([]);
  });
});
