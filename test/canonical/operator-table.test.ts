/**
 * The supported-operator table of docs/OPTIMISTIC.md is generated from the code (scripts/operator-table.ts):
 * this fails when the committed table differs from a fresh one (an operator added, a lowering or the
 * verifier's gas changed: run `npm run docs:operators`), when a supported operator has no sample, or when
 * a sample's step fails on-chain or needs more than the game's 2M gas per move.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { LEAF_GAS_LIMIT } from "../../cli/leaf-gas.js";
import { BEGIN, DOC, END, operatorRows, operatorTable, withTable } from "../../scripts/operator-table.js";

describe("supported-operator table", () => {
  it("test_operatorTable_committedTableIsCurrent_everyOperatorSampled_everyLeafUnderTwoMillionGas", async () => {
    const doc = readFileSync(DOC, "utf8");
    const { rows, missing } = await operatorRows();
    const table = await operatorTable({ rows, missing });
    expect(doc.includes(BEGIN) && doc.includes(END), `${DOC} has no generated table: run \`npm run docs:operators\``).toBe(true);
    expect(withTable(doc, table) === doc, `${DOC}: the supported-operator table is stale; run \`npm run docs:operators\``).toBe(true);
    expect(missing).toEqual([]);
    for (const r of rows) {
      expect(r.failures, r.op).toEqual([]);
      expect(r.gas, r.op).toBeLessThan(LEAF_GAS_LIMIT);
    }
  }, 300_000);

  it("test_withTable_replacesOnlyBetweenTheMarkers", () => {
    const doc = `# T\n\nbefore\n\n${BEGIN}\nold\n${END}\n\nafter\n`;
    expect(withTable(doc, `${BEGIN}\nnew\n${END}`)).toBe(`# T\n\nbefore\n\n${BEGIN}\nnew\n${END}\n\nafter\n`);
    expect(withTable("# T\n", `${BEGIN}\nx\n${END}`)).toBe(`# T\n\n## Supported operators\n\n${BEGIN}\nx\n${END}\n`);
  });
});
