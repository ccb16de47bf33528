/** The relayer's readiness checks and request counts, for /readyz and /api/stats. */
import { QUEUES, type ReadinessCheck } from "../protocol/index.js";
import type { OracleChain } from "./chain.js";
import type { DashboardDeps } from "./dashboard.js";
import type { RelayerDb, RequestState } from "./db.js";

export const STATES: readonly RequestState[] = ["requested", "submitted", "challenged", "fulfilled", "refunded"];

export function countByState(db: RelayerDb): Record<RequestState, number> {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<RequestState, number>;
  for (const [state, n] of Object.entries(db.countByState())) counts[state as RequestState] = n;
  return counts;
}

/** The readiness checks of the relayer: chain reachable, queue connected, cursor caught up. */
export function relayerReadiness(deps: DashboardDeps): Record<string, ReadinessCheck> {
  return {
    chain: async () => ({ head: await freshBlockNumber(deps.chain.provider) }),
    queue: async () => ({ jobs: await deps.queue.depth(QUEUES.jobs) }),
    cursor: async () => {
      const head = await freshBlockNumber(deps.chain.provider);
      const lag = head - deps.cursor();
      const max = deps.maxCursorLag ?? 50;
      if (lag > max) throw new Error(`the event cursor trails the head by ${lag} blocks (more than ${max})`);
      return { lag };
    },
  };
}

/**
 * The head asked of the node now: ethers answers getBlockNumber from a short-lived cache, which
 * would keep a probe "ready" for a moment after the node went away.
 */
async function freshBlockNumber(provider: OracleChain["provider"]): Promise<number> {
  const raw = provider as unknown as { send?: (method: string, params: unknown[]) => Promise<string> };
  if (typeof raw.send === "function") return Number(await raw.send("eth_blockNumber", []));
  return provider.getBlockNumber();
}

