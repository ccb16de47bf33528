import { encodeTensor, type Hex } from "../../protocol/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { REQUEST_FEE, type LocalStack } from "../../scripts/local-stack.js";

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
