// ucx-bench's measurements: both sides of every test. The client drives and
// times; the server answers (echoes, receives and acknowledges, or lends its
// memory). See docs/performance.md for how each number is counted.
import { performance } from 'node:perf_hooks';
import {
  FULL_MASK,
  type Batch,
  type Context,
  type Data,
  type DeviceMemory,
  type Endpoint,
  type MemoryHandle,
  type RemoteKey,
  type Worker,
} from '../../index.js';
import { ucxTransport, type Connection, type TransportListener } from '../../transport/index.js';
import * as cuda from '../../cuda.js';
import { TESTS, apiOf, windowCounts, formatSize, type Case, type Family } from './args.js';
import { expectControl, sendControl, type ControlOf } from './control.js';

/** What a run needs on either side. */
export interface Link {
  context: Context;
  worker: Worker;
  ep: Endpoint;
}

export interface Measurement {
  /**
   * µs per iteration: half a round trip (ping-pong tests), one whole operation (atomic_lat), or,
   * for bandwidth tests, the time of each window divided by its messages.
   */
  samples: Float64Array;
  /** µs for all the measured iterations together. */
  totalUs: number;
  /** null, or what the server found wrong when it checked the data. */
  check: string | null;
}

type Side = 'client' | 'server';
type MessagingFamily = Exclude<Family, 'put' | 'get' | 'atomic' | 'transport'>;

/** Messages one way and the other: the client sends "out", the server sends "back". */
interface Channel {
  send(data: Data): Promise<unknown>;
  /** Posts a receive for the next message (for active messages: waits for the next arrival). */
  recv(into: Data): Promise<unknown>;
  /** `completed`: every message arrived, so nothing can still be landing in the channel's buffers. */
  close(completed: boolean): void;
}

const RESOLVED = Promise.resolve();
const ACK_SIZE = 8;
// Active message ids: client → server and server → client.
const AM_OUT = 1;
const AM_BACK = 2;

function isMessaging(family: Family): family is MessagingFamily {
  return family !== 'put' && family !== 'get' && family !== 'atomic' && family !== 'transport';
}

/** Counts arrivals of one active message id; next() resolves on the next one (or at once if one is waiting). */
class Inbox {
  #waiters: (() => void)[] = [];
  #arrived = 0;

  deliver(): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter();
    else this.#arrived++;
  }

  next(): Promise<void> {
    if (this.#arrived > 0) {
      this.#arrived--;
      return RESOLVED;
    }
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}

function openChannel(family: MessagingFamily, side: Side, link: Link, runId: number, size: number, mem: Case['mem']): Channel {
  const { ep, worker } = link;
  switch (family) {
    case 'tag': {
      // Each run has its own pair of raw tags, so nothing left over from an earlier run can match.
      const out = BigInt(runId) << 1n;
      const back = out | 1n;
      const [sendTag, recvTag] = side === 'client' ? [out, back] : [back, out];
      return {
        send: (data) => ep.tagSend(data, sendTag),
        recv: (into) => worker.tagRecv(into, recvTag),
        close: () => {},
      };
    }
    case 'ep':
      return { send: (data) => ep.send(data), recv: (into) => ep.recv(into), close: () => {} };
    case 'stream':
      return {
        send: (data) => ep.streamSend(data),
        recv: (into) => ep.streamRecv(into, { waitAll: true }),
        close: () => {},
      };
    case 'am': {
      const [sendId, recvId] = side === 'client' ? [AM_OUT, AM_BACK] : [AM_BACK, AM_OUT];
      const inbox = new Inbox();
      // Rendezvous payloads land in one reused buffer in the case's memory, as in ucx_perftest.
      const landing = allocate(size, mem);
      worker.onActiveMessage(recvId, () => inbox.deliver(), { allocate: () => landing.data });
      return {
        send: (data) => ep.amSend(sendId, null, data),
        recv: () => inbox.next(),
        close: (completed) => {
          worker.onActiveMessage(recvId, null);
          if (completed) release(landing);
        },
      };
    }
    case 'obj': {
      // A small record with a string payload of `size` characters: what an application would send.
      const value = { seq: 0, kind: 'ucx-bench', payload: 'x'.repeat(size) };
      return {
        send: () => {
          value.seq++;
          return ep.sendObject(value);
        },
        recv: () => ep.recvObject(),
        close: () => {},
      };
    }
  }
}

/** A message buffer in the case's memory: host (filled with `fill`) or device (cudaMalloc). */
interface Payload {
  data: Data;
  /** The device allocation to free, or null for host memory. */
  device: DeviceMemory | null;
}

function allocate(size: number, mem: Case['mem'], fill = 0): Payload {
  if (mem === 'host') return { data: Buffer.alloc(size, fill), device: null };
  const device = cuda.malloc(Math.max(size, 1));
  return { data: { ...device, length: size }, device };
}

/**
 * Frees device buffers once every operation on them has completed. Called on success only: after a
 * failure an operation may still hold the buffer, and a leak until exit beats UCX writing freed memory.
 * (Host buffers need nothing: the binding pins them while UCX uses them.)
 */
function release(...payloads: Payload[]): void {
  for (const payload of payloads) if (payload.device !== null) cuda.free(payload.device);
}

/** Rejects with a message naming what was awaited unless `promise` settles within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no progress within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Marks a promise as handled now; awaiting it later still throws. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

// ---- ping-pong (client) and echo (server) ----

async function pingPong(channel: Channel, c: Case): Promise<Measurement> {
  const outPayload = allocate(c.size, c.mem, 1);
  const backPayload = allocate(c.size, c.mem);
  const measurement = await pingPongWith(channel, c, outPayload.data, backPayload.data);
  release(outPayload, backPayload);
  return measurement;
}

async function pingPongWith(channel: Channel, c: Case, out: Data, back: Data): Promise<Measurement> {
  const total = c.warmup + c.iters;
  const samples = new Float64Array(c.iters);
  let started = 0;
  for (let i = 0; i < total; i++) {
    if (i === c.warmup) started = performance.now();
    const t0 = performance.now();
    // The answer's receive is posted before the ping leaves, so it never arrives unexpected.
    const answer = channel.recv(back);
    await channel.send(out);
    await answer;
    if (i >= c.warmup) samples[i - c.warmup] = ((performance.now() - t0) * 1000) / 2;
  }
  return { samples, totalUs: (performance.now() - started) * 1000, check: null };
}

/** Answers every ping; the receive for the next one is posted before the answer goes. Called before 'ready'. */
async function echo(channel: Channel, c: Case): Promise<void> {
  const payloads = [allocate(c.size, c.mem), allocate(c.size, c.mem)] as const;
  const buffers = [payloads[0].data, payloads[1].data] as const;
  const total = c.warmup + c.iters;
  let ping = channel.recv(buffers[0]);
  for (let i = 0; i < total; i++) {
    await ping;
    if (i + 1 < total) ping = channel.recv(buffers[(i + 1) & 1]);
    await channel.send(buffers[i & 1]);
  }
  release(...payloads);
}

// ---- bandwidth: windows of sends, each acknowledged once the receiver has all of it ----

/**
 * Sends windows of messages, at most two windows unacknowledged, and times until the last
 * acknowledgement: bandwidth counts bytes the receiver has (openucx #10184), never local completion.
 */
async function sendWindows(channel: Channel, c: Case): Promise<Measurement> {
  const payload = allocate(c.size, c.mem, 1);
  const measurement = await sendWindowsOf(channel, c, payload.data);
  release(payload);
  return measurement;
}

async function sendWindowsOf(channel: Channel, c: Case, data: Data): Promise<Measurement> {
  const run = async (counts: number[]): Promise<{ samples: Float64Array; totalUs: number }> => {
    const samples = new Float64Array(counts.length);
    const acked = new Float64Array(counts.length);
    const inFlight: Promise<unknown>[] = [];
    const start = performance.now();
    for (let k = 0; k < counts.length; k++) {
      if (inFlight.length === 2) await inFlight.shift();
      const ackBuffer = Buffer.alloc(ACK_SIZE);
      const window = k;
      const ack = channel.recv(ackBuffer).then(() => {
        acked[window] = performance.now();
      });
      const sends: Promise<unknown>[] = [];
      for (let j = 0; j < counts[k]!; j++) sends.push(channel.send(data));
      inFlight.push(handled(Promise.all(sends).then(() => ack)));
    }
    await Promise.all(inFlight);
    const end = performance.now();
    // Per message over spans of two windows: with two windows in flight the acknowledgements tend to
    // come in pairs, so the time between two single acknowledgements says little.
    for (let k = 0; k < counts.length; k++) {
      const from = k >= 2 ? acked[k - 2]! : start;
      const messages = counts[k]! + (k >= 1 ? counts[k - 1]! : 0);
      samples[k] = ((acked[k]! - from) * 1000) / messages;
    }
    return { samples, totalUs: (end - start) * 1000 };
  };
  if (c.warmup > 0) await run(windowCounts(c.warmup, c.window));
  const measured = await run(windowCounts(c.iters, c.window));
  return { ...measured, check: null };
}

/** Receives the windows (two posted ahead) and acknowledges each once all its messages are in. Called before 'ready'. */
async function receiveWindows(channel: Channel, c: Case): Promise<void> {
  const counts = [...windowCounts(c.warmup, c.window), ...windowCounts(c.iters, c.window)];
  const payload = allocate(c.size, c.mem);
  const into = payload.data;
  const ack = Buffer.alloc(ACK_SIZE);
  const post = (k: number): Promise<unknown> | undefined => {
    if (k >= counts.length) return undefined;
    const receives: Promise<unknown>[] = [];
    for (let j = 0; j < counts[k]!; j++) receives.push(channel.recv(into));
    return handled(Promise.all(receives));
  };
  const windows = [post(0), post(1)];
  const acks: Promise<unknown>[] = [];
  for (let k = 0; k < counts.length; k++) {
    await windows[k];
    windows[k] = undefined;
    windows[k + 2] = post(k + 2);
    acks.push(handled(channel.send(ack)));
  }
  await Promise.all(acks);
  release(payload);
}

// ---- RMA and atomics (client side; the server lends memory) ----

function deadlineError(what: string, ms: number): Error {
  return new Error(`${what}: no progress within ${ms / 1000} s`);
}

/**
 * put ping-pong as ucx_perftest's ucp_put_lat does it: put `size` bytes whose last byte is the
 * iteration's mark, then spin (progressing the worker) until the peer's put brings the mark back.
 * Synchronous by design: it spins whatever the progress mode.
 */
function putPingPong(link: Link, local: Buffer, remote: RemoteKey, c: Case, side: Side, timeoutMs: number): Float64Array {
  const { ep, worker } = link;
  const data = Buffer.alloc(c.size);
  const last = c.size - 1;
  const total = c.warmup + c.iters;
  const samples = new Float64Array(side === 'client' ? c.iters : 0);
  let failure: unknown;
  const onError = (error: unknown): void => {
    failure ??= error;
  };
  for (let i = 0; i < total; i++) {
    const mark = (i % 255) + 1;
    const t0 = performance.now();
    if (side === 'client') {
      data[last] = mark;
      ep.put(data, remote.base, remote).catch(onError);
    }
    const deadline = t0 + timeoutMs;
    for (let spins = 1; local[last] !== mark; spins++) {
      worker.progress();
      if ((spins & 0x3ff) === 0 && performance.now() > deadline) {
        throw failure instanceof Error ? failure : deadlineError(`put_lat ${formatSize(c.size)} (iteration ${i})`, timeoutMs);
      }
    }
    if (side === 'server') {
      data[last] = mark;
      ep.put(data, remote.base, remote).catch(onError);
    } else if (i >= c.warmup) {
      samples[i - c.warmup] = ((performance.now() - t0) * 1000) / 2;
    }
  }
  if (failure !== undefined) throw failure;
  return samples;
}

async function oneSidedWindows(link: Link, remote: RemoteKey, c: Case, op: 'put' | 'get'): Promise<Measurement> {
  const payload = allocate(c.size, c.mem, 1);
  const measurement = await oneSidedWindowsOf(link, remote, c, op, payload.data);
  release(payload);
  return measurement;
}

async function oneSidedWindowsOf(link: Link, remote: RemoteKey, c: Case, op: 'put' | 'get', buffer: Data): Promise<Measurement> {
  const { ep } = link;
  const run = async (counts: number[]): Promise<{ samples: Float64Array; totalUs: number }> => {
    const samples = new Float64Array(counts.length);
    const start = performance.now();
    let previous = start;
    for (let k = 0; k < counts.length; k++) {
      const ops: Promise<void>[] = [];
      for (let j = 0; j < counts[k]!; j++) ops.push(op === 'put' ? ep.put(buffer, remote.base, remote) : ep.get(buffer, remote.base, remote));
      // put: flush for remote completion (the data is in the peer's memory); get: completion means the data is here.
      if (op === 'put') ops.push(ep.flush());
      await Promise.all(ops);
      const now = performance.now();
      samples[k] = ((now - previous) * 1000) / counts[k]!;
      previous = now;
    }
    return { samples, totalUs: (performance.now() - start) * 1000 };
  };
  if (c.warmup > 0) await run(windowCounts(c.warmup, c.window));
  return { ...(await run(windowCounts(c.iters, c.window))), check: null };
}

async function atomicLatency(link: Link, remote: RemoteKey, c: Case): Promise<Measurement> {
  const { ep } = link;
  const size = c.size === 4 ? 4 : 8;
  const total = c.warmup + c.iters;
  const samples = new Float64Array(c.iters);
  let started = 0;
  for (let i = 0; i < total; i++) {
    if (i === c.warmup) started = performance.now();
    const t0 = performance.now();
    await ep.atomic('fadd', remote.base, remote, 1n, { size });
    if (i >= c.warmup) samples[i - c.warmup] = (performance.now() - t0) * 1000;
  }
  return { samples, totalUs: (performance.now() - started) * 1000, check: null };
}

// ---- the fast path: no promise per message (Batch, tryTagRecv, TagReceiver, ActiveMessageQueue) ----

/**
 * Sync tests time blocks of this many iterations, not each one: a clock read costs ~47 ns on this VM,
 * half of what an 8 B half round trip costs in raw UCX. p50/p99 are over the blocks' per-iteration means.
 */
const SYNC_BLOCK = 16;
/** Progress rounds one synchronous receive spins inside the addon before JS checks its deadline. */
const SPINS = 256;

/** A ping-pong channel whose sends return at once and whose receives are synchronous. */
interface SyncChannel {
  /** Sends; returns at once (the batch counts a send UCX did not complete inline). */
  send(data: Data): void;
  /** The next message's length, null when none has arrived yet, or a Promise (a rendezvous still arriving). */
  tryRecv(into: Data): number | null | Promise<number>;
  /** Every send has completed. */
  finish(): Promise<void>;
  close(): void;
}

function openSyncChannel(family: Family, side: Side, link: Link, runId: number): SyncChannel {
  const { ep, worker } = link;
  const batch = worker.batch();
  if (family === 'am') {
    const [sendId, recvId] = side === 'client' ? [AM_OUT, AM_BACK] : [AM_BACK, AM_OUT];
    const queue = worker.activeMessageQueue(recvId);
    return {
      send: (data) => {
        batch.amSend(ep, sendId, null, data);
      },
      tryRecv: (into) => queue.tryRecv(into, null, SPINS),
      finish: () => batch.wait(),
      close: () => queue.close(),
    };
  }
  const out = BigInt(runId) << 1n;
  const back = out | 1n;
  const [sendTag, recvTag] = side === 'client' ? [out, back] : [back, out];
  return {
    send: (data) => {
      batch.tagSend(ep, data, sendTag);
    },
    tryRecv: (into) => {
      const got = worker.tryTagRecv(into, recvTag, FULL_MASK, SPINS);
      return got === null ? null : got instanceof Promise ? got.then((r) => r.length) : got.length;
    },
    finish: () => batch.wait(),
    close: () => {},
  };
}

/** Spins until the next message is there (its length, or a Promise of it); throws past the deadline. */
function spinRecv(channel: SyncChannel, into: Data, deadline: number, what: string): number | Promise<number> {
  for (let rounds = 1; ; rounds++) {
    const got = channel.tryRecv(into);
    if (got !== null) return got;
    if ((rounds & 0x3f) === 0 && performance.now() > deadline) throw new Error(`${what}: no message within the deadline`);
  }
}

/** Ping-pong over a sync channel: the client measures, the server echoes. Neither awaits per message. */
async function syncPingPong(channel: SyncChannel, c: Case, side: Side, timeoutMs: number): Promise<Measurement> {
  const payloads = [allocate(c.size, c.mem, 1), allocate(c.size, c.mem)] as const;
  const [out, back] = [payloads[0].data, payloads[1].data];
  const total = c.warmup + c.iters;
  const samples = new Float64Array(side === 'client' ? Math.ceil(c.iters / SYNC_BLOCK) : 0);
  const deadline = performance.now() + timeoutMs;
  const what = `${c.test} ${formatSize(c.size)}`;
  let started = 0;
  let blockStart = 0;
  for (let i = 0; i < total; i++) {
    if (side === 'client') {
      if (i >= c.warmup && (i - c.warmup) % SYNC_BLOCK === 0) {
        const now = performance.now();
        if (i === c.warmup) started = now;
        else samples[(i - c.warmup) / SYNC_BLOCK - 1] = ((now - blockStart) * 1000) / SYNC_BLOCK / 2;
        blockStart = now;
      }
      channel.send(out);
      const got = spinRecv(channel, back, deadline, what);
      if (typeof got !== 'number') await got;
    } else {
      const got = spinRecv(channel, back, deadline, what);
      if (typeof got !== 'number') await got;
      channel.send(back);
    }
  }
  const end = performance.now();
  if (side === 'client' && samples.length > 0) {
    const last = c.iters - (samples.length - 1) * SYNC_BLOCK;
    samples[samples.length - 1] = ((end - blockStart) * 1000) / last / 2;
  }
  await channel.finish();
  release(...payloads);
  return { samples, totalUs: (end - started) * 1000, check: null };
}

/** Fetch-and-adds one at a time through a Batch: the old value comes back at once when UCX completes the op inline. */
async function syncAtomics(link: Link, remote: RemoteKey, c: Case): Promise<Measurement> {
  const { ep, worker } = link;
  const batch: Batch = worker.batch();
  const opts = { size: c.size === 4 ? (4 as const) : (8 as const) };
  const total = c.warmup + c.iters;
  const samples = new Float64Array(Math.ceil(c.iters / SYNC_BLOCK));
  let started = 0;
  let blockStart = 0;
  for (let i = 0; i < total; i++) {
    if (i >= c.warmup && (i - c.warmup) % SYNC_BLOCK === 0) {
      const now = performance.now();
      if (i === c.warmup) started = now;
      else samples[(i - c.warmup) / SYNC_BLOCK - 1] = ((now - blockStart) * 1000) / SYNC_BLOCK;
      blockStart = now;
    }
    const old = batch.atomic(ep, 'fadd', remote.base, remote, 1n, opts);
    if (typeof old !== 'bigint') await old;
  }
  const end = performance.now();
  samples[samples.length - 1] = ((end - blockStart) * 1000) / (c.iters - (samples.length - 1) * SYNC_BLOCK);
  await batch.wait();
  return { samples, totalUs: (end - started) * 1000, check: null };
}

/** The next acknowledgement: at once if it is there, else a promise (one per window). */
function nextAck(worker: Worker, ack: Buffer, tag: bigint): Promise<unknown> | null {
  return worker.tryTagRecv(ack, tag, FULL_MASK, SPINS) === null ? worker.tagRecv(ack, tag) : null;
}

/**
 * The sending side of the batch bandwidth tests: `sendWindow(count, tag)` issues one window on `batch`;
 * at most two windows unacknowledged, the clock stops at the last acknowledgement (as in tag_bw).
 */
async function batchSendWindows(link: Link, c: Case, runId: number, sendWindow: (batch: Batch, count: number, tag: bigint) => void): Promise<Measurement> {
  const { worker } = link;
  const batch = worker.batch();
  const tag = BigInt(runId) << 1n;
  const ackTag = tag | 1n;
  const ack = Buffer.alloc(ACK_SIZE);
  const run = async (counts: number[]): Promise<{ samples: Float64Array; totalUs: number }> => {
    const samples = new Float64Array(counts.length);
    const acked = new Float64Array(counts.length);
    const start = performance.now();
    let done = 0;
    const awaitAck = async (): Promise<void> => {
      const waiting = nextAck(worker, ack, ackTag);
      if (waiting !== null) await waiting;
      acked[done++] = performance.now();
    };
    for (let k = 0; k < counts.length; k++) {
      while (k - done >= 2) await awaitAck();
      sendWindow(batch, counts[k]!, tag);
    }
    while (done < counts.length) await awaitAck();
    await batch.wait();
    const end = performance.now();
    for (let k = 0; k < counts.length; k++) {
      const from = k >= 2 ? acked[k - 2]! : start;
      samples[k] = ((acked[k]! - from) * 1000) / (counts[k]! + (k >= 1 ? counts[k - 1]! : 0));
    }
    return { samples, totalUs: (end - start) * 1000 };
  };
  if (c.warmup > 0) await run(windowCounts(c.warmup, c.window));
  return { ...(await run(windowCounts(c.iters, c.window))), check: null };
}

/** msg_rate_batch, sending side: each window is one Batch.tagSendMany of `window` messages from one buffer. */
function batchWindows(link: Link, c: Case, runId: number): Promise<Measurement> {
  const data = Buffer.alloc(c.size * c.window, 1);
  return batchSendWindows(link, c, runId, (batch, count, tag) => {
    batch.tagSendMany(link.ep, count === c.window ? data : data.subarray(0, count * c.size), c.size, tag);
  });
}

/** msg_rate_batch, receiving side: a TagReceiver takes whatever has arrived; each full window is acknowledged. */
async function batchReceiveWindows(link: Link, c: Case, runId: number, receiver: ReturnType<Worker['tagReceiver']>): Promise<void> {
  const { ep, worker } = link;
  const batch = worker.batch();
  const ackTag = (BigInt(runId) << 1n) | 1n;
  const counts = [...windowCounts(c.warmup, c.window), ...windowCounts(c.iters, c.window)];
  const ack = Buffer.alloc(ACK_SIZE);
  let k = 0;
  let inWindow = 0;
  while (k < counts.length) {
    let got = receiver.tryRecv(SPINS) ?? (await receiver.recv());
    if (got instanceof Promise) got = await got;
    inWindow += got.count;
    while (k < counts.length && inWindow >= counts[k]!) {
      inWindow -= counts[k++]!;
      batch.tagSend(ep, ack, ackTag);
    }
  }
  await batch.wait();
}

/**
 * tag_bw_batch, sending side: windows of Batch.tagSend (a rendezvous send is pending, counted by the
 * batch, until the receiver has it).
 */
async function batchBwWindows(link: Link, c: Case, runId: number): Promise<Measurement> {
  const payload = allocate(c.size, c.mem, 1);
  const measured = await batchSendWindows(link, c, runId, (batch, count, tag) => {
    for (let j = 0; j < count; j++) batch.tagSend(link.ep, payload.data, tag);
  });
  release(payload);
  return measured;
}

/** tag_bw_batch, receiving side: each window's receives preposted in a Batch (two windows ahead), acknowledged once all are in. */
async function batchReceiveBw(link: Link, c: Case, runId: number): Promise<void> {
  const { ep, worker } = link;
  const tag = BigInt(runId) << 1n;
  const ackTag = tag | 1n;
  const counts = [...windowCounts(c.warmup, c.window), ...windowCounts(c.iters, c.window)];
  const payload = allocate(c.size, c.mem);
  const batches = [worker.batch(), worker.batch()] as const;
  const acks = worker.batch();
  const ack = Buffer.alloc(ACK_SIZE);
  const post = (k: number): void => {
    if (k >= counts.length) return;
    const batch = batches[k & 1];
    for (let j = 0; j < counts[k]!; j++) batch.tagRecv(payload.data, tag);
  };
  post(0);
  post(1);
  for (let k = 0; k < counts.length; k++) {
    await batches[k & 1].wait();
    post(k + 2);
    acks.tagSend(ep, ack, ackTag);
  }
  await acks.wait();
  release(payload);
}

/** put_bw_batch / get_bw_batch: windows of Batch.put (then ep.flush()) or Batch.get (then batch.wait()). */
async function oneSidedBatchWindows(link: Link, remote: RemoteKey, c: Case, op: 'put' | 'get'): Promise<Measurement> {
  const { ep, worker } = link;
  const batch = worker.batch();
  const payload = allocate(c.size, c.mem, 1);
  const run = async (counts: number[]): Promise<{ samples: Float64Array; totalUs: number }> => {
    const samples = new Float64Array(counts.length);
    const start = performance.now();
    let previous = start;
    for (let k = 0; k < counts.length; k++) {
      for (let j = 0; j < counts[k]!; j++) {
        if (op === 'put') batch.put(ep, payload.data, remote.base, remote);
        else batch.get(ep, payload.data, remote.base, remote);
      }
      if (op === 'put') await ep.flush();
      await batch.wait();
      const now = performance.now();
      samples[k] = ((now - previous) * 1000) / counts[k]!;
      previous = now;
    }
    return { samples, totalUs: (performance.now() - start) * 1000 };
  };
  if (c.warmup > 0) await run(windowCounts(c.warmup, c.window));
  const measured = await run(windowCounts(c.iters, c.window));
  release(payload);
  return { ...measured, check: null };
}

// ---- node-ucx/transport (ucx://): Connection send/recv over the same worker ----

function transportChannel(conn: Connection): Channel {
  return {
    send: (data) => conn.send([data as ArrayBufferView]),
    recv: () => conn.recv(),
    close: () => {},
  };
}

/** The server's transport listener for one run; resolves its first connection. */
async function listenTransport(link: Link, host: string): Promise<{ listener: TransportListener; port: number; connection: Promise<Connection> }> {
  let accepted!: (conn: Connection) => void;
  const connection = new Promise<Connection>((resolve) => {
    accepted = resolve;
  });
  const listener = await ucxTransport({ worker: link.worker }).listen(`ucx://${host}:0`, (conn) => accepted(conn));
  return { listener, port: listener.port, connection };
}

// ---- the two sides of one run ----

/** The client's side of one run: tells the server what to do, measures, collects the server's check. */
export async function runCase(link: Link, c: Case, runId: number, timeoutMs: number, host = '127.0.0.1'): Promise<Measurement> {
  const { ep, context } = link;
  const info = TESTS[c.test];
  const api = apiOf(c.test);
  const what = `${c.test} ${formatSize(c.size)}`;
  const messaging = isMessaging(info.family) && api === 'promise';
  const channel = messaging ? openChannel(info.family as MessagingFamily, 'client', link, runId, c.size, c.mem) : null;
  const sync = api === 'sync' && isMessaging(info.family) ? openSyncChannel(info.family, 'client', link, runId) : null;
  const local: MemoryHandle | null = c.test === 'put_lat' ? context.memMap({ length: c.size }) : null;
  let remote: RemoteKey | null = null;
  let conn: Connection | null = null;
  let completed = false;
  try {
    await sendControl(ep, { type: 'run', id: runId, case: c, rkey: local?.packRkey() ?? null });
    const ready = await expectControl(ep, 'ready', timeoutMs);
    if (ready.rkey !== null) remote = ep.unpackRkey(ready.rkey);
    let measurement: Measurement;
    if (info.family === 'transport') {
      conn = await ucxTransport({ worker: link.worker }).connect(`ucx://${host}:${ready.port ?? 0}`);
      const transport = transportChannel(conn);
      const work = info.kind === 'lat' ? pingPong(transport, c) : sendWindows(transport, c);
      measurement = await withTimeout(work, timeoutMs, what);
    } else if (channel !== null) {
      const work = info.kind === 'lat' ? pingPong(channel, c) : sendWindows(channel, c);
      measurement = await withTimeout(work, timeoutMs, what);
    } else if (sync !== null) {
      measurement = await withTimeout(syncPingPong(sync, c, 'client', timeoutMs), timeoutMs, what);
    } else if (api === 'batch' && info.family === 'tag') {
      const work = c.test === 'msg_rate_batch' ? batchWindows(link, c, runId) : batchBwWindows(link, c, runId);
      measurement = await withTimeout(work, timeoutMs, what);
    } else {
      if (remote === null) throw new Error(`${what}: the server sent no remote key`);
      if (c.test === 'put_lat') {
        const samples = putPingPong(link, local!.buffer!, remote, c, 'client', timeoutMs);
        measurement = { samples, totalUs: samples.reduce((sum, x) => sum + 2 * x, 0), check: null };
      } else {
        const op = info.family === 'put' ? 'put' : 'get';
        const work =
          c.test === 'atomic_lat_sync'
            ? syncAtomics(link, remote, c)
            : c.test === 'atomic_lat'
              ? atomicLatency(link, remote, c)
              : api === 'batch'
                ? oneSidedBatchWindows(link, remote, c, op)
                : oneSidedWindows(link, remote, c, op);
        measurement = await withTimeout(work, timeoutMs, what);
        await sendControl(ep, { type: 'finish' });
      }
    }
    const done = await expectControl(ep, 'done', timeoutMs);
    completed = true;
    return { ...measurement, check: done.check };
  } finally {
    channel?.close(completed);
    sync?.close();
    if (conn !== null) await conn.close();
    remote?.destroy();
    local?.unmap();
  }
}

/** The server's side of one run, from its 'run' message to its 'done'. */
export async function serveCase(link: Link, message: ControlOf<'run'>, timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  const { ep, context } = link;
  const c = message.case;
  const info = TESTS[c.test];
  if (info === undefined) throw new Error(`unknown test '${String(c.test)}' (is the client a newer ucx-bench?)`);
  const api = apiOf(c.test);
  if (info.family === 'transport') {
    const { listener, port, connection } = await listenTransport(link, host);
    try {
      await sendControl(ep, { type: 'ready', rkey: null, port });
      const conn = await withTimeout(connection, timeoutMs, `${c.test}: the client's transport connection`);
      const channel = transportChannel(conn);
      await (info.kind === 'lat' ? echo(channel, c) : receiveWindows(channel, c));
      await conn.close();
    } finally {
      await listener.close();
    }
    await sendControl(ep, { type: 'done', check: null });
    return;
  }
  if (api === 'sync' && isMessaging(info.family)) {
    // The receive side (an AM queue) exists before 'ready'; the echo spins once it has gone.
    const channel = openSyncChannel(info.family, 'server', link, message.id);
    try {
      await sendControl(ep, { type: 'ready', rkey: null });
      await syncPingPong(channel, c, 'server', timeoutMs);
    } finally {
      channel.close();
    }
    await sendControl(ep, { type: 'done', check: null });
    return;
  }
  if (c.test === 'tag_bw_batch') {
    await sendControl(ep, { type: 'ready', rkey: null });
    await batchReceiveBw(link, c, message.id);
    await sendControl(ep, { type: 'done', check: null });
    return;
  }
  if (api === 'batch' && info.family === 'tag') {
    const receiver = link.worker.tagReceiver(BigInt(message.id) << 1n, FULL_MASK, { slots: Math.max(64, 2 * c.window), slotSize: Math.max(8, c.size) });
    try {
      await sendControl(ep, { type: 'ready', rkey: null });
      await batchReceiveWindows(link, c, message.id, receiver);
    } finally {
      receiver.close();
    }
    await sendControl(ep, { type: 'done', check: null });
    return;
  }
  if (isMessaging(info.family)) {
    const channel = openChannel(info.family, 'server', link, message.id, c.size, c.mem);
    let completed = false;
    try {
      // Receives are posted (synchronously, inside echo/receiveWindows) before 'ready' goes out.
      const work = handled(info.kind === 'lat' ? echo(channel, c) : receiveWindows(channel, c));
      await sendControl(ep, { type: 'ready', rkey: null });
      await work;
      completed = true;
    } finally {
      channel.close(completed);
    }
    await sendControl(ep, { type: 'done', check: null });
    return;
  }
  const words = info.family === 'atomic';
  // --mem cuda (put_bw and get_bw; the other one-sided tests are host only): the server lends device memory.
  // Host memory comes from UCX, as in ucx_perftest: on one host a shared-memory segment the client's UCX
  // maps and copies to directly. put_lat polls its memory from JS, so it keeps a Buffer-backed region.
  const lent = c.mem === 'cuda' ? allocate(c.size, c.mem) : null;
  let region: MemoryHandle;
  try {
    region = context.memMap(lent !== null ? lent.data : { length: words ? 64 : c.size, allocator: c.test === 'put_lat' ? 'node' : 'ucx' });
  } catch (error) {
    if (lent !== null) release(lent);
    throw error;
  }
  let remote: RemoteKey | null = null;
  try {
    let check: string | null = null;
    if (c.test === 'put_lat') {
      if (message.rkey === null) throw new Error('put_lat: the client sent no remote key');
      remote = ep.unpackRkey(message.rkey);
      await sendControl(ep, { type: 'ready', rkey: region.packRkey() });
      putPingPong(link, region.buffer!, remote, c, 'server', timeoutMs);
      await ep.flush();
    } else {
      await sendControl(ep, { type: 'ready', rkey: region.packRkey() });
      await expectControl(ep, 'finish');
      if (words) {
        const expected = BigInt(c.warmup + c.iters);
        const word = region.read(0, 8);
        const counter = c.size === 4 ? BigInt(word.readUInt32LE(0)) : word.readBigUInt64LE(0);
        if (counter !== expected) check = `the counter is ${counter} after ${expected} remote fetch-and-adds`;
      }
    }
    await sendControl(ep, { type: 'done', check });
  } finally {
    remote?.destroy();
    region.unmap();
    if (lent !== null) release(lent);
  }
}
