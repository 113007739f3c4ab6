// The Transport contract, run against every transport: the same behaviour over
// UCX and over TCP, with the peer in another process (test/transport/fixtures/transport-peer.mjs).
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { Context, type Worker } from 'node-ucx';
import {
  ucxTransport,
  tcpTransport,
  inprocTransport,
  transportFor,
  registerTransport,
  connect,
  TransportError,
  type Transport,
  type Connection,
} from 'node-ucx/transport';
import { startPeer, within, pattern, type Peer } from '../helpers.js';
// @ts-expect-error: a plain .mjs fixture, typed where it is used
import { startTransportPeer } from './fixtures/transport-peer-core.mjs';

const SCHEMES = ['ucx', 'tcp', 'inproc'] as const;

/**
 * The in-process transport's peer lives in this process (its listeners are this process's): the same
 * commands as transport-peer.mjs, called directly; "killing" it aborts everything it holds at once.
 */
async function startInprocPeer(): Promise<Peer> {
  const inbox: Record<string, unknown>[] = [];
  const waiters: [string, (m: Record<string, unknown>) => void][] = [];
  const report = (event: Record<string, unknown>): void => {
    const index = waiters.findIndex(([type]) => type === event.type);
    if (index >= 0) waiters.splice(index, 1)[0]![1](event);
    else inbox.push(event);
  };
  const { commands, die } = (await startTransportPeer('inproc', report)) as {
    commands: Record<string, (m: Record<string, unknown>) => unknown>;
    die: () => void;
  };
  return {
    child: undefined as never,
    exited: new Promise(() => {}),
    kill: () => die(),
    next(type, ms = 15_000) {
      const index = inbox.findIndex((m) => m.type === type);
      if (index >= 0) return Promise.resolve(inbox.splice(index, 1)[0]! as never);
      return within(new Promise((resolve) => waiters.push([type, resolve as never])), ms, `'${type}' from the in-process peer`) as never;
    },
    call(cmd, args = {}, ms = 30_000) {
      return within(Promise.resolve(commands[cmd]!(args)), ms, `the in-process peer to finish '${cmd}'`) as never;
    },
  };
}

async function codeOf(promise: Promise<unknown>, ms: number, what: string): Promise<string | undefined> {
  const error = await within(
    promise.then(
      () => undefined,
      (e: unknown) => e,
    ),
    ms,
    what,
  );
  return (error as { code?: string } | undefined)?.code;
}

describe.each(SCHEMES)('the %s transport', (scheme) => {
  let context: Context | undefined;
  let worker: Worker | undefined;
  let transport: Transport;
  let peer: Peer;
  let conn: Connection;

  beforeAll(() => {
    if (scheme === 'ucx') {
      context = new Context();
      worker = context.createWorker();
      transport = ucxTransport({ worker });
    } else {
      transport = scheme === 'tcp' ? tcpTransport() : inprocTransport();
    }
  });

  afterAll(async () => {
    await worker?.close();
    context?.close();
  });

  beforeEach(async () => {
    peer = scheme === 'inproc' ? await startInprocPeer() : startPeer(path.join(__dirname, 'fixtures', 'transport-peer.mjs'), [scheme]);
    const { url } = await peer.next('ready');
    conn = await within(transport.connect(url as string), 10_000, `connect to ${String(url)}`);
    await peer.next('connection');
    return async () => {
      conn.abort();
      await within(conn.finished, 10_000, 'the connection to finish');
    };
  });

  it('multi-frame messages round-trip intact, empty frames and a 16 MiB frame included', async () => {
    const messages = [
      [pattern(5, 1)],
      [Buffer.alloc(0)],
      [pattern(3, 2), Buffer.alloc(0), pattern(70_000, 3), Buffer.alloc(0)],
      [pattern(16 << 20, 4), pattern(10, 5)],
      [pattern(8000, 6), pattern(100, 7)],
    ];
    const echoed = peer.call('echo', { count: messages.length }, 60_000);
    for (const frames of messages) {
      await within(conn.send(frames), 30_000, `send of ${frames.length} frames`);
      const back = await within(conn.recv(), 30_000, 'the echo');
      expect(back.map((b) => b.length)).toEqual(frames.map((f) => f.length));
      back.forEach((b, i) => expect(b.equals(frames[i]!)).toBe(true));
    }
    await echoed;
  });

  it('a message of no frames arrives as an empty list', async () => {
    const echoed = peer.call('echo', { count: 1 });
    await conn.send([]);
    expect(await within(conn.recv(), 10_000, 'the empty message')).toEqual([]);
    await echoed;
  });

  it('typed arrays and offset views are sent from exactly their own bytes', async () => {
    const echoed = peer.call('echo', { count: 1 });
    const floats = new Float64Array([1.5, -2.25, 3e300, 4]);
    const window = new Uint16Array(floats.buffer, 8, 4);
    await conn.send([floats, window, new DataView(floats.buffer, 24, 8)]);
    const [a, b, c] = await within(conn.recv(), 10_000, 'the echo');
    expect(new Float64Array(a!.buffer.slice(a!.byteOffset, a!.byteOffset + a!.length))).toEqual(floats);
    expect(b!.equals(Buffer.from(floats.buffer, 8, 8))).toBe(true);
    expect(c!.readDoubleLE(0)).toBe(4);
    await echoed;
  });

  it('messages keep their order when many sends are in flight at once', async () => {
    const count = 300;
    await peer.call('echoLoop');
    const sizes = (i: number): number[] => (i % 7 === 0 ? [i * 97, 1] : i % 3 === 0 ? [] : [8, i % 5]);
    const sent = Promise.all(
      Array.from({ length: count }, (_, i) => {
        const frames = sizes(i).map((size, j) => pattern(size, i * 10 + j + 1));
        frames.unshift(Buffer.from(Uint32Array.of(i).buffer));
        return conn.send(frames);
      }),
    );
    for (let i = 0; i < count; i++) {
      const frames = await within(conn.recv(), 10_000, `echo #${i}`);
      expect(frames[0]!.readUInt32LE(0)).toBe(i);
      sizes(i).forEach((size, j) => expect(frames[j + 1]!.equals(pattern(size, i * 10 + j + 1))).toBe(true));
    }
    await within(sent, 10_000, 'all sends');
  });

  it('addresses are URLs of the scheme', () => {
    expect(conn.scheme).toBe(scheme);
    // Network transports name hosts by IP; the in-process one by the listener's name.
    const host = scheme === 'inproc' ? 'transport-peer' : '127\\.0\\.0\\.1';
    expect(conn.peerAddress).toMatch(new RegExp(`^${scheme}://${host}:\\d+$`));
    expect(conn.localAddress).toMatch(new RegExp(`^${scheme}://${scheme === 'inproc' ? '[\\w.-]+' : '[\\d.]+'}:\\d+$`));
    expect(conn.closed).toBe(false);
  });

  it('close() rejects pending and later receives with ERR_TRANSPORT_CLOSED, refuses sends, and is idempotent', async () => {
    const pending = conn.recv();
    const closing = conn.close();
    expect(conn.closed).toBe(true);
    expect(await codeOf(pending, 5_000, 'the pending recv')).toBe('ERR_TRANSPORT_CLOSED');
    expect(await codeOf(conn.recv(), 5_000, 'a recv after close')).toBe('ERR_TRANSPORT_CLOSED');
    expect(await codeOf(conn.send([Buffer.from('x')]), 5_000, 'a send after close')).toBe('ERR_TRANSPORT_CLOSED');
    await within(closing, 10_000, 'close()');
    await within(conn.close(), 1_000, 'a second close()');
    await within(conn.finished, 1_000, 'finished');
    expect((await peer.next('closed')).code).toBe('ERR_TRANSPORT_RESET');
  });

  it('messages sent before the peer closes are all delivered, then recv rejects with ERR_TRANSPORT_RESET', async () => {
    const messages = [[10], [0, 20_000], [300_000], [1, 2, 3]];
    const closed = new Promise<unknown>((resolve) => conn.once('close', resolve));
    await peer.call('sendPatterns', { messages, close: true });
    // Read only now, after the peer is gone: what it sent must still be here.
    await within(closed, 10_000, "the connection's 'close' event");
    expect(conn.closed).toBe(true);
    for (const [i, sizes] of messages.entries()) {
      const frames = await within(conn.recv(), 10_000, `message #${i}`);
      expect(frames.map((f) => f.length)).toEqual(sizes);
      frames.forEach((f, j) => expect(f.equals(pattern(sizes[j]!, i * 1000 + j + 1))).toBe(true));
    }
    const error = await within(
      conn.recv().catch((e: unknown) => e),
      5_000,
      'recv after the last message',
    );
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('ERR_TRANSPORT_RESET');
    expect(await codeOf(conn.send([Buffer.from('late')]), 5_000, 'a send to the closed peer')).toBe('ERR_TRANSPORT_RESET');
  });

  it("abort() fails the peer's pending recv with ERR_TRANSPORT_RESET", async () => {
    const pending = peer.call<{ code: string | null }>('recvPending');
    await peer.next('receiving');
    conn.abort();
    expect(conn.closed).toBe(true);
    expect(await codeOf(conn.recv(), 1_000, 'recv after abort')).toBe('ERR_TRANSPORT_CLOSED');
    expect(await pending).toEqual({ code: 'ERR_TRANSPORT_RESET' });
  });

  it('a pending recv rejects with ERR_TRANSPORT_RESET within 5 s when the peer is killed', async () => {
    const pending = conn.recv();
    const closeEvent = new Promise<unknown>((resolve) => conn.once('close', resolve));
    const started = Date.now();
    peer.kill('SIGKILL');
    expect(await codeOf(pending, 5_000, 'the pending recv to reject after SIGKILL')).toBe('ERR_TRANSPORT_RESET');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(((await within(closeEvent, 5_000, "'close' after SIGKILL")) as TransportError).code).toBe('ERR_TRANSPORT_RESET');
    expect(conn.closed).toBe(true);
  });

  it('a recv given an AbortSignal rejects with AbortError and leaves the next message queued', async () => {
    const controller = new AbortController();
    const waiting = conn.recv({ signal: controller.signal });
    controller.abort();
    expect(await codeOf(waiting, 1_000, 'the aborted recv')).toBe('ABORT_ERR');
    const echoed = peer.call('echo', { count: 1 });
    await conn.send([Buffer.from('after abort')]);
    expect((await within(conn.recv(), 10_000, 'the echo'))[0]!.toString()).toBe('after abort');
    await echoed;
  });

  it('once the listener closes, connects fail with ERR_TRANSPORT_CONNECT and open connections keep working', async () => {
    const { url } = await (async () => {
      // The peer's listener address is the one we connected to.
      return { url: conn.peerAddress };
    })();
    await peer.call('closeListener');
    expect(await codeOf(transport.connect(url, { timeoutMs: 4_000 }), 10_000, 'connect to a closed listener')).toBe('ERR_TRANSPORT_CONNECT');
    const echoed = peer.call('echo', { count: 1 });
    await conn.send([Buffer.from('still open')]);
    expect((await within(conn.recv(), 10_000, 'the echo'))[0]!.toString()).toBe('still open');
    await echoed;
  });

  it('accepts a connection from the peer and talks both ways', async () => {
    const accepted: Connection[] = [];
    const listener = await transport.listen(`${scheme}://127.0.0.1:0`, (c) => accepted.push(c));
    try {
      expect(listener.address).toBe(`${scheme}://127.0.0.1:${listener.port}`);
      expect(listener.port).toBeGreaterThan(0);
      const index = await peer.call<number>('connect', { url: listener.address });
      const deadline = Date.now() + 10_000;
      while (accepted.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(accepted).toHaveLength(1);
      const server = accepted[0]!;
      expect(server.localAddress).toBe(listener.address);
      const echoed = peer.call('echo', { count: 1, index });
      await server.send([pattern(100_000, 9), Buffer.from('tail')]);
      const back = await within(server.recv(), 10_000, 'the echo on the accepted connection');
      expect(back[0]!.equals(pattern(100_000, 9))).toBe(true);
      expect(back[1]!.toString()).toBe('tail');
      await echoed;
      await within(server.close(), 10_000, 'close of the accepted connection');
    } finally {
      await listener.close();
    }
    expect(listener.closed).toBe(true);
  });

  it('refuses frames that are not ArrayBufferViews with ERR_INVALID_ARG_TYPE', async () => {
    await expect(conn.send('text' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(conn.send([Buffer.from('ok'), 42] as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(conn.recv({ signal: 'no' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  });
});

describe.each(SCHEMES)('connecting with the %s transport', (scheme) => {
  it('to a port nobody listens on rejects with ERR_TRANSPORT_CONNECT', async () => {
    // Bind and release a port, so that it is almost surely free.
    const probe = await tcpTransport().listen('tcp://127.0.0.1:0', () => {});
    const port = probe.port;
    await probe.close();
    const context = new Context();
    const worker = context.createWorker();
    try {
      const transport = scheme === 'ucx' ? ucxTransport({ worker }) : scheme === 'tcp' ? tcpTransport() : inprocTransport();
      expect(await codeOf(transport.connect(`${scheme}://127.0.0.1:${port}`, { timeoutMs: 4_000 }), 15_000, 'connect to a dead port')).toBe(
        'ERR_TRANSPORT_CONNECT',
      );
    } finally {
      await worker.close();
      context.close();
    }
  });
});

describe('the transport registry', () => {
  it('picks the transport by URL scheme', () => {
    expect(transportFor('ucx://127.0.0.1:1').scheme).toBe('ucx');
    expect(transportFor('tcp://127.0.0.1:1').scheme).toBe('tcp');
    expect(transportFor(new URL('tcp://[::1]:80')).scheme).toBe('tcp');
    expect(transportFor('tcp').scheme).toBe('tcp');
  });

  it('refuses unknown schemes and malformed addresses with Node-style codes', async () => {
    expect(() => transportFor('nosuch://x:1')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_URL_SCHEME' }));
    expect(() => transportFor('not a url')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_URL' }));
    await expect(connect('tcp://127.0.0.1')).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(tcpTransport().connect('ucx://127.0.0.1:5')).rejects.toMatchObject({ code: 'ERR_INVALID_URL_SCHEME' });
    expect(() => registerTransport('Bad Scheme', tcpTransport())).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('lets a layer register its own scheme and reach it through connect()', async () => {
    const inner = tcpTransport();
    registerTransport('mytcp', {
      scheme: 'mytcp',
      connect: (url, opts) => inner.connect(String(url).replace(/^mytcp:/, 'tcp:'), opts),
      listen: (url, onConnection) => inner.listen(String(url).replace(/^mytcp:/, 'tcp:'), onConnection),
    });
    const accepted: Connection[] = [];
    const listener = await transportFor('mytcp').listen('mytcp://127.0.0.1:0', (c) => accepted.push(c));
    const client = await connect(`mytcp://127.0.0.1:${listener.port}`);
    await client.send([Buffer.from('via registry')]);
    while (accepted.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await within(accepted[0]!.recv(), 5_000, 'the message'))[0]!.toString()).toBe('via registry');
    await client.close();
    await accepted[0]!.close();
    await listener.close();
  });

  it('refuses device memory on the TCP transport with ERR_TRANSPORT_UNSUPPORTED', async () => {
    const accepted: Connection[] = [];
    const listener = await tcpTransport().listen('tcp://127.0.0.1:0', (c) => accepted.push(c));
    const client = await tcpTransport().connect(listener.address);
    await expect(client.send([{ ptr: 0x1000n, length: 8, memoryType: 'cuda' }])).rejects.toMatchObject({ code: 'ERR_TRANSPORT_UNSUPPORTED' });
    client.abort();
    await listener.close();
    for (const c of accepted) c.abort();
  });
});
