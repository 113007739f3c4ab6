// RMA and atomics between real processes: the peer (test/rma/fixtures/rma-peer.mjs)
// owns the memory and hands its rkey over an endpoint message; this process
// puts, gets and runs atomics on it, and asks the peer over IPC what its memory
// holds.
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { Context, UCXError, RemoteKey, version, type Worker, type Endpoint, type AtomicOp } from 'node-ucx';
import { PROGRESS_MODES, startPeer, within, pattern, type Peer } from '../helpers.js';

const RMA_PEER = path.join(__dirname, 'fixtures', 'rma-peer.mjs');
/** RMA and atomics are opt-in. */
const RMA = ['tag', 'stream', 'am', 'rma', 'amo'] as const;

const MiB = 1 << 20;

interface Shared {
  name: string;
  address: bigint;
  length: number;
  rkey: RemoteKey;
  packed: Buffer;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Each peer's port from its 'ready' message, for later connects. */
const ports = new WeakMap<Peer, number>();

/** Connects this process to a fresh rma-peer and waits until the peer has accepted. */
async function connectTo(worker: Worker, peer: Peer): Promise<Endpoint> {
  const { port } = await peer.next('ready');
  ports.set(peer, port as number);
  const ep = await within(worker.connect({ host: '127.0.0.1', port: port as number }), 10_000, 'connect to rma-peer');
  await peer.next('connection');
  return ep;
}

/** Has the peer map a region and send its { address, length, rkey } over `ep`; unpacks the key on `ep`. */
async function share(peer: Peer, ep: Endpoint, name: string, length: number, backing = 'alloc', peerEp?: number): Promise<Shared> {
  await peer.call('map', { name, length, backing });
  const received = within(ep.recvObject(), 10_000, `rkey of '${name}'`);
  await peer.call('share', { name, ep: peerEp });
  const shared = (await received) as { name: string; address: bigint; length: number; rkey: Uint8Array };
  expect(typeof shared.address).toBe('bigint');
  const packed = Buffer.from(shared.rkey);
  return { name, address: shared.address, length: shared.length, rkey: ep.unpackRkey(packed), packed };
}

/** Awaits `promise` expecting a rejection; returns the error. */
async function rejection(promise: Promise<unknown>, what: string, ms = 10_000): Promise<Error & { code?: string }> {
  const outcome = await within(
    promise.then(
      () => undefined,
      (error: unknown) => error,
    ),
    ms,
    what,
  );
  if (outcome === undefined) throw new Error(`${what} resolved; expected a rejection`);
  return outcome as Error & { code?: string };
}

/** Every wait is bounded: a hang fails the test with what was awaited. */
function w<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  return within(promise, ms, what);
}

function word(value: bigint, size: 4 | 8): Buffer {
  const buffer = Buffer.alloc(size);
  if (size === 4) buffer.writeUInt32LE(Number(BigInt.asUintN(32, value)));
  else buffer.writeBigUInt64LE(BigInt.asUintN(64, value));
  return buffer;
}

describe('context.rmaMemoryTypes', () => {
  it("is ['host'] with UCX's v1 protocols and every memory type with PROTO_ENABLE=y", () => {
    const v1 = new Context({ features: [...RMA], config: { PROTO_ENABLE: 'n' } });
    // UCX 1.13 with CUDA refuses PROTO_ENABLE=y unless cuda_copy is left out (test/gpu covers that refusal).
    const cudaRefusal = v1.memoryTypes.includes('cuda') && /^1\.13\./.test(version.ucx);
    const v2 = new Context({ features: [...RMA], config: { PROTO_ENABLE: 'y', ...(cudaRefusal ? { TLS: '^cuda_copy,cuda_ipc' } : {}) } });
    try {
      expect(v1.rmaMemoryTypes).toEqual(['host']);
      expect(v2.rmaMemoryTypes).toEqual(v2.memoryTypes);
      expect(Object.isFrozen(v1.rmaMemoryTypes)).toBe(true);
    } finally {
      v1.close();
      v2.close();
    }
  });
});

describe('memMap({ length, allocator })', () => {
  it("'ucx': no view; read() and write() copy within bounds; unmap() ends access", () => {
    const context = new Context({ features: [...RMA] });
    try {
      const handle = context.memMap({ length: 4096, allocator: 'ucx' });
      expect(handle.buffer).toBeNull();
      expect(handle.memoryType).toBe('host');
      expect(handle.length).toBe(4096);
      handle.write(Buffer.from('hello'), 100);
      handle.write(new Uint16Array([0x4241]), 4094);
      expect(handle.read(100, 5).toString()).toBe('hello');
      expect(handle.read(4094).toString()).toBe('AB');
      expect(handle.read().length).toBe(4096);
      expect(() => handle.read(4000, 200)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => handle.read(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => handle.write(Buffer.alloc(10), 4090)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => handle.write('text' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      handle.unmap();
      expect(() => handle.read(0, 1)).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
      expect(() => handle.write(Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
    } finally {
      context.close();
    }
  });

  it("'node' (the default) keeps a Buffer view, which read() and write() also reach", () => {
    const context = new Context({ features: [...RMA] });
    try {
      const handle = context.memMap({ length: 64, allocator: 'node' });
      expect(handle.buffer).toBeInstanceOf(Buffer);
      handle.write(Buffer.from([1, 2, 3]), 10);
      expect([...handle.buffer!.subarray(10, 13)]).toEqual([1, 2, 3]);
      expect([...handle.read(10, 3)]).toEqual([1, 2, 3]);
      expect(context.memMap({ length: 8 }).buffer).toBeInstanceOf(Buffer);
    } finally {
      context.close();
    }
  });

  it('a bad allocator is an ERR_INVALID_ARG_VALUE, and device memory takes no allocator', () => {
    const context = new Context({ features: [...RMA] });
    try {
      expect(() => context.memMap({ length: 8, allocator: 'malloc' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      expect(() => context.memMap({ length: 8, memoryType: 'cuda', allocator: 'ucx' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    } finally {
      context.close();
    }
  });
});

describe('RMA between two processes', () => {
  let context: Context;
  let worker: Worker;
  let peer: Peer;
  let ep: Endpoint;

  beforeEach(async () => {
    context = new Context({ features: [...RMA] });
    worker = context.createWorker();
    peer = startPeer(RMA_PEER);
    ep = await connectTo(worker, peer);
  });

  afterEach(async () => {
    await within(worker.close(), 10_000, 'worker.close()');
    context.close();
  });

  it('the rkey travels over an endpoint message and describes the region', async () => {
    const region = await share(peer, ep, 'main', 4096);
    expect(region.rkey).toBeInstanceOf(RemoteKey);
    expect(region.rkey.base).toBe(region.address);
    expect(region.rkey.length).toBe(4096);
    expect(region.rkey.memoryType).toBe('host');
    expect(region.rkey.endpoint).toBe(ep);
    // Envelope: magic 'NUKR', version 1, memory type 0 (host), base, length, key length, checksum, key.
    expect(region.packed.readUInt32LE(0)).toBe(0x524b554e);
    expect(region.packed.subarray(0, 4).toString('latin1')).toBe('NUKR');
    expect(region.packed.readUInt16LE(4)).toBe(1);
    expect(region.packed.readUInt16LE(6)).toBe(0);
    expect(region.packed.readBigUInt64LE(8)).toBe(region.address);
    expect(region.packed.readBigUInt64LE(16)).toBe(4096n);
    expect(region.packed.readUInt32LE(24)).toBe(region.packed.length - 32);
  });

  it('put then flush lands 1 B to 64 MiB intact in the peer; get reads 1 B to 64 MiB back intact', async () => {
    const sizes = [1, 7, 8, 4095, 4096, 65_537, MiB + 3, 16 * MiB, 64 * MiB];
    const region = await share(peer, ep, 'big', 64 * MiB + 64);
    for (const [i, size] of sizes.entries()) {
      const offset = size === 64 * MiB ? 64 : (i * 13) % 64; // unaligned starts too
      const data = pattern(size, 100 + i);
      await within(ep.put(data, region.address + BigInt(offset), region.rkey), 30_000, `put of ${size} B`);
      await within(ep.flush(), 30_000, `flush after put of ${size} B`);
      expect(await peer.call('digest', { name: 'big', offset, length: size }), `put of ${size} B`).toBe(sha256(data));

      await peer.call('fill', { name: 'big', offset, length: size, seed: 500 + i }, 30_000);
      const into = Buffer.alloc(size);
      await within(ep.get(into, region.address + BigInt(offset), region.rkey), 30_000, `get of ${size} B`);
      expect(into.equals(pattern(size, 500 + i)), `get of ${size} B`).toBe(true);
    }
  });

  it("a UCX-allocated region (allocator: 'ucx') takes put and get from 1 B to 16 MiB; read() and write() copy", async () => {
    const region = await share(peer, ep, 'shm', 16 * MiB, 'ucx');
    for (const [i, size] of [1, 8, 4097, MiB, 16 * MiB].entries()) {
      const data = pattern(size, 40 + i);
      await within(ep.put(data, region.address, region.rkey), 30_000, `put of ${size} B`);
      await within(ep.flush(), 30_000, 'flush');
      expect(await peer.call('digest', { name: 'shm', offset: 0, length: size }), `put of ${size} B`).toBe(sha256(data));
      await peer.call('fill', { name: 'shm', offset: 0, length: size, seed: 60 + i }, 30_000);
      const into = Buffer.alloc(size);
      await within(ep.get(into, region.address, region.rkey), 30_000, `get of ${size} B`);
      expect(into.equals(pattern(size, 60 + i)), `get of ${size} B`).toBe(true);
    }
  });

  it('regions backed by a Buffer, an ArrayBuffer and an offset view work up to their last byte', async () => {
    for (const backing of ['buffer', 'arraybuffer', 'view']) {
      const length = 10_000; // a multiple of 16: see the next test for other sizes
      const region = await share(peer, ep, backing, length, backing);
      const whole = pattern(length, 7);
      await w(ep.put(whole, region.address, region.rkey), 'put');
      await w(ep.flush(), 'flush');
      expect(await peer.call('digest', { name: backing }), backing).toBe(sha256(whole));
      const last = region.address + BigInt(length - 1);
      await w(ep.put(Buffer.from([0xab]), last, region.rkey), 'put');
      await w(ep.flush(), 'flush');
      expect(await peer.call('read', { name: backing, offset: length - 1, length: 1 })).toBe('ab');
      const one = Buffer.alloc(1);
      await w(ep.get(one, last, region.rkey), 'get');
      expect(one[0]).toBe(0xab);
    }
  });

  it('a mapped region is exactly the memory asked for, whatever its size and start (no bytes around it are granted)', async () => {
    // UCX registers memory in aligned units; what the handle (and so the rkey) grants must still be only the
    // caller's bytes, or a peer could write next to them.
    const cases: [string, number, number][] = [
      ['view', 8, 100],
      ['view', 3, 5],
      ['view', 24, 64],
      ['alloc', 0, 10_001],
      ['buffer', 0, 13],
    ];
    for (const [backing, viewOffset, length] of cases) {
      const name = `${backing}-${viewOffset}-${length}`;
      const mapped = await peer.call<{ length: number }>('map', { name, length, backing, viewOffset });
      expect(mapped.length, `${name}: handle.length`).toBe(length);
      const received = within(ep.recvObject(), 10_000, `rkey of ${name}`);
      await peer.call('share', { name });
      const shared = (await received) as { address: bigint; length: number; rkey: Uint8Array };
      const key = ep.unpackRkey(shared.rkey);
      expect(key.length, `${name}: rkey length`).toBe(length);
      await peer.call('fill', { name: `${name}`, value: 0 });
      await w(ep.put(Buffer.from([0xf1]), key.base, key), 'put');
      await w(ep.put(Buffer.from([0xf2]), key.base + BigInt(key.length) - 1n, key), 'put');
      await w(ep.flush(), 'flush');
      const around = await peer.call<{ first: number; last: number; outside: number }>('probe', { name });
      expect(around, `${name}: where the first and last byte of the rkey's region landed`).toEqual({ first: 0xf1, last: 0xf2, outside: 0 });
      key.destroy();
    }
  });

  it('local typed arrays and offset views: bytes count, not elements; only the view is touched', async () => {
    const region = await share(peer, ep, 'main', 4096);
    const floats = new Float64Array([1.5, -2.25, 3e300, Math.PI]);
    await w(ep.put(floats, region.address + 64n, region.rkey), 'put');
    await w(ep.flush(), 'flush');
    expect(await peer.call('read', { name: 'main', offset: 64, length: 32 })).toBe(Buffer.from(floats.buffer).toString('hex'));

    const backing = Buffer.alloc(100, 0xee);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 10, 32);
    await w(ep.get(view, region.address + 64n, region.rkey), 'get');
    expect(new Float64Array(backing.buffer.slice(backing.byteOffset + 10, backing.byteOffset + 42))).toEqual(floats);
    expect(backing.subarray(0, 10).every((b) => b === 0xee)).toBe(true);
    expect(backing.subarray(42).every((b) => b === 0xee)).toBe(true);
  });

  it('put resolves once the local buffer may be reused: changing it afterwards does not change what lands', async () => {
    const region = await share(peer, ep, 'main', 4 * MiB);
    const data = pattern(4 * MiB, 3);
    const expected = sha256(data);
    await within(ep.put(data, region.address, region.rkey), 10_000, 'put');
    data.fill(0);
    await within(ep.flush(), 10_000, 'flush');
    expect(await peer.call('digest', { name: 'main' })).toBe(expected);
  });

  it('many puts in flight, then one ep.flush() or worker.flush(), complete them all remotely', async () => {
    const region = await share(peer, ep, 'main', 256 * 4096);
    const chunks = Array.from({ length: 256 }, (_, i) => pattern(4096, i + 1));
    const puts = chunks.map((chunk, i) => ep.put(chunk, region.address + BigInt(i * 4096), region.rkey));
    await within(ep.flush(), 10_000, 'ep.flush()');
    await within(Promise.all(puts), 10_000, 'the puts');
    expect(await peer.call('digest', { name: 'main' })).toBe(sha256(Buffer.concat(chunks)));

    const again = chunks.map((_, i) => pattern(4096, 1000 + i));
    for (const [i, chunk] of again.entries()) void ep.put(chunk, region.address + BigInt(i * 4096), region.rkey);
    await within(worker.flush(), 10_000, 'worker.flush()');
    expect(await peer.call('digest', { name: 'main' })).toBe(sha256(Buffer.concat(again)));
  });

  it('fence: data put before the fence is in place whenever the peer sees the flag put after it', async () => {
    const rounds = 40;
    const slotSize = 64 * 1024;
    const region = await share(peer, ep, 'main', 64 + rounds * slotSize);
    const watched = peer.call<{ observations: number; violations: unknown[] }>(
      'watchFlag',
      { name: 'main', flagOffset: 0, dataOffset: 64, slotSize, seed: 10, rounds },
      30_000,
    );
    await peer.next('watching');
    const ops: Promise<void>[] = [];
    for (let k = 0; k < rounds; k++) {
      ops.push(ep.put(pattern(slotSize, 10 + k), region.address + 64n + BigInt(k * slotSize), region.rkey));
      ep.fence();
      ops.push(ep.put(word(BigInt(k + 1), 8), region.address, region.rkey));
      if (k % 8 === 7) await new Promise((resolve) => setImmediate(resolve)); // let the peer look mid-way
    }
    await within(Promise.all(ops), 20_000, 'the puts');
    await within(ep.flush(), 20_000, 'flush');
    const { observations, violations } = await watched;
    expect(violations).toEqual([]);
    expect(observations).toBeGreaterThan(0);
  });

  describe('atomics', () => {
    type Case = { op: AtomicOp; init: bigint; value: bigint; fetched: (init: bigint) => bigint; after: (init: bigint, bits: number) => bigint };
    const mask = (bits: number) => (1n << BigInt(bits)) - 1n;
    const cases: Case[] = [
      { op: 'add', init: 5n, value: 7n, fetched: () => 0n, after: () => 12n },
      { op: 'add', init: 5n, value: -7n, fetched: () => 0n, after: (_, bits) => mask(bits) - 1n },
      { op: 'and', init: 0b1100n, value: 0b1010n, fetched: () => 0n, after: () => 0b1000n },
      { op: 'or', init: 0b1100n, value: 0b1010n, fetched: () => 0n, after: () => 0b1110n },
      { op: 'xor', init: 0b1100n, value: 0b1010n, fetched: () => 0n, after: () => 0b0110n },
      { op: 'xor', init: 0x0f0fn, value: -1n, fetched: () => 0n, after: (_, bits) => mask(bits) ^ 0x0f0fn },
      { op: 'swap', init: 5n, value: 9n, fetched: (i) => i, after: () => 9n },
      { op: 'swap', init: 5n, value: -1n, fetched: (i) => i, after: (_, bits) => mask(bits) },
      { op: 'fadd', init: 40n, value: 2n, fetched: (i) => i, after: () => 42n },
      { op: 'fadd', init: 5n, value: -7n, fetched: (i) => i, after: (_, bits) => mask(bits) - 1n },
      { op: 'fadd', init: -1n, value: 1n, fetched: (_) => -1n, after: () => 0n }, // wraps; old value comes back unsigned
      { op: 'fand', init: 0b1100n, value: 0b1010n, fetched: (i) => i, after: () => 0b1000n },
      { op: 'for', init: 0b1100n, value: 0b1010n, fetched: (i) => i, after: () => 0b1110n },
      { op: 'fxor', init: 0b1100n, value: 0b1010n, fetched: (i) => i, after: () => 0b0110n },
    ];
    const GUARD = 0xa5a5a5a5n;

    for (const size of [4, 8] as const) {
      const bits = size * 8;
      it(`every op on ${bits}-bit words: non-fetching ops resolve 0n, fetching ones the old value; negatives wrap`, async () => {
        const region = await share(peer, ep, 'words', 4096);
        // 32-bit words sit at 4 mod 8 (4-aligned, not 8-aligned) between guard words that must not change.
        const offset = size === 4 ? 12 : 16;
        const at = region.address + BigInt(offset);
        for (const c of cases) {
          const label = `${c.op}(${c.value}) on ${c.init} (${bits}-bit)`;
          await peer.call('fill', { name: 'words', value: 0xa5 });
          await peer.call('writeWord', { name: 'words', offset, size, value: String(c.init) });
          const result = await within(ep.atomic(c.op, at, region.rkey, c.value, { size }), 10_000, label);
          expect(result, label).toBe(BigInt.asUintN(bits, c.fetched(c.init)));
          expect(BigInt(await peer.call<string>('readWord', { name: 'words', offset, size })), label).toBe(BigInt.asUintN(bits, c.after(c.init, bits)));
          if (size === 4) {
            expect(BigInt(await peer.call<string>('readWord', { name: 'words', offset: 8, size: 4 })), label).toBe(GUARD);
            expect(BigInt(await peer.call<string>('readWord', { name: 'words', offset: 16, size: 4 })), label).toBe(GUARD);
          }
        }
      });

      it(`compareSwap on ${bits}-bit words: success swaps and returns the old value, failure leaves it`, async () => {
        const region = await share(peer, ep, 'words', 4096);
        const at = region.address + 32n;
        await peer.call('writeWord', { name: 'words', offset: 32, size, value: '100' });
        expect(await w(ep.compareSwap(at, region.rkey, 100n, 200n, { size }), 'compareSwap')).toBe(100n);
        expect(await peer.call('readWord', { name: 'words', offset: 32, size })).toBe('200');
        expect(await w(ep.compareSwap(at, region.rkey, 100n, 300n, { size }), 'compareSwap')).toBe(200n);
        expect(await peer.call('readWord', { name: 'words', offset: 32, size })).toBe('200');
        // Negative compare and swap values are two's-complement bit patterns.
        expect(await w(ep.compareSwap(at, region.rkey, 200n, -2n, { size }), 'compareSwap')).toBe(200n);
        expect(BigInt(await peer.call<string>('readWord', { name: 'words', offset: 32, size }))).toBe(mask(bits) - 1n);
        expect(await w(ep.compareSwap(at, region.rkey, -2n, 7n, { size }), 'compareSwap')).toBe(mask(bits) - 1n);
        expect(await peer.call('readWord', { name: 'words', offset: 32, size })).toBe('7');
        // The unsigned spelling of the same bits matches too.
        await w(ep.atomic('swap', at, region.rkey, mask(bits), { size }), 'atomic');
        expect(await w(ep.compareSwap(at, region.rkey, -1n, 0n, { size }), 'compareSwap')).toBe(mask(bits));
        expect(await peer.call('readWord', { name: 'words', offset: 32, size })).toBe('0');
      });
    }

    it('64-bit values above 2^53 survive exactly; the default size is 8', async () => {
      const region = await share(peer, ep, 'words', 64);
      const big = (1n << 63n) + 12345678901234567n;
      await peer.call('writeWord', { name: 'words', offset: 0, size: 8, value: String(big) });
      expect(await w(ep.atomic('fadd', region.address, region.rkey, (1n << 62n) + 1n), 'atomic')).toBe(big);
      expect(BigInt(await peer.call<string>('readWord', { name: 'words', offset: 0, size: 8 }))).toBe(BigInt.asUintN(64, big + (1n << 62n) + 1n));
    });

    it('operands that do not fit, unknown ops and bad sizes are refused before anything is sent', async () => {
      const region = await share(peer, ep, 'words', 64);
      const at = region.address;
      const before = worker.stats().pendingRequests;
      const refusals: [() => Promise<unknown>, string, string][] = [
        [() => ep.atomic('fadd', at, region.rkey, 1n << 64n), 'RangeError', 'ERR_OUT_OF_RANGE'],
        [() => ep.atomic('fadd', at, region.rkey, -(1n << 63n) - 1n), 'RangeError', 'ERR_OUT_OF_RANGE'],
        [() => ep.atomic('fadd', at, region.rkey, 1n << 32n, { size: 4 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
        [() => ep.atomic('fadd', at, region.rkey, -(1n << 31n) - 1n, { size: 4 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
        [() => ep.atomic('fadd', at, region.rkey, 1n, { size: 2 as 4 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
        [() => ep.atomic('fadd', at, region.rkey, 1 as unknown as bigint), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
        [() => ep.atomic('nand' as AtomicOp, at, region.rkey, 1n), 'TypeError', 'ERR_INVALID_ARG_VALUE'],
        [() => ep.atomic('constructor' as AtomicOp, at, region.rkey, 1n), 'TypeError', 'ERR_INVALID_ARG_VALUE'],
        [() => ep.compareSwap(at, region.rkey, 1n << 64n, 0n), 'RangeError', 'ERR_OUT_OF_RANGE'],
        [() => ep.compareSwap(at, region.rkey, 0n, 1n << 32n, { size: 4 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
        [() => ep.compareSwap(at, region.rkey, 0n, 'x' as unknown as bigint), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ];
      for (const [attempt, name, code] of refusals) {
        const error = await rejection(attempt(), `refusal ${code}`);
        expect(error.name).toBe(name);
        expect(error.code).toBe(code);
      }
      expect(worker.stats().pendingRequests).toBe(before);
      expect(await peer.call('readWord', { name: 'words', offset: 0, size: 8 })).toBe('0');
    });
  });

  it('out-of-bounds and misaligned accesses are refused with ERR_OUT_OF_RANGE before anything is sent', async () => {
    const length = 4096;
    const region = await share(peer, ep, 'main', length, 'buffer');
    await peer.call('fill', { name: 'main', value: 0x5a });
    const before = await peer.call('digest', { name: 'main' });
    const { address: base, rkey } = region;
    const end = base + BigInt(length);
    const refused: [string, () => Promise<unknown>][] = [
      ['put one byte past the end', () => ep.put(Buffer.alloc(2), end - 1n, rkey)],
      ['put at the end', () => ep.put(Buffer.alloc(1), end, rkey)],
      ['put one byte before the start', () => ep.put(Buffer.alloc(1), base - 1n, rkey)],
      ['put larger than the region', () => ep.put(Buffer.alloc(length + 1), base, rkey)],
      ['put far away', () => ep.put(Buffer.alloc(8), base + (1n << 40n), rkey)],
      ['put at address 0', () => ep.put(Buffer.alloc(8), 0n, rkey)],
      ['put near 2^64', () => ep.put(Buffer.alloc(16), (1n << 64n) - 8n, rkey)],
      ['get one byte past the end', () => ep.get(Buffer.alloc(2), end - 1n, rkey)],
      ['get larger than the region', () => ep.get(Buffer.alloc(length + 8), base, rkey)],
      ['get before the start', () => ep.get(Buffer.alloc(8), base - 8n, rkey)],
      ['8-byte atomic over the end', () => ep.atomic('fadd', end - 4n, rkey, 1n)],
      ['4-byte atomic at the end', () => ep.atomic('fadd', end, rkey, 1n, { size: 4 })],
      ['8-byte atomic at 4 mod 8', () => ep.atomic('fadd', base + 4n, rkey, 1n)],
      ['8-byte atomic at 1 mod 8', () => ep.atomic('swap', base + 1n, rkey, 1n)],
      ['4-byte atomic at 2 mod 4', () => ep.atomic('fadd', base + 2n, rkey, 1n, { size: 4 })],
      ['compareSwap misaligned', () => ep.compareSwap(base + 3n, rkey, 0n, 1n)],
      ['compareSwap out of bounds', () => ep.compareSwap(end, rkey, 0n, 1n)],
      ['negative address', () => ep.put(Buffer.alloc(1), -1n, rkey)],
      ['address of 2^64', () => ep.get(Buffer.alloc(1), 1n << 64n, rkey)],
    ];
    const pendingBefore = worker.stats().pendingRequests;
    for (const [what, attempt] of refused) {
      const error = await rejection(attempt(), what);
      expect(error, what).toBeInstanceOf(RangeError);
      expect(error.code, what).toBe('ERR_OUT_OF_RANGE');
    }
    expect(worker.stats().pendingRequests).toBe(pendingBefore);
    await within(ep.flush(), 10_000, 'flush');
    expect(await peer.call('digest', { name: 'main' })).toBe(before);
    // The edges themselves are fine.
    await w(ep.put(Buffer.from([1]), base, rkey), 'put');
    await w(ep.put(Buffer.from([2]), end - 1n, rkey), 'put');
    await w(ep.atomic('fadd', end - 8n, rkey, 0n), 'atomic');
    await w(ep.atomic('fadd', end - 4n, rkey, 0n, { size: 4 }), 'atomic');
    await w(ep.flush(), 'flush');
    expect(await peer.call('read', { name: 'main', offset: 0, length: 1 })).toBe('01');
    expect(await peer.call('read', { name: 'main', offset: length - 1, length: 1 })).toBe('02');
  });

  it('wrong argument types are refused with Node-style codes', async () => {
    const region = await share(peer, ep, 'main', 64);
    const cases: [string, () => Promise<unknown>, string][] = [
      ['string data', () => ep.put('abc' as unknown as Buffer, region.address, region.rkey), 'ERR_INVALID_ARG_TYPE'],
      ['number address', () => ep.put(Buffer.alloc(1), Number(region.address) as unknown as bigint, region.rkey), 'ERR_INVALID_ARG_TYPE'],
      ['a plain object as rkey', () => ep.get(Buffer.alloc(1), region.address, {} as RemoteKey), 'ERR_INVALID_ARG_TYPE'],
      ['packed bytes as rkey', () => ep.get(Buffer.alloc(1), region.address, region.packed as unknown as RemoteKey), 'ERR_INVALID_ARG_TYPE'],
      ['no rkey', () => ep.atomic('fadd', region.address, undefined as unknown as RemoteKey, 1n), 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [what, attempt, code] of cases) {
      const error = await rejection(attempt(), what);
      expect(error, what).toBeInstanceOf(TypeError);
      expect(error.code, what).toBe(code);
    }
    expect(() => ep.unpackRkey('NUKR' as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('bad rkey bytes throw coded errors, never crash, and the endpoint keeps working', async () => {
    const region = await share(peer, ep, 'main', 4096);
    const good = region.packed;
    const bad: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['one byte', Buffer.from([0x4e])],
      ['wrong magic', Buffer.concat([Buffer.from('XXXX'), good.subarray(4)])],
      ['padded', Buffer.concat([good, Buffer.from([0])])],
    ];
    for (let cut = 0; cut < good.length; cut++) bad.push([`truncated to ${cut} B`, good.subarray(0, cut)]);
    for (let i = 32; i < good.length; i++) {
      const flipped = Buffer.from(good);
      flipped[i]! ^= 0x01 << (i % 8);
      bad.push([`UCX key byte ${i} flipped (checksum mismatch)`, flipped]);
    }
    const header = (mutate: (b: Buffer) => void, what: string): void => {
      const copy = Buffer.from(good);
      mutate(copy);
      bad.push([what, copy]);
    };
    header((b) => b.writeUInt32LE((b.readUInt32LE(28) ^ 1) >>> 0, 28), 'wrong checksum');
    header((b) => b.writeUInt16LE(2, 4), 'unknown envelope version');
    header((b) => b.writeUInt16LE(99, 6), 'unknown memory type');
    header((b) => b.writeUInt32LE(b.readUInt32LE(24) + 1, 24), 'key length too long');
    header((b) => b.writeUInt32LE(0xffffffff, 24), 'key length 4 GiB');
    header((b) => b.writeBigUInt64LE(1n << 60n, 16), 'region longer than 2^53');
    header((b) => {
      b.writeBigUInt64LE((1n << 64n) - 8n, 8);
      b.writeBigUInt64LE(4096n, 16);
    }, 'region wraps past 2^64');
    for (let i = 0; i < 100; i++) bad.push([`random ${i}`, randomBytes(i % 97)]);
    for (let i = 0; i < 50; i++) {
      // Random bytes behind a valid magic and version get further into the checks.
      const forged = randomBytes(32 + (i % 40));
      good.copy(forged, 0, 0, 8);
      bad.push([`random behind a valid header ${i}`, forged]);
    }
    for (const [what, bytes] of bad) {
      let thrown: unknown;
      try {
        ep.unpackRkey(bytes);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, what).toBeInstanceOf(UCXError);
      expect((thrown as UCXError).code, what).toBe('UCS_ERR_INVALID_PARAM');
    }
    // A Uint8Array that is a view into a larger buffer is read from its own offset.
    const embedded = Buffer.concat([Buffer.alloc(5, 0xff), good, Buffer.alloc(3, 0xff)]);
    const key = ep.unpackRkey(new Uint8Array(embedded.buffer, embedded.byteOffset + 5, good.length));
    await w(ep.put(Buffer.from('ok'), region.address, key), 'put');
    await w(ep.flush(), 'flush');
    expect(await peer.call('read', { name: 'main', offset: 0, length: 2 })).toBe(Buffer.from('ok').toString('hex'));
  });

  it('a RemoteKey works only on the endpoint that unpacked it, and not once destroyed', async () => {
    const region = await share(peer, ep, 'main', 4096);
    const ep2 = await within(worker.connect({ host: '127.0.0.1', port: ports.get(peer)! }), 10_000, 'second connect');
    await peer.next('connection');
    const key2 = ep2.unpackRkey(region.packed);
    const other = await rejection(ep2.put(Buffer.alloc(1), region.address, region.rkey), 'key of ep on ep2');
    expect(other).toBeInstanceOf(TypeError);
    expect(other.code).toBe('ERR_INVALID_ARG_VALUE');
    const reverse = await rejection(ep.atomic('fadd', region.address, key2, 1n), 'key of ep2 on ep');
    expect(reverse.code).toBe('ERR_INVALID_ARG_VALUE');
    await w(ep2.put(Buffer.from('two'), region.address, key2), 'put');
    await w(ep2.flush(), 'flush');
    expect(await peer.call('read', { name: 'main', offset: 0, length: 3 })).toBe(Buffer.from('two').toString('hex'));

    key2.destroy();
    key2.destroy(); // idempotent
    expect(key2.destroyed).toBe(true);
    const destroyed = await rejection(ep2.get(Buffer.alloc(1), region.address, key2), 'destroyed key');
    expect(destroyed.code).toBe('ERR_INVALID_ARG_VALUE');
    // The first endpoint's key is unaffected.
    const back = Buffer.alloc(3);
    await w(ep.get(back, region.address, region.rkey), 'get');
    expect(back.toString()).toBe('two');
  });

  it('keys die with their endpoint: after close, using them rejects with ERR_UCX_CLOSED', async () => {
    const region = await share(peer, ep, 'main', 16 * MiB);
    // An operation in flight at close settles one way or the other; nothing crashes.
    const inFlight = ep.get(Buffer.alloc(16 * MiB), region.address, region.rkey).then(
      () => 'resolved',
      (e: UCXError) => e.code,
    );
    await within(ep.close(), 10_000, 'ep.close()');
    expect(await within(inFlight, 10_000, 'get in flight at close')).toMatch(/^(resolved|UCS_ERR_\w+|ERR_UCX_CLOSED)$/);
    expect(region.rkey.destroyed).toBe(true);
    for (const [what, attempt] of [
      ['put', () => ep.put(Buffer.alloc(1), region.address, region.rkey)],
      ['get', () => ep.get(Buffer.alloc(1), region.address, region.rkey)],
      ['atomic', () => ep.atomic('fadd', region.address, region.rkey, 1n)],
      ['compareSwap', () => ep.compareSwap(region.address, region.rkey, 0n, 1n)],
      ['flush', () => ep.flush()],
    ] as const) {
      const error = await rejection(attempt(), what);
      expect(error, what).toBeInstanceOf(UCXError);
      expect(error.code, what).toBe('ERR_UCX_CLOSED');
    }
    expect(() => ep.unpackRkey(region.packed)).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
    expect(() => ep.fence()).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
    region.rkey.destroy(); // still idempotent
  });

  it('unmap on the owner: idempotent, packRkey afterwards throws ERR_UCX_CLOSED, the Buffer stays valid', async () => {
    const region = await share(peer, ep, 'main', 4096, 'buffer');
    const state = await peer.call<Record<string, unknown>>('unmap', { name: 'main' });
    expect(state).toEqual({ unmapped: true, packError: { name: 'UCXError', code: 'ERR_UCX_CLOSED' }, bufferStillSame: true, readable: 4096 });
    // The peer still holds a key. What UCX does with it now depends on the transport (software RMA over TCP
    // still writes the owner's Buffer; hardware RDMA fails remotely): either way it settles, and the owner lives.
    const outcome = await within(
      ep
        .put(Buffer.from('late'), region.address, region.rkey)
        .then(() => ep.flush())
        .then(
          () => 'ok',
          (e: UCXError) => e.code,
        ),
      10_000,
      'put after the owner unmapped',
    );
    expect(outcome).toMatch(/^(ok|UCS_ERR_\w+)$/);
    expect(await peer.call('readWord', { name: 'main', offset: 8, size: 8 })).toBe('0');
  });

  it('unmap on the initiator while its put is in flight: the source stays pinned and the data lands intact', async () => {
    const region = await share(peer, ep, 'main', 16 * MiB);
    const local = context.memMap({ length: 16 * MiB });
    pattern(16 * MiB, 77).copy(local.buffer!);
    const put = ep.put(local.buffer!, region.address, region.rkey);
    local.unmap();
    local.unmap();
    expect(() => local.packRkey()).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
    await within(put, 20_000, 'put from an unmapped region');
    await within(ep.flush(), 20_000, 'flush');
    expect(await peer.call('digest', { name: 'main' })).toBe(sha256(pattern(16 * MiB, 77)));
  });

  it('peer SIGKILLed during 64 MiB gets: pending gets reject with a coded UCXError within 5 s and ep emits error', async () => {
    const size = 64 * MiB;
    const region = await share(peer, ep, 'big', size);
    const errored = new Promise<UCXError>((resolve) => ep.once('error', resolve));
    const gets = Array.from({ length: 4 }, () => ep.get(Buffer.allocUnsafe(size), region.address, region.rkey));
    peer.kill('SIGKILL');
    const started = Date.now();
    const settled = await within(Promise.allSettled(gets), 5_000, 'pending gets to settle after the peer died');
    const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const { reason } of rejected) {
      expect(reason).toBeInstanceOf(UCXError);
      expect((reason as UCXError).code).toMatch(/^UCS_ERR_/);
      expect((reason as UCXError).status).toBeLessThan(0);
    }
    const error = await within(errored, Math.max(1, 5_000 - (Date.now() - started)), "the endpoint's 'error' event");
    expect(error).toBeInstanceOf(UCXError);
    expect(error.code).toMatch(/^UCS_ERR_/);
    const after = await rejection(ep.put(Buffer.alloc(1), region.address, region.rkey), 'put after peer death');
    expect(after).toBeInstanceOf(UCXError);
    expect(after.code).toMatch(/^(UCS_ERR_\w+|ERR_UCX_CLOSED)$/);
  });
});

describe('two client processes hammering one counter', () => {
  it('fetch-add N times from each of two processes gives exactly 2N, every old value once', async () => {
    const N = 3000;
    const context = new Context({ features: [...RMA] });
    const worker = context.createWorker();
    try {
      const owner = startPeer(RMA_PEER);
      const other = startPeer(RMA_PEER);
      const { port } = await owner.next('ready');
      await other.next('ready');
      const ep = await within(worker.connect({ host: '127.0.0.1', port: port as number }), 10_000, 'connect to owner');
      const mine = (await owner.next('connection')).index as number;
      const otherEp = await other.call<number>('connect', { port });
      const theirs = (await owner.next('connection')).index as number;

      const region = await share(owner, ep, 'counter', 64, 'alloc', mine);
      const usedThere = other.call('useKey', { ep: otherEp });
      await owner.call('share', { name: 'counter', ep: theirs });
      await usedThere;

      const theirOlds = other.call<string[]>('hammer', { name: 'counter', count: N, window: 16 }, 60_000);
      await other.next('hammering');
      const myOlds: bigint[] = [];
      let issued = 0;
      const lane = async (): Promise<void> => {
        while (issued < N) {
          issued++;
          myOlds.push(await ep.atomic('fadd', region.address, region.rkey, 1n));
        }
      };
      await within(Promise.all(Array.from({ length: 16 }, lane)), 60_000, 'my fetch-adds');
      const all = [...myOlds, ...(await theirOlds).map(BigInt)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      expect(await owner.call('readWord', { name: 'counter', offset: 0, size: 8 })).toBe(String(2 * N));
      expect(all.length).toBe(2 * N);
      expect(all.every((value, i) => value === BigInt(i))).toBe(true);
    } finally {
      await within(worker.close(), 10_000, 'worker.close()');
      context.close();
    }
  });
});

describe.each(PROGRESS_MODES)('RMA basics in %s mode', (mode) => {
  it('put, get, fetch-add and compareSwap', async () => {
    const context = new Context({ features: [...RMA] });
    const worker = context.createWorker({ progress: mode });
    try {
      const peer = startPeer(RMA_PEER, [mode]);
      const ep = await connectTo(worker, peer);
      const region = await share(peer, ep, 'main', MiB);
      const data = pattern(MiB, 5);
      await within(ep.put(data, region.address, region.rkey), 10_000, 'put');
      await within(ep.flush(), 10_000, 'flush');
      expect(await peer.call('digest', { name: 'main' })).toBe(sha256(data));
      const back = Buffer.alloc(MiB);
      await within(ep.get(back, region.address, region.rkey), 10_000, 'get');
      expect(back.equals(data)).toBe(true);
      const old = back.readBigUInt64LE(8);
      expect(await within(ep.atomic('fadd', region.address + 8n, region.rkey, 3n), 10_000, 'fadd')).toBe(old);
      expect(await within(ep.compareSwap(region.address + 8n, region.rkey, BigInt.asUintN(64, old + 3n), 1n), 10_000, 'cswap')).toBe(
        BigInt.asUintN(64, old + 3n),
      );
      expect(await peer.call('readWord', { name: 'main', offset: 8, size: 8 })).toBe('1');
    } finally {
      await within(worker.close(), 10_000, 'worker.close()');
      context.close();
    }
  });
});
