// The rendezvous key-value store: how the ranks of a job find each other's UCX
// worker addresses. Plain TCP through the transport layer's TCP transport (no
// UCX is needed to find UCX), so that ucx-run can serve it without loading
// the native addon. See docs/mpi.md ("Bootstrap").
//
// Each message is a transport message: frame 0 is a JSON object, further
// frames are binary values.
//   client → server  {op:'hello', secret, rank, size, pid}      first, or the server hangs up
//                    {op:'exchange', name, id} + value           every rank gives one value under `name` ...
//                    {op:'finalize'}                             this rank is leaving cleanly
//                    {op:'abort', code, reason}                  end the job now
//   server → client  {op:'welcome'} | {op:'denied', reason}
//                    {op:'exchanged', id} + size values          ... and gets all of them, in rank order
//                    {op:'abort', code, reason}                  the job is being ended (another rank failed)
import { createHash, timingSafeEqual } from 'node:crypto';
import { TcpTransport, type TcpConnection, type TcpListener } from '../transport/tcp.js';
import { TransportError } from '../transport/types.js';
import { MPIError } from './errors.js';

export interface KvMessage { op: string; [key: string]: unknown }

function encode(message: KvMessage, values: readonly Buffer[] = []): Buffer[] {
  return [Buffer.from(JSON.stringify(message)), ...values];
}

function decode(frames: Buffer[]): { message: KvMessage; values: Buffer[] } {
  const message = JSON.parse(frames[0]?.toString() ?? '{}') as KvMessage;
  if (typeof message !== 'object' || message === null || typeof message.op !== 'string') throw new Error('bad message');
  return { message, values: frames.slice(1) };
}

/** Compares secrets in constant time (through their digests, so that lengths do not leak either). */
export function secretsMatch(expected: string | null, given: unknown): boolean {
  if (expected === null) return true;
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

export interface KvServerOptions {
  /** Ranks in the job. */
  size: number;
  /** The job's secret; null: no check (a job without one, e.g. torch-style RANK/WORLD_SIZE launches). */
  secret: string | null;
  host?: string;
  port?: number;
  /** A rank asked to abort the job. */
  onAbort?: (rank: number, code: number, reason: string) => void;
  /** A registered rank's connection ended; `finalized` says whether it said finalize first. */
  onRankGone?: (rank: number, finalized: boolean) => void;
  /** A rank passed the secret check. */
  onRegister?: (rank: number, pid: number) => void;
  /** A connection was refused (wrong secret, bad rank...). */
  onDenied?: (reason: string) => void;
}

interface RankEntry { connection: TcpConnection; finalized: boolean; pid: number; gone: boolean }
interface Exchange { values: (Buffer | undefined)[]; count: number; waiting: { connection: TcpConnection; id: number }[] }

export class KvServer {
  readonly url: string;
  readonly size: number;
  readonly #listener: TcpListener;
  readonly #opts: KvServerOptions;
  readonly #ranks = new Map<number, RankEntry>();
  readonly #exchanges = new Map<string, Exchange>();
  readonly #connections = new Set<TcpConnection>();
  #finalizedWaiters: (() => void)[] = [];
  #closed = false;

  private constructor(listener: TcpListener, opts: KvServerOptions, advertisedHost: string) {
    this.#listener = listener;
    this.#opts = opts;
    this.size = opts.size;
    this.url = `tcp://${advertisedHost}:${listener.port}`;
  }

  /** Listens on host:port (default 127.0.0.1, any port) and serves the store. `advertise`: the host put in `url`. */
  static async start(opts: KvServerOptions, advertise?: string): Promise<KvServer> {
    let server: KvServer | undefined;
    const pending: TcpConnection[] = [];
    const listener = await new TcpTransport().listen(`tcp://${opts.host ?? '127.0.0.1'}:${opts.port ?? 0}`, (connection) => {
      const tcp = connection as TcpConnection;
      if (server === undefined) pending.push(tcp);
      else server.#accept(tcp);
    });
    server = new KvServer(listener as TcpListener, opts, advertise ?? opts.host ?? '127.0.0.1');
    for (const tcp of pending) server.#accept(tcp);
    return server;
  }

  get registered(): number { return this.#ranks.size; }

  /** Whether `rank` registered and said finalize before leaving (or is still connected having said it). */
  finalized(rank: number): boolean { return this.#ranks.get(rank)?.finalized === true; }

  isRegistered(rank: number): boolean { return this.#ranks.has(rank); }

  /** Whether a registered rank's connection is still open. */
  isConnected(rank: number): boolean { return this.#ranks.get(rank)?.gone === false; }

  /** Lets the process exit while the server is open. */
  unref(): this {
    this.#listener.unref();
    for (const connection of this.#connections) connection.unref();
    return this;
  }

  /** Resolves once every rank has said finalize (or `ms` passed). */
  waitAllFinalized(ms: number): Promise<boolean> {
    const all = (): boolean => this.#ranks.size === this.size && [...this.#ranks.values()].every((r) => r.finalized);
    if (all()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      // Not unref()ed: rank 0 must stay until the others have said finalize, or they would lose the store.
      const timer = setTimeout(() => resolve(false), ms);
      this.#finalizedWaiters.push(() => {
        if (all()) {
          clearTimeout(timer);
          resolve(true);
        }
      });
    });
  }

  /** Tells every connected rank (but `except`) that the job ends. */
  broadcastAbort(code: number, reason: string, except?: number): Promise<void> {
    const sends: Promise<void>[] = [];
    for (const [rank, entry] of this.#ranks) {
      if (rank === except || entry.connection.closed) continue;
      sends.push(entry.connection.send(encode({ op: 'abort', code, reason })).catch(() => {}));
    }
    return Promise.all(sends).then(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#listener.close();
    for (const connection of this.#connections) connection.abort();
  }

  #accept(connection: TcpConnection): void {
    if (this.#closed) {
      connection.abort();
      return;
    }
    this.#connections.add(connection);
    let rank = -1;
    // A connection must say hello (with the secret) promptly.
    const helloTimer = setTimeout(() => { if (rank < 0) connection.abort(); }, 10_000);
    helloTimer.unref();
    // The reason goes out before the connection closes (gracefully: an abort could drop it).
    const deny = async (reason: string): Promise<void> => {
      this.#opts.onDenied?.(reason);
      await connection.send(encode({ op: 'denied', reason })).catch(() => {});
      await connection.close();
    };
    void (async () => {
      try {
        for (;;) {
          const { message, values } = decode(await connection.recv());
          if (rank < 0) {
            if (message.op !== 'hello') return await deny('hello expected');
            if (!secretsMatch(this.#opts.secret, message.secret)) return await deny('wrong job secret');
            const r = message.rank;
            if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r >= this.size) return await deny(`rank ${String(r)} is not in this job of ${this.size}`);
            if (message.size !== this.size) return await deny(`size ${String(message.size)} does not match the job's ${this.size}`);
            if (this.#ranks.has(r)) return await deny(`rank ${r} has already joined`);
            rank = r;
            clearTimeout(helloTimer);
            const pid = typeof message.pid === 'number' ? message.pid : 0;
            this.#ranks.set(rank, { connection, finalized: false, pid, gone: false });
            this.#opts.onRegister?.(rank, pid);
            await connection.send(encode({ op: 'welcome' }));
            continue;
          }
          switch (message.op) {
            case 'exchange':
              this.#exchange(rank, connection, String(message.name), Number(message.id), values[0] ?? Buffer.alloc(0));
              break;
            case 'finalize':
              this.#ranks.get(rank)!.finalized = true;
              for (const wake of this.#finalizedWaiters) wake();
              break;
            case 'abort':
              this.#opts.onAbort?.(rank, Number(message.code ?? 1), String(message.reason ?? 'MPI abort'));
              break;
            default:
              break;
          }
        }
      } catch {
        // the connection ended (or sent garbage)
      } finally {
        clearTimeout(helloTimer);
        this.#connections.delete(connection);
        connection.abort();
        if (rank >= 0) {
          this.#ranks.get(rank)!.gone = true;
          this.#opts.onRankGone?.(rank, this.#ranks.get(rank)!.finalized);
        }
      }
    })();
  }

  #exchange(rank: number, connection: TcpConnection, name: string, id: number, value: Buffer): void {
    let exchange = this.#exchanges.get(name);
    if (exchange === undefined) {
      exchange = { values: new Array<Buffer | undefined>(this.size), count: 0, waiting: [] };
      this.#exchanges.set(name, exchange);
    }
    if (exchange.values[rank] === undefined) exchange.count++;
    exchange.values[rank] = value;
    exchange.waiting.push({ connection, id });
    if (exchange.count < this.size) return;
    this.#exchanges.delete(name);
    const values = exchange.values as Buffer[];
    for (const waiter of exchange.waiting) void waiter.connection.send(encode({ op: 'exchanged', id: waiter.id }, values)).catch(() => {});
  }
}

export interface KvClientOptions {
  secret: string | null;
  rank: number;
  size: number;
  /** Give up connecting (the server may not be up yet) after this long (ms). */
  timeoutMs: number;
}

export class KvClient {
  readonly #connection: TcpConnection;
  readonly #pending = new Map<number, { resolve: (values: Buffer[]) => void; reject: (error: unknown) => void }>();
  #nextId = 1;
  #refs = 0;
  #leaving = false;
  #onAbort: ((code: number, reason: string) => void) | undefined;
  #onLost: ((error: unknown) => void) | undefined;

  private constructor(connection: TcpConnection) {
    this.#connection = connection;
  }

  /** Connects (retrying while the server is not up yet), says hello with the secret, and waits for the welcome. */
  static async connect(url: string, opts: KvClientOptions): Promise<KvClient> {
    const deadline = Date.now() + opts.timeoutMs;
    const transport = new TcpTransport();
    let connection: TcpConnection | undefined;
    let lastError: unknown;
    while (connection === undefined) {
      try {
        connection = await transport.connect(url, { timeoutMs: Math.max(1, Math.min(5_000, deadline - Date.now())) });
      } catch (error) {
        lastError = error;
        if (Date.now() >= deadline) {
          throw new MPIError('ERR_MPI_BOOTSTRAP', `cannot reach the rendezvous server at ${url}: ${(error as Error).message}`, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    void lastError;
    await connection.send(encode({ op: 'hello', secret: opts.secret, rank: opts.rank, size: opts.size, pid: process.pid }));
    let reply: KvMessage;
    try {
      reply = decode(await withTimeout(connection.recv(), Math.max(1_000, deadline - Date.now()), 'the rendezvous server to answer')).message;
    } catch (error) {
      connection.abort();
      throw new MPIError('ERR_MPI_BOOTSTRAP', `the rendezvous server at ${url} did not let rank ${opts.rank} join: ${(error as Error).message}`, { cause: error });
    }
    if (reply.op !== 'welcome') {
      connection.abort();
      throw new MPIError('ERR_MPI_BOOTSTRAP', `the rendezvous server at ${url} refused rank ${opts.rank}: ${String(reply.reason ?? reply.op)}`);
    }
    const client = new KvClient(connection);
    void client.#readLoop();
    return client;
  }

  /** Called when the server says the job ends. */
  onAbort(handler: (code: number, reason: string) => void): void { this.#onAbort = handler; }
  /** Called when the connection to the server is lost before finalize (the launcher or rank 0 is gone). */
  onLost(handler: (error: unknown) => void): void { this.#onLost = handler; }

  unref(): this {
    this.#connection.unref();
    return this;
  }

  /** Gives `value` under `name` and resolves with every rank's value, in rank order. */
  exchange(name: string, value: Buffer, timeoutMs: number): Promise<Buffer[]> {
    const id = this.#nextId++;
    const result = new Promise<Buffer[]>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#connection.send(encode({ op: 'exchange', name, id }, [value])).catch((error: unknown) => {
      this.#pending.get(id)?.reject(error);
      this.#pending.delete(id);
    });
    // While waiting for the other ranks, the connection must keep the process alive.
    if (this.#refs++ === 0) this.#connection.ref();
    return withTimeout(result, timeoutMs, `all ranks to publish '${name}'`).finally(() => {
      if (--this.#refs === 0) this.#connection.unref();
    });
  }

  /** Says this rank leaves cleanly, then closes. */
  async finalize(): Promise<void> {
    this.#leaving = true;
    // The connection is unref()ed while the job runs; this exchange must keep the process alive.
    this.#connection.ref();
    await this.#connection.send(encode({ op: 'finalize' })).catch(() => {});
    await this.#connection.close();
  }

  /** Asks the server to end the job with `code`. */
  async abort(code: number, reason: string): Promise<void> {
    this.#leaving = true;
    this.#connection.ref();
    await withTimeout(this.#connection.send(encode({ op: 'abort', code, reason })), 2_000, 'the abort to be sent').catch(() => {});
  }

  close(): void {
    this.#leaving = true;
    this.#connection.abort();
  }

  async #readLoop(): Promise<void> {
    try {
      for (;;) {
        const { message, values } = decode(await this.#connection.recv());
        if (message.op === 'exchanged') {
          const id = Number(message.id);
          this.#pending.get(id)?.resolve(values);
          this.#pending.delete(id);
        } else if (message.op === 'abort') {
          this.#leaving = true;
          this.#onAbort?.(Number(message.code ?? 1), String(message.reason ?? 'the job was aborted'));
        }
      }
    } catch (error) {
      for (const { reject } of this.#pending.values()) reject(error);
      this.#pending.clear();
      if (!this.#leaving && !(error instanceof TransportError && error.code === 'ERR_TRANSPORT_CLOSED')) this.#onLost?.(error);
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new MPIError('ERR_MPI_BOOTSTRAP', `timed out after ${ms} ms waiting for ${what}`)), ms);
    promise.then((value) => { clearTimeout(timer); resolve(value); }, (error: unknown) => { clearTimeout(timer); reject(error); });
  });
}
