/**
 * Checks the import rule (scripts/imports-rule.ts): every import from outside a module goes through its index.
 * Exits 1 listing each offending import; `npx tsx scripts/fix-imports.ts` rewrites them.
 */
import { projectViolations } from "./imports-rule.js";

const violations = projectViolations();
for (const v of violations) console.error(`${v.file}:${v.line}: imports ${v.specifier} (${v.target}): go through ${v.module}/index.ts`);
if (violations.length > 0) {
  console.error(`\n${violations.length} imports reach past a module's index; \`npx tsx scripts/fix-imports.ts\` rewrites them`);
  process.exit(1);
}
console.log("imports: every module reached through its index");
