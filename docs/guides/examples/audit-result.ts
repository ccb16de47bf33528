/**
 * Audits one OPTIMISTIC result the way the challenger daemon does on the FraudGame (docs/guides/challenger.md):
 * fetches the request's input and the worker's signed output, re-runs the model canonically from its
 * ONNX file (challenger/canonical-audit.ts) at the precision and τ_out of the model's registered
 * canonical terms, and says whether the output is within τ_out (honest) or beyond it (a dispute the
 * challenger wins). Results publish no trace: nothing but the output is needed.
 *
 *   npm exec -- tsx docs/guides/examples/audit-result.ts <requestId>
 */
import { JsonRpcProvider } from "ethers";
import { tauFromBits, PRECISIONS, type Precision } from "../../../canonical/index.js";
import { auditResult } from "../../../challenger/index.js";
import { decodeTensor, fetchBytes, hashEncoded, IInferenceOracle__factory, IModelRegistry__factory, isBytes32, querySubmitted } from "../../../protocol/index.js";
import { fail, readDeployment } from "./common.js";

const USAGE = "audit-result.ts <requestId>";
const requestId = process.argv[2];
if (requestId === undefined || !isBytes32(requestId)) fail(requestId === undefined ? "no request id" : `${requestId} is not a request id (0x + 64 hex digits)`, USAGE);
if (process.argv.length > 3) fail(`unexpected argument ${process.argv[3]}`, USAGE);
const deployment = readDeployment();
const provider = new JsonRpcProvider(deployment.rpcUrl);
const oracle = IInferenceOracle__factory.connect(deployment.oracle, provider);
const registry = IModelRegistry__factory.connect(deployment.registry, provider);
const short = (h: string) => `${h.slice(0, 6)}…${h.slice(-4)}`;

// The request (its input) and the result under audit (its output hash), from the oracle's events.
const [requested] = await oracle.queryFilter(oracle.filters.InferenceRequested(requestId), deployment.deployBlock);
// Results come one ResultBatchSubmitted per batch; querySubmitted picks this request's records out of them.
const submitted = await querySubmitted(provider, deployment.oracle, { fromBlock: deployment.deployBlock, requestId });
if (requested === undefined || submitted.length === 0) fail(`no submitted result for ${requestId} on the oracle ${deployment.oracle} (not yet submitted? \`npm run oracle -- status ${requestId}\`)`);
const { outputHash, worker } = submitted[submitted.length - 1]!;
const { modelHash, inputHash, input } = requested.args;
console.log(`request ${short(requestId)}: model ${short(modelHash)}, output ${short(outputHash)} by operator ${worker}`);

/** A blob of the relayer's store, checked against its hash. */
async function blob(hash: string): Promise<Uint8Array> {
  const bytes = await fetchBytes(`${deployment.relayerUrl.replace(/\/+$/, "")}/blobs/${hash}`, {
    maxBytes: 64 << 20,
    schemes: ["http", "https"],
    addressPolicy: { trustedOrigins: [new URL(deployment.relayerUrl).origin] },
  });
  if (hashEncoded(bytes).toLowerCase() !== hash.toLowerCase()) fail(`the blob store's ${hash} does not match its hash`);
  return bytes;
}

const model = await registry.model(modelHash);
const terms = await registry.canonicalTerms(modelHash).catch(() => undefined);
const precision = (Object.keys(PRECISIONS) as Precision[]).find((k) => PRECISIONS[k] === Number(terms?.precision));
if (terms === undefined || precision === undefined || /^0x0+$/.test(terms.commitment)) fail(`model ${short(modelHash)} has no canonical terms: its OPTIMISTIC results cannot be audited canonically`);
const onnx = await fetchBytes(model.uris[0]!, { maxBytes: 1 << 30 });
const inputTensor = decodeTensor(input !== "0x" ? Buffer.from(input.slice(2), "hex") : await blob(inputHash));
const output = decodeTensor(await blob(outputHash));

const verdict = auditResult(
  { requestId: requestId as `0x${string}`, model: { key: modelHash, bytes: onnx, inputShape: inputTensor.shape }, precision, tau: tauFromBits(terms.tauOutAbs, terms.tauOutRel), input: inputTensor, output },
  { secret: new Uint8Array(32), fraction: 1 },
);
switch (verdict.status) {
  case "within":
    console.log(`honest: output within τ_out of the canonical re-run (${precision}, ${output.data.length} elements, ${verdict.ms.toFixed(0)} ms)`);
    break;
  case "dispute":
    console.log(`FAULT: output beyond τ_out of the canonical re-run (${JSON.stringify(verdict.tolerance, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}): dispute it`);
    break;
  case "unsupported":
    console.log(`not auditable canonically: ${verdict.reason}${verdict.operators.length > 0 ? ` (operators ${verdict.operators.join(", ")})` : ""}`);
    break;
  case "notSampled":
    break;
}
provider.destroy();
