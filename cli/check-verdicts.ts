/** The parts of `oracle model check`'s report (cli/check.ts): operator rows, onnxruntime and ZK verdicts, the report of a model the canonical parse refuses. */
import { compileOnnxToCircom as compileOnnx } from "../circuits/index.js";
import { reduceTerms, seededInput, type NodeLowering, type Program, type Step } from "../canonical/index.js";
import { decodeOnnx, DTYPES, numel, type Tensor } from "../protocol/index.js";
import type { OnnxFileInfo } from "./deploy.js";
import type { CheckOptions, CheckReport, OperatorRow, TierVerdict } from "./check.js";
import { DEFAULT_INLINE_OUTPUT_CAP } from "./common.js";

export { DEFAULT_INLINE_OUTPUT_CAP };

export const MiB = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
export const log2ceil = (n: number) => (n <= 1 ? 0 : Math.ceil(Math.log2(n)));

/** K of a reduce step: evaluated by the definition (canonical/element.ts) on zero operands. */
export function termCount(step: Step): number {
  const zeros = step.operandTypes.map((t) => new Float64Array(numel(t.shape)));
  return reduceTerms(step, (k) => zeros[k]!, 0).terms.length;
}

export function operatorRows(nodes: NodeLowering[]): OperatorRow[] {
  const rows = new Map<string, OperatorRow>();
  for (const n of nodes) {
    const key = `${n.domain}|${n.opType}`;
    let row = rows.get(key);
    if (row === undefined) {
      row = { opType: n.opType, domain: n.domain, nodes: 0, lowered: 0, folded: 0, unsupported: 0, blocked: 0, steps: 0, onchain: null, worstLeafGas: null, reasons: [] };
      rows.set(key, row);
    }
    row.nodes++;
    row[n.status]++;
    row.steps += n.steps;
    if (n.reason !== undefined && n.status === "unsupported" && !row.reasons.includes(n.reason)) row.reasons.push(n.reason);
  }
  for (const n of nodes) {
    const row = rows.get(`${n.domain}|${n.opType}`)!;
    if (n.status === "blocked" && row.reasons.length === 0 && n.reason !== undefined) row.reasons.push(`blocked: ${n.reason}`);
  }
  return [...rows.values()].sort((a, b) => b.unsupported - a.unsupported || b.nodes - a.nodes || a.opType.localeCompare(b.opType));
}

/** Steps whose output jumps with their operands (floor, ceil, float → int casts): honest runtimes may differ by O(1) at a tie. */
export function discontinuousSteps(program: Program): Step[] {
  return program.steps.filter((s) => s.op === "floor" || s.op === "ceil" || (s.op === "cast" && s.operandTypes[0]?.dtype === "float32" && s.output.dtype !== "float32"));
}

/** Per operator type that is not fully disputable: `Op ×n: reason` (refused by the lowering, else failing on-chain). */
export function blockerLines(operators: OperatorRow[]): string[] {
  const lines: string[] = [];
  for (const r of operators) {
    const name = `${r.domain === "" || r.domain === "ai.onnx" ? "" : `${r.domain}.`}${r.opType}`;
    if (r.unsupported > 0) lines.push(`${name} ×${r.unsupported}: ${r.reasons[0] ?? "refused"}`);
    else if (r.blocked > 0) lines.push(`${name} ×${r.blocked} blocked: ${r.reasons[0] ?? "reads a refused node's output"}`);
    else if (r.onchain !== null && r.onchain < r.nodes) lines.push(`${name} ×${r.nodes - r.onchain}: ${r.reasons.find((x) => x.startsWith("on-chain")) ?? "fails on-chain"}`);
  }
  return lines;
}

/**
 * A model the canonical parse refuses as a whole (a node with a subgraph: If, Loop, Scan): every node is
 * listed by type, the subgraph nodes as unsupported with the reason and the rest as blocked (not
 * analysed); OPTIMISTIC is refused, NONE decided by onnxruntime.
 */
export async function unparsedReport(file: string, bytes: Uint8Array, info: OnnxFileInfo, options: CheckOptions, reason: string): Promise<CheckReport> {
  const g = decodeOnnx(bytes).graph!;
  const GRAPH_TYPES = new Set([5, 10]); // AttributeProto GRAPH, GRAPHS
  const nodes: NodeLowering[] = (g.node ?? [])
    .filter((n) => !(n.opType === "Constant" && (n.domain ?? "") === ""))
    .map((n, index) => {
      const sub = (n.attribute ?? []).some((a) => GRAPH_TYPES.has(Number(a.type)));
      const node = `#${index} ${n.opType} -> ${(n.output ?? []).join(", ")}`;
      return { index, opType: n.opType ?? "", domain: n.domain ?? "", node, status: sub ? "unsupported" : "blocked", steps: 0, reason: sub ? `${n.opType} (node ${node}) has a subgraph: control flow cannot be proven in one step` : `not analysed: ${reason}` };
    });
  const counts = { total: nodes.length, lowered: 0, folded: 0, unsupported: 0, blocked: 0 };
  for (const n of nodes) counts[n.status]++;
  const operators = operatorRows(nodes);
  const shape = options.inputShape !== undefined && options.inputShape.every((d) => d > 0) ? [...options.inputShape] : info.input.shape.map((d) => (d > 0 ? d : 1));
  const isStatic = (options.inputShape !== undefined && options.inputShape.every((d) => d > 0)) || info.input.shape.every((d) => d > 0);
  const named = operators.filter((r) => r.unsupported > 0).map((r) => `${r.opType} ×${r.unsupported} (${r.reasons[0]})`);
  // A model with several inputs: each fed at its declared shape (dynamic axes 1); ZK never serves it.
  const several = info.inputs.length > 1 || info.outputs.length > 1;
  const extra = several ? info.inputs.slice(1).map((i) => ({ name: i.name, dtype: i.dtype, shape: i.shape.map((d) => (d > 0 ? d : 1)) })) : [];
  const none = await tryOnnxruntime(bytes, info.input.dtype, shape, extra);
  const severalReason = `the model has ${info.inputs.length} inputs (${info.inputs.map((i) => i.name).join(", ")}) and ${info.outputs.length} outputs (${info.outputs.map((o) => o.name).join(", ")}): a ZK proof checks one input tensor and one output, so such a model is served in NONE and OPTIMISTIC only`;
  return {
    file,
    modelHash: info.modelHash,
    bytes: info.bytes,
    opset: info.opset ?? null,
    input: { name: info.input.name, dtype: info.input.dtype, declared: info.input.shape, shape, static: isStatic, probe: !isStatic },
    output: { name: info.output.name, dtype: info.output.dtype, shape: info.output.shape, encodedBytes: null, inlineCap: options.maxInlineOutputBytes ?? DEFAULT_INLINE_OUTPUT_CAP },
    nodes: counts,
    operators,
    program: null,
    widestReduction: null,
    bisection: null,
    commitment: null,
    calibration: null,
    calibrationNote: `not calibrated: ${reason}`,
    speed: null,
    canonicalTerms: null,
    onchain: null,
    summary: { nodes: counts.total, disputable: { canonical: 0, onchain: null }, blockers: blockerLines(operators), widestReduction: null, rounds: null, worstLeafGas: null, tauOut: null, commitmentPeakRssMiB: null },
    verdicts: {
      NONE: { allowed: none.ok, reasons: [none.reason] },
      OPTIMISTIC: (() => {
        const reasons = [named.length > 0 ? `${counts.total} of ${counts.total} nodes are not disputable: ${named.join("; ")}` : `the model cannot be lowered: ${reason}`];
        return { allowed: false, reasons, blocking: reasons };
      })(),
      ZK: several ? { allowed: false, reasons: [severalReason] } : zkVerdict(bytes),
    },
    notes: [],
  };
}

export async function tryOnnxruntime(bytes: Uint8Array, dtype: Tensor["dtype"], shape: number[], others: { name: string; dtype: Tensor["dtype"]; shape: number[] }[] = []): Promise<{ ok: boolean; reason: string }> {
  try {
    const imported = (await import("onnxruntime-node")) as unknown as { default?: typeof import("onnxruntime-node") } & typeof import("onnxruntime-node");
    const ort = imported.default ?? imported;
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"] });
    try {
      // 64-bit integer inputs (token ids, sizes) get zeros; everything else a seeded tensor.
      const tensor = (dt: Tensor["dtype"], sh: number[]) => {
        const wide = dt === "int64" || dt === "uint64";
        const x = wide ? { dtype: dt, shape: sh, data: new DTYPES[dt].array(numel(sh)) } : seededInput(dt, sh, 1);
        return new ort.Tensor(x.dtype as "float32", x.data as Float32Array, x.shape);
      };
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = { [session.inputNames[0]!]: tensor(dtype, shape) };
      for (const o of others) feeds[o.name] = tensor(o.dtype, o.shape);
      await session.run(feeds);
      return { ok: true, reason: `onnxruntime-node runs it at [${shape}]${others.map((o) => `, ${o.name} [${o.shape}]`).join("")}` };
    } finally {
      await session.release();
    }
  } catch (error) {
    return { ok: false, reason: `onnxruntime-node cannot run it: ${(error as Error).message.split("\n")[0]}` };
  }
}

/** Whether the ZK compiler (circuits/compiler.ts: quantized int8 models) takes the model; it runs no circom here. */
export function zkVerdict(bytes: Uint8Array): TierVerdict {
  try {
    const r = compileOnnx(bytes);
    return { allowed: true, reasons: [`compiles to a circom circuit (input [${r.inputShape}], output [${r.outputShape}]); proving keys come from \`npm run zk:ready\``] };
  } catch (error) {
    return { allowed: false, reasons: [`the ZK compiler (circuits/compiler.ts) refuses it: ${(error as Error).message}`] };
  }
}
