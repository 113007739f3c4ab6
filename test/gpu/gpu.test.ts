// Device memory. The GPU suite runs only where UCX was built with CUDA
// (context.memoryTypes has 'cuda') and node-ucx/cuda can allocate on a GPU;
// elsewhere it is reported skipped, with the reason in its name and on the
// console. What must hold on any machine runs everywhere: memory types are
// reported, a type this UCX lacks is a coded UCS_ERR_UNSUPPORTED, and the cuda
// helper fails with a coded error when CUDA is absent.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { Context, UCXError, version, type Worker, type Endpoint, type DeviceMemory } from 'node-ucx';
import * as cuda from 'node-ucx/cuda';
import { within, pattern } from '../helpers.js';
import { execFile } from 'node:child_process';
import path from 'node:path';

/** RMA and atomics are opt-in. */
const RMA = ['tag', 'stream', 'am', 'rma', 'amo'] as const;
const probe = new Context({ features: [...RMA] });
const memoryTypes = [...probe.memoryTypes];
probe.close();
const ucxHasCuda = memoryTypes.includes('cuda');
const gpu = cuda.available();
const skipReason = !ucxHasCuda
  ? `UCX ${version.ucx} here is built without CUDA (context.memoryTypes = [${memoryTypes.join(', ')}])`
  : !gpu.ok
    ? `no usable GPU: ${gpu.reason}`
    : '';
if (skipReason !== '') console.warn(`[test/gpu] GPU suite skipped: ${skipReason}`);

const MiB = 1 << 20;
/** UCX 1.13's v2 protocols crash with its CUDA transports, so node-ucx refuses that combination (see Context). */
const V2_REFUSED = /^1\.13\./.test(version.ucx);
const FIXTURES = path.resolve(__dirname, 'fixtures');

/** Runs a fixture script to its end: exit code, signal and output. */
function runFixture(fixture: string, args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(FIXTURES, fixture), ...args], { timeout: 25_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({ code: failure ? (typeof failure.code === 'number' ? failure.code : 1) : 0, signal: failure?.signal ?? null, stdout, stderr });
    });
  });
}

/** Every wait is bounded: a hang fails the test with what was awaited. */
function w<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  return within(promise, ms, what);
}

/** A listener and a client endpoint on 127.0.0.1 in one worker: [client, server]. */
async function loopback(worker: Worker): Promise<[Endpoint, Endpoint]> {
  let accepted!: (ep: Endpoint) => void;
  const server = new Promise<Endpoint>((resolve) => {
    accepted = resolve;
  });
  const listener = await w(
    worker.listen({ host: '127.0.0.1', port: 0 }, (ep) => accepted(ep)),
    'listen',
  );
  const client = await within(worker.connect({ host: '127.0.0.1', port: listener.port }), 10_000, 'loopback connect');
  return [client, await within(server, 10_000, 'loopback accept')];
}

describe('memory types', () => {
  it("context.memoryTypes lists 'host' and only names node-ucx knows", () => {
    expect(memoryTypes).toContain('host');
    for (const type of memoryTypes) expect(['host', 'cuda', 'cuda-managed', 'rocm', 'rocm-managed']).toContain(type);
  });

  it('an unknown memory type is a TypeError, not a UCX call', () => {
    const context = new Context({ features: [...RMA] });
    try {
      expect(() => context.memMap({ length: 8, memoryType: 'vram' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      expect(() => context.memMap({ ptr: 1n, length: 8, memoryType: 'host' as 'cuda' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    } finally {
      context.close();
    }
  });
});

describe.runIf(!ucxHasCuda)(`'cuda' memory on a UCX without CUDA (UCX ${version.ucx}, memoryTypes [${memoryTypes.join(', ')}])`, () => {
  let context: Context;
  let worker: Worker;
  let client: Endpoint;
  const device: DeviceMemory = { ptr: 1n, length: 8, memoryType: 'cuda' };

  beforeAll(async () => {
    context = new Context({ features: [...RMA] });
    worker = context.createWorker();
    [client] = await w(loopback(worker), 'loopback endpoints');
  });

  afterAll(async () => {
    // Client first: closing both ends of an in-process pair at once can make worker.close() reject (see the report).
    await within(client.close(), 10_000, 'client.close()');
    await within(worker.close(), 10_000, 'worker.close()');
    context.close();
  });

  function expectUnsupported(error: unknown, what: string): void {
    expect(error, what).toBeInstanceOf(UCXError);
    expect((error as UCXError).code, what).toBe('UCS_ERR_UNSUPPORTED');
    expect((error as UCXError).status, what).toBe(-22);
    expect((error as UCXError).message, what).toMatch(/not supported by this UCX build/);
  }

  it('memMap({ length, memoryType: "cuda" }) and memMap(DeviceMemory) throw UCS_ERR_UNSUPPORTED', () => {
    for (const [what, target] of [
      ['UCX-allocated cuda', { length: 1024, memoryType: 'cuda' }],
      ['UCX-allocated cuda-managed', { length: 1024, memoryType: 'cuda-managed' }],
      ['a cuda pointer', device],
      ['a rocm pointer', { ptr: 4096n, length: 64, memoryType: 'rocm' }],
    ] as const) {
      let thrown: unknown;
      try {
        context.memMap(target);
      } catch (error) {
        thrown = error;
      }
      expectUnsupported(thrown, what);
    }
  });

  it('every data-taking operation rejects cuda memory with UCS_ERR_UNSUPPORTED before UCX sees the pointer', async () => {
    const region = context.memMap({ length: 64 });
    const rkey = client.unpackRkey(region.packRkey());
    const attempts: [string, () => Promise<unknown>][] = [
      ['ep.send', () => client.send(device)],
      ['ep.sendMessage', () => client.sendMessage(device)],
      ['ep.recv', () => client.recv(device)],
      ['ep.tagSend', () => client.tagSend(device, 1n)],
      ['ep.streamSend', () => client.streamSend(device)],
      ['ep.streamRecv', () => client.streamRecv(device)],
      ['ep.amSend', () => client.amSend(1, null, device)],
      ['ep.put', () => client.put(device, region.address, rkey)],
      ['ep.get', () => client.get(device, region.address, rkey)],
      ['worker.tagRecv', () => worker.tagRecv(device, 1n)],
    ];
    const before = worker.stats().pendingRequests;
    for (const [what, attempt] of attempts) {
      const outcome = await within(
        attempt().then(
          () => undefined,
          (error: unknown) => error,
        ),
        5_000,
        what,
      );
      expectUnsupported(outcome, what);
    }
    expect(worker.stats().pendingRequests).toBe(before);
    region.unmap();
  });
});

describe('node-ucx/cuda', () => {
  it('available() answers { ok, reason } and says why when CUDA is missing', () => {
    const state = cuda.available();
    expect(typeof state.ok).toBe('boolean');
    expect(typeof state.reason).toBe('string');
    if (!state.ok) expect(state.reason.length).toBeGreaterThan(10);
    else expect(state.reason).toBe('');
    expect(cuda.available()).toEqual(state); // cached, and a copy
  });

  it.runIf(!gpu.ok)(`without CUDA every call throws ERR_UCX_CUDA_UNAVAILABLE with the reason (here: ${gpu.reason})`, () => {
    const fake: DeviceMemory = { ptr: 4096n, length: 16, memoryType: 'cuda' };
    for (const [what, call] of [
      ['malloc', () => cuda.malloc(1024)],
      ['free', () => cuda.free(fake)],
      ['copyToDevice', () => cuda.copyToDevice(fake, Buffer.alloc(16))],
      ['copyToHost', () => cuda.copyToHost(Buffer.alloc(16), fake)],
    ] as const) {
      let thrown: unknown;
      try {
        call();
      } catch (error) {
        thrown = error;
      }
      expect(thrown, what).toBeInstanceOf(UCXError);
      expect((thrown as UCXError).code, what).toBe('ERR_UCX_CUDA_UNAVAILABLE');
      expect((thrown as UCXError).status, what).toBe(-22);
      expect((thrown as UCXError).message, what).toContain(gpu.reason);
    }
  });

  it('bad arguments are Node-style errors, checked before CUDA is needed', () => {
    expect(() => cuda.malloc(0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => cuda.malloc(1.5)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => cuda.malloc('8' as unknown as number)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => cuda.free({ ptr: 1, length: 8, memoryType: 'cuda' } as unknown as DeviceMemory)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => cuda.copyToDevice({ ptr: 1n, length: 8, memoryType: 'cuda' }, 'abc' as unknown as Buffer)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => cuda.copyToHost(Buffer.alloc(16), { ptr: 1n, length: 8, memoryType: 'cuda' })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  describe('with a plugged-in backend (host memory standing in for the GPU)', () => {
    /** A CudaBackend over host Buffers: enough to check what node-ucx/cuda does around the four calls. */
    function fakeBackend(opts: { devices?: number; failMalloc?: boolean; throwOnLoad?: boolean } = {}) {
      const memory = new Map<bigint, Buffer>();
      let next = 0x7f0000000000n;
      const calls: string[] = [];
      const locate = (ptr: bigint, bytes: number): Buffer => {
        for (const [base, buffer] of memory) {
          if (ptr >= base && ptr + BigInt(bytes) <= base + BigInt(buffer.length)) return buffer.subarray(Number(ptr - base), Number(ptr - base) + bytes);
        }
        throw Object.assign(new Error('invalid argument'), { code: 'cudaErrorInvalidValue' });
      };
      const backend: cuda.CudaBackend = {
        load(candidates) {
          calls.push(`load ${candidates.join(',')}`);
          if (opts.throwOnLoad) throw new Error('dlopen exploded');
          return { ok: true, reason: '', library: 'libfake.so', devices: opts.devices ?? 1, runtimeVersion: 12040 };
        },
        malloc(bytes, managed) {
          calls.push(`malloc ${bytes} ${managed}`);
          if (opts.failMalloc) throw Object.assign(new Error('out of memory'), { code: 'cudaErrorMemoryAllocation' });
          const ptr = next;
          next += 1n << 32n;
          memory.set(ptr, Buffer.alloc(bytes));
          return ptr;
        },
        free(ptr) {
          calls.push(`free ${ptr}`);
          memory.delete(ptr);
        },
        memcpy(dst, src, bytes, kind) {
          calls.push(`memcpy ${kind} ${bytes}`);
          const to = typeof dst === 'bigint' ? locate(dst, bytes) : Buffer.from(dst.buffer, dst.byteOffset, bytes);
          const from = typeof src === 'bigint' ? locate(src, bytes) : Buffer.from(src.buffer, src.byteOffset, bytes);
          from.copy(to);
        },
      };
      return { backend, calls, memory };
    }

    afterEach(() => cuda.setBackend(null));

    it('malloc, copy with offsets, free; DeviceMemory is what node-ucx operations take', () => {
      const { backend, calls, memory } = fakeBackend();
      cuda.setBackend(backend);
      expect(cuda.available()).toEqual({ ok: true, reason: '', library: 'libfake.so', devices: 1, runtimeVersion: 12040 });
      expect(calls[0]).toMatch(/^load libcudart\.so,/);
      const mem = cuda.malloc(1000);
      expect(mem).toEqual({ ptr: expect.any(BigInt), length: 1000, memoryType: 'cuda' });
      expect(Object.isFrozen(mem)).toBe(true);
      expect(cuda.malloc(8, { managed: true }).memoryType).toBe('cuda-managed');

      const data = pattern(1000, 4);
      cuda.copyToDevice(mem, data);
      cuda.copyToDevice(mem, new Uint16Array([0xbbaa]), { offset: 998 });
      const back = Buffer.alloc(1000);
      cuda.copyToHost(back, mem);
      expect(back.subarray(0, 998).equals(data.subarray(0, 998))).toBe(true);
      expect([...back.subarray(998)]).toEqual([0xaa, 0xbb]);
      const middle = new Uint8Array(10);
      cuda.copyToHost(middle, mem, { offset: 100 });
      expect(Buffer.from(middle).equals(data.subarray(100, 110))).toBe(true);
      cuda.copyToDevice(mem, Buffer.alloc(0), { offset: 1000 }); // empty copy at the end: nothing to do

      expect(() => cuda.copyToDevice(mem, Buffer.alloc(11), { offset: 990 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => cuda.copyToHost(Buffer.alloc(1001), mem)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => cuda.copyToHost(Buffer.alloc(1), mem, { offset: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));

      cuda.free(mem);
      expect(memory.has(mem.ptr)).toBe(false);
      expect(() => cuda.free(mem)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      expect(() => cuda.free({ ptr: 12345n, length: 8, memoryType: 'cuda' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      expect(calls.filter((c) => c.startsWith('free'))).toHaveLength(1);
    });

    it('CUDA errors come back as UCXError with the cudaError_t name as code', () => {
      cuda.setBackend(fakeBackend({ failMalloc: true }).backend);
      let thrown: unknown;
      try {
        cuda.malloc(1 << 30);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(UCXError);
      expect(thrown).toMatchObject({ code: 'cudaErrorMemoryAllocation', status: -4 });
      expect((thrown as Error).message).toMatch(/cudaMalloc\(1073741824\): out of memory/);
    });

    it('no device, or a loader that throws, is ok: false with the reason', () => {
      cuda.setBackend(fakeBackend({ devices: 0 }).backend);
      expect(cuda.available()).toMatchObject({ ok: false, reason: expect.stringMatching(/no CUDA device/) });
      expect(() => cuda.malloc(8)).toThrow(expect.objectContaining({ code: 'ERR_UCX_CUDA_UNAVAILABLE' }));
      cuda.setBackend(fakeBackend({ throwOnLoad: true }).backend);
      expect(cuda.available()).toMatchObject({ ok: false, reason: expect.stringMatching(/dlopen exploded/) });
      expect(() => cuda.setBackend({ load: () => ({ ok: true, reason: '' }) } as unknown as cuda.CudaBackend)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
      );
    });

    it('setBackend(null) goes back to the addon and what it found', () => {
      cuda.setBackend(fakeBackend().backend);
      expect(cuda.available().ok).toBe(true);
      cuda.setBackend(null);
      expect(cuda.available()).toEqual(gpu);
    });
  });
});

describe.skipIf(skipReason !== '')(`GPU memory${skipReason ? ` [skipped: ${skipReason}]` : ''}`, () => {
  let context: Context;
  let worker: Worker;
  let client: Endpoint;
  let server: Endpoint;
  const live: DeviceMemory[] = [];
  const alloc = (bytes: number): DeviceMemory => {
    const mem = cuda.malloc(bytes);
    live.push(mem);
    return mem;
  };
  const read = (mem: DeviceMemory, bytes = mem.length): Buffer => {
    const out = Buffer.alloc(bytes);
    cuda.copyToHost(out, mem);
    return out;
  };

  beforeAll(async () => {
    context = new Context({ features: [...RMA] });
    worker = context.createWorker();
    [client, server] = await w(loopback(worker), 'loopback endpoints');
  });

  afterAll(async () => {
    await within(client.close(), 10_000, 'client.close()');
    await within(worker.close(), 10_000, 'worker.close()');
    context.close();
    for (const mem of live.splice(0)) cuda.free(mem);
  });

  it("reports 'cuda' among the memory types", () => {
    expect(context.memoryTypes).toContain('cuda');
  });

  it('endpoint messages: device to device, host to device, device to host, 8 B to 16 MiB', async () => {
    for (const size of [8, 65_536, MiB, 16 * MiB]) {
      const data = pattern(size, size & 0xff);
      const from = alloc(size);
      const to = alloc(size);
      cuda.copyToDevice(from, data);
      const received = server.recv(to);
      await within(client.send(from), 20_000, `send of ${size} B from the GPU`);
      expect(await within(received, 20_000, `recv of ${size} B into the GPU`)).toBe(size);
      expect(read(to).equals(data), `device to device, ${size} B`).toBe(true);

      const again = server.recv(to);
      await w(client.send(pattern(size, 9)), 'send');
      await within(again, 20_000, 'host to device');
      expect(read(to).equals(pattern(size, 9)), `host to device, ${size} B`).toBe(true);

      const host = Buffer.alloc(size);
      const toHost = server.recv(host);
      await w(client.send(from), 'send');
      await within(toHost, 20_000, 'device to host');
      expect(host.equals(data), `device to host, ${size} B`).toBe(true);
    }
  });

  it('raw tag send/recv with device buffers', async () => {
    const size = 4 * MiB;
    const from = alloc(size);
    const to = alloc(size);
    cuda.copyToDevice(from, pattern(size, 21));
    const received = worker.tagRecv(to, 0x77n);
    await within(client.tagSend(from, 0x77n), 20_000, 'tagSend from the GPU');
    expect(await within(received, 20_000, 'tagRecv into the GPU')).toEqual({ length: size, tag: 0x77n });
    expect(read(to).equals(pattern(size, 21))).toBe(true);
  });

  it('memMap of device memory: the handle and rkey say cuda; RMA on it is refused with the v1 protocols', async () => {
    const size = MiB;
    const target = alloc(size);
    const handle = context.memMap(target);
    expect(handle.memoryType).toBe('cuda');
    expect(handle.buffer).toBeNull();
    expect(handle.address).toBe(target.ptr);
    expect(handle.length).toBe(size);
    const packed = handle.packRkey();
    expect(packed.readUInt16LE(6)).toBe(1); // ucs_memory_type_t UCS_MEMORY_TYPE_CUDA
    const rkey = client.unpackRkey(packed);
    expect(rkey.memoryType).toBe('cuda');
    // UCX 1.13's default (v1) RMA protocols copy RMA data as host memory: UCX would segfault, so node-ucx refuses.
    if (!context.rmaMemoryTypes.includes('cuda')) {
      const host = context.memMap({ length: 64 });
      const hostKey = client.unpackRkey(host.packRkey());
      const source = alloc(64);
      for (const [what, attempt] of [
        ['put host to GPU', () => client.put(pattern(64, 1), handle.address, rkey)],
        ['get GPU to host', () => client.get(Buffer.alloc(64), handle.address, rkey)],
        ['put GPU to host', () => client.put(source, host.address, hostKey)],
        ['get host to GPU', () => client.get(source, host.address, hostKey)],
        ['fetch-add on GPU memory', () => client.atomic('fadd', handle.address, rkey, 1n)],
      ] as const) {
        const outcome = await within(
          (attempt() as Promise<unknown>).then(
            () => 'resolved',
            (error: unknown) => error,
          ),
          5_000,
          what,
        );
        expect(outcome, what).toBeInstanceOf(UCXError);
        expect((outcome as UCXError).code, what).toBe('UCS_ERR_UNSUPPORTED');
        expect((outcome as UCXError).message, what).toMatch(/PROTO_ENABLE|atomics work on host memory only/);
      }
      // The endpoint is as good as before: host RMA still works.
      await w(client.put(pattern(64, 2), host.address, hostKey), 'host put');
      await w(client.flush(), 'flush');
      expect(host.buffer!.equals(pattern(64, 2))).toBe(true);
      hostKey.destroy();
      host.unmap();
    }
    rkey.destroy();
    handle.unmap();
  });

  it('an atomic on device memory is refused with UCS_ERR_UNSUPPORTED, with either protocol version (in a child process)', async () => {
    for (const proto of V2_REFUSED ? ['n'] : ['y', 'n']) {
      const run = await within(runFixture('gpu-atomic.mjs', [proto]), 30_000, `gpu-atomic.mjs ${proto}`);
      expect(run.signal, `PROTO_ENABLE=${proto}: ${run.stderr}`).toBeNull();
      expect(run.code, `PROTO_ENABLE=${proto}: ${run.stderr}`).toBe(0);
      const outcome = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { old?: string; now?: string; code?: string; message?: string };
      expect(outcome.code, `PROTO_ENABLE=${proto}: ${JSON.stringify(outcome)}`).toBe('UCS_ERR_UNSUPPORTED');
      expect(outcome.message).toMatch(/atomics work on host memory only/);
    }
  });

  it.runIf(V2_REFUSED)(`UCX ${version.ucx}: a Context with PROTO_ENABLE=y and CUDA is refused (its AM sends crash between processes)`, () => {
    let thrown: unknown;
    try {
      new Context({ features: [...RMA], config: { PROTO_ENABLE: 'y' } }).close();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UCXError);
    expect((thrown as UCXError).code).toBe('UCS_ERR_UNSUPPORTED');
    expect((thrown as UCXError).message).toMatch(/PROTO_ENABLE=y.*cuda_copy/);
    // Without cuda_copy the v2 protocols are allowed.
    for (const tls of ['^cuda_copy,cuda_ipc', 'tcp', 'tcp,self']) new Context({ features: [...RMA], config: { PROTO_ENABLE: 'y', TLS: tls } }).close();
  });

  describe.runIf(!V2_REFUSED)("with UCX's memory-type-aware protocols (PROTO_ENABLE=y)", () => {
    let v2: Context;
    let v2Worker: Worker;
    let v2Client: Endpoint;

    beforeAll(async () => {
      v2 = new Context({ features: [...RMA], config: { PROTO_ENABLE: 'y' } });
      v2Worker = v2.createWorker();
      [v2Client] = await w(loopback(v2Worker), 'loopback endpoints (PROTO_ENABLE=y)');
    });

    afterAll(async () => {
      await within(v2Client.close(), 10_000, 'client.close()');
      await within(v2Worker.close(), 10_000, 'worker.close()');
      v2.close();
    });

    it('rmaMemoryTypes includes cuda', () => {
      expect(v2.rmaMemoryTypes).toContain('cuda');
    });

    it('put and get move data in and out of device memory, 8 B to 8 MiB', async () => {
      const size = 8 * MiB;
      const target = alloc(size);
      const handle = v2.memMap(target);
      const rkey = v2Client.unpackRkey(handle.packRkey());
      await within(v2Client.put(pattern(size, 31), handle.address, rkey), 20_000, 'put host to GPU');
      await within(v2Client.flush(), 20_000, 'flush');
      expect(read(target).equals(pattern(size, 31))).toBe(true);

      for (const bytes of [8, 4096, MiB]) {
        const source = alloc(bytes);
        cuda.copyToDevice(source, pattern(bytes, bytes & 0x7f));
        await within(v2Client.put(source, handle.address + BigInt(MiB), rkey), 20_000, `put ${bytes} B GPU to GPU`);
        await within(v2Client.flush(), 20_000, 'flush');
        const back = Buffer.alloc(bytes);
        await within(v2Client.get(back, handle.address + BigInt(MiB), rkey), 20_000, `get ${bytes} B GPU to host`);
        expect(back.equals(pattern(bytes, bytes & 0x7f)), `${bytes} B`).toBe(true);
      }

      const into = alloc(MiB);
      await within(v2Client.get(into, handle.address, rkey), 20_000, 'get GPU to GPU');
      expect(read(into).equals(pattern(size, 31).subarray(0, MiB))).toBe(true);
      rkey.destroy();
      handle.unmap();
    });

    it('memMap({ length, memoryType: "cuda" }) lets UCX allocate device memory', async () => {
      const handle = v2.memMap({ length: MiB, memoryType: 'cuda' });
      expect(handle.memoryType).toBe('cuda');
      expect(handle.buffer).toBeNull();
      const rkey = v2Client.unpackRkey(handle.packRkey());
      await w(v2Client.put(pattern(MiB, 41), handle.address, rkey), 'put');
      await w(v2Client.flush(), 'flush');
      const back = Buffer.alloc(MiB);
      await w(v2Client.get(back, handle.address, rkey), 'get');
      expect(back.equals(pattern(MiB, 41))).toBe(true);
      rkey.destroy();
      handle.unmap();
    });
  });
});
