/**
 * Codemod for the import rule (scripts/imports-rule.ts): rewrites every import that reaches past a module's index
 * to import from the index instead, mechanically and idempotently (a second run changes nothing).
 *
 * - A name the index does not export yet is added to it, in one `export { … } from "./file.js"` line per file
 *   (`export type` for types), appended to the index in sorted order.
 * - An import is left alone, and listed, when the index exports the same name for another declaration, or when
 *   it is a default, namespace or side-effect import, or `export * from` an internal file (rewrite those by hand).
 * - In each file, the rewritten named imports from one index are merged into one declaration (`type` kept per name).
 *
 * Usage: npx tsx scripts/fix-imports.ts [--dry-run]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import ts from "typescript";
import { ROOT, moduleNames, projectFiles, toPosix, violationsIn, type Violation } from "./imports-rule.js";

const dryRun = process.argv.includes("--dry-run");
/** Merged imports longer than this are written one name per line. */
const MAX_LINE = 160;
const { files, options } = projectFiles();
const program = ts.createProgram(files, { ...options, noEmit: true });
const checker = program.getTypeChecker();
const modules = moduleNames();

/** The declaration an export resolves to (through re-exports and aliases). */
function resolved(symbol: ts.Symbol): ts.Symbol {
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
}

function exportsOf(file: string): Map<string, ts.Symbol> {
  const source = program.getSourceFile(join(ROOT, file));
  const symbol = source === undefined ? undefined : checker.getSymbolAtLocation(source);
  return new Map((symbol === undefined ? [] : checker.getExportsOfModule(symbol)).map((s) => [s.getName(), s]));
}

const exportCache = new Map<string, Map<string, ts.Symbol>>();
const exportsCached = (file: string) => exportCache.get(file) ?? exportCache.set(file, exportsOf(file)).get(file)!;

/** The names a declaration takes from its module, or why it cannot be rewritten. */
function namesOf(node: ts.ImportDeclaration | ts.ExportDeclaration): string[] | string {
  if (ts.isImportDeclaration(node)) {
    const clause = node.importClause;
    if (clause === undefined) return "a side-effect import";
    if (clause.name !== undefined) return "a default import";
    if (clause.namedBindings === undefined || ts.isNamespaceImport(clause.namedBindings)) return "a namespace import";
    return clause.namedBindings.elements.map((e) => (e.propertyName ?? e.name).text);
  }
  if (node.exportClause === undefined || !ts.isNamedExports(node.exportClause)) return "`export *` from an internal file";
  return node.exportClause.elements.map((e) => (e.propertyName ?? e.name).text);
}

/** Per index: per internal file, the names to add (value or type). */
const additions = new Map<string, Map<string, Map<string, "value" | "type">>>();
const skipped: string[] = [];
const rewrites = new Map<string, Violation[]>();

for (const file of files) {
  const source = program.getSourceFile(file)!;
  for (const v of violationsIn(source, modules)) {
    const names = namesOf(v.node);
    if (typeof names === "string") {
      skipped.push(`${v.file}:${v.line}: ${names} of ${v.specifier}`);
      continue;
    }
    const index = `${v.module}/index.ts`;
    const fromTarget = exportsCached(v.target);
    const fromIndex = exportsCached(index);
    const missing: [string, "value" | "type"][] = [];
    let conflict: string | undefined;
    for (const name of names) {
      const own = fromTarget.get(name);
      if (own === undefined) {
        conflict = `${name} is not exported by ${v.target}`;
        break;
      }
      const viaIndex = fromIndex.get(name);
      if (viaIndex === undefined) missing.push([name, resolved(own).flags & ts.SymbolFlags.Value ? "value" : "type"]);
      else if (resolved(viaIndex) !== resolved(own)) {
        conflict = `${index} exports another ${name}`;
        break;
      }
    }
    if (conflict !== undefined) {
      skipped.push(`${v.file}:${v.line}: ${conflict}`);
      continue;
    }
    const byFile = additions.get(index) ?? additions.set(index, new Map()).get(index)!;
    const internal = `./${relative(v.module, v.target).split("\\").join("/").replace(/\.ts$/, ".js")}`;
    for (const [name, kind] of missing) {
      const names = byFile.get(internal) ?? byFile.set(internal, new Map()).get(internal)!;
      names.set(name, kind);
    }
    (rewrites.get(v.file) ?? rewrites.set(v.file, []).get(v.file)!).push(v);
  }
}

/** The index's specifier as seen from `file` ("../protocol/index.js"). */
function indexSpecifier(file: string, module: string): string {
  const spec = toPosix(relative(dirname(join(ROOT, file)), join(ROOT, module, "index.js")));
  return spec.startsWith(".") ? spec : `./${spec}`;
}

/** One named import's text, `type` kept when its declaration was type-only. */
function elementTexts(node: ts.ImportDeclaration, source: ts.SourceFile): string[] {
  const bindings = node.importClause!.namedBindings as ts.NamedImports;
  const typeOnly = node.importClause!.isTypeOnly;
  return bindings.elements.map((e) => (typeOnly && !e.isTypeOnly ? `type ${e.getText(source)}` : e.getText(source)));
}

let changedFiles = 0;
for (const [file, violations] of [...rewrites.entries()].sort(([a], [b]) => a.localeCompare(b))) {
  const source = program.getSourceFile(join(ROOT, file))!;
  const text = source.getFullText();
  const edits: { start: number; end: number; text: string }[] = [];
  // Named imports (not re-exports) from one index merge into the first of them.
  const byModule = new Map<string, ts.ImportDeclaration[]>();
  for (const v of violations) {
    const spec = indexSpecifier(file, v.module);
    if (ts.isImportDeclaration(v.node)) (byModule.get(v.module) ?? byModule.set(v.module, []).get(v.module)!).push(v.node);
    else edits.push({ start: v.node.moduleSpecifier!.getStart(source), end: v.node.moduleSpecifier!.getEnd(), text: JSON.stringify(spec) });
  }
  for (const [module, nodes] of byModule) {
    const spec = indexSpecifier(file, module);
    // An existing import from the index joins the merge, so a file ends with one import per index.
    const existing = source.statements.filter(
      (s): s is ts.ImportDeclaration =>
        ts.isImportDeclaration(s) && ts.isStringLiteral(s.moduleSpecifier) && s.moduleSpecifier.text === spec && s.importClause?.name === undefined && s.importClause?.namedBindings !== undefined && ts.isNamedImports(s.importClause.namedBindings),
    );
    const all = [...existing, ...nodes].sort((a, b) => a.getStart(source) - b.getStart(source));
    const elements: string[] = [];
    for (const n of all) for (const e of elementTexts(n, source)) if (!elements.includes(e)) elements.push(e);
    const allTypes = elements.every((e) => e.startsWith("type "));
    const list = allTypes ? elements.map((e) => e.slice(5)) : elements;
    const head = `import ${allTypes ? "type " : ""}`;
    const oneLine = `${head}{ ${list.join(", ")} } from ${JSON.stringify(spec)};`;
    // A long list goes one name per line, as the repository writes long imports.
    const merged = oneLine.length <= MAX_LINE ? oneLine : `${head}{\n${list.map((e) => `  ${e},`).join("\n")}\n} from ${JSON.stringify(spec)};`;
    edits.push({ start: all[0]!.getStart(source), end: all[0]!.getEnd(), text: merged });
    for (const n of all.slice(1)) {
      let end = n.getEnd();
      if (text[end] === "\n") end++;
      edits.push({ start: n.getStart(source), end, text: "" });
    }
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  if (out !== text) {
    changedFiles++;
    if (!dryRun) writeFileSync(join(ROOT, file), out);
  }
}

for (const [index, byFile] of [...additions.entries()].sort(([a], [b]) => a.localeCompare(b))) {
  const lines: string[] = [];
  for (const [internal, names] of [...byFile.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const values = [...names].filter(([, k]) => k === "value").map(([n]) => n).sort();
    const types = [...names].filter(([, k]) => k === "type").map(([n]) => n).sort();
    if (values.length > 0) lines.push(`export { ${values.join(", ")} } from "${internal}";`);
    if (types.length > 0) lines.push(`export type { ${types.join(", ")} } from "${internal}";`);
  }
  if (lines.length === 0) continue;
  const path = join(ROOT, index);
  const text = readFileSync(path, "utf8");
  if (!dryRun) writeFileSync(path, `${text.trimEnd()}\n${lines.join("\n")}\n`);
  console.log(`${index}: ${dryRun ? "would add" : "added"} ${lines.length} export lines`);
  if (dryRun) for (const l of lines) console.log(`  ${l}`);
}

console.log(`${dryRun ? "would rewrite" : "rewrote"} imports in ${changedFiles} files`);
if (skipped.length > 0) {
  console.log(`\nleft alone (${skipped.length}; rewrite by hand, or name the file in DEEP_IMPORTS_ALLOWED):`);
  for (const s of skipped) console.log(`  ${s}`);
}
