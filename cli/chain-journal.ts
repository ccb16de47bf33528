/**
 * The `oracle dev` chain across restarts. Hardhat's in-process chain (EDR) keeps its state in memory
 * and has no state dump/load RPC (no `hardhat_dumpState`/`anvil_loadState`), so the chain is kept as a
 * journal of what made it: `<data folder>/chain.jsonl` holds, one JSON line each, the genesis (its
 * date and hash), every block (number, timestamp, hash, its transactions as signed raw bytes) and
 * every state change made without a transaction (`hardhat_setNonce`, `hardhat_setBalance`, ...), in
 * the order they happened. A restart builds a chain with the same genesis and replays the journal:
 * each block's transactions are sent again and the block mined at its recorded timestamp, and every
 * replayed block must have the recorded hash (it commits to the state root and to every earlier
 * block), else the start is refused (`--fresh` starts over).
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { keccak256, Transaction } from "ethers";
import type { Eip1193 } from "./rpc-server.js";

export const JOURNAL_VERSION = 1;

export interface JournalMeta {
  meta: { version: number; chainId: string; initialDate: string; genesisHash: string; createdAt: string; options: Record<string, unknown> };
}
interface BlockLine {
  b: number;
  t: number;
  h: string;
  x: string[];
}
interface CallLine {
  c: string;
  p: unknown[];
}
/** A `hardhat_mine` call: its blocks are replayed by the same call (EDR reserves them rather than mining each). */
interface MineLine {
  m: unknown[];
  /** The head after it, the first mined block's timestamp, the head's hash. */
  b: number;
  t: number;
  h: string;
}
interface BrokenLine {
  broken: string;
}
type Line = JournalMeta | BlockLine | CallLine | MineLine | BrokenLine;

/** RPC methods that change state without a transaction: replayed as they were called, before the next block. */
const STATE_CALLS = new Set([
  "hardhat_setBalance", "hardhat_setCode", "hardhat_setNonce", "hardhat_setStorageAt", "hardhat_setCoinbase", "hardhat_setMinGasPrice",
  "hardhat_setNextBlockBaseFeePerGas", "hardhat_setPrevRandao", "evm_setBlockGasLimit",
]);
/** Methods after which new blocks may exist. */
const MINING_CALLS = new Set(["eth_sendTransaction", "eth_sendRawTransaction", "evm_mine"]);
/** Methods the journal cannot follow: refused while the chain is journaled. */
const REFUSED_CALLS = new Map([
  ["hardhat_reset", "oracle dev's chain is kept across restarts; start over with `oracle dev --fresh` instead of hardhat_reset"],
]);

interface RpcBlock {
  number: string;
  timestamp: string;
  hash: string;
  transactions: RpcTx[];
}
interface RpcTx {
  hash: string;
  type: string;
  chainId?: string;
  nonce: string;
  gas: string;
  gasPrice?: string;
  maxFeePerGas?: string;
  maxPriorityFeePerGas?: string;
  maxFeePerBlobGas?: string;
  blobVersionedHashes?: string[];
  accessList?: Array<{ address: string; storageKeys: string[] }>;
  to: string | null;
  value: string;
  input: string;
  v: string;
  r: string;
  s: string;
  yParity?: string;
}

/** The signed raw bytes of a mined transaction, rebuilt from its fields and signature; undefined when they do not hash to it (an impersonated sender's unsigned transaction). */
export function rawTransaction(tx: RpcTx, chainId: bigint): string | undefined {
  const type = Number(tx.type);
  if (type > 3) return undefined;
  try {
    const t = Transaction.from({
      type,
      ...(type === 0 && BigInt(tx.v) < 35n ? {} : { chainId: tx.chainId === undefined ? chainId : BigInt(tx.chainId) }),
      nonce: Number(tx.nonce),
      gasLimit: BigInt(tx.gas),
      to: tx.to,
      value: BigInt(tx.value),
      data: tx.input,
      ...(type >= 2 ? { maxFeePerGas: BigInt(tx.maxFeePerGas!), maxPriorityFeePerGas: BigInt(tx.maxPriorityFeePerGas!) } : { gasPrice: BigInt(tx.gasPrice!) }),
      ...(type >= 1 ? { accessList: tx.accessList ?? [] } : {}),
      ...(type === 3 ? { maxFeePerBlobGas: BigInt(tx.maxFeePerBlobGas!), blobVersionedHashes: tx.blobVersionedHashes ?? [] } : {}),
      signature: type === 0 ? { r: tx.r, s: tx.s, v: Number(BigInt(tx.v)) } : { r: tx.r, s: tx.s, yParity: Number(BigInt(tx.yParity ?? tx.v)) as 0 | 1 },
    });
    const raw = t.serialized;
    return keccak256(raw) === tx.hash ? raw : undefined;
  } catch {
    return undefined;
  }
}

function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

export class JournalError extends Error {}

export interface ReplayResult {
  blocks: number;
  transactions: number;
  lastTimestamp: number;
}

/**
 * Records a chain into a journal file as it grows. `attach` wraps the provider's `request` in place
 * (Hardhat's ethers provider and the JSON-RPC server both call it), so every caller is followed.
 */
export class ChainJournal {
  private last: number;
  private syncing: Promise<void> = Promise.resolve();
  private broken = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly snapshots = new Map<string, number>();
  private inner: Eip1193["request"] | undefined;

  private constructor(
    readonly file: string,
    private readonly chainId: bigint,
    lastBlock: number,
    private readonly onBroken: (reason: string) => void,
  ) {
    this.last = lastBlock;
  }

  /** A new journal: the genesis of `provider`'s chain and the options the stack was built with. */
  static async create(file: string, provider: Eip1193, initialDate: Date, options: Record<string, unknown>, onBroken: (reason: string) => void): Promise<ChainJournal> {
    const chainId = BigInt((await provider.request({ method: "eth_chainId" })) as string);
    const genesis = (await provider.request({ method: "eth_getBlockByNumber", params: ["0x0", false] })) as RpcBlock;
    const meta: JournalMeta = { meta: { version: JOURNAL_VERSION, chainId: chainId.toString(), initialDate: initialDate.toISOString(), genesisHash: genesis.hash, createdAt: new Date().toISOString(), options } };
    writeFileSync(file, `${JSON.stringify(meta)}\n`);
    return new ChainJournal(file, chainId, 0, onBroken);
  }

  /** The journal's first line, or undefined when there is no journal. Throws JournalError when it is unreadable. */
  static readMeta(file: string): JournalMeta["meta"] | undefined {
    if (!existsSync(file)) return undefined;
    const first = readFileSync(file, "utf8").split("\n", 1)[0] ?? "";
    try {
      const meta = (JSON.parse(first) as Partial<JournalMeta>).meta;
      if (meta === undefined || typeof meta.initialDate !== "string" || typeof meta.genesisHash !== "string") throw new Error("no genesis line");
      return meta;
    } catch (error) {
      throw new JournalError(`${file} is not a chain journal (${(error as Error).message})`);
    }
  }

  /**
   * Rebuilds the recorded chain on `provider` (a fresh chain made with the journal's initialDate,
   * automining, no interval mining) and returns the journal that goes on recording it.
   */
  static async replay(file: string, provider: Eip1193, onBroken: (reason: string) => void, progress?: (done: number, total: number) => void): Promise<{ journal: ChainJournal; result: ReplayResult }> {
    const text = readFileSync(file, "utf8");
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    const parsed: Line[] = [];
    for (const [i, l] of lines.entries()) {
      try {
        parsed.push(JSON.parse(l) as Line);
      } catch {
        // A line cut short by a crash can only be the last one: the chain up to it is kept.
        if (i === lines.length - 1) break;
        throw new JournalError(`line ${i + 1} of ${file} is not JSON`);
      }
    }
    const meta = (parsed[0] as JournalMeta | undefined)?.meta;
    if (meta === undefined) throw new JournalError(`${file} has no genesis line`);
    if (meta.version !== JOURNAL_VERSION) throw new JournalError(`${file} is journal version ${meta.version}; this oracle reads version ${JOURNAL_VERSION}`);
    const broken = parsed.find((l): l is BrokenLine => "broken" in l);
    if (broken !== undefined) throw new JournalError(`the chain stopped being recorded: ${broken.broken}`);
    const chainId = BigInt((await provider.request({ method: "eth_chainId" })) as string);
    if (chainId.toString() !== meta.chainId) throw new JournalError(`the journal is of chain ${meta.chainId}, this chain is ${chainId}`);
    const genesis = (await provider.request({ method: "eth_getBlockByNumber", params: ["0x0", false] })) as RpcBlock;
    if (genesis.hash !== meta.genesisHash) {
      throw new JournalError(`the genesis block differs from the recorded one (${genesis.hash} instead of ${meta.genesisHash}): a different Hardhat/EDR version or chain configuration`);
    }
    const entries = parsed.slice(1) as Array<BlockLine | CallLine | MineLine>;
    const blockCount = entries.filter((e) => "b" in e).length;
    let blocks = 0;
    let transactions = 0;
    let lastTimestamp = Number(BigInt(((await provider.request({ method: "eth_getBlockByNumber", params: ["0x0", false] })) as RpcBlock).timestamp));
    const head = async () => (await provider.request({ method: "eth_getBlockByNumber", params: ["latest", false] })) as RpcBlock;
    for (const e of entries) {
      if ("c" in e) {
        await provider.request({ method: e.c, params: e.p });
        continue;
      }
      if ("m" in e) {
        await provider.request({ method: "evm_setNextBlockTimestamp", params: [hex(e.t)] });
        await provider.request({ method: "hardhat_mine", params: e.m });
        const mined = await head();
        if (Number(BigInt(mined.number)) !== e.b || mined.hash !== e.h) {
          throw new JournalError(`replayed hardhat_mine up to block ${e.b} differs from the recorded one (hash ${mined.hash} at height ${Number(BigInt(mined.number))}, recorded ${e.h})`);
        }
        blocks = e.b;
        continue;
      }
      const expectNumber = blocks + 1;
      if (e.b !== expectNumber) throw new JournalError(`block ${e.b} follows block ${blocks} in the journal`);
      await provider.request({ method: "evm_setNextBlockTimestamp", params: [hex(e.t)] });
      if (e.x.length === 0) {
        await provider.request({ method: "evm_mine", params: [] });
      } else {
        if (e.x.length > 1) await provider.request({ method: "evm_setAutomine", params: [false] });
        for (const raw of e.x) {
          try {
            await provider.request({ method: "eth_sendRawTransaction", params: [raw] });
          } catch (error) {
            // A transaction that reverted when it was first mined reverts again (and is mined); the
            // block hash check below tells a real difference.
            if (!/revert/i.test(String((error as Error).message))) throw new JournalError(`block ${e.b}: a recorded transaction was refused (${(error as Error).message})`);
          }
        }
        if (e.x.length > 1) {
          await provider.request({ method: "evm_mine", params: [] });
          await provider.request({ method: "evm_setAutomine", params: [true] });
        }
        transactions += e.x.length;
      }
      const mined = await head();
      if (Number(BigInt(mined.number)) !== e.b || mined.hash !== e.h) {
        throw new JournalError(`replayed block ${e.b} differs from the recorded one (hash ${mined.hash} at height ${Number(BigInt(mined.number))}, recorded ${e.h})`);
      }
      blocks = e.b;
      lastTimestamp = e.t;
      if (progress !== undefined && blocks % 500 === 0) progress(blocks, blockCount);
    }
    return { journal: new ChainJournal(file, chainId, blocks, onBroken), result: { blocks, transactions, lastTimestamp } };
  }

  /**
   * Follows `provider` from now on: wraps its `request` in place, and picks up interval-mined blocks
   * every `pollMs`. `intervalMining` is the provider's current evm_setIntervalMining setting.
   */
  attach(provider: Eip1193, intervalMining: unknown = 0, pollMs = 500): void {
    const inner = provider.request.bind(provider);
    this.inner = inner;
    let interval = intervalMining;
    provider.request = async (args) => {
      const { method } = args;
      const refused = REFUSED_CALLS.get(method);
      if (refused !== undefined) throw Object.assign(new Error(refused), { code: -32601 });
      if (method === "evm_setIntervalMining") {
        const result = await inner(args);
        interval = (args.params as unknown[] | undefined)?.[0] ?? 0;
        return result;
      }
      if (STATE_CALLS.has(method) || method === "hardhat_mine") {
        // Interval mining paused and the journal caught up around the call (on the journal's queue,
        // so no poll runs meanwhile): it lands between the same two blocks in the journal as on the chain.
        const mining = interval !== 0 && interval !== false;
        if (mining) await inner({ method: "evm_setIntervalMining", params: [0] });
        try {
          return await this.serial(async () => {
            await this.syncNow();
            const params = (args.params ?? []) as unknown[];
            if (method !== "hardhat_mine") {
              const result = await inner(args);
              this.append({ c: method, p: params });
              return result;
            }
            const before = this.last;
            const result = await inner(args);
            const top = (await inner({ method: "eth_getBlockByNumber", params: ["latest", false] })) as RpcBlock;
            const first = (await inner({ method: "eth_getBlockByNumber", params: [hex(before + 1), false] })) as RpcBlock;
            this.append({ m: params, b: Number(BigInt(top.number)), t: Number(BigInt(first.timestamp)), h: top.hash });
            this.last = Number(BigInt(top.number));
            return result;
          });
        } finally {
          if (mining) await inner({ method: "evm_setIntervalMining", params: [interval] });
        }
      }
      if (method === "evm_snapshot") {
        await this.sync();
        const id = await inner(args);
        this.snapshots.set(String(id), this.size());
        return id;
      }
      if (method === "evm_revert") {
        const ok = await inner(args);
        const at = this.snapshots.get(String((args.params as unknown[] | undefined)?.[0]));
        if (ok === true && at !== undefined) await this.serial(async () => this.truncate(at));
        return ok;
      }
      try {
        return await inner(args);
      } finally {
        if (MINING_CALLS.has(method)) await this.sync();
      }
    };
    this.timer = setInterval(() => void this.sync(), pollMs);
    this.timer.unref();
  }

  /** Records every block mined since the last one recorded. */
  sync(): Promise<void> {
    return this.serial(() => this.syncNow()).catch(() => undefined);
  }

  /** Runs `fn` after every earlier journal step (syncs, recorded calls), one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.syncing.then(fn);
    this.syncing = run.then(() => undefined, () => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.sync();
  }

  get blocks(): number {
    return this.last;
  }

  private async syncNow(): Promise<void> {
    if (this.broken || this.inner === undefined) return;
    const request = this.inner;
    const latest = Number(BigInt((await request({ method: "eth_blockNumber" })) as string));
    while (this.last < latest && !this.broken) {
      const n = this.last + 1;
      const block = (await request({ method: "eth_getBlockByNumber", params: [hex(n), true] })) as RpcBlock;
      const raws: string[] = [];
      for (const tx of block.transactions) {
        const raw = rawTransaction(tx, this.chainId);
        if (raw === undefined) {
          this.markBroken(`block ${n} holds transaction ${tx.hash}, which has no valid signature (an impersonated account?) and cannot be replayed`);
          return;
        }
        raws.push(raw);
      }
      this.append({ b: n, t: Number(BigInt(block.timestamp)), h: block.hash, x: raws });
      this.last = n;
    }
  }

  private markBroken(reason: string): void {
    this.broken = true;
    this.append({ broken: reason });
    this.onBroken(reason);
  }

  private append(line: Line): void {
    if (this.broken && !("broken" in line)) return;
    appendFileSync(this.file, `${JSON.stringify(line)}\n`);
  }

  private size(): number {
    return readFileSync(this.file, "utf8").split("\n").filter((l) => l !== "").length;
  }

  /** Back to the first `lines` lines (evm_revert to a snapshot taken then). */
  private truncate(lines: number): void {
    const kept = readFileSync(this.file, "utf8").split("\n").filter((l) => l !== "").slice(0, lines);
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${kept.join("\n")}\n`);
    renameSync(tmp, this.file);
    const lastBlock = kept.map((l) => JSON.parse(l) as Line).reverse().find((l): l is BlockLine | MineLine => "b" in l);
    this.last = lastBlock?.b ?? 0;
  }
}
