import { describe, expect, it } from "vitest";
import { InProcessQueue } from "../../queue/index.js";
import { queueConformance } from "./conformance.js";

queueConformance("in-process", async () => new InProcessQueue());

describe("in-process lease", () => {
  it("has one holder at a time and hands the lease to the next competitor on release", async () => {
    const q = new InProcessQueue();
    const held = [false, false, false];
    const leases = await Promise.all(held.map((_, i) => q.lease("lease", (h) => (held[i] = h))));
    expect(held).toEqual([true, false, false]);
    expect(leases.map((l) => l.held)).toEqual([true, false, false]);
    await leases[1]!.release(); // a waiting competitor leaves: nothing changes
    expect(held).toEqual([true, false, false]);
    await leases[0]!.release();
    expect(held).toEqual([false, false, true]);
    await leases[0]!.release(); // twice is fine
    expect(held).toEqual([false, false, true]);
    await q.close();
  });
});
