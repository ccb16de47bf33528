/**
 * A result the oracle refuses (here: the worker's whole stake is unbonding, so it may not back new
 * results) does not strand the request: the relayer hands the job out again and another worker
 * serves it.
 */
import { parseEther } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_PARAMS, startLocalStack, waitFor, type LocalStack } from "../../stack/local-stack.js";
import { classify, stateOf, textInput, uploadBlob } from "./helpers.js";

describe("a skipped result is served again", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({ workers: 2 });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("hands the job to another worker when the oracle skips a worker's result", async () => {
    // Worker 0 starts unbonding all of its stake: its results are now refused on-chain.
    await (await stack.oracle.connect(stack.accounts.operator).requestUnbond(parseEther("5"))).wait();
    const ids: string[] = [];
    for (const text of ["first line", "second line", "third line", "fourth line"]) {
      ids.push(await classify(stack, await uploadBlob(stack, textInput(text, false))));
    }
    stack.relayer.poke();
    await waitFor(() => ids.every((id) => stateOf(stack, id) === "submitted"), 60_000, "every request served");
    // The jobs were split between the two workers (round robin), so some results were skipped first.
    const notes = ids.map((id) => stack.relayer.db.getRequest(id)!.note).filter((n) => n !== null);
    expect(notes.length).toBeGreaterThan(0);
    expect(notes[0]).toMatch(/result skipped \(StakeBelowMinimum\); job handed out again/);
    const healthy = await stack.workerSigners[1]!.getAddress();
    const healthyOperator = await stack.oracle.operatorOf(healthy);
    for (const id of ids) expect(stack.relayer.db.getRequest(id)!.worker!.toLowerCase()).toBe(healthyOperator.toLowerCase());
    // A refused worker is named in the next job and passes it on: at most one skip per request.
    const excludedWorker = stack.workerSigners[0]!.address.toLowerCase();
    for (const id of ids) {
      const row = stack.relayer.db.getRequest(id)!;
      if (row.note !== null) expect(JSON.parse(row.excluded!)).toEqual([excludedWorker]);
    }

    await stack.networkHelpers.time.increase(DEFAULT_PARAMS.challengeWindow + 1);
    stack.relayer.poke();
    await waitFor(() => ids.every((id) => stateOf(stack, id) === "fulfilled"), 60_000, "settlement");
    expect(await stack.dapp.resultCount()).toBe(4n);
  });
});
