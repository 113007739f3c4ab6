// The rendezvous key-value store: how the ranks of a job find each other's UCX worker addresses, and
// the job's watchdog. Plain TCP through the transport layer's TCP transport (no UCX is needed to find
// UCX), so that ucx-run can serve it without loading the native addon. See docs/mpi.md ("Bootstrap").
//
// Each message is a transport message: frame 0 is a JSON object, further frames are binary values.
//   server → client  {op:'challenge', v:2, nonce}                        first, on every connection
//   client → server  {op:'hello', v:2, rank, size, pid, host, nonce, mac} the proof (auth.ts), or the server hangs up
//   server → client  {op:'welcome', mac, served, host, heartbeatMs, timeoutMs} | {op:'denied', reason}
//   client → server  {op:'exchange', name, id} + value                    every rank gives one value under `name` ...
//   server → client  {op:'exchanged', id} + size values                   ... and gets all of them, in rank order
//   client → server  {op:'status', id}    server → client {op:'status', id, joined, waiting}   (for error messages)
//   either way       {op:'ping'}                                          heartbeat: silence for timeoutMs ends the job
//   client → server  {op:'finalize'}                                      this rank is leaving cleanly ...
//   server → client  {op:'released'}                                     ... every rank is: close UCX now
//   client → server  {op:'abort', code, reason}                           end the job now
//   server → client  {op:'abort', code, reason}                           the job is being ended
//
// What a peer sends is checked before it is used: before the proof, at most 4 KiB a message and 10 s;
// afterwards messages are bounded too, and a malformed one ends that connection (a rank's: the job),
// with a message that says so. Nothing a peer sends throws out of here or leaves a promise pending.
import os from 'node:os';
import { TcpTransport, type TcpConnection, type TcpListener } from '../transport/tcp.js';
import { TransportError } from '../transport/types.js';
import { AUTH_VERSION, isNonce, newNonce, proof, proofMatches } from './auth.js';
import { MPIError } from './errors.js';

export interface KvMessage {
  op: string;
  [key: string]: unknown;
}

/** What a peer may send before it has proved it knows the secret. */
export const PRE_AUTH_MAX_BYTES = 4096;
/** What a rank may send afterwards (a process card is ~1 KiB; names and reasons are short). */
export const RANK_MAX_BYTES = 1 << 20;
/** How long a connection may take to prove itself. */
export const HELLO_TIMEOUT_MS = 10_000;
const MAX_NAME = 256;
const MAX_REASON = 4096;

export interface Liveness {
  /** How often each side of a store connection says it is alive (ms). */
  heartbeatMs: number;
  /** Silence after which the other side is declared gone (ms). */
  timeoutMs: number;
}

type Env = Record<string, string | undefined>;

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new MPIError('ERR_MPI_ARG', `${name}=${raw}: expected a positive number of milliseconds`);
  return value;
}

/** NODE_UCX_HEARTBEAT_MS (500) and NODE_UCX_LIVENESS_TIMEOUT_MS (4000). */
export function livenessFromEnv(env: Env = process.env): Liveness {
  const heartbeatMs = positiveInt(env, 'NODE_UCX_HEARTBEAT_MS', 500);
  const timeoutMs = positiveInt(env, 'NODE_UCX_LIVENESS_TIMEOUT_MS', Math.max(4_000, 3 * heartbeatMs));
  if (timeoutMs < 2 * heartbeatMs)
    throw new MPIError('ERR_MPI_ARG', `NODE_UCX_LIVENESS_TIMEOUT_MS=${timeoutMs} must be at least twice NODE_UCX_HEARTBEAT_MS=${heartbeatMs}`);
  return { heartbeatMs, timeoutMs };
}

class KvProtocolError extends Error {}

function encode(message: KvMessage, values: readonly Buffer[] = []): Buffer[] {
  return [Buffer.from(JSON.stringify(message)), ...values];
}

/** Frame 0 as a message with a string `op`; anything else is a KvProtocolError. */
function decode(frames: Buffer[], maxFrames: number): { message: KvMessage; values: Buffer[] } {
  if (frames.length < 1 || frames.length > maxFrames) throw new KvProtocolError(`a message of ${frames.length} frames`);
  let message: unknown;
  try {
    message = JSON.parse(frames[0]!.toString('utf8'));
  } catch {
    throw new KvProtocolError('a message that is not JSON');
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message) || typeof (message as KvMessage).op !== 'string') {
    throw new KvProtocolError('a message without an op');
  }
  return { message: message as KvMessage, values: frames.slice(1) };
}

function shortText(value: unknown, max: number): string | null {
  return typeof value === 'string' && value.length <= max ? value : null;
}

function safeId(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : null;
}

function exitCode(value: unknown): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 255 ? value : 1;
}

/** Who a registered rank is, for messages. */
export interface RankInfo {
  rank: number;
  pid: number;
  host: string;
  address: string;
}

export function describeRank(info: RankInfo): string {
  const ip = info.address.replace(/^tcp:\/\//, '').replace(/:\d+$/, '');
  return `rank ${info.rank} (pid ${info.pid} on ${info.host}${ip !== '' && ip !== info.host ? `, ${ip}` : ''})`;
}

export interface KvServerOptions {
  /** Ranks in the job. */
  size: number;
  /** The job's secret; null: no check (a job without one, e.g. torch-style RANK/WORLD_SIZE launches). */
  secret: string | null;
  host?: string;
  port?: number;
  /** Who serves the store, for the ranks' messages ('ucx-run', 'rank 0'). */
  served?: string;
  liveness?: Liveness;
  /**
   * A rank that leaves without saying finalize ends the job: the server tells every rank (rank 0 serving
   * the store). ucx-run watches its ranks' exits itself and leaves this off.
   */
  abortOnGone?: boolean;
  /** A rank asked to abort the job (the others have been told). */
  onAbort?: (rank: number, code: number, reason: string) => void;
  /** A registered rank's connection ended; `finalized` says whether it said finalize first. */
  onRankGone?: (rank: number, finalized: boolean) => void;
  /** A rank stopped answering (or sent garbage): the job is being ended; `reason` says why. */
  onRankLost?: (rank: number, reason: string) => void;
  /** A rank passed the secret check. */
  onRegister?: (rank: number, info: RankInfo) => void;
  /** A connection was refused (wrong secret, bad rank, malformed bytes...). */
  onDenied?: (reason: string) => void;
}

interface RankEntry {
  connection: TcpConnection;
  finalized: boolean;
  gone: boolean;
  info: RankInfo;
  heard: number;
}
interface Exchange {
  values: (Buffer | undefined)[];
  count: number;
  waiting: { connection: TcpConnection; id: number }[];
}

export class KvServer {
  readonly url: string;
  /** Every address the store may be reached at (url first). */
  readonly urls: string[];
  readonly size: number;
  readonly port: number;
  readonly #listener: TcpListener;
  readonly #opts: KvServerOptions;
  readonly #liveness: Liveness;
  readonly #ranks = new Map<number, RankEntry>();
  readonly #exchanges = new Map<string, Exchange>();
  readonly #connections = new Set<TcpConnection>();
  readonly #heartbeat: NodeJS.Timeout;
  #finalizedWaiters: (() => void)[] = [];
  #released = false;
  #ending = false;
  #closed = false;

  private constructor(listener: TcpListener, opts: KvServerOptions, advertised: readonly string[]) {
    this.#listener = listener;
    this.#opts = opts;
    this.#liveness = opts.liveness ?? livenessFromEnv();
    this.size = opts.size;
    this.port = listener.port;
    this.urls = advertised.map((host) => `tcp://${host.includes(':') ? `[${host}]` : host}:${listener.port}`);
    this.url = this.urls[0]!;
    this.#heartbeat = setInterval(() => this.#beat(), this.#liveness.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Listens on host:port (default 127.0.0.1, any port) and serves the store. `advertise`: the hosts put in `urls`. */
  static async start(opts: KvServerOptions, advertise?: string | readonly string[]): Promise<KvServer> {
    let server: KvServer | undefined;
    const pending: TcpConnection[] = [];
    const listener = await new TcpTransport().listen(`tcp://${formatHost(opts.host ?? '127.0.0.1')}:${opts.port ?? 0}`, (connection) => {
      const tcp = connection as TcpConnection;
      // Nothing is read before this returns: a peer that has not proved itself may send only this much.
      tcp.maxMessageBytes = PRE_AUTH_MAX_BYTES;
      if (server === undefined) pending.push(tcp);
      else server.#accept(tcp);
    });
    const hosts = advertise === undefined ? [opts.host ?? '127.0.0.1'] : typeof advertise === 'string' ? [advertise] : [...advertise];
    if (hosts.length === 0) hosts.push(opts.host ?? '127.0.0.1');
    server = new KvServer(listener as TcpListener, opts, hosts);
    for (const tcp of pending) server.#accept(tcp);
    return server;
  }

  get registered(): number {
    return this.#ranks.size;
  }
  get liveness(): Liveness {
    return this.#liveness;
  }

  /** Whether `rank` registered and said finalize before leaving (or is still connected having said it). */
  finalized(rank: number): boolean {
    return this.#ranks.get(rank)?.finalized === true;
  }

  isRegistered(rank: number): boolean {
    return this.#ranks.has(rank);
  }

  /** Whether a registered rank's connection is still open. */
  isConnected(rank: number): boolean {
    return this.#ranks.get(rank)?.gone === false;
  }

  /** Who a registered rank is. */
  rankInfo(rank: number): RankInfo | undefined {
    return this.#ranks.get(rank)?.info;
  }

  /** Lets the process exit while the server is open. */
  unref(): this {
    this.#listener.unref();
    for (const connection of this.#connections) connection.unref();
    return this;
  }

  /** Resolves once every rank has said finalize (or `ms` passed). */
  waitAllFinalized(ms: number): Promise<boolean> {
    const all = (): boolean => this.#allFinalized();
    if (all()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      // Not unref()ed: the server must stay until the others have said finalize, or they would lose the store.
      const timer = setTimeout(() => resolve(false), ms);
      this.#finalizedWaiters.push(() => {
        if (all()) {
          clearTimeout(timer);
          resolve(true);
        }
      });
    });
  }

  /** Resolves once every registered rank's connection has ended (or `ms` passed). */
  async waitAllGone(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while ([...this.#ranks.values()].some((entry) => !entry.gone)) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return true;
  }

  /** Tells every connected rank (but `except`) that the job ends. */
  broadcastAbort(code: number, reason: string, except?: number): Promise<void> {
    this.#ending = true;
    const sends: Promise<void>[] = [];
    for (const [rank, entry] of this.#ranks) {
      if (rank === except || entry.connection.closed) continue;
      sends.push(entry.connection.send(encode({ op: 'abort', code, reason })).catch(() => {}));
    }
    return withDeadline(
      Promise.all(sends).then(() => undefined),
      2_000,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    await this.#listener.close();
    for (const connection of this.#connections) connection.abort();
  }

  #allFinalized(): boolean {
    return this.#ranks.size === this.size && [...this.#ranks.values()].every((r) => r.finalized);
  }

  /** Every heartbeat: ping the ranks, and end the job if one has been silent too long. */
  #beat(): void {
    const now = Date.now();
    for (const [rank, entry] of this.#ranks) {
      if (entry.gone || entry.connection.closed) continue;
      const silent = now - entry.heard;
      if (silent > this.#liveness.timeoutMs && !this.#ending) {
        this.#lost(rank, `${describeRank(entry.info)} has not answered for ${silent} ms: it is stopped (SIGSTOP), hung, or its host or network link is gone`);
        continue;
      }
      void entry.connection.send(encode({ op: 'ping' })).catch(() => {});
    }
  }

  /** A rank that cannot go on (silent, or speaking garbage): the job ends. */
  #lost(rank: number, reason: string): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#opts.onRankLost?.(rank, reason);
    void this.broadcastAbort(1, reason, rank);
    this.#ranks.get(rank)?.connection.abort();
  }

  #accept(connection: TcpConnection): void {
    if (this.#closed) {
      connection.abort();
      return;
    }
    this.#connections.add(connection);
    let rank = -1;
    const serverNonce = newNonce();
    // A connection must prove itself promptly.
    const helloTimer = setTimeout(() => {
      if (rank >= 0) return;
      this.#opts.onDenied?.(`no hello within ${HELLO_TIMEOUT_MS} ms from ${connection.peerAddress}`);
      connection.abort();
    }, HELLO_TIMEOUT_MS);
    helloTimer.unref();
    // The reason goes out before the connection closes (gracefully: an abort could drop it).
    const deny = async (reason: string): Promise<void> => {
      this.#opts.onDenied?.(reason);
      await withDeadline(
        connection.send(encode({ op: 'denied', reason })).catch(() => {}),
        1_000,
      );
      await withDeadline(connection.close(), 1_000);
      connection.abort();
    };
    void (async () => {
      try {
        await connection.send(encode({ op: 'challenge', v: AUTH_VERSION, nonce: serverNonce }));
        const first = await connection.recv().then((frames) => {
          try {
            return decode(frames, 1).message;
          } catch (error) {
            return error as KvProtocolError;
          }
        });
        if (first instanceof KvProtocolError) return await deny(`${first.message} from ${connection.peerAddress}`);
        const denied = this.#checkHello(first, serverNonce);
        if (typeof denied === 'string') return await deny(denied);
        rank = denied.rank;
        clearTimeout(helloTimer);
        const info: RankInfo = { rank, pid: denied.pid, host: denied.host, address: connection.peerAddress };
        const entry: RankEntry = { connection, finalized: false, gone: false, info, heard: Date.now() };
        this.#ranks.set(rank, entry);
        connection.maxMessageBytes = RANK_MAX_BYTES;
        await connection.send(
          encode({
            op: 'welcome',
            mac: proof(this.#opts.secret, 'server', serverNonce, denied.nonce, `${rank}|${this.size}`),
            served: this.#opts.served ?? 'the rendezvous store',
            host: os.hostname(),
            heartbeatMs: this.#liveness.heartbeatMs,
            timeoutMs: this.#liveness.timeoutMs,
          }),
        );
        this.#opts.onRegister?.(rank, info);
        for (;;) {
          const frames = await connection.recv();
          entry.heard = Date.now();
          let message: KvMessage;
          let values: Buffer[];
          try {
            ({ message, values } = decode(frames, 2));
          } catch (error) {
            this.#lost(rank, `${describeRank(info)} sent the rendezvous store ${(error as Error).message}`);
            return;
          }
          this.#handle(entry, message, values);
        }
      } catch {
        // the connection ended
      } finally {
        clearTimeout(helloTimer);
        this.#connections.delete(connection);
        connection.abort();
        const entry = rank >= 0 ? this.#ranks.get(rank) : undefined;
        if (entry !== undefined && entry.connection === connection) {
          entry.gone = true;
          this.#opts.onRankGone?.(rank, entry.finalized);
          if (!entry.finalized && this.#opts.abortOnGone && !this.#ending && !this.#closed) {
            const reason = `${describeRank(entry.info)} exited without calling finalize (it failed or was killed)`;
            this.#ending = true;
            this.#opts.onRankLost?.(rank, reason);
            void this.broadcastAbort(1, reason);
          }
        }
      }
    })();
  }

  /** The hello's checks; a string is why it is refused. */
  #checkHello(message: KvMessage, serverNonce: string): { rank: number; pid: number; host: string; nonce: string } | string {
    if (message.op !== 'hello') return `'${shortText(message.op, 32) ?? '?'}' where a hello was expected`;
    if (message.v !== AUTH_VERSION) return `protocol version ${String(message.v).slice(0, 16)} (this store speaks ${AUTH_VERSION})`;
    const r = message.rank;
    const nonce = message.nonce;
    if (!isNonce(nonce)) return 'a hello without a nonce';
    if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r >= this.size) return `rank ${String(r).slice(0, 16)} is not in this job of ${this.size}`;
    if (message.size !== this.size) return `size ${String(message.size).slice(0, 16)} does not match the job's ${this.size}`;
    if (!proofMatches(proof(this.#opts.secret, 'client', serverNonce, nonce, `${r}|${this.size}`), message.mac)) return 'wrong job secret';
    if (this.#ranks.has(r)) return `rank ${r} has already joined`;
    const pid = typeof message.pid === 'number' && Number.isInteger(message.pid) && message.pid >= 0 ? message.pid : 0;
    const host = shortText(message.host, 255) ?? '?';
    return { rank: r, pid, host, nonce };
  }

  #handle(entry: RankEntry, message: KvMessage, values: Buffer[]): void {
    const rank = entry.info.rank;
    switch (message.op) {
      case 'ping':
        break;
      case 'exchange': {
        const name = shortText(message.name, MAX_NAME);
        const id = safeId(message.id);
        if (name === null || id === null || values.length !== 1) {
          this.#lost(rank, `${describeRank(entry.info)} sent the rendezvous store a malformed exchange`);
          return;
        }
        this.#exchange(rank, entry.connection, name, id, values[0]!);
        break;
      }
      case 'status': {
        const id = safeId(message.id);
        if (id === null) return;
        const joined = [...this.#ranks.keys()].sort((a, b) => a - b);
        const waiting = [...this.#exchanges.entries()].map(([name, e]) => ({ name, missing: missingRanks(e.values) }));
        void entry.connection.send(encode({ op: 'status', id, joined, waiting })).catch(() => {});
        break;
      }
      case 'finalize':
        entry.finalized = true;
        for (const wake of this.#finalizedWaiters) wake();
        if (this.#allFinalized() && !this.#released) {
          this.#released = true;
          for (const other of this.#ranks.values()) {
            if (!other.gone) void other.connection.send(encode({ op: 'released' })).catch(() => {});
          }
        }
        break;
      case 'abort': {
        const code = exitCode(message.code);
        const reason = shortText(message.reason, MAX_REASON) ?? 'MPI abort';
        const full = `rank ${rank} called abort(${code}): ${reason}`;
        if (!this.#ending) {
          this.#ending = true;
          void this.broadcastAbort(code, full, rank);
        }
        this.#opts.onAbort?.(rank, code, reason);
        break;
      }
      default:
        // An op of a later version: ignored.
        break;
    }
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

function missingRanks(values: readonly (Buffer | undefined)[]): number[] {
  const missing: number[] = [];
  for (let rank = 0; rank < values.length; rank++) if (values[rank] === undefined) missing.push(rank);
  return missing;
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export interface KvClientOptions {
  secret: string | null;
  rank: number;
  size: number;
  /** Give up connecting (the server may not be up yet) after this long (ms). */
  timeoutMs: number;
  /** Said at the end of a "cannot reach" error: what to set so that the store can be found. */
  hint?: string;
}

/** What the store said about itself in its welcome. */
export interface ServerInfo {
  url: string;
  served: string;
  host: string;
  liveness: Liveness;
}

export class KvClient {
  readonly server: ServerInfo;
  readonly #size: number;
  readonly #connection: TcpConnection;
  readonly #pending = new Map<number, { resolve: (values: Buffer[]) => void; reject: (error: unknown) => void }>();
  readonly #statusWaiters = new Map<number, (status: KvMessage) => void>();
  readonly #heartbeat: NodeJS.Timeout;
  #heard = Date.now();
  #nextId = 1;
  #refs = 0;
  #leaving = false;
  #lostOnce = false;
  #released: (() => void) | undefined;
  #onAbort: ((code: number, reason: string) => void) | undefined;
  #onLost: ((reason: string) => void) | undefined;

  private constructor(connection: TcpConnection, server: ServerInfo, size: number) {
    this.#connection = connection;
    this.server = server;
    this.#size = size;
    this.#heartbeat = setInterval(() => this.#beat(), server.liveness.heartbeatMs);
    this.#heartbeat.unref();
  }

  /**
   * Connects to the first of `urls` that answers (retrying while the server is not up yet), proves the
   * secret, checks the store's proof, and resolves once welcomed.
   */
  static async connect(urls: string | readonly string[], opts: KvClientOptions): Promise<KvClient> {
    const candidates = typeof urls === 'string' ? [urls] : [...urls];
    const deadline = Date.now() + opts.timeoutMs;
    const transport = new TcpTransport();
    let lastError: unknown;
    let refusal: MPIError | undefined;
    for (let attempt = 0; ; attempt++) {
      for (const url of candidates) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        let connection: TcpConnection;
        try {
          connection = (await transport.connect(url, { timeoutMs: Math.max(1, Math.min(candidates.length > 1 ? 2_000 : 5_000, left)) })) as TcpConnection;
        } catch (error) {
          lastError = error;
          continue;
        }
        try {
          return await KvClient.#join(connection, url, opts, deadline);
        } catch (error) {
          connection.abort();
          // Refused by the store (wrong secret...): say so, whatever the other candidates do.
          if (error instanceof MPIError) refusal = error;
          lastError = error;
          if (refusal !== undefined && /refused|did not prove/.test(refusal.message)) throw refusal;
        }
      }
      if (Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(25 * (attempt + 1), 250)));
    }
    if (refusal !== undefined) throw refusal;
    const where = candidates.length === 1 ? candidates[0] : `any of ${candidates.join(', ')}`;
    throw new MPIError(
      'ERR_MPI_BOOTSTRAP',
      `rank ${opts.rank}: cannot reach the rendezvous store at ${where} within ${opts.timeoutMs} ms ` +
        `(${(lastError as Error | undefined)?.message ?? 'no answer'})${opts.hint ? `. ${opts.hint}` : ''}`,
      { cause: lastError },
    );
  }

  static async #join(connection: TcpConnection, url: string, opts: KvClientOptions, deadline: number): Promise<KvClient> {
    const what = `the rendezvous store at ${url}`;
    const next = async (waitingFor: string): Promise<KvMessage> => {
      const frames = await withTimeout(connection.recv(), Math.max(1_000, deadline - Date.now()), `${what} to send its ${waitingFor}`);
      try {
        return decode(frames, 1).message;
      } catch (error) {
        throw new MPIError('ERR_MPI_BOOTSTRAP', `${what} sent ${(error as Error).message} (is it a node-ucx store?)`);
      }
    };
    const challenge = await next('challenge').catch((error: unknown) => {
      throw error instanceof MPIError
        ? error
        : new MPIError('ERR_MPI_BOOTSTRAP', `${what} did not let rank ${opts.rank} join: ${(error as Error).message}`, { cause: error });
    });
    if (challenge.op !== 'challenge' || challenge.v !== AUTH_VERSION || !isNonce(challenge.nonce)) {
      throw new MPIError('ERR_MPI_BOOTSTRAP', `${what} speaks another protocol (a node-ucx of another version, or not a node-ucx store)`);
    }
    const clientNonce = newNonce();
    const context = `${opts.rank}|${opts.size}`;
    await connection.send(
      encode({
        op: 'hello',
        v: AUTH_VERSION,
        rank: opts.rank,
        size: opts.size,
        pid: process.pid,
        host: os.hostname(),
        nonce: clientNonce,
        mac: proof(opts.secret, 'client', challenge.nonce, clientNonce, context),
      }),
    );
    const reply = await next('welcome').catch((error: unknown) => {
      throw error instanceof MPIError
        ? error
        : new MPIError('ERR_MPI_BOOTSTRAP', `${what} did not let rank ${opts.rank} join: ${(error as Error).message}`, { cause: error });
    });
    if (reply.op === 'denied') {
      throw new MPIError('ERR_MPI_BOOTSTRAP', `${what} refused rank ${opts.rank}: ${shortText(reply.reason, MAX_REASON) ?? 'denied'}`);
    }
    if (reply.op !== 'welcome' || !proofMatches(proof(opts.secret, 'server', challenge.nonce, clientNonce, context), reply.mac)) {
      throw new MPIError('ERR_MPI_BOOTSTRAP', `${what} did not prove it knows the job secret (another job's store, or an impostor)`);
    }
    const heartbeatMs = safeId(reply.heartbeatMs) ?? 500;
    const timeoutMs = safeId(reply.timeoutMs) ?? 4_000;
    const server: ServerInfo = {
      url,
      served: shortText(reply.served, 64) ?? 'the rendezvous store',
      host: shortText(reply.host, 255) ?? '?',
      liveness: { heartbeatMs, timeoutMs: Math.max(timeoutMs, 2 * heartbeatMs) },
    };
    const client = new KvClient(connection, server, opts.size);
    void client.#readLoop();
    return client;
  }

  /** Called when the server says the job ends. */
  onAbort(handler: (code: number, reason: string) => void): void {
    this.#onAbort = handler;
  }
  /** Called when the store is lost before finalize (it is gone, silent, or sent garbage); `reason` says which. */
  onLost(handler: (reason: string) => void): void {
    this.#onLost = handler;
  }

  /** Lets the process exit while the connection is open. */
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
    return new Promise<Buffer[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        void this.#status().then((status) => {
          const waiting = (status?.waiting as { name: string; missing: number[] }[] | undefined)?.find((w) => w.name === name);
          const missing = waiting?.missing ?? [];
          const joined = (status?.joined as number[] | undefined) ?? [];
          const absent = Array.from({ length: this.#size }, (_, r) => r).filter((r) => !joined.includes(r));
          const detail =
            status === null
              ? ''
              : absent.length > 0
                ? `: rank${absent.length > 1 ? 's' : ''} ${listRanks(absent)} never joined the store at ${this.server.url} (are they running, and can they reach that address? set NODE_UCX_RENDEZVOUS_HOST to an address every host can reach)`
                : missing.length > 0
                  ? `: rank${missing.length > 1 ? 's' : ''} ${listRanks(missing)} joined but have not published it yet`
                  : '';
          reject(new MPIError('ERR_MPI_BOOTSTRAP', `timed out after ${timeoutMs} ms waiting for all ranks to publish '${name}'${detail}`));
        });
      }, timeoutMs);
      result.then(
        (values) => {
          clearTimeout(timer);
          resolve(values);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    }).finally(() => {
      if (--this.#refs === 0) this.#connection.unref();
    });
  }

  /** Asks the store who has joined (for an error message); null if it does not answer within a second. */
  #status(): Promise<KvMessage | null> {
    const id = this.#nextId++;
    return new Promise<KvMessage | null>((resolve) => {
      const timer = setTimeout(() => {
        this.#statusWaiters.delete(id);
        resolve(null);
      }, 1_000);
      this.#statusWaiters.set(id, (status) => {
        clearTimeout(timer);
        resolve(status);
      });
      this.#connection.send(encode({ op: 'status', id })).catch(() => {
        clearTimeout(timer);
        resolve(null);
      });
    });
  }

  /**
   * Says this rank leaves cleanly and waits (at most `ms`) until every rank has: then nobody tears down
   * endpoints a peer is still flushing. Resolves whether released or not.
   */
  async finalize(ms = 30_000): Promise<boolean> {
    this.#leaving = true;
    // The connection is unref()ed while the job runs; this exchange must keep the process alive.
    this.#connection.ref();
    const released = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#released = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    const sent = await this.#connection.send(encode({ op: 'finalize' })).then(
      () => true,
      () => false,
    );
    const ok = sent && (await Promise.race([released, this.#connection.finished.then(() => false)]));
    clearInterval(this.#heartbeat);
    await withDeadline(this.#connection.close(), 2_000);
    return ok;
  }

  /** Asks the server to end the job with `code`. */
  async abort(code: number, reason: string): Promise<void> {
    this.#leaving = true;
    this.#connection.ref();
    await withTimeout(this.#connection.send(encode({ op: 'abort', code, reason: reason.slice(0, MAX_REASON) })), 2_000, 'the abort to be sent').catch(() => {});
  }

  close(): void {
    this.#leaving = true;
    clearInterval(this.#heartbeat);
    this.#connection.abort();
  }

  #beat(): void {
    if (this.#leaving) return;
    const silent = Date.now() - this.#heard;
    if (silent > this.server.liveness.timeoutMs) {
      this.#lost(
        `the rendezvous store at ${this.server.url} (${this.server.served} on ${this.server.host}) has not answered for ${silent} ms: ` +
          'it is stopped, hung, or its host or the network link is gone',
      );
      return;
    }
    void this.#connection.send(encode({ op: 'ping' })).catch(() => {});
  }

  #lost(reason: string): void {
    if (this.#lostOnce) return;
    this.#lostOnce = true;
    clearInterval(this.#heartbeat);
    const error = new MPIError('ERR_MPI_PROC_FAILED', reason);
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
    this.#connection.abort();
    if (!this.#leaving) this.#onLost?.(reason);
  }

  async #readLoop(): Promise<void> {
    try {
      for (;;) {
        const frames = await this.#connection.recv();
        this.#heard = Date.now();
        let message: KvMessage;
        let values: Buffer[];
        try {
          ({ message, values } = decode(frames, 1 + this.#size));
        } catch (error) {
          this.#lost(`the rendezvous store at ${this.server.url} sent ${(error as Error).message}`);
          return;
        }
        switch (message.op) {
          case 'exchanged': {
            const id = safeId(message.id);
            if (id === null) break;
            this.#pending.get(id)?.resolve(values);
            this.#pending.delete(id);
            break;
          }
          case 'status': {
            const id = safeId(message.id);
            if (id !== null) this.#statusWaiters.get(id)?.(message);
            break;
          }
          case 'released':
            this.#released?.();
            break;
          case 'abort':
            this.#leaving = true;
            this.#onAbort?.(exitCode(message.code), shortText(message.reason, MAX_REASON) ?? 'the job was aborted');
            break;
          default:
            break;
        }
      }
    } catch (error) {
      const closedHere = error instanceof TransportError && error.code === 'ERR_TRANSPORT_CLOSED';
      if (this.#leaving || closedHere) {
        for (const { reject } of this.#pending.values()) reject(error);
        this.#pending.clear();
        clearInterval(this.#heartbeat);
        return;
      }
      this.#lost(
        `lost the connection to the rendezvous store at ${this.server.url} (${this.server.served} on ${this.server.host}): ${(error as Error).message}`,
      );
    }
  }
}

function listRanks(ranks: readonly number[]): string {
  return ranks.length > 8 ? `${ranks.slice(0, 8).join(', ')}, ... (${ranks.length} in all)` : ranks.join(', ');
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new MPIError('ERR_MPI_BOOTSTRAP', `timed out after ${ms} ms waiting for ${what}`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Resolves when `promise` settles or after `ms`, whichever is first (never rejects). */
function withDeadline(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}
