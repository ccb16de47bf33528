/**
 * What every section of `npm run bench` (bench/gas.ts) shares: one in-process chain with the local stack's
 * deployment (stack/deploy.ts deployOracle: the PP-OCR classifier registered, the arbiter resolver), one staked
 * worker key, the example dApps, and the helpers that request, sign and submit as the relayer does. A section
 * (GasSection) adds rows to the table with `add`, and may add anchors, a JSON summary and report lines.
 */
import { Wallet, parseEther, type BaseWallet, type Signer } from "ethers";
import { network } from "hardhat";
import {
  Tier,
  encodeTensor,
  hashEncoded,
  oracleDomain,
  type Hex,
  packBatch,
  proofFromLogs,
  signResultBatch,
  type LogLike,
  type ResultProof,
} from "../protocol/index.js";
import { TextDirectionDApp__factory, type TextDirectionDApp } from "../types/ethers-contracts/index.js";
import { REQUEST_FEE, deployOracle, type DeployedOracle } from "../stack/local-stack.js";

export const RITUAL_DELIVERY_OVERHEAD = 56_600;
export const CHAINLINK_FUNCTIONS_CALLBACK_LIMIT = 300_000;

/** One row of the table: a step's gas divided by the batch it was measured in. */
export interface GasRow {
  step: string;
  gasPerItem: number;
  batch: number;
  note: string;
}

type Connection = Awaited<ReturnType<typeof network.create>>;

export interface GasContext extends Pick<DeployedOracle, "oracle" | "registry" | "resolver" | "modelHash"> {
  ethers: Connection["ethers"];
  networkHelpers: Connection["networkHelpers"];
  /** The chain's accounts (the named ones below are #0-#5; #6 is free for a second operator). */
  signers: Signer[];
  accounts: { admin: Signer; modelOwner: Signer; operator: Signer; relayer: Signer; user: Signer; arbiter: Signer };
  oracleAddress: string;
  /** The staked worker's signing key (its operator is accounts.operator). */
  signer: BaseWallet;
  domain: ReturnType<typeof oracleDomain>;
  /** A [1,2] float32 classifier output, its hash and its bytes as hex. */
  output: Buffer;
  outputHash: Hex;
  outputHex: string;
  /** The example dApp per tier (200k-gas callback), and one asking for no callback (OPTIMISTIC). */
  dapps: Record<Tier.OPTIMISTIC | Tier.NONE, TextDirectionDApp>;
  silentDapp: TextDirectionDApp;
  /** A fresh input hash (0x…01, 0x…02, …), one sequence for every section. */
  nextInputHash(): Hex;
  /** A classify request through `dapp` (default: the tier's dApp): its id, input hash and gas. */
  request(tier: Tier.OPTIMISTIC | Tier.NONE, dapp?: TextDirectionDApp): Promise<{ id: string; inputHash: Hex; gas: bigint }>;
  /** One worker-signed ResultBatch over `reqs` (one signature for the batch), as the relayer submits it. */
  batchOf(reqs: { id: string }[], withOutput: boolean): Promise<{ payee: string; signature: string; items: { requestId: string; outputHash: Hex; output: string; proof: string }[] }>;
  /** Submits one item signed by `worker` (default `signer`) in a batch of one; returns the receipt. */
  submitOne(id: string, outputHash: string, output: string, worker?: BaseWallet): Promise<{ gasUsed: bigint; logs: readonly LogLike[] }>;
  /** Keeps each OPTIMISTIC result's leaf proof, rebuilt from the submitting transaction's logs as the relayer's settler does. */
  keepProofs(receipt: { logs: readonly LogLike[] }, ids: string[]): void;
  /** The record and leaf proof of a kept result (challenge, settle, attest name it by them). */
  named(id: string): Pick<ResultProof, "record" | "proof">;
  rows: GasRow[];
  add(step: string, gas: bigint, batch: number, note?: string): void;
  /** The gas per item of the first row whose step starts with `prefix`. */
  byStep(prefix: string): number;
  /** Headline figures for bench/results/gas.json's `anchors`, in the order the sections add them. */
  anchors: Record<string, number>;
  /** Per-feature summaries, each a top-level key of gas.json after `anchors`. */
  summaries: Record<string, unknown>;
  /** Lines printed after the table, in the order the sections add them. */
  lines: string[];
  /** Where one OPTIMISTIC result's gas goes at batch 32 (the core section's itemized trace). */
  breakdown: Record<string, number>;
  otherByOpcode: Record<string, number>;
}

/** A part of the benchmark: runs after the sections before it, on the same chain. */
export interface GasSection {
  name: string;
  run(ctx: GasContext): Promise<void>;
}

/** A fresh chain, the local stack's deployment, one staked worker and the example dApps. */
export async function createGasContext(): Promise<GasContext> {
  const { ethers, networkHelpers } = await network.create();
  const signers = await ethers.getSigners();
  const [admin, modelOwner, operator, relayer, user, arbiter] = [0, 1, 2, 3, 4, 5].map((i) => {
    const s = signers[i];
    if (s === undefined) throw new Error(`no account #${i}`);
    return s;
  }) as [typeof signers[number], typeof signers[number], typeof signers[number], typeof signers[number], typeof signers[number], typeof signers[number]];
  const { oracle, modelHash, resolver, registry } = await deployOracle({ admin, modelOwner, arbiter });
  const oracleAddress = await oracle.getAddress();
  const signer = Wallet.createRandom();
  await (await oracle.connect(operator).registerWorker(signer.address, { value: parseEther("100") })).wait();
  const dapps = {
    [Tier.OPTIMISTIC]: await new TextDirectionDApp__factory(user).deploy(oracleAddress, modelHash, Tier.OPTIMISTIC, 200_000),
    [Tier.NONE]: await new TextDirectionDApp__factory(user).deploy(oracleAddress, modelHash, Tier.NONE, 200_000),
  };
  // The same dApp asking for no callback (it reads results from events): isolates the oracle's own cost.
  const silentDapp = await new TextDirectionDApp__factory(user).deploy(oracleAddress, modelHash, Tier.OPTIMISTIC, 0);
  const domain = oracleDomain((await ethers.provider.getNetwork()).chainId, oracleAddress);
  const output = encodeTensor({ dtype: "float32", shape: [1, 2], data: new Float32Array([0.9, 0.1]) });
  const outputHash = hashEncoded(output) as Hex;
  const outputHex = `0x${output.toString("hex")}`;
  let seq = 0;
  const proofs = new Map<string, ResultProof>();
  const rows: GasRow[] = [];
  const nextInputHash = () => ("0x" + (++seq).toString(16).padStart(64, "0")) as Hex;
  const ctx: GasContext = {
    ethers, networkHelpers, signers, accounts: { admin, modelOwner, operator, relayer, user, arbiter },
    oracle, registry, resolver, modelHash, oracleAddress, signer, domain, output, outputHash, outputHex, dapps, silentDapp,
    nextInputHash,
    async request(tier, dapp = dapps[tier]) {
      const inputHash = nextInputHash();
      const deadline = (await networkHelpers.time.latest()) + 3600;
      const receipt = (await (await dapp.classify(inputHash, `http://blobs.example/${inputHash}`, deadline, { value: REQUEST_FEE })).wait())!;
      const event = receipt.logs.map((l) => oracle.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested")!;
      return { id: String(event.args.requestId), inputHash, gas: receipt.gasUsed };
    },
    async batchOf(reqs, withOutput) {
      const payee = await relayer.getAddress();
      const signed = await signResultBatch(signer, domain, reqs.map((r) => ({ requestId: r.id, outputHash })), payee);
      return { payee, signature: signed.signature, items: reqs.map((r) => ({ requestId: r.id, outputHash, output: withOutput ? outputHex : "0x", proof: "0x" })) };
    },
    async submitOne(id, hash, field, worker = signer) {
      const payee = await relayer.getAddress();
      const signed = await signResultBatch(worker, domain, [{ requestId: id, outputHash: hash }], payee);
      return (await (await oracle.connect(relayer).submitBatch(...packBatch({ payee, signature: signed.signature, items: [{ requestId: id, outputHash: hash, output: field, proof: "0x" }] }))).wait())!;
    },
    keepProofs(receipt, ids) {
      for (const id of ids) proofs.set(id, proofFromLogs(receipt.logs, oracleAddress, id));
    },
    named(id) {
      const p = proofs.get(id)!;
      return { record: p.record, proof: p.proof };
    },
    rows,
    add(step, gas, batch, note = "") {
      rows.push({ step, gasPerItem: Math.round(Number(gas) / batch), batch, note });
    },
    byStep: (prefix) => rows.find((r) => r.step.startsWith(prefix))!.gasPerItem,
    anchors: { ritualInfernetDeliveryOverhead: RITUAL_DELIVERY_OVERHEAD, chainlinkFunctionsCallbackLimit: CHAINLINK_FUNCTIONS_CALLBACK_LIMIT },
    summaries: {},
    lines: [],
    breakdown: {},
    otherByOpcode: {},
  };
  return ctx;
}
