/**
 * What one job and one result cost the worker's JS thread to cross the queue, per bench model, in
 * the JSON format (0x-hex tensors, still read by the queue) and in the binary envelope (protocol/envelope.ts):
 *
 *   job in:     in-process queue publish + delivery (+ hex decode for JSON)
 *   job wire:   RabbitMQ serialization + parse of the delivered content (+ hex decode for JSON)
 *   result out: the worker's output encoding for the message (bytesToHex for JSON) + RabbitMQ serialization
 *
 * Medians of --repeats rounds of --n messages each, microseconds per message. Also the per-job work
 * that stays (input hash, the Merkle tree the protocol fixes) for scale.
 *
 * Usage: tsx bench/envelope.ts [--n 200] [--repeats 5]
 */
import { parseArgs } from "node:util";
import { QUEUES, decodeEnvelope, encodeTensor, hashEncoded, bytesToHex, type Message } from "../protocol/index.js";
import { InProcessQueue, parseContent, serializeContent } from "../queue/index.js";
import { BENCH_MODELS } from "./models.js";

const { values } = parseArgs({ options: { n: { type: "string", default: "200" }, repeats: { type: "string", default: "5" } } });
const n = Number(values.n);
const repeats = Number(values.repeats);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

async function timeUs(fn: () => unknown | Promise<unknown>): Promise<number> {
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fn();
    runs.push(((performance.now() - t0) * 1000) / n);
  }
  return Number(median(runs).toFixed(1));
}

function hexToBytes(hex: string): Buffer {
  return Buffer.from(hex.slice(2), "hex");
}

async function main(): Promise<void> {
  const rows: Record<string, unknown>[] = [];
  let sink = 0;
  for (const m of BENCH_MODELS) {
    const input = encodeTensor(m.inputs(1)[0]!);
    const outputBytes = m.outputSpec.shape.reduce((a, b) => a * (b === 0 ? 1 : b), 1) * 4;
    const output = Buffer.alloc(outputBytes + 8 + 4 * m.outputSpec.shape.length, 7);
    const header = { kind: "job", chainId: "31337", oracle: `0x${"aa".repeat(20)}`, requestId: `0x${"11".repeat(32)}`, modelHash: `0x${"22".repeat(32)}`, inputHash: `0x${"33".repeat(32)}`, inputURI: "", tier: 1, deadline: 1e9, observedAt: Date.now() };
    const jsonJob = { ...header, input: bytesToHex(input) };
    const binJob = { ...header, input };

    const queue = new InProcessQueue();
    let pending: (() => void) | undefined;

    await queue.consume(QUEUES.jobs, async (d) => {
      const i = (d.body as { input: string | Uint8Array }).input;
      sink += typeof i === "string" ? hexToBytes(i).byteLength : i.byteLength;
      pending?.();
    }, { prefetch: 1 });
    const viaQueue = (body: Message) => () => new Promise<void>((resolve) => {
      pending = resolve;
      void queue.publish(QUEUES.jobs, body);
    });
    const jobInJson = await timeUs(viaQueue(jsonJob));
    const jobInBin = await timeUs(viaQueue(binJob));
    await queue.close();

    const wire = (body: Message) => () => {
      const { content } = serializeContent(body);
      const back = parseContent(content) as { input: string | Uint8Array };
      sink += typeof back.input === "string" ? hexToBytes(back.input).byteLength : back.input.byteLength;
    };
    const jobWireJson = await timeUs(wire(jsonJob));
    const jobWireBin = await timeUs(wire(binJob));

    const item = { requestId: header.requestId, modelHash: header.modelHash, inputHash: header.inputHash, outputHash: header.inputHash, provider: "cpu", timings: { infer: 1, hash: 0.5 }, observedAt: 1 };
    const batch = (out: string | Uint8Array) => ({ kind: "batch", chainId: "31337", oracle: header.oracle, payee: header.oracle, signer: header.oracle, signature: `0x${"44".repeat(65)}`, items: [{ ...item, output: out }] });
    const resultJson = await timeUs(() => serializeContent(batch(bytesToHex(output))));
    const resultBin = await timeUs(() => serializeContent(batch(output)));
    const decodeBin = await timeUs(() => decodeEnvelope(serializeContent(batch(output)).content));
    void decodeBin;
    const inputHash = await timeUs(() => hashEncoded(input));
    rows.push({
      model: m.name,
      inputBytes: input.byteLength,
      outputBytes: output.byteLength,
      "job in-process µs (json/bin)": `${jobInJson} / ${jobInBin}`,
      "job RabbitMQ µs (json/bin)": `${jobWireJson} / ${jobWireBin}`,
      "result out µs (json/bin)": `${resultJson} / ${resultBin}`,
      "input hash µs": inputHash,
    });
  }
  if (sink < 0) console.log(sink);
  console.table(rows);
  console.log(JSON.stringify({ command: `tsx bench/envelope.ts --n ${n} --repeats ${repeats}`, rows }));
}

await main();
