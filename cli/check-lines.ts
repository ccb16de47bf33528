/** The human lines of `oracle model check`'s report (cli/check.ts builds the report). */
import type { CheckReport } from "./check.js";

/** Human lines of a report. */
export function checkLines(r: CheckReport): string[] {
  const lines: string[] = [];
  const dims = (d: Array<number | string>) => `[${d.join(",")}]`;
  lines.push(`model      ${r.modelHash}  ${r.file} (${r.bytes} bytes, opset ${r.opset ?? "?"})`);
  lines.push(`input      ${r.input.name}: ${r.input.dtype}${dims(r.input.declared)}${r.input.probe ? `  (not static; checked at [${r.input.shape}])` : r.input.declared.join() === r.input.shape.join() ? "" : `  at [${r.input.shape}]`}`);
  lines.push(`output     ${r.output.name}: ${r.output.dtype}${dims(r.output.shape)}${r.output.encodedBytes === null ? "" : `  (${r.output.encodedBytes} bytes encoded; inline cap ${r.output.inlineCap})`}`);
  lines.push(`nodes      ${r.nodes.total}: ${r.nodes.lowered} lowered, ${r.nodes.folded} folded (shape arithmetic), ${r.nodes.unsupported} unsupported, ${r.nodes.blocked} blocked`);
  lines.push("", "operator                 nodes  lowered  folded  refused  steps  on-chain  worst leaf gas");
  for (const o of r.operators) {
    const name = `${o.domain === "" || o.domain === "ai.onnx" ? "" : `${o.domain}.`}${o.opType}`;
    lines.push(
      `${name.padEnd(24)} ${String(o.nodes).padStart(5)}  ${String(o.lowered).padStart(7)}  ${String(o.folded).padStart(6)}  ${String(o.unsupported + o.blocked).padStart(7)}  ${String(o.steps).padStart(5)}  ${String(o.onchain ?? "-").padStart(8)}  ${String(o.worstLeafGas ?? "-").padStart(14)}`,
    );
    for (const reason of o.reasons.slice(0, 2)) lines.push(`    ${reason}`);
  }
  lines.push("");
  if (r.program) lines.push(`program    ${r.program.steps} steps (${r.program.map} map, ${r.program.move} move, ${r.program.reduce} reduce)`);
  if (r.widestReduction) lines.push(`widest     K = ${r.widestReduction.K} (step ${r.widestReduction.step}, ${r.widestReduction.op}, node ${r.widestReduction.node})`);
  if (r.bisection) lines.push(`bisection  depth ≤ ${r.bisection.depth} = manifest ${r.bisection.manifestDepth} + header 1 + chunks ${r.bisection.chunkDepth} + element 1 + partial sums ${r.bisection.partialDepth} (step ${r.bisection.worstStep})`);
  if (r.onchain) {
    const w = r.onchain.worst;
    lines.push(`on-chain   ${r.onchain.disputable} of ${r.onchain.steps.length} steps proven through StepVerifier (${r.onchain.ms} ms); worst leaf ${w?.leafGas ?? 0} gas (step ${w?.step}, ${w?.opType} ${w?.op}), limit ${r.onchain.gasLimit}`);
    for (const f of r.onchain.failures.slice(0, 5)) lines.push(`    step ${f.step} ${f.op} (${f.node}): ${f.reason}`);
  }
  lines.push(`summary    ${r.summary.nodes} nodes, disputable ${r.summary.disputable.canonical} canonical / ${r.summary.disputable.onchain ?? "-"} on-chain; widest K ${r.summary.widestReduction ?? "-"}; rounds ${r.summary.rounds ?? "-"}; worst leaf gas ${r.summary.worstLeafGas ?? "-"}; τ_out ${r.summary.tauOut === null ? "-" : `abs ${r.summary.tauOut.abs} rel ${r.summary.tauOut.rel}`}; commitment peak RSS ${r.summary.commitmentPeakRssMiB ?? "-"} MiB`);
  for (const b of r.summary.blockers) lines.push(`    blocker: ${b}`);
  if (r.commitment) lines.push(`commitment ${r.commitment.commitment} at ${r.commitment.precision} (${r.commitment.ms} ms; RSS ${r.commitment.rssBeforeMiB} → ${r.commitment.rssAfterMiB} MiB, high-water mark ${r.commitment.peakRssMiB} MiB, raised ${r.commitment.peakDeltaMiB} MiB by building)`);
  const c = r.calibration;
  if (c) {
    lines.push(`τ_out      abs ${c.tauOut.abs} rel ${c.tauOut.rel}  (${c.tauOut.absBits}, ${c.tauOut.relBits}) = ${c.margin} × worst abs ${c.worst.abs} / rel ${c.worst.rel} over ${c.runtimes.length} runtimes × ${c.inputs.length} inputs, against canonical ${c.precision}`);
    lines.push(`τ_major    abs ${c.tauMajor.abs} rel ${c.tauMajor.rel}  (${c.tauMajor.absBits}, ${c.tauMajor.relBits}) = ${c.majorFactor} × τ_out`);
    if (c.precision === "fp32") lines.push(`tf32       canonical tf32 vs fp32: abs ${c.tf32.abs} rel ${c.tf32.rel}${c.tf32.withinTauOut ? " (within τ_out)" : " (beyond τ_out)"}`);
    lines.push(`speed      canonical ${c.speed.canonicalMs.toFixed(1)} ms vs onnxruntime ${c.speed.onnxruntimeMs.toFixed(2)} ms (all, 1 thread): ${c.speed.ratio.toFixed(0)}x`);
    for (const s of c.skipped) lines.push(`           skipped ${s.runtime}: ${s.reason}`);
  } else if (r.calibrationNote) {
    lines.push(`τ_out      ${r.calibrationNote}`);
  }
  lines.push("");
  for (const tier of ["NONE", "OPTIMISTIC", "ZK"] as const) {
    const v = r.verdicts[tier];
    lines.push(`${tier.padEnd(10)} ${v.allowed ? "yes" : "NO"}`);
    for (const reason of v.reasons) lines.push(`    ${reason}`);
  }
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines;
}
