// Data movement between two real processes, in every progress mode.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { Context, UCXError, type Worker, type Endpoint } from 'node-ucx';
import { PROGRESS_MODES, startPeer, within, pattern, connectToPeer, type Peer } from '../helpers.js';

describe.each(PROGRESS_MODES)('messaging in %s mode', (mode) => {
  let context: Context;
  let worker: Worker;
  let peer: Peer;
  let ep: Endpoint;

  beforeEach(async () => {
    context = new Context();
    worker = context.createWorker({ progress: mode });
    peer = startPeer('peer.mjs', [mode]);
    const { port } = await peer.next('ready');
    ep = await within(worker.connect({ host: '127.0.0.1', port: port as number }), 10_000, 'connect');
    await peer.next('connection');
  });

  afterEach(async () => {
    await within(worker.close(), 10_000, 'worker.close()');
    context.close();
  });

  it('endpoint messages of 0 B to 4 MiB come back intact and in order', async () => {
    const sizes = [0, 1, 8, 8191, 8192, 65536, 1 << 20, 4 << 20];
    const echoed = peer.call('echo', { count: sizes.length });
    // Receive while sending: a rendezvous send completes only once the other side receives.
    const received = (async () => {
      const out: Buffer[] = [];
      for (const size of sizes) out.push(await within(ep.recvMessage(), 10_000, `echo of ${size} B`));
      return out;
    })();
    for (const [i, size] of sizes.entries()) await ep.send(pattern(size, i + 1));
    for (const [i, data] of (await received).entries()) {
      expect(data.length).toBe(sizes[i]);
      expect(data.equals(pattern(sizes[i]!, i + 1))).toBe(true);
    }
    await echoed;
  });

  it("recv(into) reports the length and fills the caller's buffer", async () => {
    const echoed = peer.call('echo', { count: 2 });
    await ep.send(Buffer.from('hello'));
    const into = new Uint8Array(64);
    expect(await within(ep.recv(into), 10_000, 'recv')).toBe(5);
    expect(Buffer.from(into.subarray(0, 5)).toString()).toBe('hello');
    // A typed array other than Uint8Array counts bytes, not elements.
    const floats = new Float64Array([1.5, -2.25, 3e300]);
    await ep.send(floats);
    const back = new Float64Array(3);
    expect(await within(ep.recv(back), 10_000, 'recv floats')).toBe(24);
    expect([...back]).toEqual([1.5, -2.25, 3e300]);
    await echoed;
  });

  it('a message larger than the receive buffer rejects with UCS_ERR_MESSAGE_TRUNCATED and the endpoint stays usable', async () => {
    const echoed = peer.call('echo', { count: 2 });
    await ep.send(pattern(100));
    const error = await within(ep.recv(Buffer.alloc(10)), 10_000, 'truncated recv').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UCXError);
    expect((error as UCXError).code).toBe('UCS_ERR_MESSAGE_TRUNCATED');
    expect((error as UCXError).status).toBe(-9);
    await ep.send(Buffer.from('still here'));
    expect((await within(ep.recvMessage(), 10_000, 'message after truncation')).toString()).toBe('still here');
    await echoed;
  });

  it('sendObject/recvObject keep Map, Set, Date, BigInt, typed arrays and nesting', async () => {
    const value = {
      map: new Map<unknown, unknown>([
        [1, 'one'],
        ['two', { deep: [2n ** 70n] }],
      ]),
      set: new Set(['a', 'b']),
      date: new Date(1_700_000_000_000),
      big: -(2n ** 64n),
      bytes: new Uint8Array([1, 2, 3]),
      floats: new Float32Array([0.5, 1.5]),
      nested: { list: [null, undefined, true, 'x'.repeat(10_000)] },
    };
    const echoed = peer.call('echoObject', { count: 1 });
    await ep.sendObject(value);
    expect(await within(ep.recvObject(), 10_000, 'object echo')).toEqual(value);
    await echoed;
  });

  it('sendObject rejects values structured clone cannot copy, without sending anything', async () => {
    await expect(ep.sendObject({ f: () => 1 })).rejects.toThrow(/could not be cloned/);
  });

  it('raw tagSend reaches tagRecvMessage on the peer, and tagRecv with a mask picks a tag range', async () => {
    const echoed = peer.call('tagEcho', { tag: 77, replyTag: 0x1234, count: 2 });
    const reply = worker.tagRecv(Buffer.alloc(32), 0x1200n, 0xff00n);
    await ep.tagSend(Buffer.from('ping'), 77n);
    const first = await within(reply, 10_000, 'masked tagRecv');
    expect(first).toEqual({ length: 4, tag: 0x1234n });
    await ep.tagSend(Buffer.from('sync'), 77n, { sync: true });
    const second = await within(worker.tagRecvMessage(0x1234n), 10_000, 'tagRecvMessage');
    expect(second.data.toString()).toBe('sync');
    await echoed;
  });

  it('tagProbe sees a queued message without taking it', async () => {
    const echoed = peer.call('tagEcho', { tag: 5, replyTag: 6 });
    await ep.tagSend(Buffer.from('probe me'), 5n);
    let probed = worker.tagProbe(6n);
    const deadline = Date.now() + 10_000;
    while (probed === null && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      probed = worker.tagProbe(6n);
    }
    expect(probed).toEqual({ length: 8, tag: 6n });
    expect(worker.tagProbe(6n)).toEqual({ length: 8, tag: 6n });
    expect((await within(worker.tagRecvMessage(6n), 10_000, 'probed message')).data.toString()).toBe('probe me');
    await echoed;
  });

  // Between shared memory's segment (8 KiB) and the rendezvous threshold a message travels as several
  // eager fragments. A receive posted once all of them are queued completes inside ucp_tag_recv_nbx /
  // ucp_tag_msg_recv_nbx, which still return a request: that completion must not be lost (it was, and
  // the receive hung forever: the scheduler's and the transport's stalls).
  it('receives posted after a multi-fragment message has fully arrived complete (posted and probed)', async () => {
    const sizes = [9000, 8255, 8300, 12_000, 30_000, 60_000];
    const echoed = peer.call('tagEcho', { tag: 7, replyTag: 8, count: sizes.length * 2 });
    const arrived = async (what: string): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (worker.tagProbe(8n) === null) {
        if (Date.now() > deadline) throw new Error(`${what} never arrived`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await new Promise((resolve) => setTimeout(resolve, 20)); // the remaining fragments too
    };
    for (const [i, size] of sizes.entries()) {
      await ep.tagSend(pattern(size, i + 1), 7n);
      await arrived(`the echo of ${size} B`);
      const into = Buffer.alloc(size);
      const { length } = await within(worker.tagRecv(into, 8n), 5_000, `tagRecv of a queued ${size} B message`);
      expect(length).toBe(size);
      expect(into.equals(pattern(size, i + 1))).toBe(true);

      await ep.tagSend(pattern(size, i + 100), 7n);
      await arrived(`the second echo of ${size} B`);
      const { data } = await within(worker.tagRecvMessage(8n), 5_000, `tagRecvMessage of a queued ${size} B message`);
      expect(data.equals(pattern(size, i + 100))).toBe(true);
    }
    await echoed;
  });

  it('stream bytes come back with waitAll', async () => {
    const size = 300_000;
    const echoed = peer.call('streamEcho', { size, count: 1 });
    await ep.streamSend(pattern(size, 9));
    const into = Buffer.alloc(size);
    expect(await within(ep.streamRecv(into, { waitAll: true }), 10_000, 'stream echo')).toBe(size);
    expect(into.equals(pattern(size, 9))).toBe(true);
    await echoed;
  });

  it('active messages carry header and data, eager and rendezvous, and answer on the reply endpoint', async () => {
    await peer.call('amEcho', { amId: 10, replyAmId: 11 });
    const received: { header: string; data: Buffer; reply: boolean }[] = [];
    const arrived = new Promise<void>((resolve) => {
      worker.onActiveMessage(11, (message) => {
        received.push({ header: message.header.toString(), data: message.data, reply: message.reply === ep });
        if (received.length === 3) resolve();
      });
    });
    await ep.amSend(10, Buffer.from('h1'), Buffer.from('small'), { reply: true });
    await ep.amSend(10, Buffer.from('h2'), pattern(1 << 20, 3), { reply: true, rendezvous: true });
    await ep.amSend(10, Buffer.from('h3'), null, { reply: true });
    await within(arrived, 10_000, 'three AM replies');
    received.sort((a, b) => a.header.localeCompare(b.header));
    expect(received[0]).toEqual({ header: 'h1', data: Buffer.from('small'), reply: true });
    expect(received[1]!.data.equals(pattern(1 << 20, 3))).toBe(true);
    expect(received[2]!.data.length).toBe(0);
  });

  it("an allocate option receives rendezvous payloads into the caller's buffer; eager ones still arrive in a new Buffer", async () => {
    await peer.call('amEcho', { amId: 12, replyAmId: 13 });
    const landing = Buffer.alloc(2 << 20, 0xee);
    const asked: number[] = [];
    const received: { header: string; data: Buffer; target: unknown; length: number }[] = [];
    const arrived = new Promise<void>((resolve) => {
      worker.onActiveMessage(
        13,
        (message) => {
          received.push({ header: message.header.toString(), data: Buffer.from(message.data), target: message.target, length: message.length });
          if (received.length === 2) resolve();
        },
        {
          allocate: (length, header) => {
            asked.push(length);
            expect(header.toString()).toBe('big');
            return landing;
          },
        },
      );
    });
    await ep.amSend(12, Buffer.from('big'), pattern(1 << 20, 5), { reply: true, rendezvous: true });
    await ep.amSend(12, Buffer.from('small'), Buffer.from('eager'), { reply: true, eager: true });
    await within(arrived, 10_000, 'two AM replies');
    received.sort((a, b) => a.header.localeCompare(b.header));
    expect(asked).toEqual([1 << 20]);
    expect(received[0]!.target).toBe(landing);
    expect(received[0]!.length).toBe(1 << 20);
    expect(received[0]!.data.equals(pattern(1 << 20, 5))).toBe(true);
    expect(landing.subarray(0, 1 << 20).equals(pattern(1 << 20, 5))).toBe(true);
    expect(landing[(1 << 20) + 1]).toBe(0xee); // nothing written past the payload
    expect(received[1]).toMatchObject({ header: 'small', target: null, length: 5 });
    expect(received[1]!.data.toString()).toBe('eager');
  });

  it('an allocate that throws or gives too little drops that message, reports why, and the next ones still arrive', async () => {
    await peer.call('amEcho', { amId: 14, replyAmId: 15 });
    const errors: unknown[] = [];
    worker.on('error', (error) => errors.push(error));
    let mode: 'throw' | 'small' | 'ok' = 'throw';
    const delivered: string[] = [];
    let next!: () => void;
    worker.onActiveMessage(
      15,
      (message) => {
        delivered.push(message.header.toString());
        next();
      },
      {
        allocate: (length) => {
          if (mode === 'throw') throw new Error('no room');
          return Buffer.alloc(mode === 'small' ? length - 1 : length);
        },
      },
    );
    const big = pattern(256 << 10, 7);
    for (const m of ['throw', 'small'] as const) {
      mode = m;
      const reported = errors.length;
      await ep.amSend(14, Buffer.from(m), big, { reply: true, rendezvous: true });
      await within(
        new Promise<void>((resolve) => {
          const poll = setInterval(() => {
            if (errors.length > reported) {
              clearInterval(poll);
              resolve();
            }
          }, 5);
        }),
        10_000,
        `the ${m} report`,
      );
    }
    expect((errors[0] as Error).message).toBe('no room');
    expect((errors[1] as { code?: string }).code).toBe('ERR_OUT_OF_RANGE');
    mode = 'ok';
    const got = new Promise<void>((resolve) => {
      next = resolve;
    });
    await ep.amSend(14, Buffer.from('ok'), big, { reply: true, rendezvous: true });
    await within(got, 10_000, 'the message after the dropped ones');
    expect(delivered).toEqual(['ok']);
    expect(() => worker.onActiveMessage(15, () => {}, { allocate: 'no' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('info() names the transports UCX chose', () => {
    const info = ep.info();
    expect(info.transports.length).toBeGreaterThan(0);
    expect(info.transports.every((t) => /^[\w-]+\/[\w:.-]+$/.test(t))).toBe(true);
    expect(info.role).toBe('client');
  });
});

describe('large messages', () => {
  it('a 64 MiB endpoint message arrives intact', async () => {
    const { peer, ep, close } = await connectToPeer();
    const size = 64 << 20;
    const checked = peer.call<{ length: number; ok: boolean }>('recvCheck', { size, seed: 42 }, 60_000);
    await within(ep.send(pattern(size, 42)), 60_000, '64 MiB send');
    expect(await checked).toEqual({ length: size, ok: true });
    await close();
  });
});

describe('active-message order (docs/api.md, Active messages)', () => {
  it('with { eager: true } handlers run in send order whatever the sizes; eager and rendezvous mixed may not', async () => {
    const context = new Context();
    const sender = context.createWorker();
    const receiver = context.createWorker();
    try {
      const listener = await receiver.listen({ host: '127.0.0.1', port: 0 });
      const ep = await within(sender.connect({ host: '127.0.0.1', port: listener.port }), 10_000, 'connect');
      const N = 120;
      const run = async (id: number, opts: { eager?: true }): Promise<number[]> => {
        const order: number[] = [];
        const done = new Promise<void>((resolve) => {
          receiver.onActiveMessage(id, (message) => {
            order.push(message.header.readUInt32LE(0));
            if (order.length === N) resolve();
          });
        });
        const sends: Promise<void>[] = [];
        for (let i = 0; i < N; i++) {
          const header = Buffer.alloc(4);
          header.writeUInt32LE(i);
          // 100 B and 256 KiB alternately: by default the large ones go by rendezvous.
          sends.push(ep.amSend(id, header, Buffer.alloc(i % 2 === 1 ? 100 : 256 << 10, i & 0xff), opts));
        }
        await within(Promise.all([...sends, done]), 30_000, `${N} active messages`);
        return order;
      };
      const eager = await run(20, { eager: true });
      expect(eager).toEqual(Array.from({ length: N }, (_, i) => i));
      // Mixed protocols: each handler runs once its payload is here, a rendezvous one after the fetch.
      const mixed = await run(21, {});
      expect([...mixed].sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i));
    } finally {
      await sender.close();
      await receiver.close();
      context.close();
    }
  });
});

describe('receive ordering and graceful close', () => {
  it('receives of mixed kinds on one endpoint complete in the order they were asked for', async () => {
    const context = new Context();
    const worker = context.createWorker();
    const listener = await worker.listen({ host: '127.0.0.1', port: 0 });
    const accepted = new Promise<Endpoint>((resolve) => listener.once('connection', resolve));
    const ep = await worker.connect({ host: '127.0.0.1', port: listener.port });
    const server = await accepted;
    const into = Buffer.alloc(16);
    const order: string[] = [];
    const receives = [
      ep.recv(into).then((n) => order.push(into.subarray(0, n).toString())),
      ep.recvMessage().then((b) => order.push(b.toString())),
      ep.recvMessage().then((b) => order.push(b.toString())),
      ep.recv(Buffer.alloc(16)).then(() => order.push('four')),
      ep.recvMessage().then((b) => order.push(b.toString())),
    ];
    for (const word of ['one', 'two', 'three', 'four', 'five']) await server.send(Buffer.from(word));
    await within(Promise.all(receives), 10_000, 'five receives');
    expect(order).toEqual(['one', 'two', 'three', 'four', 'five']);
    await worker.close();
    context.close();
  });

  it('a graceful close waits for a rendezvous send until the peer receives it', async () => {
    const { peer, ep, close } = await connectToPeer();
    const sent = ep.send(pattern(4 << 20, 5));
    const closed = ep.close();
    // The peer receives only now; the close must not have cut the transfer short.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const checked = peer.call<{ length: number; ok: boolean }>('recvCheck', { size: 4 << 20, seed: 5 });
    await within(sent, 10_000, 'the rendezvous send to complete');
    await within(closed, 10_000, 'ep.close()');
    expect(await checked).toEqual({ length: 4 << 20, ok: true });
    await close();
  });
});

describe('messages in flight when the peer goes away', () => {
  it('messages the peer sent before closing are still received, then receives fail with a coded error', async () => {
    const { peer, ep, close } = await connectToPeer();
    const closed = new Promise((resolve) => ep.once('close', resolve));
    ep.on('error', () => {});
    await peer.call('sendPattern', { size: 100, seed: 1 });
    await peer.call('sendPattern', { size: 200, seed: 2 });
    await peer.call('closeEndpoint');
    await within(closed, 10_000, 'our endpoint to close after the peer did');
    expect((await within(ep.recvMessage(), 5000, 'first queued message')).equals(pattern(100, 1))).toBe(true);
    const into = Buffer.alloc(256);
    expect(await within(ep.recv(into), 5000, 'second queued message')).toBe(200);
    expect(into.subarray(0, 200).equals(pattern(200, 2))).toBe(true);
    const after = await ep.recvMessage().catch((e: unknown) => e);
    expect(after).toBeInstanceOf(UCXError);
    expect((after as UCXError).code).toMatch(/^UCS_ERR_/);
    await close();
  });

  it('an unknown-size receive takes a message that is already queued while another such receive waits', async () => {
    const context = new Context();
    const receiver = context.createWorker();
    const sender = context.createWorker();
    const ep = await sender.connect({ address: receiver.address });
    const other = receiver.tagRecvMessage(1n);
    await ep.tagSend(Buffer.from('hello'), 2n);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await within(receiver.tagRecvMessage(2n), 3000, 'the already-queued message')).data.toString()).toBe('hello');
    await ep.tagSend(Buffer.from('one'), 1n);
    expect((await within(other, 3000, 'the older waiter')).data.toString()).toBe('one');
    await sender.close();
    await receiver.close();
    context.close();
  });
});
