/**
 * Binary jobs and results through a real RabbitMQ broker (issue 15): a real worker serves the PP-OCR
 * classifier from a job whose input travels as raw bytes in one envelope, and publishes its result
 * batch as an envelope (read here straight off the broker); a JSON job from before the envelope is
 * still served; a malformed envelope is dead-lettered with its reason and its bytes kept.
 */
import { randomUUID } from "node:crypto";
import amqp from "amqplib";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  ENVELOPE_CONTENT_TYPE,
  QUEUES,
  ResultBatchMessageSchema,
  Tier,
  bytesOf,
  decodeEnvelope,
  decodeTensor,
  encodeEnvelope,
  encodeTensor,
  hashEncoded,
  bytesToHex,
  type Job,
  type Message,
} from "../../protocol/index.js";
import { RabbitMqQueue } from "../../queue/index.js";
import { StaticCatalog, Worker } from "../../worker/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { CHAIN_ID, CLS_HASH, CLS_INPUT, CLS_OUTPUT, CLS_PATH, CLS_URI, ORACLE, SIGNER_KEY, randomHash, silentLogger, tempDir, waitFor } from "../worker/fixtures.js";

const url = inject("rabbitmqUrl");

describe("binary jobs and results over RabbitMQ", () => {
  const ns = `binary.${randomUUID()}.`;
  let relayerSide: RabbitMqQueue;
  let workerSide: RabbitMqQueue;
  let worker: Worker;
  let raw: amqp.ChannelModel;
  let tmp: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    tmp = await tempDir();
    relayerSide = await RabbitMqQueue.connect(url, { namespace: ns, publishTimeoutMs: 20_000 });
    workerSide = await RabbitMqQueue.connect(url, { namespace: ns, publishTimeoutMs: 20_000 });
    await relayerSide.assertQueue(QUEUES.jobs);
    await relayerSide.assertQueue(QUEUES.results);
    worker = new Worker({
      queue: workerSide,
      catalog: new StaticCatalog([{ modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT }]),
      logger: silentLogger(),
      config: {
        signerKey: SIGNER_KEY,
        allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }],
        modelCacheDir: `${tmp.dir}/models`,
        modelSchemes: ["npm", "file"],
        resultBatch: { maxItems: 1, maxWaitMs: 1 },
      },
    });
    await worker.start();
    raw = await amqp.connect(url);
  });
  afterAll(async () => {
    await worker?.close();
    await workerSide?.close();
    await relayerSide?.close();
    await raw?.close();
    await tmp?.cleanup();
  });

  function job(input: string | Uint8Array, encoded: Buffer): Job {
    return {
      kind: "job",
      chainId: CHAIN_ID.toString(),
      oracle: ORACLE,
      requestId: randomHash(),
      modelHash: CLS_HASH,
      inputHash: hashEncoded(encoded),
      input,
      inputURI: "",
      tier: Tier.NONE,
      deadline: Math.floor(Date.now() / 1000) + 3600,
      observedAt: Date.now(),
    };
  }

  /** The next message on the results queue, read raw off the broker (content type and bytes as sent). */
  async function nextResult(): Promise<amqp.GetMessage> {
    const ch = await raw.createChannel();
    try {
      return await waitFor(async () => (await ch.get(ns + QUEUES.results, { noAck: true })) || undefined, 60_000, "a result on the broker");
    } finally {
      await ch.close();
    }
  }

  async function expectServed(j: Job, tensor: ReturnType<typeof textLineTensor>): Promise<void> {
    const msg = await nextResult();
    // The result crossed the broker as one envelope: its output as raw bytes, no hex.
    expect(msg.properties.contentType).toBe(ENVELOPE_CONTENT_TYPE);
    expect(msg.content.subarray(0, 3).toString("ascii")).toBe("IOE");
    expect(msg.content.includes(Buffer.from("0x", "ascii"), 8 + msg.content.readUInt32BE(4))).toBe(false);
    const body = decodeEnvelope(msg.content) as Message & { items: { output: Uint8Array }[] };
    expect(body.items[0]!.output).toBeInstanceOf(Uint8Array);
    const batch = ResultBatchMessageSchema.parse(body);
    const item = batch.items[0]!;
    expect(item.requestId).toBe(j.requestId);
    const output = bytesOf(item.output);
    expect(item.outputHash).toBe(hashEncoded(output));
    const session = await ort.InferenceSession.create(CLS_PATH, { graphOptimizationLevel: "all" });
    const direct = await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", tensor.data as Float32Array, tensor.shape) });
    await session.release();
    expect(Array.from(decodeTensor(output).data as Float32Array)).toEqual(Array.from(direct[session.outputNames[0]!]!.data as Float32Array));
  }

  it("serves a binary job (input bytes in an envelope) and publishes its result as an envelope", async () => {
    const tensor = textLineTensor("Binary over AMQP", { rotated: true });
    const encoded = encodeTensor(tensor);
    const j = job(encoded, encoded);
    await relayerSide.publish(QUEUES.jobs, j as unknown as Message, { messageId: j.requestId });
    await expectServed(j, tensor);
    expect(await relayerSide.deadLetters(QUEUES.jobs)).toEqual([]);
  });

  it("still serves a JSON job with hex input (published before the envelope: upgrades lose nothing)", async () => {
    const tensor = textLineTensor("Legacy JSON job");
    const encoded = encodeTensor(tensor);
    const j = job(bytesToHex(encoded), encoded);
    const ch = await raw.createChannel();
    // Exactly what a relayer before issue 15 sent: JSON text, application/json.
    ch.publish(ns + QUEUES.jobs, ns + QUEUES.jobs, Buffer.from(JSON.stringify(j)), { messageId: j.requestId, contentType: "application/json", persistent: true });
    await ch.close();
    await expectServed(j, tensor);
  });

  it("dead-letters a malformed envelope with the reason, keeping its bytes", async () => {
    const bad = Buffer.concat([Buffer.from("IOE", "ascii"), Buffer.from([9, 0, 0, 0, 2]), Buffer.from("{}"), Buffer.from([1, 2, 3])]);
    const truncated = Buffer.from(decodeableJob().subarray(0, 40));
    const ch = await raw.createChannel();
    ch.publish(ns + QUEUES.jobs, ns + QUEUES.jobs, bad, { messageId: "bad-version", contentType: ENVELOPE_CONTENT_TYPE, persistent: true });
    ch.publish(ns + QUEUES.jobs, ns + QUEUES.jobs, truncated, { messageId: "truncated", contentType: ENVELOPE_CONTENT_TYPE, persistent: true });
    await ch.close();
    const dead = await waitFor(async () => {
      const d = await relayerSide.deadLetters(QUEUES.jobs);
      return d.length >= 2 ? d : undefined;
    }, 60_000, "two dead letters");
    const byId = new Map(dead.map((d) => [d.messageId, d]));
    expect(byId.get("bad-version")!.reason).toMatch(/^MESSAGE_INVALID: malformed envelope: version 9, this software reads version 1/);
    expect(Buffer.from(byId.get("bad-version")!.body as Uint8Array).equals(bad)).toBe(true);
    expect(byId.get("truncated")!.reason).toMatch(/^MESSAGE_INVALID: malformed envelope: /);
    expect(Buffer.from(byId.get("truncated")!.body as Uint8Array).equals(truncated)).toBe(true);
    expect(byId.get("truncated")!.deliveryCount).toBe(1);
  });

  it("does not read a JSON message's {\"$bytes\"} object as bytes: such a job is dead-lettered unsigned", async () => {
    const encoded = encodeTensor(textLineTensor("smuggled"));
    const forged = { ...job("0x", encoded), input: { $bytes: [0, 8] } };
    const ch = await raw.createChannel();
    ch.publish(ns + QUEUES.jobs, ns + QUEUES.jobs, Buffer.from(JSON.stringify(forged)), { messageId: "smuggled", contentType: "application/json", persistent: true });
    await ch.close();
    const dead = await waitFor(async () => (await relayerSide.deadLetters(QUEUES.jobs)).find((d) => d.messageId === "smuggled"), 60_000, "the forged job dead-lettered");
    expect(dead.reason).toMatch(/input/);
    expect((dead.body as { input: unknown }).input).toEqual({ $bytes: [0, 8] });
    // Nothing was signed for it.
    const rch = await raw.createChannel();
    expect(await rch.get(ns + QUEUES.results, { noAck: true })).toBe(false);
    await rch.close();
  });
});

/** A valid job envelope (cut short by a test). */
function decodeableJob(): Buffer {
  return encodeEnvelope({ kind: "job", input: encodeTensor(textLineTensor("x")) });
}
