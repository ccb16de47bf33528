/**
 * What the TypeScript side needs to drive contracts/dispute/FraudGame.sol (docs/V2.md §5 "FraudGame ABI"): the
 * EIP-712 TraceCommitment the worker signs, and the positions of the game's trees. One definition, mirrored by
 * FraudGame.sol (TRACE_COMMITMENT_TYPEHASH, EIP712("FraudGame", "1")) and checked by test/attacks/game-*.test.ts.
 */
import { TypedDataEncoder, type Signer, type TypedDataDomain } from "ethers";
import type { Hex } from "./types.js";

export const FRAUD_GAME_EIP712_NAME = "FraudGame";
export const FRAUD_GAME_EIP712_VERSION = "1";

export const TRACE_COMMITMENT_TYPES = {
  TraceCommitment: [
    { name: "requestId", type: "bytes32" },
    { name: "attempt", type: "uint8" },
    { name: "traceRoot", type: "bytes32" },
    { name: "finalHash", type: "bytes32" },
  ],
};

/** The worker's statement: "my canonical trace for this request's attempt has this root and this final tensor". */
export interface TraceCommitmentStatement {
  requestId: Hex;
  attempt: number;
  traceRoot: Hex;
  finalHash: Hex;
}

/** The game's own domain: a commitment is valid for exactly one game deployment on one chain. */
export function fraudGameDomain(chainId: bigint | number, game: string): TypedDataDomain {
  return { name: FRAUD_GAME_EIP712_NAME, version: FRAUD_GAME_EIP712_VERSION, chainId: BigInt(chainId), verifyingContract: game };
}

export function traceCommitmentDigest(domain: TypedDataDomain, c: TraceCommitmentStatement): Hex {
  return TypedDataEncoder.hash(domain, TRACE_COMMITMENT_TYPES, c) as Hex;
}

export async function signTraceCommitment(signer: Signer, domain: TypedDataDomain, c: TraceCommitmentStatement): Promise<Hex> {
  return (await signer.signTypedData(domain, TRACE_COMMITMENT_TYPES, c)) as Hex;
}

/** FraudGame's trees (IFraudGame.Pos.tree). */
export const GAME_TREE = { TRACE: 0, DATA: 1, PARTIAL: 2, ELEMENT: 3 } as const;

/** A node of one of the game's trees (IFraudGame.Pos): height 0 are leaves, the root of L leaves is at ⌈log2 L⌉. */
export interface GamePos {
  tree: number;
  step: number;
  element: bigint;
  height: number;
  index: bigint;
}

/** The root's height of a tree of `leaves` leaves (0 for one leaf). */
export function treeHeight(leaves: number): number {
  let h = 0;
  while (2 ** h < leaves) h++;
  return h;
}

/** The node at `height` above leaf `leaf` of a tree (TRACE: step −; DATA: tensor `step`; PARTIAL: element `(step, element)`). */
export function gamePos(tree: number, step: number, element: bigint | number, height: number, leaf: bigint | number): GamePos {
  return { tree, step, element: BigInt(element), height, index: BigInt(leaf) >> BigInt(height) };
}
