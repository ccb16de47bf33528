/**
 * JobDispatcher marks the jobs of a redundant job's sibling requests with one `group` (relayer/dispatcher.ts
 * redundancyGroup), for requesters the relayer's attester watches (RedundantInference contracts), so a worker
 * serves one request per job (worker/groups.ts); other requests' jobs carry no group. Real database and
 * in-process queue.
 */
import { Wallet } from "ethers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { QUEUES, type Job } from "../../protocol/index.js";
import { InProcessQueue } from "../../queue/index.js";
import { JobDispatcher, redundancyGroup } from "../../relayer/dispatcher.js";
import { hex32, openRequest, senderFixture } from "./sender-fixture.js";

describe("JobDispatcher: redundant job groups", () => {
  let f: ReturnType<typeof senderFixture>;
  let queue: InProcessQueue;
  let jobs: Job[];
  let dispatcher: JobDispatcher;
  const REDUNDANT = "0x00000000000000000000000000000000000000c0";

  beforeEach(async () => {
    f = senderFixture();
    queue = new InProcessQueue();
    jobs = [];
    await queue.consume<Job>(QUEUES.jobs, async (d) => {
      jobs.push(d.body);
    });
    dispatcher = new JobDispatcher({ chainId: 31337n, oracleAddress: f.chain.oracleAddress, signer: new Wallet(hex32()) }, f.db, queue, f.log, async () => undefined);
    dispatcher.groupsRequester = (requester) => requester.toLowerCase() === REDUNDANT;
  });
  afterEach(async () => {
    await queue.close();
    f.close();
  });

  it("test_publishPending_siblingsShareAGroup_othersHaveNone", async () => {
    const same = { requester: REDUNDANT, modelHash: hex32(), inputHash: hex32(), deadline: 2_000_000 };
    const siblings = [openRequest(f.db, same), openRequest(f.db, same)];
    const otherJob = openRequest(f.db, { ...same, deadline: 2_000_001 });
    const plain = openRequest(f.db, { modelHash: same.modelHash, inputHash: same.inputHash });
    await dispatcher.publishPending();
    const byId = new Map(jobs.map((j) => [j.requestId, j]));
    expect(byId.size).toBe(4);
    const group = redundancyGroup(same);
    expect(siblings.map((r) => byId.get(r.id)!.group)).toEqual([group, group]);
    expect(byId.get(otherJob.id)!.group).toBe(redundancyGroup({ ...same, deadline: 2_000_001 }));
    expect(byId.get(otherJob.id)!.group).not.toBe(group);
    expect(byId.get(plain.id)!.group).toBeUndefined();
  });
});
