/**
 * The worked example of docs/guides/dapp-developer.md: deploys the example consumer contract
 * (contracts/examples/TextDirectionDApp.sol) against a running `oracle dev`, asks it whether a
 * text-line image is upside down, and waits for the oracle's callback to reach the contract.
 *
 *   npm run oracle -- dev                                              # in another terminal
 *   npm exec -- tsx docs/guides/examples/text-direction-dapp.ts [text] [--upside-down]
 */
import { JsonRpcProvider, Wallet } from "ethers";
import { textLineTensor } from "../../../examples/text-images.js";
import { encodeTensor, hashEncoded, OracleClient, Tier } from "../../../sdk/index.js";
import { TextDirectionDApp__factory } from "../../../types/ethers-contracts/index.js";
import { readDeployment } from "./common.js";

const deployment = readDeployment();
const provider = new JsonRpcProvider(deployment.rpcUrl, undefined, { cacheTimeout: -1 });
// The dev stack's "user" account (a well-known Hardhat key: local chains only).
const user = new Wallet(process.env.ORACLE_KEY ?? deployment.accounts.find((a) => a.role === "user")!.privateKey, provider);
const client = await OracleClient.connect({ oracle: deployment.oracle, runner: user, relayerUrl: deployment.relayerUrl });
const PPOCR_CLS = "0x491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640";

// 1. Deploy the consumer: which model, which tier, how much gas its callback gets.
const dapp = await new TextDirectionDApp__factory(user).deploy(deployment.oracle, PPOCR_CLS, Tier.NONE, 200_000);
await dapp.waitForDeployment();
console.log(`TextDirectionDApp at ${await dapp.getAddress()}`);

// 2. The input: 110 KB, above the oracle's inline limit, so it goes to the relayer's blob store
//    and the contract passes its hash and URI.
const text = process.argv.slice(2).find((a) => !a.startsWith("--")) ?? "Honest workers win";
const bytes = encodeTensor(textLineTensor(text, { rotated: process.argv.includes("--upside-down") }));
const inputHash = hashEncoded(bytes);
const inputURI = await client.upload(bytes, inputHash);

// 3. Request through the contract, paying the quoted fee.
// The quote includes the callback's gas (the dApp's callbackGasLimit), paid to whoever runs the callback.
const { minimum } = await client.quote(PPOCR_CLS, Number(await dapp.callbackGasLimit()));
const deadline = (await provider.getBlock("latest"))!.timestamp + 3600;
const receipt = (await (await dapp.classify(inputHash, inputURI, deadline, { value: minimum })).wait())!;
const requestId = receipt.logs.map((l) => dapp.interface.parseLog(l)).find((e) => e?.name === "ClassificationRequested")!.args.requestId as string;
console.log(`request ${requestId}: "${text}"`);

// 4. Follow it to finality with the SDK, then read what the callback stored in the contract.
await client.wait(requestId, { onProgress: (p) => console.log(`  ${p.stage}`), timeoutMs: 120_000 });
const c = await dapp.classification(requestId);
console.log(`the contract received the result: ${c.rotated180 ? "upside down" : "upright"} (decoded on chain: ${c.decoded})`);
provider.destroy();
