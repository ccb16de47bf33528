/**
 * The import rule (docs/ARCHITECTURE.md, "Modules"): each top-level folder with an index.ts is a module whose
 * index is its one public face. A file outside module M imports M only through M/index.ts; files inside M
 * import each other freely, and M's own tests (test/M/…) may reach its internals (white-box tests).
 * Dynamic `import()` and the services' entry points (`<module>/main.ts`, which start themselves when loaded) are exempt.
 *
 * scripts/check-imports.ts reports every import that breaks the rule (`npm run typecheck` runs it);
 * scripts/fix-imports.ts rewrites them mechanically.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

export const ROOT = resolve(import.meta.dirname, "..");

/**
 * Files a module keeps out of its index on purpose, with the reason: importing them directly is allowed.
 * Each would close an import cycle between modules if its index re-exported it.
 */
export const DEEP_IMPORTS_ALLOWED: Record<string, string> = {
  "protocol/fraud-game-worker.ts": "imports canonical/ and worker/: in protocol/index.ts it would close a cycle protocol -> worker -> protocol",
  "protocol/fraud-game-challenger.ts": "imports canonical/: in protocol/index.ts it would close a cycle protocol -> canonical -> protocol",
  "protocol/fraud-game-client.ts": "re-exports fraud-game-worker.ts and fraud-game-challenger.ts (above)",
};

/**
 * Modules allowed to import another module's files directly, with the reason (importer module -> target modules).
 */
export const DEEP_IMPORTERS_ALLOWED: Record<string, { targets: string[]; reason: string }> = {
  sdk: {
    targets: ["protocol"],
    reason: "the published SDK package (packages/sdk) compiles only the protocol files it imports, which need ethers alone; protocol/index.ts would pull in zod, pino, prom-client and onnx",
  },
};

/** The modules: top-level folders with an index.ts, sorted. */
export function moduleNames(root = ROOT): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith(".") && d.name !== "node_modules" && existsSync(join(root, d.name, "index.ts")))
    .map((d) => d.name)
    .sort();
}

/** The TypeScript files the project's tsconfig includes, generated bindings (types/) left out, sorted. */
export function projectFiles(root = ROOT): { files: string[]; options: ts.CompilerOptions } {
  const configPath = join(root, "tsconfig.json");
  const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(configPath, ts.sys.readFile).config, ts.sys, root);
  const files = parsed.fileNames.filter((f) => !toPosix(relative(root, f)).startsWith("types/") && !f.endsWith(".d.ts")).sort();
  return { files, options: parsed.options };
}

export function toPosix(p: string): string {
  return p.split(sep).join("/");
}

/** The repository-relative .ts file a relative specifier names ("../protocol/tensor.js" -> "protocol/tensor.ts"). */
export function resolveSpecifier(importer: string, specifier: string, root = ROOT): string {
  let target = resolve(dirname(importer), specifier);
  if (target.endsWith(".js")) target = target.slice(0, -3) + ".ts";
  else if (!target.endsWith(".ts") && existsSync(join(target, "index.ts"))) target = join(target, "index.ts");
  return toPosix(relative(root, target));
}

export interface Violation {
  /** Repository-relative importer. */
  file: string;
  line: number;
  specifier: string;
  /** Repository-relative file the specifier names, and its module. */
  target: string;
  module: string;
  node: ts.ImportDeclaration | ts.ExportDeclaration;
}

/** Whether `importer` (repository-relative) may import `target` (repository-relative) of `module`. */
export function allowed(importer: string, target: string, module: string): boolean {
  if (target === `${module}/index.ts`) return true;
  // A service's entry point starts itself when loaded with its own path in process.argv (cli/services.ts
  // runEntryPoint sets argv, then imports it): re-exported from an index, it would load early and never start.
  if (target === `${module}/main.ts`) return true;
  if (importer.startsWith(`${module}/`) || importer.startsWith(`test/${module}/`)) return true;
  if (DEEP_IMPORTERS_ALLOWED[importer.split("/")[0]!]?.targets.includes(module) === true) return true;
  return DEEP_IMPORTS_ALLOWED[target] !== undefined;
}

/** Every static import or re-export in `source` that reaches past a module's index. */
export function violationsIn(source: ts.SourceFile, modules: readonly string[], root = ROOT): Violation[] {
  const file = toPosix(relative(root, source.fileName));
  const out: Violation[] = [];
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) && !ts.isExportDeclaration(statement)) continue;
    const spec = statement.moduleSpecifier;
    if (spec === undefined || !ts.isStringLiteral(spec) || !spec.text.startsWith(".")) continue;
    const target = resolveSpecifier(source.fileName, spec.text, root);
    const module = target.split("/")[0]!;
    if (!modules.includes(module) || allowed(file, target, module)) continue;
    out.push({ file, line: source.getLineAndCharacterOfPosition(spec.getStart(source)).line + 1, specifier: spec.text, target, module, node: statement });
  }
  return out;
}

/** Every violation in the project, in file order. */
export function projectViolations(root = ROOT): Violation[] {
  const modules = moduleNames(root);
  return projectFiles(root).files.flatMap((f) => violationsIn(ts.createSourceFile(f, readFileSync(f, "utf8"), ts.ScriptTarget.Latest, true), modules, root));
}
