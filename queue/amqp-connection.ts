/**
 * RabbitMqQueue's connection (rabbitmq.ts): one connection generation at a time, lost and
 * re-opened with backoff (queues re-declared, consumers and leases resumed), and the queue
 * declarations on it. Publishing and consuming are in amqp-consumers.ts; leases, inspection and
 * shutdown in rabbitmq.ts. Kept custom rather than amqp-connection-manager: the leases, the
 * per-connection declarations and a 403 as final would all stay, as its setup hooks (docs/ARCHITECTURE.md).
 */
import { randomUUID } from "node:crypto";
import amqp from "amqplib";
import type { ConfirmChannel } from "amqplib";
import { OracleError, createLogger, retry, type Logger } from "../protocol/index.js";
import { DEAD_LETTER_SUFFIX, DEFAULT_MAX_DELIVERIES, type QueueOptions } from "./types.js";
import { quorumArgs } from "./amqp-content.js";
import { ConnectionLost, Nacked, accessRefused, amqpCode, noop, redactAmqpUrl, sleep, type ConsumerState, type Generation, type LeaseState } from "./amqp-state.js";

export interface RabbitMqQueueOptions {
  logger?: Logger;
  /** Shown by `rabbitmqctl list_connections client_properties` (connection_name). */
  connectionName?: string;
  /** How long `connect` keeps trying before it gives up (ms). */
  connectTimeoutMs?: number;
  /** How long a publish (or a new consumer) waits for an unreachable broker before a retryable TIMEOUT (ms). */
  publishTimeoutMs?: number;
  /** Reconnection backoff: first delay, doubled per failed attempt up to the maximum (ms), with jitter. */
  reconnectDelayMs?: { initial?: number; max?: number };
  /** AMQP heartbeat (s): a silently dead TCP connection is noticed after about twice this. */
  heartbeatSeconds?: number;
  /**
   * Prefix of every queue name on the broker ("staging." makes oracle.jobs "staging.oracle.jobs"),
   * so several deployments or test runs can share one broker. Every party of one deployment must use the same.
   */
  namespace?: string;
}

export abstract class AmqpConnection {
  protected readonly logger: Logger;
  protected readonly publishTimeoutMs: number;
  protected readonly reconnectInitialMs: number;
  protected readonly reconnectMaxMs: number;
  protected readonly connectionName: string;
  protected readonly ns: string;
  protected state: "open" | "closing" | "closed" = "open";
  protected closing: Promise<void> | undefined;
  protected gen: Generation | undefined;
  protected generations = 0;
  protected reconnecting: Promise<void> | undefined;
  /** Aborted when the queue closes: ends a reconnection's backoff wait at once. */
  protected readonly closeSignal = new AbortController();
  protected readonly waiters = new Set<() => void>();
  /** maxDeliveries this process declared explicitly, re-declared after every reconnection. */
  protected readonly explicit = new Map<string, number>();
  protected readonly consumers = new Set<ConsumerState>();
  protected readonly unacked = new Map<string, number>();
  protected readonly publishing = new Set<Promise<void>>();
  protected readonly leases = new Set<LeaseState>();
  /** Times the connection was re-established (for tests and metrics). */
  reconnections = 0;

  protected constructor(
    protected readonly url: string,
    options: RabbitMqQueueOptions,
  ) {
    this.logger = options.logger ?? createLogger("queue", { level: "warn" });
    this.publishTimeoutMs = options.publishTimeoutMs ?? 30_000;
    this.reconnectInitialMs = options.reconnectDelayMs?.initial ?? 100;
    this.reconnectMaxMs = options.reconnectDelayMs?.max ?? 5_000;
    this.connectionName = options.connectionName ?? `oracle-${randomUUID()}`;
    this.ns = options.namespace ?? "";
    const u = new URL(url);
    if (!u.searchParams.has("heartbeat")) u.searchParams.set("heartbeat", String(options.heartbeatSeconds ?? 10));
    this.url = u.toString();
  }

  get name(): string {
    return this.connectionName;
  }

  // ---------------------------------------------------------------------------------------------
  // Connection lifecycle

  protected async openGeneration(): Promise<Generation> {
    const conn = await amqp.connect(this.url, { clientProperties: { connection_name: this.connectionName }, timeout: 5_000 });
    let publisher: ConfirmChannel;
    try {
      publisher = await conn.createConfirmChannel();
    } catch (error) {
      await conn.close().catch(noop);
      throw error;
    }
    const gen: Generation = {
      id: ++this.generations,
      conn,
      publisher,
      lost: false,
      declared: new Set(),
      declaring: new Map(),
      pending: new Set(),
      drain: undefined,
      utility: undefined,
    };
    conn.on("error", (error: Error) => this.logger.warn({ err: error.message, generation: gen.id }, "broker connection error"));
    conn.on("close", (error?: Error) => this.markLost(gen, error ?? new Error("connection closed")));
    conn.on("blocked", (reason: string) => this.logger.warn({ reason }, "the broker blocked publishing (resource alarm)"));
    conn.on("unblocked", () => this.logger.info("the broker unblocked publishing"));
    publisher.on("error", (error: Error) => {
      gen.refused ??= accessRefused(error);
      this.logger.warn({ err: error.message }, "publisher channel error");
    });
    // The publisher channel is the connection's lifeline: if it goes, start over with a new connection.
    publisher.on("close", () => this.markLost(gen, new Error("publisher channel closed")));
    publisher.on("drain", () => {
      const d = gen.drain;
      gen.drain = undefined;
      d?.resolve();
    });
    try {
      for (const [name, maxDeliveries] of this.explicit) await this.declare(gen, name, maxDeliveries);
    } catch (error) {
      this.markLost(gen, error);
      throw error;
    }
    return gen;
  }

  /** Forgets a generation whose connection or publisher channel died, and starts reconnecting. */
  protected markLost(gen: Generation, error: unknown): void {
    if (gen.lost) return;
    gen.lost = true;
    if (this.gen === gen) this.gen = undefined;
    const lost = gen.refused ?? new ConnectionLost(error);
    for (const p of [...gen.pending]) p.fail(lost);
    gen.drain?.resolve();
    for (const c of this.consumers) {
      // Unacked deliveries on a dead channel are back in the queue: they are no longer ours.
      this.releaseOpen(c);
      c.channel = undefined;
      c.tag = undefined;
    }
    // A lease's token went back to the broker with the connection: another process may hold it now.
    for (const l of this.leases) {
      l.channel = undefined;
      l.token = undefined;
      this.setHeld(l, false);
    }
    void gen.conn.close().catch(noop);
    if (this.state === "closed") return;
    this.logger.warn({ err: error instanceof Error ? error.message : String(error), generation: gen.id }, "lost the broker connection; reconnecting");
    this.reconnect();
  }

  protected reconnect(): void {
    if (this.reconnecting !== undefined || this.state === "closed") return;
    this.reconnecting = retry(() => this.openGeneration(), {
      attempts: Number.POSITIVE_INFINITY,
      // Jittered, so the clients of one restarted broker do not all come back at the same moment.
      delayMs: (attempt) => this.backoffMs(attempt) * (0.75 + Math.random() / 2),
      retryIf: () => this.state !== "closed",
      signal: this.closeSignal.signal,
      onRetry: (error, _attempt, delay) => this.logger.warn({ err: error instanceof Error ? error.message : String(error), retryInMs: Math.round(delay) }, "broker reconnection failed"),
    })
      .then(async (gen) => {
        if (this.isClosed()) {
          gen.lost = true;
          await gen.conn.close().catch(noop);
          return;
        }
        this.gen = gen;
        this.reconnections += 1;
        this.notify();
        for (const c of this.consumers) if (c.active) void this.startConsumer(gen, c).catch(noop);
        for (const l of this.leases) if (!l.released) void this.startLease(gen, l).catch(noop);
        this.logger.info({ generation: gen.id }, "reconnected to the broker");
      }, noop)
      .finally(() => {
        this.reconnecting = undefined;
      });
  }

  /** The wait after failed connection attempt `attempt` (from 1): doubled each time up to the maximum. */
  protected backoffMs(attempt: number): number {
    return Math.min(this.reconnectMaxMs, this.reconnectInitialMs * 2 ** (attempt - 1));
  }

  protected notify(): void {
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
  }

  /** The live connection, waiting for a reconnection up to `deadline`. */
  protected async generation(deadline: number): Promise<Generation> {
    for (;;) {
      if (this.state === "closed") throw new OracleError("QUEUE_CLOSED", "the queue is closed");
      const g = this.gen;
      if (g !== undefined && !g.lost) return g;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new OracleError("QUEUE_UNAVAILABLE", "the broker is unreachable", { retryable: true, details: { url: redactAmqpUrl(this.url) } });
      }
      await new Promise<void>((r) => {
        const t = setTimeout(done, left);
        function done() {
          clearTimeout(t);
          r();
        }
        this.waiters.add(done);
      });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Declarations

  async assertQueue(queue: string, options: QueueOptions = {}): Promise<void> {
    this.ensureOpen();
    const name = this.ns + queue;
    if (options.maxDeliveries !== undefined) this.explicit.set(name, options.maxDeliveries);
    await this.withConnection(async (gen) => {
      if (options.maxDeliveries !== undefined) {
        await this.declare(gen, name, options.maxDeliveries);
        gen.declared.add(name);
      } else {
        await this.ensureDeclared(gen, name);
      }
    });
  }

  /** Declares `name` once per connection (with this process's settings, or leaves an existing queue as it is). */
  protected ensureDeclared(gen: Generation, name: string): Promise<void> {
    if (gen.declared.has(name)) return Promise.resolve();
    let p = gen.declaring.get(name);
    if (p === undefined) {
      p = this.declare(gen, name, this.explicit.get(name)).then(
        () => {
          gen.declared.add(name);
          gen.declaring.delete(name);
        },
        (error: unknown) => {
          gen.declaring.delete(name);
          throw error;
        },
      );
      gen.declaring.set(name, p);
    }
    return p;
  }

  /**
   * Declares the queue and its dead-letter queue, each with a durable direct exchange of the same
   * name bound to it: every publish goes through that exchange, never the default one, so a broker
   * user's write permission decides which queues it may publish to (the default exchange would let
   * anyone with write on `amq.default` reach every queue: a worker could forge jobs). With no
   * explicit maxDeliveries an existing queue is left as it is (the broker refuses to redeclare a
   * queue with other arguments, and whoever created it chose its limit); a missing one gets the
   * default. Declaring needs the configure permission; a party without it (a worker) only checks,
   * passively, that what it uses exists: whoever has it (the relayer) declares first.
   */
  protected async declare(gen: Generation, name: string, maxDeliveries: number | undefined): Promise<void> {
    const names = name.endsWith(DEAD_LETTER_SUFFIX) ? [name] : [name + DEAD_LETTER_SUFFIX, name];
    for (const q of names) {
      const isMain = q === name && !name.endsWith(DEAD_LETTER_SUFFIX);
      const explicit = isMain && maxDeliveries !== undefined;
      const queueExists = !explicit && (await this.exists(gen, q));
      if (queueExists && (await this.exists(gen, q, "exchange"))) continue;
      const ch = await gen.conn.createChannel();
      ch.on("error", noop);
      try {
        if (!queueExists) await ch.assertQueue(q, { durable: true, arguments: quorumArgs(q, maxDeliveries ?? DEFAULT_MAX_DELIVERIES) });
        await ch.assertExchange(q, "direct", { durable: true });
        await ch.bindQueue(q, q, q);
      } catch (error) {
        if (amqpCode(error) === 406) {
          throw new OracleError("CONFIG_INVALID", `queue ${q} already exists with other settings (maxDeliveries differs?)`, {
            cause: error,
            details: { queue: q, maxDeliveries: maxDeliveries ?? DEFAULT_MAX_DELIVERIES },
          });
        }
        throw error;
      } finally {
        await ch.close().catch(noop);
      }
    }
  }

  protected async exists(gen: Generation, name: string, kind: "queue" | "exchange" = "queue"): Promise<boolean> {
    const ch = await gen.conn.createChannel();
    ch.on("error", noop);
    try {
      if (kind === "queue") await ch.checkQueue(name);
      else await ch.checkExchange(name);
      return true;
    } catch (error) {
      if (amqpCode(error) === 404) return false;
      throw error;
    } finally {
      await ch.close().catch(noop);
    }
  }

  /** Runs `op` on the live connection; a connection lost under it is retried on the next one until the deadline. */
  protected async withConnection<T>(op: (gen: Generation) => Promise<T>, deadline = Date.now() + this.publishTimeoutMs): Promise<T> {
    for (;;) {
      const gen = await this.generation(deadline);
      try {
        return await op(gen);
      } catch (error) {
        if (error instanceof OracleError) throw error;
        // The broker refused this user the resource: no retry can change that.
        const refused = accessRefused(error) ?? gen.refused;
        if (refused !== undefined) throw refused;
        if (error instanceof Nacked) {
          await sleep(100);
          continue;
        }
        // Anything else is amqplib reporting a channel or connection that died under us.
        if (!gen.lost) {
          this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, "broker operation failed; treating the connection as lost");
          this.markLost(gen, error);
        }
        if (Date.now() >= deadline) {
          throw new OracleError("QUEUE_UNAVAILABLE", "the broker is unreachable", { retryable: true, cause: error });
        }
      }
    }
  }

  protected isClosed(): boolean {
    return this.state === "closed";
  }

  protected ensureOpen(): void {
    if (this.state !== "open") throw new OracleError("QUEUE_CLOSED", "the queue is closed");
  }

  protected abstract releaseOpen(c: ConsumerState): void;
  protected abstract setHeld(l: LeaseState, held: boolean): void;
  protected abstract startConsumer(gen: Generation, c: ConsumerState): Promise<void>;
  protected abstract startLease(gen: Generation, l: LeaseState): Promise<void>;
}
