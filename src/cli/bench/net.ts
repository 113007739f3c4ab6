// ucx-bench --baseline tcp: the same latency and bandwidth cases over Node's
// own `node:net`, between the same two hosts, for context. Latency: a
// TCP_NODELAY request/reply ping-pong; bandwidth: windows of writes, each
// acknowledged by the receiver once it has all the window's bytes (as the
// node-ucx bandwidth tests count). One TCP connection per case.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { TESTS, windowCounts, type Case, type TestName } from './args.js';
import type { Measurement } from './tests.js';

const HEADER_SIZE = 20;
const ACK_SIZE = 8;
const MODE_LAT = 0;
const MODE_BW = 1;

/** Tests that get a net column: the *_lat and *_bw ones. */
export function hasNetBaseline(test: TestName): boolean {
  return /_(lat|bw)$/.test(test);
}

/** Whether a test's net latency is a whole round trip (atomic_lat reports whole operations), not half of one. */
function wholeRoundTrip(test: TestName): boolean {
  return test === 'atomic_lat';
}

/** Counts bytes arriving on a socket; until(n) resolves once n bytes in all have arrived. */
class ByteCounter {
  received = 0;
  #waiters: { target: number; resolve: () => void }[] = [];
  #failure: Error | null = null;

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.add(chunk.length));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('the net baseline connection closed early')));
  }

  add(bytes: number): void {
    this.received += bytes;
    this.#waiters = this.#waiters.filter((w) => {
      if (this.received < w.target) return true;
      w.resolve();
      return false;
    });
  }

  fail(error: Error): void {
    this.#failure ??= error;
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
  }

  async until(target: number): Promise<void> {
    if (this.received < target && this.#failure === null) {
      await new Promise<void>((resolve) => this.#waiters.push({ target, resolve }));
    }
    if (this.received < target && this.#failure !== null) throw this.#failure;
  }
}

// ---- server side: one connection per case, its header says what to do ----

function windowsOf(c: Pick<Case, 'warmup' | 'iters' | 'window'>): number[] {
  return [...windowCounts(c.warmup, c.window), ...windowCounts(c.iters, c.window)];
}

/** Serves one baseline connection: echoes (latency) or acknowledges windows (bandwidth). */
function serveNetConnection(socket: net.Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  let header: Buffer = Buffer.alloc(0);
  let handle: ((bytes: number) => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    if (handle === null) {
      header = Buffer.concat([header, chunk]);
      if (header.length < HEADER_SIZE) return;
      handle = handlerFor(socket, header);
      const rest = header.length - HEADER_SIZE;
      if (rest > 0) handle(rest);
      return;
    }
    handle(chunk.length);
  });
}

function handlerFor(socket: net.Socket, header: Buffer): (bytes: number) => void {
  const mode = header.readUInt32LE(0);
  const size = header.readUInt32LE(4);
  const c = { warmup: header.readUInt32LE(8), iters: header.readUInt32LE(12), window: header.readUInt32LE(16) };
  let pending = 0;
  if (mode === MODE_LAT) {
    const reply = Buffer.alloc(size, 2);
    return (bytes) => {
      for (pending += bytes; pending >= size; pending -= size) socket.write(reply);
    };
  }
  const ack = Buffer.alloc(ACK_SIZE);
  const ends: number[] = [];
  let sum = 0;
  for (const count of windowsOf(c)) ends.push((sum += count * size));
  let next = 0;
  return (bytes) => {
    pending += bytes;
    for (; next < ends.length && pending >= ends[next]!; next++) socket.write(ack);
  };
}

/** Listens for baseline connections; resolves with the server once it listens. */
export async function startNetServer(host: string): Promise<net.Server> {
  const server = net.createServer(serveNetConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return server;
}

export function netServerPort(server: net.Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the net baseline server has no TCP port');
  return address.port;
}

// ---- client side ----

async function connect(host: string, port: number): Promise<net.Socket> {
  const socket = net.connect({ host, port, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

function headerOf(mode: number, c: Case): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  [mode, c.size, c.warmup, c.iters, c.window].forEach((value, i) => header.writeUInt32LE(value, 4 * i));
  return header;
}

async function netPingPong(socket: net.Socket, counter: ByteCounter, c: Case): Promise<Measurement> {
  const out = Buffer.alloc(c.size, 1);
  const divisor = wholeRoundTrip(c.test) ? 1 : 2;
  const samples = new Float64Array(c.iters);
  let started = 0;
  for (let i = 0; i < c.warmup + c.iters; i++) {
    if (i === c.warmup) started = performance.now();
    const t0 = performance.now();
    socket.write(out);
    await counter.until((i + 1) * c.size);
    if (i >= c.warmup) samples[i - c.warmup] = ((performance.now() - t0) * 1000) / divisor;
  }
  return { samples, totalUs: (performance.now() - started) * 1000, check: null };
}

/** Windows of writes, at most two unacknowledged, timed until the receiver acknowledges the last one. */
async function netWindows(socket: net.Socket, counter: ByteCounter, c: Case): Promise<Measurement> {
  const data = Buffer.alloc(c.size, 1);
  let acksBefore = 0;
  const run = async (counts: number[]): Promise<{ samples: Float64Array; totalUs: number }> => {
    const acked = new Float64Array(counts.length);
    const waits: Promise<void>[] = [];
    const start = performance.now();
    for (let k = 0; k < counts.length; k++) {
      if (k >= 2) await waits[k - 2];
      const window = k;
      waits.push(
        counter.until((acksBefore + k + 1) * ACK_SIZE).then(() => {
          acked[window] = performance.now();
        }),
      );
      for (let j = 0; j < counts[k]!; j++) socket.write(data);
    }
    await Promise.all(waits);
    const end = performance.now();
    acksBefore += counts.length;
    const samples = new Float64Array(counts.length);
    for (let k = 0; k < counts.length; k++) {
      const from = k >= 2 ? acked[k - 2]! : start;
      samples[k] = ((acked[k]! - from) * 1000) / (counts[k]! + (k >= 1 ? counts[k - 1]! : 0));
    }
    return { samples, totalUs: (end - start) * 1000 };
  };
  if (c.warmup > 0) await run(windowCounts(c.warmup, c.window));
  return { ...(await run(windowCounts(c.iters, c.window))), check: null };
}

/** Measures one case over node:net against a baseline server at host:port. */
export async function runNetCase(host: string, port: number, c: Case): Promise<Measurement> {
  const socket = await connect(host, port);
  const counter = new ByteCounter(socket);
  try {
    const lat = TESTS[c.test].kind === 'lat';
    socket.write(headerOf(lat ? MODE_LAT : MODE_BW, c));
    return lat ? await netPingPong(socket, counter, c) : await netWindows(socket, counter, c);
  } finally {
    socket.destroy();
  }
}
