/**
 * One dApp-facing feature (docs/FEATURES.md) as `npm run demo:features` runs it: given the running local stack
 * (stack/local-stack.ts), it deploys what it needs (a token, an example dApp), drives the feature end to
 * end through the real relayer and workers, and returns what was delivered — measured, never assumed.
 */
import type { LocalStack } from "../../stack/local-stack.js";

export interface FeatureReport {
  /** True only when the feature delivered what the dApp asked for, checked on-chain. */
  delivered: boolean;
  /** Gas per delivery (the feature's own transactions), where it has one. */
  gasPerDelivery?: number;
  [detail: string]: unknown;
}

export interface FeatureDemo {
  /** The field of demo:features' JSON line: erc20, subscription, redundancy, chained, largeOutput, create2. */
  name: string;
  /** One line for the narrative. */
  title: string;
  run(stack: LocalStack, say: (line: string) => void): Promise<FeatureReport>;
}
