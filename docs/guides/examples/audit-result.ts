/**
 * Audits one OPTIMISTIC result the way a challenger does (docs/guides/challenger.md): rebuilds the
 * model commitment from the ONNX file, fetches the input and the worker's published trace, and
 * recomputes every operator from its committed inputs with the reference operators (challenger/).
 * Needs workers that publish traces: `oracle dev --trace full`.
 *
 *   npm exec -- tsx docs/guides/examples/audit-result.ts <requestId> [--fraction 0.1]
 */
import { JsonRpcProvider } from "ethers";
import { checkTrace, fetchTrace } from "../../../challenger/index.js";
import { commitModel, decodeTensor, fetchBytes, IInferenceOracle__factory, IModelRegistry__factory } from "../../../protocol/index.js";
import { fail, readDeployment } from "./common.js";

const USAGE = "audit-result.ts <requestId> [--fraction 0.1]";
const requestId = process.argv[2];
if (requestId === undefined || !/^0x[0-9a-fA-F]{64}$/.test(requestId)) fail(requestId === undefined ? "no request id" : `${requestId} is not a request id (0x + 64 hex digits)`, USAGE);
const fractionAt = process.argv.indexOf("--fraction");
const fraction = fractionAt > 0 ? Number(process.argv[fractionAt + 1]) : 1;
if (!(fraction > 0 && fraction <= 1)) fail(`--fraction takes a number in (0, 1]; got ${process.argv[fractionAt + 1]}`, USAGE);
const deployment = readDeployment();
const provider = new JsonRpcProvider(deployment.rpcUrl);
const oracle = IInferenceOracle__factory.connect(deployment.oracle, provider);
const registry = IModelRegistry__factory.connect(deployment.registry, provider);

// The request (its input) and the result under audit (its trace root), from the oracle's events.
const [requested] = await oracle.queryFilter(oracle.filters.InferenceRequested(requestId), deployment.deployBlock);
const submitted = await oracle.queryFilter(oracle.filters.ResultSubmitted(requestId), deployment.deployBlock);
if (requested === undefined || submitted.length === 0) fail(`no submitted result for ${requestId} on the oracle ${deployment.oracle}`);
const result = submitted[submitted.length - 1]!.args;
const { modelHash, input, inputURI } = requested.args;
console.log(`request ${requestId}: model ${modelHash}, output ${result.outputHash}, trace root ${result.traceRoot}`);
if (/^0x0+$/.test(result.traceRoot)) throw new Error("the worker published no trace (start oracle dev with --trace full)");

const model = await registry.model(modelHash);
const onnxBytes = await fetchBytes(model.uris[0]!, { maxBytes: 1 << 30 });
const inputTensor = decodeTensor(input !== "0x" ? Buffer.from(input.slice(2), "hex") : await fetchBytes(inputURI, { maxBytes: 64 << 20 }));

const commitment = await commitModel(onnxBytes, { inputShape: inputTensor.shape });
if (commitment.root !== model.commitmentRoot) console.log(`warning: the registry's commitment root ${model.commitmentRoot} differs from the file's ${commitment.root}`);
const { tensors } = await fetchTrace(deployment.relayerUrl, result.traceRoot);
const started = performance.now();
const verdict = checkTrace(commitment, { input: inputTensor, tensors }, { fraction, seed: 1 });
const ms = (performance.now() - started).toFixed(0);
console.log(verdict.ok
  ? `honest: ${verdict.checkedOperators} operators, ${verdict.checkedElements} elements recomputed within bounds (${ms} ms)`
  : `FAULT: ${JSON.stringify(verdict.fault, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}`);
provider.destroy();
