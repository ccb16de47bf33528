import { encodeTensor, type Hex } from "../../protocol/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Signer } from "ethers";
import { ChallengerDaemon } from "../../challenger/index.js";
import type { MoveRecord } from "../../protocol/fraud-game-client.js";
import { CLS_MODEL_PATH, CLS_SHAPE, DEFAULT_PARAMS, REQUEST_FEE, type LocalStack } from "../../stack/local-stack.js";

export async function uploadBlob(stack: LocalStack, bytes: Uint8Array): Promise<{ hash: Hex; uri: string }> {
  const res = await fetch(`${stack.relayer.url}/blobs`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: Buffer.from(bytes) });
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { hash: Hex; uri: string };
}

export function textInput(text: string, rotated: boolean): Buffer {
  return encodeTensor(textLineTensor(text, { rotated }));
}

/** Sends one classification request through the example dApp; returns the request id. */
export async function classify(
  stack: LocalStack,
  input: { hash: Hex; uri: string },
  options: { deadlineIn?: number; value?: bigint } = {},
): Promise<string> {
  const deadline = (await stack.networkHelpers.time.latest()) + (options.deadlineIn ?? 3600);
  const tx = await stack.dapp.classify(input.hash, input.uri, deadline, { value: options.value ?? REQUEST_FEE });
  const receipt = (await tx.wait())!;
  for (const log of receipt.logs) {
    const parsed = stack.oracle.interface.parseLog(log);
    if (parsed?.name === "InferenceRequested") return String(parsed.args.requestId).toLowerCase();
  }
  throw new Error("no InferenceRequested event");
}

export function stateOf(stack: LocalStack, id: string): string | undefined {
  return stack.relayer.db.getRequest(id.toLowerCase())?.state;
}

/**
 * A challenger daemon on the stack's classifier: every result re-run canonically (no `games` list: it finds the
 * FraudGame on-chain), bonds up to two challenges, and its game client advancing the chain's clock when it waits
 * for a move clock.
 */
export async function clsGameDaemon(stack: LocalStack, runner: Signer, onMove?: (m: MoveRecord) => void): Promise<ChallengerDaemon> {
  const moveClock = Number(await stack.game!.moveClock());
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  return new ChallengerDaemon({
    oracleAddress: await stack.oracle.getAddress(),
    runner,
    blobStoreUrl: stack.relayer.url,
    policy: { maxBondAtRisk: 2n * DEFAULT_PARAMS.challengeBond },
    startBlock: stack.deployBlock,
    fraudGames: {
      models: new Map([[stack.modelHash.toLowerCase(), { bytes: readFileSync(CLS_MODEL_PATH), inputShape: CLS_SHAPE }]]),
      audit: { secret: randomBytes(32), fraction: 1 },
      client: { ...(onMove === undefined ? {} : { onMove }), wait: async (reason) => (reason === "clock" ? void (await stack.networkHelpers.time.increase(moveClock + 1)) : sleep(20)) },
    },
  });
}
