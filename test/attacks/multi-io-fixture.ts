/**
 * Shared by the 2-input / 2-output attack tests (multi-io-dispute.test.ts, multi-io-withheld.test.ts): the
 * recurrent cell (test/canonical/multi-io-model.ts) lowered and run canonically, registered with registerModelIO in
 * OPTIMISTIC under a FraudGame with its canonical terms, the worker's FraudGameAnswerer answering from the input
 * bundle's bytes, and a ChallengerDaemon auditing it canonically from a blob store.
 */
import { network } from "hardhat";
import { CanonicalTrace, canonicalTermsOf, commitProgram, lowerModel, type Program } from "../../canonical/index.js";
import { bytesToHex, encodeBundle, hashBundle, sha256, type Hex, type Tensor } from "../../protocol/index.js";
import { requestInputOf, type FraudGameAnswerer } from "../../worker/index.js";
import { ChallengerDaemon } from "../../challenger/index.js";
import { deploy, modelInfo, send, type Fx } from "../contracts/helpers.js";
import { MAX_ATTACKS, MOVE_CLOCK, RESPONSE_TIME, TOL, worldAnswerer, type Connection } from "./game-fixture.js";
import { gameDaemon } from "./game-e2e-fixture.js";
import { CELL_IN, CELL_OUT, CELL_STATE, cellInputs, multiIoModel } from "../canonical/multi-io-model.js";

export const INPUTS = [
  { name: "state", dtype: 1, shape: [1, CELL_STATE] },
  { name: "x", dtype: 1, shape: [1, CELL_IN] },
];
export const OUTPUTS = [
  { name: "stateN", dtype: 1, shape: [1, CELL_STATE] },
  { name: "y", dtype: 1, shape: [1, CELL_OUT] },
];

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface MultiIoWorld {
  conn: Connection;
  bytes: Uint8Array;
  program: Program;
  modelHash: Hex;
  /** The request's inputs in canonical name order: [state, x]. */
  inputs: Tensor[];
  /** The canonical trace on `inputs`; its outputs are [stateN, y]. */
  honest: CanonicalTrace;
}

/** A fresh chain and the cell on the inputs of seed 7. */
export async function multiIoWorld(): Promise<MultiIoWorld> {
  const conn = await network.create();
  const bytes = multiIoModel();
  const program = lowerModel(bytes);
  const { x, state } = cellInputs(7);
  const inputs = [state, x];
  return { conn, bytes, program, modelHash: bytesToHex(sha256(bytes)) as Hex, inputs, honest: CanonicalTrace.build(program, inputs) };
}

/** The request's input bundle (its bytes, as the requester uploads them) and its hash. */
export const inputBundleOf = (w: MultiIoWorld) => encodeBundle({ x: w.inputs[1]!, state: w.inputs[0]! });
export const inputHashOf = (w: MultiIoWorld) => hashBundle({ x: w.inputs[1]!, state: w.inputs[0]! });
/** The output bundle [stateN, y] as the worker encodes it, and its hash. */
export const outputBundleOf = (outs: readonly Tensor[]) => encodeBundle({ stateN: outs[0]!, y: outs[1]! });
export const outputHashOf = (outs: readonly Tensor[]) => hashBundle({ stateN: outs[0]!, y: outs[1]! });
export const CELL_OUTPUT_ELEMENTS = CELL_STATE + CELL_OUT;

/** The oracle with the cell registered (NONE + OPTIMISTIC) under a FraudGame, its canonical terms set. */
export async function multiIoSetup(w: MultiIoWorld, outputs = OUTPUTS) {
  const fx: Fx = await deploy(w.conn, { game: { responseTime: RESPONSE_TIME, moveClock: MOVE_CLOCK, maxAttacks: MAX_ATTACKS } });
  const gameAddr: string = await fx.game.getAddress();
  await send(fx.registry.connect(fx.modelOwner).registerModelIO(w.modelHash, modelInfo({ resolver: gameAddr, tiers: 3 }), INPUTS, outputs));
  await send(fx.registry.connect(fx.modelOwner).setCanonicalTerms(w.modelHash, canonicalTermsOf(commitProgram(w.program, "fp32"), TOL)));
  return { fx, gameAddr };
}

/** Worker 0's FraudGameAnswerer, answering from the request's input bundle bytes (as its input cache holds them). */
export function multiIoAnswerer(w: MultiIoWorld, fx: Fx, gameAddr: string): FraudGameAnswerer {
  return worldAnswerer(fx, gameAddr, { modelHash: w.modelHash, program: w.program, input: requestInputOf(inputBundleOf(w)) });
}

/** fx.challenger's daemon playing this game with the cell's ONNX file, auditing every result. */
export function multiIoDaemon(w: MultiIoWorld, fx: Fx, gameAddr: string, blobStoreUrl: string, over: Partial<ConstructorParameters<typeof ChallengerDaemon>[0]> = {}): ChallengerDaemon {
  return gameDaemon({ conn: w.conn, fx, gameAddr, blobStoreUrl, model: { hash: w.modelHash, bytes: w.bytes, inputShape: [] } }, over);
}
