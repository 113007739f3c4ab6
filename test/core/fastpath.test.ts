// The fast path: operations without a promise each (Batch), synchronous and batched receives
// (tryTagRecv, TagReceiver, ActiveMessageQueue). Behaviour, not speed: what arrives, what a call
// returns, and that batches and waits settle on close, abort and peer death like single operations.
import { describe, it, expect, afterEach } from 'vitest';
import { Batch, Context, UCXError, defaults, type Endpoint, type Worker } from 'node-ucx';
import { PROGRESS_MODES, startPeer, within, pattern, type Peer } from '../helpers.js';

const FEATURES = ['tag', 'stream', 'am', 'rma', 'amo'] as const;
const MiB = 1 << 20;

interface Link {
  context: Context;
  worker: Worker;
  ep: Endpoint;
  peer: Peer;
}
const links: Link[] = [];
afterEach(async () => {
  for (const link of links.splice(0)) {
    await within(link.worker.close(), 10_000, 'worker.close()');
    link.context.close();
  }
});

async function connect(mode: string, errorHandling: 'peer' | 'none' = 'peer'): Promise<Link> {
  const context = new Context({ features: [...FEATURES] });
  const worker = context.createWorker({ progress: mode as never, errorHandling });
  const peer = startPeer('../core/fixtures/fast-peer.mjs', [mode, errorHandling]);
  const { port } = await peer.next('ready');
  const ep = await within(worker.connect({ host: '127.0.0.1', port: port as number }), 10_000, 'connect to fast-peer.mjs');
  await peer.next('connection');
  ep.on('error', () => {});
  const link = { context, worker, ep, peer };
  links.push(link);
  return link;
}

const settle = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'resolved',
    (error: unknown) => error,
  );

function expectCode(outcome: unknown, code: RegExp | string, what: string): void {
  expect(outcome, what).toBeInstanceOf(Error);
  const actual = (outcome as { code?: string }).code ?? '';
  if (typeof code === 'string') expect(actual, what).toBe(code);
  else expect(actual, what).toMatch(code);
}

/** Spins a synchronous receive until it returns non-null (bounded). */
function spinUntil<T>(take: () => T | null, what: string, ms = 10_000): T {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = take();
    if (got !== null) return got;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms spinning for ${what}`);
  }
}

describe.each(PROGRESS_MODES)('the fast path in %s mode', (mode) => {
  it('Batch.tagSend and tagSendMany return at once; the peer receives every message in order, in batches', async () => {
    const { worker, ep, peer } = await connect(mode);
    const received = peer.call<{ got: { length: number; tag: string; hex: string }[]; batches: number }>('tagReceive', {
      tag: 7,
      count: 21,
      slots: 8,
      slotSize: 16,
    });
    const batch = worker.batch();
    expect(batch).toBeInstanceOf(Batch);
    const one = Buffer.from('first message');
    expect(typeof batch.tagSend(ep, one, 7n)).toBe('boolean');
    // 20 messages of 8 bytes from one buffer, in one call: what is pending is counted, not returned as promises.
    const many = pattern(160, 3);
    const pending = batch.tagSendMany(ep, many, 8, 7n);
    expect(pending).toBeGreaterThanOrEqual(0);
    expect(pending).toBe(batch.pending);
    await within(batch.wait(), 10_000, 'batch.wait()');
    expect(batch.pending).toBe(0);
    const { got, batches } = await received;
    expect(got).toHaveLength(21);
    expect(got[0]).toEqual({ length: one.length, tag: '7', hex: one.subarray(0, 16).toString('hex') });
    for (let i = 0; i < 20; i++) expect(got[i + 1]).toEqual({ length: 8, tag: '7', hex: many.subarray(8 * i, 8 * i + 8).toString('hex') });
    expect(batches).toBeGreaterThanOrEqual(3); // at most 8 a batch
  });

  it('tryTagRecv: null while nothing has come, { length, tag } once it has, a Promise for a rendezvous message, truncation throws', async () => {
    const { worker, peer } = await connect(mode);
    const into = Buffer.alloc(64);
    expect(worker.tryTagRecv(into, 11n)).toBeNull();
    await peer.call('tagSend', { tag: 11, count: 2, size: 24, seed: 5 });
    const first = spinUntil(() => worker.tryTagRecv(into, 11n, undefined, 16), 'the first message');
    expect(first).toEqual({ length: 24, tag: 11n });
    expect(into.subarray(0, 24).equals(pattern(24, 5))).toBe(true);
    // A wildcard takes the sender's tag from the message.
    const second = spinUntil(() => worker.tryTagRecv(into, 0n, 0n, 16), 'the second message (wildcard)');
    expect(second).toEqual({ length: 24, tag: 11n });
    expect(into.subarray(0, 24).equals(pattern(24, 6))).toBe(true);
    // Longer than the buffer: UCX drops it, and the call throws as tagRecv rejects.
    await peer.call('tagSend', { tag: 12, count: 1, size: 100, seed: 1 });
    let error: unknown;
    spinUntil(() => {
      try {
        return worker.tryTagRecv(Buffer.alloc(10), 12n, undefined, 16);
      } catch (e) {
        error = e;
        return 'threw';
      }
    }, 'the long message');
    expectCode(error, 'UCS_ERR_MESSAGE_TRUNCATED', 'a message longer than the buffer');
    // A rendezvous message (1 MiB): matched at once, arriving later.
    const big = Buffer.alloc(MiB);
    const sent = peer.call('tagSend', { tag: 13, count: 1, size: MiB, seed: 9 });
    let got: ReturnType<Worker['tryTagRecv']> = null;
    const deadline = Date.now() + 10_000;
    while (got === null && Date.now() < deadline) {
      got = worker.tryTagRecv(big, 13n, undefined, 16);
      if (got === null) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(got).not.toBeNull();
    const result = got instanceof Promise ? await within(got, 10_000, 'the rendezvous receive') : got!;
    expect(result).toEqual({ length: MiB, tag: 13n });
    expect(big.equals(pattern(MiB, 9))).toBe(true);
    await sent;
  });

  it('Batch.tagRecv: receives posted without a promise fill their slots and lengths; wait() says when; cancel() ends them', async () => {
    const { worker, peer } = await connect(mode);
    const batch = worker.batch();
    const ring = Buffer.alloc(3 * MiB);
    const lengths = new Uint32Array(3);
    // Posted before anything is sent: a small, a large (rendezvous) and another small one, in order.
    for (let i = 0; i < 3; i++) expect(batch.tagRecv(ring.subarray(i * MiB, (i + 1) * MiB), 15n, undefined, { lengths, index: i })).toBeNull();
    expect(batch.pending).toBe(3);
    await peer.call('tagSend', { tag: 15, count: 1, size: 100, seed: 1 });
    await peer.call('tagSend', { tag: 15, count: 1, size: MiB, seed: 2 });
    await peer.call('tagSend', { tag: 15, count: 1, size: 7, seed: 3 });
    await within(batch.wait(), 10_000, 'the posted receives');
    expect([...lengths]).toEqual([100, MiB, 7]);
    expect(ring.subarray(0, 100).equals(pattern(100, 1))).toBe(true);
    expect(ring.subarray(MiB, 2 * MiB).equals(pattern(MiB, 2))).toBe(true);
    expect(ring.subarray(2 * MiB, 2 * MiB + 7).equals(pattern(7, 3))).toBe(true);
    // A message already there is received at once: its length comes back.
    await peer.call('tagSend', { tag: 16, count: 1, size: 9, seed: 4 });
    const probe = Buffer.alloc(16);
    const deadline = Date.now() + 10_000;
    while (worker.tagProbe(16n) === null && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(batch.tagRecv(probe, 16n)).toBe(9);
    expect(probe.subarray(0, 9).equals(pattern(9, 4))).toBe(true);
    // Nobody sends on 17: cancel() ends the posted receive, and wait() rejects.
    expect(batch.tagRecv(probe, 17n)).toBeNull();
    const waited = settle(batch.wait());
    expect(batch.cancel()).toBe(1);
    expectCode(await within(waited, 5_000, 'wait() after cancel()'), 'UCS_ERR_CANCELED', 'a cancelled batch receive');
    expect(batch.pending).toBe(0);
  });

  it('a TagReceiver hands a message longer than a slot over alone; its iterator ends on close()', async () => {
    const { worker, peer } = await connect(mode);
    const rx = worker.tagReceiver(21n, undefined, { slots: 4, slotSize: 32 });
    await peer.call('tagSend', { tag: 21, count: 1, size: 16, seed: 1 });
    await peer.call('tagSend', { tag: 21, count: 1, size: 5000, seed: 2 });
    await peer.call('tagSend', { tag: 21, count: 1, size: 16, seed: 3 });
    const sizes: number[] = [];
    const contents: boolean[] = [];
    let seed = 1;
    for await (const batch of rx) {
      for (const message of batch) {
        sizes.push(message.length);
        contents.push(message.data.equals(pattern(message.length, seed++)));
        expect(message.tag).toBe(21n);
      }
      if (sizes.length === 3) rx.close();
    }
    expect(sizes).toEqual([16, 5000, 16]);
    expect(contents).toEqual([true, true, true]);
    expect(rx.closed).toBe(true);
    expect(() => rx.tryRecv()).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
  });

  it('an ActiveMessageQueue takes payloads and headers synchronously; a rendezvous payload comes as a Promise', async () => {
    const { worker, peer } = await connect(mode);
    const queue = worker.activeMessageQueue(5);
    expect(() => worker.onActiveMessage(5, () => {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const into = Buffer.alloc(256 * 1024);
    const header = Buffer.alloc(8);
    expect(queue.tryRecv(into, header)).toBeNull();
    await peer.call('amSend', { amId: 5, count: 3, size: 40, seed: 10 });
    for (let i = 0; i < 3; i++) {
      const length = spinUntil(() => queue.tryRecv(into, header, 16), `active message ${i}`);
      expect(length).toBe(40);
      expect(into.subarray(0, 40).equals(pattern(40, 10 + i))).toBe(true);
      expect(queue.headerLength).toBe(2);
      expect(header.subarray(0, 2).toString()).toBe(`h${i}`);
    }
    const sent = peer.call('amSend', { amId: 5, count: 1, size: 200 * 1024, seed: 20, rendezvous: true });
    const length = await within(queue.recv(into), 10_000, 'a rendezvous active message');
    expect(length).toBe(200 * 1024);
    expect(into.subarray(0, length).equals(pattern(length, 20))).toBe(true);
    await sent;
    // Too long for the buffer: dropped, and the call throws.
    await peer.call('amSend', { amId: 5, count: 1, size: 100, seed: 1 });
    let error: unknown;
    await within(
      (async () => {
        try {
          await queue.recv(Buffer.alloc(10));
        } catch (e) {
          error = e;
        }
      })(),
      10_000,
      'a long active message',
    );
    expectCode(error, 'UCS_ERR_MESSAGE_TRUNCATED', 'a payload longer than the buffer');
    queue.close();
    expect(() => queue.tryRecv(into)).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
    worker.onActiveMessage(5, () => {}); // the id is free again
  });

  it('Batch put, get and atomics: results at once when UCX completes them inline, the same data as the promise API', async () => {
    const { worker, ep, peer } = await connect(mode);
    const { address, rkey } = await peer.call<{ address: string; rkey: string }>('region');
    const key = ep.unpackRkey(Buffer.from(rkey, 'base64'));
    const base = BigInt(address);
    const batch = worker.batch();
    const data = pattern(64, 4);
    batch.put(ep, data, base, key);
    await batch.wait();
    await ep.flush();
    expect(await peer.call('readRegion', { length: 64 })).toBe(data.toString('hex'));
    const back = Buffer.alloc(64);
    if (!batch.get(ep, back, base, key)) await batch.wait();
    expect(back.equals(data)).toBe(true);
    // 'fadd' on a word: the old value, synchronously when UCX completed it inline (CPU atomics on its memory).
    await ep.atomic('swap', base + 128n, key, 5n);
    let old = batch.atomic(ep, 'fadd', base + 128n, key, 3n);
    if (old instanceof Promise) old = await old;
    expect(old).toBe(5n);
    expect(await ep.atomic('fadd', base + 128n, key, 0n)).toBe(8n);
    let swapped = batch.compareSwap(ep, base + 128n, key, 8n, 42n);
    if (swapped instanceof Promise) swapped = await swapped;
    expect(swapped).toBe(8n);
    expect(batch.atomic(ep, 'add', base + 128n, key, 1n)).toBe(0n);
    await batch.wait();
    expect(await ep.atomic('fadd', base + 128n, key, 0n)).toBe(43n);
    expect(() => batch.atomic(ep, 'fadd', base + 4n, key, 1n)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => batch.put(ep, data, base + 4090n, key)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  it('Batch.wait() settles once pending (rendezvous) sends complete, and a graceful close waits for them', async () => {
    const { worker, ep, peer } = await connect(mode);
    const batch = worker.batch();
    const data = pattern(4 * MiB, 1);
    expect(batch.tagSend(ep, data, 31n)).toBe(false); // rendezvous: done only once the peer receives it
    expect(batch.pending).toBe(1);
    const received = peer.call<{ length: number; ok: boolean }>('recvLater', { tag: 31, size: 4 * MiB, seed: 1, delayMs: 300 });
    await within(batch.wait(), 10_000, 'batch.wait() after the peer received');
    expect(await received).toEqual({ length: 4 * MiB, ok: true });
    // An endpoint message pending (before the handshake: held as a promise), then a graceful close: it
    // waits for the batch before it says goodbye, and the peer gets the message. (A raw tag send has no
    // goodbye behind it: UCX may complete its rendezvous before the peer's receive has.)
    expect(batch.send(ep, data)).toBe(false);
    expect(batch.pending).toBe(1);
    const later = peer.call<{ length: number; ok: boolean }>('recvMessageLater', { size: 4 * MiB, seed: 1, delayMs: 300 });
    const waited = settle(batch.wait());
    await within(ep.close(), 10_000, 'a graceful close');
    expect(await waited).toBe('resolved');
    expect(await later).toEqual({ length: 4 * MiB, ok: true });
  });

  it('a forced close fails the batch: wait() rejects with ERR_UCX_CLOSED; later operations throw', async () => {
    const { worker, ep } = await connect(mode);
    const batch = worker.batch();
    expect(batch.tagSend(ep, pattern(4 * MiB, 1), 41n)).toBe(false);
    const waited = settle(batch.wait());
    await within(ep.close({ force: true }), 10_000, 'a forced close');
    expectCode(await within(waited, 5_000, 'batch.wait() after the close'), 'ERR_UCX_CLOSED', 'batch.wait()');
    expect(batch.pending).toBe(0);
    expect(() => batch.tagSend(ep, Buffer.alloc(8), 41n)).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
    expect(await within(batch.wait(), 1_000, 'wait() once nothing is pending')).toBeUndefined();
  });

  it('when the peer is SIGKILLed, the batch and the receivers waiting on it reject with a coded error within 5 s', async () => {
    const { worker, ep, peer } = await connect(mode);
    const batch = worker.batch();
    expect(batch.tagSend(ep, pattern(4 * MiB, 1), 51n)).toBe(false);
    expect(batch.amSend(ep, 9, null, pattern(4 * MiB, 2), { rendezvous: true })).toBe(false);
    const waited = settle(batch.wait());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const killedAt = Date.now();
    peer.kill('SIGKILL');
    const outcome = await within(waited, 5_000, 'batch.wait() after SIGKILL');
    expect(outcome).toBeInstanceOf(UCXError);
    expect((outcome as UCXError).code).toMatch(/^(UCS_ERR_|ERR_UCX_)/);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect(batch.pending).toBe(0);
  });

  it('worker.close() settles every wait: Batch.wait(), TagReceiver.recv() and ActiveMessageQueue.recv() reject with ERR_UCX_CLOSED', async () => {
    const context = new Context({ features: [...FEATURES] });
    const worker = context.createWorker({ progress: mode });
    const listener = await worker.listen({ host: '127.0.0.1', port: 0 });
    // The graceful close of the endpoint waits for the batch's send, which nobody receives: keep it short.
    const closeTimeoutMs = defaults.closeTimeoutMs;
    defaults.closeTimeoutMs = 300;
    const ep = await within(worker.connect({ host: '127.0.0.1', port: listener.port }), 10_000, 'a connection to ourselves');
    const batch = worker.batch();
    expect(batch.tagSend(ep, pattern(4 * MiB, 1), 61n)).toBe(false); // nobody receives it
    const rx = worker.tagReceiver(62n);
    const queue = worker.activeMessageQueue(6);
    const receives = worker.batch();
    expect(receives.tagRecv(Buffer.alloc(8), 63n)).toBeNull();
    const outcomes = [settle(batch.wait()), settle(rx.recv()), settle(queue.recv(Buffer.alloc(8))), settle(receives.wait())];
    try {
      await within(worker.close(), 10_000, 'worker.close()');
    } finally {
      defaults.closeTimeoutMs = closeTimeoutMs;
    }
    context.close();
    const [waited, received, queued, posted] = await within(Promise.all(outcomes), 5_000, 'the waits to settle');
    expectCode(posted, 'ERR_UCX_CLOSED', 'a batch of posted receives');
    // The endpoints close first (their peer, our own listener's endpoint, may close first: then it is a reset).
    expectCode(waited, /^(ERR_UCX_CLOSED|UCS_ERR_CONNECTION_RESET)$/, 'batch.wait()');
    expectCode(received, 'ERR_UCX_CLOSED', 'TagReceiver.recv()');
    expectCode(queued, 'ERR_UCX_CLOSED', 'ActiveMessageQueue.recv()');
    expect(() => worker.batch()).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
    expect(() => worker.tryTagRecv(Buffer.alloc(8), 1n)).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
  });

  it('an aborted signal ends a TagReceiver or ActiveMessageQueue wait (AbortError) and a Batch.wait(); the receivers stay usable', async () => {
    const { worker, ep, peer } = await connect(mode);
    const rx = worker.tagReceiver(71n);
    const queue = worker.activeMessageQueue(7);
    const controller = new AbortController();
    const waits = [settle(rx.recv({ signal: controller.signal })), settle(queue.recv(Buffer.alloc(8), null, { signal: controller.signal }))];
    const batch = worker.batch();
    expect(batch.tagSend(ep, pattern(4 * MiB, 1), 72n)).toBe(false);
    const batchWait = settle(batch.wait({ signal: controller.signal }));
    controller.abort();
    for (const outcome of await within(Promise.all([...waits, batchWait]), 5_000, 'the aborted waits')) {
      expect((outcome as Error).name).toBe('AbortError');
    }
    // An abort ends the wait, not the operations: the send still completes once received.
    expect(batch.pending).toBe(1);
    const received = peer.call('recvLater', { tag: 72, size: 4 * MiB, seed: 1 });
    await within(batch.wait(), 10_000, 'the send after the abort');
    await received;
    await peer.call('tagSend', { tag: 71, count: 1, size: 8, seed: 1 });
    const batchOfOne = await within(rx.recv(), 10_000, 'a receive after the abort');
    expect(batchOfOne.count).toBe(1);
    await peer.call('amSend', { amId: 7, count: 1, size: 8, seed: 1 });
    expect(await within(queue.recv(Buffer.alloc(8)), 10_000, 'an AM after the abort')).toBe(8);
  });
});

describe('the fast path pins what UCX uses', () => {
  it("a pending batch send's buffer, transferred away and collected, still arrives intact", async () => {
    const { worker, ep, peer } = await connect('event');
    const batch = worker.batch();
    const buffer = new ArrayBuffer(4 * MiB);
    new Uint8Array(buffer).set(pattern(4 * MiB, 8));
    expect(batch.tagSend(ep, new Uint8Array(buffer), 81n)).toBe(false);
    structuredClone(buffer, { transfer: [buffer] }); // detaches ours; the copy is garbage at once
    expect(buffer.byteLength).toBe(0);
    for (let i = 0; i < 3; i++) {
      global.gc?.();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const received = await peer.call<{ length: number; ok: boolean }>('recvLater', { tag: 81, size: 4 * MiB, seed: 8 });
    expect(received).toEqual({ length: 4 * MiB, ok: true });
    await within(batch.wait(), 10_000, 'batch.wait()');
    // A view of the detached buffer is refused, like the promise API refuses it.
    const stale = new Uint8Array(new ArrayBuffer(8));
    structuredClone(stale.buffer, { transfer: [stale.buffer] });
    expect(() => batch.tagSend(ep, stale, 81n)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});

describe('fast-path argument checks', () => {
  it('bad arguments throw TypeError / RangeError with Node codes', async () => {
    const { worker, ep } = await connect('event');
    const batch = worker.batch();
    const other = new Context();
    const otherWorker = other.createWorker();
    try {
      const cases: [() => unknown, string][] = [
        [() => new Batch({} as never), 'ERR_INVALID_ARG_TYPE'],
        [() => batch.tagSend({} as never, Buffer.alloc(1), 1n), 'ERR_INVALID_ARG_TYPE'],
        [() => batch.tagSend(ep, 'text' as never, 1n), 'ERR_INVALID_ARG_TYPE'],
        [() => batch.tagSend(ep, Buffer.alloc(1), 1 as never), 'ERR_INVALID_ARG_TYPE'],
        [() => batch.tagSend(ep, Buffer.alloc(1), 1n << 63n), 'ERR_OUT_OF_RANGE'],
        [() => batch.tagSend(ep, new Uint8Array(new ArrayBuffer(8, { maxByteLength: 16 } as never)), 1n), 'ERR_INVALID_ARG_VALUE'],
        [() => batch.tagSendMany(ep, Buffer.alloc(8), 0, 1n), 'ERR_OUT_OF_RANGE'],
        [() => batch.tagSendMany(ep, Buffer.alloc(8), 1.5, 1n), 'ERR_OUT_OF_RANGE'],
        [() => batch.amSend(ep, -1, null, null), 'ERR_OUT_OF_RANGE'],
        [() => batch.amSend(ep, 1, null, null, { rendezvous: true, eager: true }), 'ERR_INVALID_ARG_VALUE'],
        [() => batch.atomic(ep, 'nope' as never, 0n, {} as never, 1n), 'ERR_INVALID_ARG_VALUE'],
        [() => batch.put(ep, Buffer.alloc(1), 0n, {} as never), 'ERR_INVALID_ARG_TYPE'],
        [() => batch.wait({ signal: 'x' as never }), 'reject:ERR_INVALID_ARG_TYPE'],
        [() => worker.tryTagRecv(Buffer.alloc(1), -1n), 'ERR_OUT_OF_RANGE'],
        [() => worker.tryTagRecv(Buffer.alloc(1), 1n, 1n << 64n), 'ERR_OUT_OF_RANGE'],
        [() => worker.tryTagRecv(Buffer.alloc(1), 1n, undefined, -1), 'ERR_OUT_OF_RANGE'],
        [() => worker.tryTagRecv('x' as never, 1n), 'ERR_INVALID_ARG_TYPE'],
        [() => worker.tagReceiver(1n, undefined, { slots: 0 }), 'ERR_OUT_OF_RANGE'],
        [() => worker.tagReceiver(1n, undefined, { slotSize: 'big' as never }), 'ERR_INVALID_ARG_TYPE'],
        [() => worker.tagReceiver(1n, undefined, { slots: 1 << 20, slotSize: 1 << 20 }), 'range'],
        [() => worker.activeMessageQueue(65535), 'ERR_OUT_OF_RANGE'],
        [() => worker.tagReceiver(1n).tryRecv(-1), 'ERR_OUT_OF_RANGE'],
        [() => batch.tagRecv(Buffer.alloc(1), 1n, undefined, { lengths: [0] as never, index: 0 }), 'ERR_INVALID_ARG_TYPE'],
        [() => batch.tagRecv(Buffer.alloc(1), 1n, undefined, { lengths: new Uint32Array(2), index: 2 }), 'ERR_OUT_OF_RANGE'],
        [() => batch.tagRecv(Buffer.alloc(1), -5n), 'ERR_OUT_OF_RANGE'],
      ];
      // An endpoint of another worker is refused.
      const elsewhere = await otherWorker.listen({ host: '127.0.0.1', port: 0 });
      const foreign = await within(otherWorker.connect({ host: '127.0.0.1', port: elsewhere.port }), 10_000, 'a second worker');
      cases.push([() => batch.tagSend(foreign, Buffer.alloc(1), 1n), 'ERR_INVALID_ARG_VALUE']);
      for (const [run, code] of cases) {
        if (code.startsWith('reject:')) {
          await expect(run() as Promise<unknown>).rejects.toMatchObject({ code: code.slice(7) });
        } else if (code === 'range') {
          expect(run).toThrow(RangeError);
        } else {
          expect(run, String(run)).toThrow(expect.objectContaining({ code }));
        }
      }
    } finally {
      await otherWorker.close();
      other.close();
    }
  });
});
