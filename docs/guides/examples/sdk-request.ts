/**
 * The SDK example of docs/guides/dapp-developer.md: one request from a script, followed to finality.
 *
 *   npm exec -- tsx docs/guides/examples/sdk-request.ts [examples/line.npy]
 */
import { existsSync, readFileSync } from "node:fs";
import { JsonRpcProvider, Wallet, formatEther } from "ethers";
import { describeOutput, isSdkError, OracleClient, readNpy, Tier } from "../../../sdk/index.js";
import { fail, readDeployment } from "./common.js";

const modelHash = "0x491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640"; // PP-OCR text direction
const inputFile = process.argv[2] ?? "examples/line.npy";
if (!existsSync(inputFile)) fail(`no input file ${inputFile}`, "sdk-request.ts [file.npy]  (default examples/line.npy)");
const deployment = readDeployment();
const provider = new JsonRpcProvider(deployment.rpcUrl, undefined, { cacheTimeout: -1 });
const client = await OracleClient.connect({
  oracle: deployment.oracle,
  runner: new Wallet(process.env.ORACLE_KEY ?? deployment.accounts.find((a) => a.role === "user")!.privateKey, provider), // a Provider alone is enough to read
  relayerUrl: deployment.relayerUrl,                       // blob store: large inputs go up, outputs come down
});

try {
  const model = await client.model(modelHash);   // owner, fee, tiers, input/output specs, commitment root, URIs
  const quote = await client.quote(modelHash);   // { ownerFee, minWorkerFee, callbackFee, minimum } in wei
  console.log(`input ${model.input.dtype}[${model.input.shape}], fee ${formatEther(quote.minimum)} ETH`);
  const sent = await client.request({
    modelHash,
    input: readNpy(readFileSync(inputFile)),      // a Tensor (fitted to the spec) or canonical bytes
    tier: Tier.NONE,                                               // fee defaults to quote.minimum
  });
  const done = await client.wait(sent.requestId, {
    until: "final",                               // or "submitted": on chain, still challengeable
    timeoutMs: 120_000,
    onProgress: (p) => console.log(p.stage),      // requested, submitted, (challenged,) final
  });
  const output = await client.output(done.outputHash!); // fetched from the relayer, checked against the hash
  console.log(describeOutput(output, modelHash).top);   // { index: 0, label: 'upright (0°)', score: 0.99… }
} catch (error) {
  if (isSdkError(error)) console.error(`${error.code}: ${error.message}`); // stable codes, see the table
  else console.error((error as Error).message);
  process.exitCode = 1;
} finally {
  provider.destroy();
}
