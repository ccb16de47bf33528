/**
 * Issue 13, finding 8 (slots): a tarpit inputURI held one of the worker's job slots for the whole fetch
 * timeout, five deliveries in a row, before the fee was refunded: 8 such requests raised a legitimate
 * request's latency from 0.8 s to 27.7 s. Now inputs are fetched before a job takes a serve slot
 * (`prefetch` of them; `fetchSlots` more jobs may wait on their inputs), so tarpits delay only their
 * own jobs; each ends in one signed InputUnavailable with a generic reason, and a transient failure is
 * tried again within the job (fetchAttempts), never redelivered.
 *
 * The bound: the tarpit answers nothing, so each of its jobs holds on for the whole first-byte timeout
 * (FIRST_BYTE_MS). A worker in which the honest job waited behind even one tarpit would answer it no
 * sooner than that; the honest job must be answered within HONEST_BOUND_MS, a third of it (on a warm
 * worker it takes a few ms of inference plus the queue's hand-over; the rest is slack for a loaded
 * 2-core host).
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { QUEUES, RejectReason, encodeTensor } from "../../protocol/index.js";
import type { Json } from "../../queue/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { CLS_HASH, CLS_INPUT, CLS_OUTPUT, CLS_URI, waitFor } from "../worker/fixtures.js";
import { attackJob, attackWorker } from "./harness.js";

const MODELS = [{ modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT }];
const FIRST_BYTE_MS = 6_000;
const HONEST_BOUND_MS = FIRST_BYTE_MS / 3;
const TARPITS = 8;
const GENERIC = "the input at inputURI is unavailable, too large, or not a valid tensor for this model";

interface Host {
  url: string;
  hits: string[];
  close(): Promise<void>;
}

async function host(handler: (url: string, res: ServerResponse) => void): Promise<Host> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? "");
    handler(req.url ?? "", res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("attack: tarpit inputs that hold the worker's job slots", () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  it(`${TARPITS} tarpit inputs (with the default prefetch of 8) do not delay an honest job; each tarpit gets one generic rejection`, async () => {
    const tarpit = await host(() => undefined); // accepts, never answers
    closers.push(() => tarpit.close());
    const honestInput = encodeTensor(textLineTensor("fetched honestly"));
    const fast = await host((_url, res) => void res.end(honestInput));
    closers.push(() => fast.close());
    const w = await attackWorker(MODELS, { modelSchemes: ["npm"], fetchAllowedAddresses: ["127.0.0.1"], fetchFirstByteTimeoutMs: FIRST_BYTE_MS });
    closers.push(() => w.close());
    expect(w.worker.config.prefetch).toBe(TARPITS);

    // Warm the model (its process and session) so the honest job's latency is its serving time.
    expect((await w.serve(attackJob(CLS_HASH, textLineTensor("warm up")))).kind).toBe("result");

    const tarpitJobs = Array.from({ length: TARPITS }, (_, i) => attackJob(CLS_HASH, textLineTensor(`tarpit ${i}`), `${tarpit.url}/slow/${i}`));
    for (const j of tarpitJobs) await w.queue.publish(QUEUES.jobs, j as unknown as Json);
    await waitFor(() => (tarpit.hits.length === TARPITS ? true : undefined), 5_000, "every tarpit fetch in flight");

    let started = Date.now();
    const inline = await w.serve(attackJob(CLS_HASH, textLineTensor("honest and inline")), FIRST_BYTE_MS * 3);
    const inlineMs = Date.now() - started;
    started = Date.now();
    const fetched = await w.serve(attackJob(CLS_HASH, textLineTensor("fetched honestly"), `${fast.url}/input`), FIRST_BYTE_MS * 3);
    const fetchedMs = Date.now() - started;
    expect(inline.kind, JSON.stringify(inline)).toBe("result");
    expect(fetched.kind, JSON.stringify(fetched)).toBe("result");
    expect(inlineMs).toBeLessThan(HONEST_BOUND_MS);
    expect(fetchedMs).toBeLessThan(HONEST_BOUND_MS);
    // Every tarpit was still holding on while the honest jobs were served.
    expect(w.published.filter((m) => tarpitJobs.some((j) => j.requestId === (m as { requestId: string }).requestId))).toEqual([]);

    const rejections = await waitFor(() => {
      const r = w.published.filter((m) => tarpitJobs.some((j) => j.requestId === (m as { requestId: string }).requestId));
      return r.length === TARPITS ? r : undefined;
    }, FIRST_BYTE_MS * 3, "the tarpits' rejections");
    for (const r of rejections as Array<Record<string, unknown>>) {
      expect(r.kind).toBe("rejection");
      expect(r.reason).toBe(RejectReason.InputUnavailable);
      expect(r.message).toBe(GENERIC);
    }
    // One fetch each: no redelivery.
    await new Promise((r) => setTimeout(r, 300));
    expect(tarpit.hits).toHaveLength(TARPITS);
  });

  it("an input host that keeps failing (503) is tried fetchAttempts times within the job, then one signed rejection; never redelivered", async () => {
    const busy = await host((_url, res) => void res.writeHead(503).end("busy"));
    closers.push(() => busy.close());
    const w = await attackWorker(MODELS, { modelSchemes: ["npm"], fetchAllowedAddresses: ["127.0.0.1"], fetchAttempts: 3 });
    closers.push(() => w.close());
    const reply = await w.serve(attackJob(CLS_HASH, textLineTensor("x"), `${busy.url}/input`));
    expect(reply.kind).toBe("rejection");
    expect(reply.reason).toBe(RejectReason.InputUnavailable);
    expect(reply.message).toBe(GENERIC);
    expect(reply.message).not.toContain("503");
    await new Promise((r) => setTimeout(r, 300));
    expect(busy.hits).toHaveLength(3);
    expect(w.published).toHaveLength(1);
    expect(await w.queue.depth(`${QUEUES.jobs}.dead`)).toBe(0);
  });
});
