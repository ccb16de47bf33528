/**
 * Sibling requests of one redundant job (contracts/redundancy/RedundantInference.sol) carry the same job
 * `group` (relayer/dispatcher.ts redundancyGroup): a worker answers at most one request of a group and passes
 * the others on, so the job's k answers come from k distinct workers (a duplicate worker's answer does not
 * count on chain and costs the job a replacement from its reserve).
 */
export class ServedGroups {
  private readonly served = new Map<string, string>();

  constructor(private readonly capacity = 10_000) {}

  /**
   * Claims `group` for `requestId`: true when this worker may serve it (the group is new, or it is the same
   * request again, a redelivery); false when it already took a sibling request of the group.
   */
  claim(group: string | undefined, requestId: string): boolean {
    if (group === undefined) return true;
    const key = group.toLowerCase();
    const taken = this.served.get(key);
    if (taken !== undefined) return taken.toLowerCase() === requestId.toLowerCase();
    this.served.set(key, requestId);
    // Oldest first: a Map iterates in insertion order.
    if (this.served.size > this.capacity) this.served.delete(this.served.keys().next().value!);
    return true;
  }
}
