/**
 * Drives a deployed FraudGame (contracts/dispute/FraudGame.sol, docs/V2.md §5) from TypeScript: the two
 * off-chain players of a dispute.
 *
 * - `GameWorker` (the worker's responder): signs and posts the TraceCommitment prepared by
 *   worker/dispute.ts `prepareDispute`, then watches the game's NodeAttacked events and answers every
 *   attack on its nodes with `answerReveal` until the game is resolved.
 * - `GameChallenger` (the challenger's play): `claims()` is canonical/descent.ts's `WorkerClaims` over the
 *   contract (each call is one attack; it resolves with the worker's reveal read from the chain, or calls
 *   the game's `timeout` and rejects with `WorkerTimedOut` when the worker's clock ran out); `play()` runs
 *   the whole descent and submits the leaf proof (`proveStep`, `proveFold`, `proveHeader`), the tolerance
 *   proof (`proveOutput`) or nothing, then `resolve` once the game has ended.
 *
 * One sender per role: every transaction of a player is sent and awaited before its next one, so the
 * provider's nonce and gas estimate are always current. Each move is reported (`MoveRecord`: gas and
 * calldata bytes). Waiting is a hook (`wait`): production sleeps; a test on an in-process chain may move
 * time forward instead.
 */
export { GAME_RULING, NODE_STATE, WorkerTimedOut, type GameClientOptions, type MoveRecord, type WaitReason } from "./fraud-game-player.js";
export { GameWorker, type TraceSigner } from "./fraud-game-worker.js";
export { GameChallenger, type PlayResult } from "./fraud-game-challenger.js";
