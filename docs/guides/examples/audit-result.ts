/**
 * Audits one OPTIMISTIC result the way a challenger does (docs/guides/challenger.md): fetches the request's input
 * and the worker's signed output, re-runs the model canonically from its ONNX file at the precision of its
 * registered canonical terms, and compares the two with the model's τ_out (challenger/canonical-audit.ts). Beyond
 * τ_out the result can be disputed through the FraudGame and the dispute won.
 *
 *   npm exec -- tsx docs/guides/examples/audit-result.ts <requestId>
 */
import { randomBytes } from "node:crypto";
import { JsonRpcProvider } from "ethers";
import { auditResult } from "../../../challenger/index.js";
import { PRECISIONS, tauFromBits, type Precision } from "../../../canonical/index.js";
import { decodeTensor, fetchBytes, IInferenceOracle__factory, IModelRegistry__factory, type Hex } from "../../../protocol/index.js";
import { fail, readDeployment } from "./common.js";

const USAGE = "audit-result.ts <requestId>";
const requestId = process.argv[2];
if (requestId === undefined || !/^0x[0-9a-fA-F]{64}$/.test(requestId) || process.argv.length > 3) {
  fail(requestId === undefined ? "no request id" : process.argv.length > 3 ? `unexpected ${process.argv.slice(3).join(" ")}` : `${requestId} is not a request id (0x + 64 hex digits)`, USAGE);
}
const deployment = readDeployment();
const provider = new JsonRpcProvider(deployment.rpcUrl);
const oracle = IInferenceOracle__factory.connect(deployment.oracle, provider);
const registry = IModelRegistry__factory.connect(deployment.registry, provider);

// The request (its input) and the result under audit (its signed output's hash), from the oracle's events.
const [requested] = await oracle.queryFilter(oracle.filters.InferenceRequested(requestId), deployment.deployBlock);
const submitted = await oracle.queryFilter(oracle.filters.ResultSubmitted(requestId), deployment.deployBlock);
if (requested === undefined || submitted.length === 0) fail(`no submitted result for ${requestId} on the oracle ${deployment.oracle}`);
const result = submitted[submitted.length - 1]!.args;
const { modelHash, input, inputURI } = requested.args;
console.log(`request ${requestId}: model ${modelHash}, output ${result.outputHash}`);
if (!(await registry.hasCanonicalTerms(modelHash))) fail(`model ${modelHash} has no canonical terms: its results cannot be disputed through the FraudGame`);

const model = await registry.model(modelHash);
const terms = await registry.canonicalTerms(modelHash);
const precision = (Object.keys(PRECISIONS) as Precision[]).find((k) => PRECISIONS[k] === Number(terms.precision));
if (precision === undefined) fail(`unknown precision ${terms.precision}`);
const onnxBytes = await fetchBytes(model.uris[0]!, { maxBytes: 1 << 30 });
const inputTensor = decodeTensor(input !== "0x" ? Buffer.from(input.slice(2), "hex") : await fetchBytes(inputURI, { maxBytes: 64 << 20 }));
const output = decodeTensor(await fetchBytes(`${deployment.relayerUrl}/blobs/${result.outputHash}`, { maxBytes: 64 << 20 }));

const verdict = auditResult(
  {
    requestId: requestId as Hex,
    model: { key: modelHash.toLowerCase(), bytes: onnxBytes, inputShape: inputTensor.shape },
    precision: precision!,
    tau: tauFromBits(terms.tauOutAbs, terms.tauOutRel),
    input: inputTensor,
    output,
  },
  { secret: randomBytes(32), fraction: 1 },
);
if (verdict.status === "within") console.log(`honest: the signed output is within τ_out of the canonical one (worst ratio ${verdict.tolerance.worstRatio.toExponential(2)}; ${verdict.ms.toFixed(0)} ms)`);
else if (verdict.status === "dispute") console.log(`DISPUTE: ${verdict.tolerance.beyond} element(s) beyond τ_out (worst ratio ${verdict.tolerance.worstRatio.toExponential(2)}): challenge and play the game`);
else if (verdict.status === "unsupported") console.log(`cannot audit canonically: ${verdict.reason}`);
provider.destroy();
