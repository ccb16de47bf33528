/**
 * The features `npm run demo:features` exercises, in order. Each lives in its own file beside this one
 * (scripts/features/<name>.ts) and adds itself here with one line.
 */
import type { FeatureDemo } from "./types.js";
import { erc20 } from "./erc20.js";
import { subscription } from "./subscription.js";
import { chained } from "./chained.js";
import { largeOutput } from "./largeOutput.js";
import { create2 } from "./create2.js";
import { redundancy } from "./redundancy.js";
import { tokenChained, tokenSubscription } from "./tokenPaths.js";

export type { FeatureDemo, FeatureReport } from "./types.js";

export const FEATURES: FeatureDemo[] = [erc20, subscription, redundancy, chained, largeOutput, create2, tokenSubscription, tokenChained];

/** Every field demo:features reports; one still missing from FEATURES is reported as not built. */
export const FEATURE_NAMES = ["erc20", "subscription", "redundancy", "chained", "largeOutput", "create2", "tokenSubscription", "tokenChained"] as const;
