/**
 * End to end through a real RabbitMQ broker: the whole local stack (in-process EVM, contracts,
 * relayer, the real PP-OCR classifier) with the relayer and two workers each on their own broker
 * connection, as they would be on three machines.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { QUEUES, Tier } from "../../protocol/index.js";
import { RabbitMqQueue } from "../../queue/index.js";
import { DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { classify, stateOf, textInput, uploadBlob } from "./helpers.js";

const url = inject("rabbitmqUrl");

describe("oracle end to end over RabbitMQ (two workers)", () => {
  let stack: LocalStack;
  let relayerQueue: RabbitMqQueue;
  beforeAll(async () => {
    // Queues of this test only (the broker may be shared with other test runs).
    const namespace = `e2e.${randomUUID()}.`;
    relayerQueue = await RabbitMqQueue.connect(url, { connectionName: "e2e-relayer", namespace });
    stack = await startLocalStack({
      tier: Tier.OPTIMISTIC,
      workers: 2,
      queue: relayerQueue,
      workerQueue: (i) => RabbitMqQueue.connect(url, { connectionName: `e2e-worker-${i}`, namespace }),
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("answers every request through the broker and settles it, with no dead letters", async () => {
    const started = Date.now();
    const inputs = [
      ["Through the broker", false],
      ["Flipped over AMQP", true],
      ["Two workers share", false],
      ["Another one upside down", true],
      ["Quorum queues", false],
      ["Last line", true],
    ] as const;
    const ids: string[] = [];
    for (const [text, rotated] of inputs) ids.push(await classify(stack, await uploadBlob(stack, textInput(text, rotated))));
    stack.relayer.poke();
    await waitFor(() => ids.every((id) => stateOf(stack, id) === "submitted"), 60_000, "submissions");

    await stack.networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => ids.every((id) => stateOf(stack, id) === "fulfilled"), 60_000, "settlement");
    for (let i = 0; i < ids.length; i++) {
      const c = await stack.dapp.classification(ids[i]!);
      expect(c.received).toBe(true);
      expect(c.rotated180).toBe(inputs[i]![1]);
    }
    const workers = new Set(ids.map((id) => stack.relayer.db.getRequest(id)!.worker));
    console.log(`rabbitmq e2e: ${ids.length} requests answered and settled in ${Date.now() - started} ms by ${workers.size} worker(s)`);
    expect(await relayerQueue.deadLetters(QUEUES.jobs)).toEqual([]);
    expect(await relayerQueue.deadLetters(QUEUES.results)).toEqual([]);
    expect(await relayerQueue.depth(QUEUES.results)).toBe(0);
  });
});
