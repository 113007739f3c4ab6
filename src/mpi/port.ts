// Ports: how two MPI jobs meet (MPI_Open_port, MPI_Comm_accept/connect; MPI_Comm_spawn uses one too).
// A port is a TCP listener in the accepting root's process; its name carries where it listens and a
// random token, which is the capability to connect: the roots prove they hold it by the challenge-response
// of auth.ts (the token never crosses the wire). Then each root sends its group (size, a context-id
// candidate, the members' process cards) and reads the other's, and the connection stays open as the
// link between the two jobs until they disconnect: if it ends before a 'bye', the other job is gone.
//
//   name: node-ucx-port:tcp://host:port[,tcp://host2:port...]/<48 hex token>
//
//   acceptor → connector  {op:'challenge', v, nonce}
//   connector → acceptor  {op:'join', v, nonce, mac}
//   acceptor → connector  {op:'welcome', mac} | {op:'denied', reason}
//   both ways             {op:'group', size, context} + one card a frame
//   both ways             {op:'bye'}      the jobs disconnect; the link then closes
import { randomBytes } from 'node:crypto';
import { TcpTransport, type TcpConnection, type TcpListener } from '../transport/tcp.js';
import { AUTH_VERSION, isNonce, newNonce, proof, proofMatches } from './auth.js';
import { routableHosts } from './bootstrap.js';
import { PRE_AUTH_MAX_BYTES, HELLO_TIMEOUT_MS } from './kvstore.js';
import { MPIError } from './errors.js';
import { MAX_RANKS } from './tags.js';

const PREFIX = 'node-ucx-port:';
const LINK_MAX_BYTES = 64 << 20;

export interface PortAddress {
  urls: string[];
  token: string;
}

/** The port name's parts; a malformed name is ERR_MPI_ARG. */
export function parsePortName(name: unknown): PortAddress {
  if (typeof name !== 'string' || !name.startsWith(PREFIX) || name.length > 4096) {
    throw new MPIError('ERR_MPI_ARG', `not a port name (${PREFIX}...): ${String(name).slice(0, 80)}`);
  }
  const body = name.slice(PREFIX.length);
  const slash = body.lastIndexOf('/');
  const token = body.slice(slash + 1);
  const urls = body
    .slice(0, Math.max(0, slash))
    .split(',')
    .filter((u) => u !== '');
  if (slash < 0 || !/^[0-9a-f]{48}$/.test(token) || urls.length === 0 || !urls.every((u) => /^tcp:\/\/(\[[^\]]+\]|[^:/,\s]+):\d+$/.test(u))) {
    throw new MPIError('ERR_MPI_ARG', `a malformed port name: ${name.slice(0, 80)}`);
  }
  return { urls, token };
}

interface Message {
  op: string;
  [key: string]: unknown;
}

function encode(message: Message, values: readonly Uint8Array[] = []): Buffer[] {
  return [Buffer.from(JSON.stringify(message)), ...values.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength))];
}

function decode(frames: Buffer[], what: string): { message: Message; values: Buffer[] } {
  let message: unknown;
  try {
    message = JSON.parse(frames[0]?.toString('utf8') ?? '');
  } catch {
    throw new MPIError('ERR_MPI_PORT', `${what}: a message that is not JSON`);
  }
  if (typeof message !== 'object' || message === null || typeof (message as Message).op !== 'string') {
    throw new MPIError('ERR_MPI_PORT', `${what}: a message without an op`);
  }
  return { message: message as Message, values: frames.slice(1) };
}

function timed<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new MPIError('ERR_MPI_PORT', `timed out after ${ms} ms waiting for ${what}`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** What one side of a link tells the other about its group. */
export interface GroupInfo {
  size: number;
  context: number;
  cards: Uint8Array[];
}

/** The link between two jobs' roots, once both proved the token. */
export class PortLink {
  readonly #connection: TcpConnection;
  readonly #what: string;
  #leaving = false;
  #onLost: ((reason: string) => void) | null = null;
  #group: Promise<GroupInfo> | null = null;
  #resolveGroup!: (group: GroupInfo) => void;
  #rejectGroup!: (error: unknown) => void;

  /** @internal */
  constructor(connection: TcpConnection, what: string) {
    this.#connection = connection;
    this.#what = what;
    connection.maxMessageBytes = LINK_MAX_BYTES;
    this.#group = new Promise<GroupInfo>((resolve, reject) => {
      this.#resolveGroup = resolve;
      this.#rejectGroup = reject;
    });
    this.#group.catch(() => {});
    void this.#readLoop();
  }

  /** Sends this side's group and resolves with the other's. */
  async exchange(mine: GroupInfo, timeoutMs: number): Promise<GroupInfo> {
    await this.#connection.send(encode({ op: 'group', size: mine.size, context: mine.context }, mine.cards));
    return timed(this.#group!, timeoutMs, `the other job's group over ${this.#what}`);
  }

  /** Called if the link ends before the jobs disconnect (the other job, or the link, is gone). */
  watch(onLost: (reason: string) => void): void {
    this.#onLost = onLost;
    // The link alone never keeps a process alive.
    this.#connection.unref();
  }

  /** The jobs disconnect: say so, then close (the other side's end is then expected). */
  async disconnect(): Promise<void> {
    this.#leaving = true;
    await this.#connection.send(encode({ op: 'bye' })).catch(() => {});
    await timed(this.#connection.close(), 2_000, 'the link to close').catch(() => this.#connection.abort());
  }

  abort(): void {
    this.#leaving = true;
    this.#connection.abort();
  }

  async #readLoop(): Promise<void> {
    try {
      for (;;) {
        const { message, values } = decode(await this.#connection.recv(), this.#what);
        if (message.op === 'group') {
          const { size, context } = message;
          if (
            typeof size !== 'number' ||
            !Number.isInteger(size) ||
            size < 1 ||
            size > MAX_RANKS ||
            values.length !== size ||
            typeof context !== 'number' ||
            !Number.isInteger(context) ||
            context < 0
          ) {
            throw new MPIError('ERR_MPI_PORT', `${this.#what}: a malformed group`);
          }
          this.#resolveGroup({ size, context, cards: values });
        } else if (message.op === 'bye') {
          this.#leaving = true;
        }
      }
    } catch (error) {
      this.#rejectGroup(
        error instanceof MPIError ? error : new MPIError('ERR_MPI_PORT', `${this.#what} closed: ${(error as Error).message}`, { cause: error }),
      );
      if (!this.#leaving) {
        this.#leaving = true;
        this.#connection.abort();
        this.#onLost?.(`lost the connected job (${this.#what} ended before it disconnected: its root, or the link to it, is gone)`);
      }
    }
  }
}

/** An open port: a listener that hands out links from connectors that proved the token. */
export class Port {
  readonly name: string;
  readonly #listener: TcpListener;
  readonly #token: string;
  readonly #ready: PortLink[] = [];
  readonly #waiting: { resolve: (link: PortLink) => void; reject: (error: unknown) => void }[] = [];
  #closed = false;

  private constructor(listener: TcpListener, token: string, hosts: readonly string[]) {
    this.#listener = listener;
    this.#token = token;
    this.name = `${PREFIX}${hosts.map((h) => `tcp://${h.includes(':') ? `[${h}]` : h}:${listener.port}`).join(',')}/${token}`;
  }

  /** Listens on every interface (local: on 127.0.0.1 only) and makes the port's name. */
  static async open(local = false): Promise<Port> {
    let port: Port | undefined;
    const early: TcpConnection[] = [];
    const listener = (await new TcpTransport().listen(`tcp://${local ? '127.0.0.1' : '0.0.0.0'}:0`, (connection) => {
      const tcp = connection as TcpConnection;
      tcp.maxMessageBytes = PRE_AUTH_MAX_BYTES;
      if (port === undefined) early.push(tcp);
      else port.#accept(tcp);
    })) as TcpListener;
    listener.unref();
    port = new Port(listener, randomBytes(24).toString('hex'), local ? ['127.0.0.1'] : [...routableHosts(), '127.0.0.1']);
    for (const tcp of early) port.#accept(tcp);
    return port;
  }

  /** The next link from a connector that proved the token (in arrival order). */
  accept(timeoutMs: number): Promise<PortLink> {
    if (this.#closed) return Promise.reject(new MPIError('ERR_MPI_PORT', 'the port is closed'));
    const ready = this.#ready.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return timed(new Promise<PortLink>((resolve, reject) => this.#waiting.push({ resolve, reject })), timeoutMs, 'a job to connect to the port');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(new MPIError('ERR_MPI_PORT', 'the port was closed'));
    for (const link of this.#ready.splice(0)) link.abort();
    await this.#listener.close();
  }

  #accept(connection: TcpConnection): void {
    if (this.#closed) {
      connection.abort();
      return;
    }
    const serverNonce = newNonce();
    const timer = setTimeout(() => connection.abort(), HELLO_TIMEOUT_MS);
    timer.unref();
    void (async () => {
      try {
        await connection.send(encode({ op: 'challenge', v: AUTH_VERSION, nonce: serverNonce }));
        const { message } = decode(await connection.recv(), 'a port connection');
        if (
          message.op !== 'join' ||
          message.v !== AUTH_VERSION ||
          !isNonce(message.nonce) ||
          !proofMatches(proof(this.#token, 'client', serverNonce, message.nonce, 'port'), message.mac)
        ) {
          await connection.send(encode({ op: 'denied', reason: 'wrong port token' })).catch(() => {});
          await timed(connection.close(), 1_000, 'close').catch(() => {});
          connection.abort();
          return;
        }
        clearTimeout(timer);
        await connection.send(encode({ op: 'welcome', mac: proof(this.#token, 'server', serverNonce, message.nonce, 'port') }));
        const link = new PortLink(connection, `the link to the connected job (from ${connection.peerAddress})`);
        const waiter = this.#waiting.shift();
        if (waiter !== undefined) waiter.resolve(link);
        else this.#ready.push(link);
      } catch {
        clearTimeout(timer);
        connection.abort();
      }
    })();
  }
}

/** Connects to a port (trying its addresses in turn until one answers) and proves the token. */
export async function connectPort(name: string, timeoutMs: number): Promise<PortLink> {
  const { urls, token } = parsePortName(name);
  const deadline = Date.now() + timeoutMs;
  const transport = new TcpTransport();
  let lastError: unknown;
  while (Date.now() < deadline) {
    for (const url of urls) {
      let connection: TcpConnection;
      try {
        connection = (await transport.connect(url, { timeoutMs: Math.max(1, Math.min(2_000, deadline - Date.now())) })) as TcpConnection;
      } catch (error) {
        lastError = error;
        continue;
      }
      connection.maxMessageBytes = PRE_AUTH_MAX_BYTES;
      try {
        const { message: challenge } = decode(await timed(connection.recv(), Math.max(1, deadline - Date.now()), "the port's challenge"), url);
        if (challenge.op !== 'challenge' || challenge.v !== AUTH_VERSION || !isNonce(challenge.nonce))
          throw new MPIError('ERR_MPI_PORT', `${url} is not a node-ucx port`);
        const clientNonce = newNonce();
        await connection.send(encode({ op: 'join', v: AUTH_VERSION, nonce: clientNonce, mac: proof(token, 'client', challenge.nonce, clientNonce, 'port') }));
        const { message: answer } = decode(await timed(connection.recv(), Math.max(1, deadline - Date.now()), "the port's answer"), url);
        if (answer.op !== 'welcome' || !proofMatches(proof(token, 'server', challenge.nonce, clientNonce, 'port'), answer.mac)) {
          throw new MPIError(
            'ERR_MPI_PORT',
            `the port at ${url} refused the connection (${answer.op === 'denied' ? 'wrong port token' : 'it does not hold the token'})`,
          );
        }
        return new PortLink(connection, `the link to the accepting job (${url})`);
      } catch (error) {
        connection.abort();
        if (error instanceof MPIError && /refused|not a node-ucx port/.test(error.message)) throw error;
        lastError = error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new MPIError(
    'ERR_MPI_PORT',
    `cannot connect to the port at ${urls.join(', ')} within ${timeoutMs} ms: ${(lastError as Error | undefined)?.message ?? 'no answer'}`,
    { cause: lastError },
  );
}
