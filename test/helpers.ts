// Shared test plumbing: real peer processes (killed after every test), deadlines
// with messages that say what was awaited, and the progress modes every
// behavioural suite runs in.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach } from 'vitest';
import { Context, type Worker, type Endpoint, type ProgressMode, type ErrorHandling } from 'node-ucx';

export const PROGRESS_MODES = ['event', 'poll', 'adaptive'] as const;
/** Fixtures several areas share (peer.mjs, ipc.mjs); an area's own fixtures sit in its fixtures/ folder. */
export const FIXTURES = path.resolve(__dirname, 'fixtures');

const live = new Set<ChildProcess>();
afterEach(() => {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
});

/** Rejects with "timed out after N ms waiting for <what>" unless `promise` settles first. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface PeerMessage {
  type: string;
  id?: number;
  result?: unknown;
  error?: { message: string; code?: string };
  [key: string]: unknown;
}

export interface Peer {
  child: ChildProcess;
  /** The next message of this type the peer sends over IPC. */
  next(type: string, ms?: number): Promise<PeerMessage>;
  /** Runs a command in the peer (test/fixtures/peer.mjs) and resolves with its result. */
  call<T = unknown>(cmd: string, args?: Record<string, unknown>, ms?: number): Promise<T>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Forks a fixture (a path, or a name in test/fixtures/) with an IPC channel; it is SIGKILLed after the test whatever happens. */
export function startPeer(fixture: string, args: string[] = [], env: Record<string, string> = {}): Peer {
  const child = fork(path.resolve(FIXTURES, fixture), args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(child);
  const inbox: PeerMessage[] = [];
  const waiters: { type: string; resolve: (m: PeerMessage) => void }[] = [];
  child.on('message', (raw) => {
    const message = raw as PeerMessage;
    if (message.type === 'done') return; // answers to call(), below
    const index = waiters.findIndex((w) => w.type === message.type);
    if (index >= 0) waiters.splice(index, 1)[0]!.resolve(message);
    else inbox.push(message);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  let seq = 0;
  const pendingCalls = new Map<number, (m: PeerMessage) => void>();
  child.on('message', (raw) => {
    const message = raw as PeerMessage;
    if (message.type === 'done' && message.id !== undefined) pendingCalls.get(message.id)?.(message);
  });
  return {
    child,
    exited,
    kill: (signal = 'SIGKILL') => child.kill(signal),
    next(type, ms = 15_000) {
      const index = inbox.findIndex((m) => m.type === type);
      if (index >= 0) return Promise.resolve(inbox.splice(index, 1)[0]!);
      return within(new Promise<PeerMessage>((resolve) => waiters.push({ type, resolve })), ms, `'${type}' from ${fixture}`);
    },
    call<T>(cmd: string, args: Record<string, unknown> = {}, ms = 30_000): Promise<T> {
      const id = ++seq;
      const done = new Promise<T>((resolve, reject) => {
        pendingCalls.set(id, (message) => {
          pendingCalls.delete(id);
          if (message.error) reject(Object.assign(new Error(message.error.message), { code: message.error.code }));
          else resolve(message.result as T);
        });
      });
      child.send({ cmd, id, ...args });
      return within(done, ms, `${fixture} to finish '${cmd}'`);
    },
  };
}

export interface Process {
  child: ChildProcess;
  /** The first stdout line (not yet taken) that matches `re`; rejects, with stderr, if the process exits first. */
  line(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Spawns any program (a compiled fixture, say); like startPeer, it is SIGKILLed after the test whatever happens. */
export function startProcess(command: string, args: string[] = [], env: Record<string, string> = {}): Process {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const name = path.basename(command);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  let stderr = '';
  let status: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const wake = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (error) => {
      stderr += String(error);
      status = { code: null, signal: null };
      live.delete(child);
      resolve(status);
      wake();
    });
    // 'close', not 'exit': by then stdout and stderr have been read to the end.
    child.once('close', (code, signal) => {
      status ??= { code, signal };
      live.delete(child);
      resolve(status);
      wake();
    });
  });
  return {
    child,
    exited,
    stderr: () => stderr,
    kill: (signal = 'SIGKILL') => child.kill(signal),
    line(re, ms = 15_000) {
      let waiter!: () => void;
      const found = new Promise<RegExpMatchArray>((resolve, reject) => {
        waiter = () => {
          const index = lines.findIndex((l) => re.test(l));
          if (index >= 0) {
            waiters.delete(waiter);
            resolve(lines.splice(index, 1)[0]!.match(re)!);
          } else if (status !== undefined) {
            waiters.delete(waiter);
            reject(new Error(`${name} exited (${status.signal ?? status.code}) before printing ${re}; stderr: ${stderr.trim() || '(empty)'}`));
          }
        };
        waiters.add(waiter);
        waiter();
      });
      return within(found, ms, `${re} from ${name}`).finally(() => waiters.delete(waiter));
    },
  };
}

/** A deterministic byte pattern, so that the receiver can check every byte (shared with the .mjs fixtures). */
export { pattern } from './fixtures/ipc.mjs';

export interface PeerConnection {
  context: Context;
  worker: Worker;
  peer: Peer;
  ep: Endpoint;
  close(): Promise<void>;
}

/** A Context and Worker here, test/fixtures/peer.mjs in another process, and an endpoint to it. */
export async function connectToPeer(progress: ProgressMode = 'event', errorHandling: ErrorHandling = 'peer'): Promise<PeerConnection> {
  const context = new Context();
  const worker = context.createWorker({ progress, errorHandling });
  const peer = startPeer('peer.mjs', [progress, errorHandling]);
  const { port } = await peer.next('ready');
  const ep = await within(worker.connect({ host: '127.0.0.1', port: port as number }), 10_000, 'connect to peer.mjs');
  await peer.next('connection');
  return {
    context,
    worker,
    peer,
    ep,
    async close() {
      await within(worker.close(), 10_000, 'worker.close()');
      context.close();
    },
  };
}
