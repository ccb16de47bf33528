/**
 * worker/groups.ts: a worker answers one request of a redundant job's group and passes its siblings on, so
 * the job's k answers come from k distinct workers; relayer/dispatcher.ts redundancyGroup names the group the
 * same for every request of one job (same requester, model, input, deadline) and differently across jobs.
 */
import { describe, expect, it } from "vitest";
import { ServedGroups } from "../../worker/groups.js";
import { redundancyGroup } from "../../relayer/index.js";

const G1 = "0x" + "aa".repeat(32);
const G2 = "0x" + "bb".repeat(32);
const R = (n: number) => "0x" + n.toString(16).padStart(64, "0");

describe("worker: redundant job groups", () => {
  it("test_claim_oneRequestPerGroup_redeliverySameRequestAllowed", () => {
    const g = new ServedGroups();
    expect(g.claim(undefined, R(1))).toBe(true);
    expect(g.claim(undefined, R(2))).toBe(true);
    expect(g.claim(G1, R(1))).toBe(true);
    // A sibling of the same job: passed on.
    expect(g.claim(G1, R(2))).toBe(false);
    // The same request again (a redelivery after a transient failure): served again.
    expect(g.claim(G1.toUpperCase().replace("0X", "0x"), R(1).toUpperCase().replace("0X", "0x"))).toBe(true);
    // Another job's group is independent.
    expect(g.claim(G2, R(2))).toBe(true);
  });

  it("test_claim_boundedMemory_oldestForgotten", () => {
    const g = new ServedGroups(2);
    g.claim(G1, R(1));
    g.claim(G2, R(2));
    g.claim("0x" + "cc".repeat(32), R(3));
    // G2 is still held; G1 was evicted: a sibling would now be served (the chain still counts that worker once).
    expect(g.claim(G2, R(5))).toBe(false);
    expect(g.claim(G1, R(4))).toBe(true);
  });

  it("test_redundancyGroup_sameForSiblings_differsAcrossJobs", () => {
    const job = { requester: "0x" + "12".repeat(20), modelHash: "0x" + "34".repeat(32), inputHash: "0x" + "56".repeat(32), deadline: 1_700_000_000 };
    const g = redundancyGroup(job);
    expect(g).toMatch(/^0x[0-9a-f]{64}$/);
    expect(redundancyGroup({ ...job })).toBe(g);
    expect(redundancyGroup({ ...job, deadline: job.deadline + 1 })).not.toBe(g);
    expect(redundancyGroup({ ...job, inputHash: "0x" + "57".repeat(32) })).not.toBe(g);
    expect(redundancyGroup({ ...job, requester: "0x" + "13".repeat(20) })).not.toBe(g);
  });
});
