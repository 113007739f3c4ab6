// What a person sees of node-ucx's objects: util.inspect summaries, NODE_DEBUG=ucx traces, async
// iteration of endpoints and transport connections, `using`/`await using`, and error messages
// that say what happened (a peer's graceful close, a refused connect).
import { spawnSync } from 'node:child_process';
import { inspect } from 'node:util';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { Context, listen, connect, UCXError } from 'node-ucx';
import { listen as listenOn, connect as connectTo, type Connection } from 'node-ucx/transport';

const ROOT = path.resolve(__dirname, '..', '..');

describe('util.inspect', () => {
  it('summarises Context, Worker, Listener, Endpoint and MemoryHandle in one line each', async () => {
    const context = new Context({ features: ['tag', 'rma'] });
    const worker = context.createWorker();
    const handle = context.memMap({ length: 64 });
    const listener = await worker.listen({ host: '127.0.0.1', port: 0 });
    const ep = await worker.connect({ host: '127.0.0.1', port: listener.port });
    try {
      expect(inspect(context)).toBe("Context { state: 'open', features: [ 'tag', 'rma' ], memoryTypes: [ 'host' ], workers: 1 }");
      expect(inspect(worker)).toMatch(/^Worker \{ state: 'open', progress: 'event', errorHandling: 'peer', endpoints: [12], listeners: 1 \}$/);
      expect(inspect(listener)).toBe(`Listener { state: 'open', address: '127.0.0.1:${listener.port}' }`);
      expect(inspect(ep)).toMatch(
        new RegExp(`^Endpoint \\{ state: 'open', role: 'client', peer: '127.0.0.1:${listener.port}', transports: \\[ '[\\w/:.-]+'.* \\] \\}$`),
      );
      expect(inspect(handle)).toMatch(/^MemoryHandle \{ state: 'mapped', address: '0x[0-9a-f]+', length: 64, memoryType: 'host' \}$/);
      // Nested deeper than the depth: a tag, not the object graph.
      expect(inspect({ a: { b: { ep } } })).toBe('{ a: { b: { ep: [Endpoint] } } }');
      for (const text of [inspect(context), inspect(worker), inspect(listener), inspect(ep), inspect(handle)]) {
        expect(text, 'no EventEmitter internals').not.toMatch(/_events|_eventsCount|Symbol\(/);
        expect(text.length).toBeLessThan(200);
      }
      await ep.close();
      expect(inspect(ep)).toMatch(/^Endpoint \{ state: 'closed', role: 'client'/);
    } finally {
      await worker.close();
      context.close();
    }
    expect(inspect(handle)).toContain("state: 'unmapped'");
    expect(inspect(context)).toContain("state: 'closed'");
  });

  it('summarises transport connections (ucx://, tcp://, inproc://)', async () => {
    for (const scheme of ['ucx', 'tcp', 'inproc']) {
      const server = await listenOn(`${scheme}://127.0.0.1:0`, () => {});
      const conn = await connectTo(`${scheme}://127.0.0.1:${server.port}`);
      const text = inspect(conn);
      expect(text).toMatch(new RegExp(`^\\w+Connection \\{ state: 'open', local: '${scheme}://[^']+', peer: '${scheme}://127.0.0.1:${server.port}' \\}$`));
      await conn.close();
      expect(inspect(conn)).toContain("state: 'closed'");
      await server.close();
    }
  });
});

describe('NODE_DEBUG=ucx', () => {
  it('traces the addon it loaded, connects, handshakes, closes and errors', () => {
    const script = `
      import { listen, connect } from 'node-ucx';
      const l = await listen({ host: '127.0.0.1', port: 0 }, async (ep) => { await ep.send(Buffer.from('x')); await ep.close(); });
      const ep = await connect({ host: '127.0.0.1', port: l.port });
      await ep.recvMessage();
      await ep.recvMessage().catch(() => {});
      await ep.close(); await l.close();
      await connect({ host: '127.0.0.1', port: 1 }).catch(() => {});
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, NODE_DEBUG: 'ucx' },
      timeout: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const pid = '\\d+';
    for (const line of [
      'addon loaded from .*node_ucx.*\\.node \\(UCX 1\\.',
      'connect to 127\\.0\\.0\\.1:\\d+: endpoint created',
      'connected to 127\\.0\\.0\\.1:\\d+',
      'handshake with 127\\.0\\.0\\.1:?\\d*: established',
      'listener 127\\.0\\.0\\.1:\\d+ accepted a connection from 127\\.0\\.0\\.1',
      'endpoint to 127\\.0\\.0\\.1:\\d+: the peer is closing it \\(BYE\\)',
      'endpoint to 127\\.0\\.0\\.1:?\\d*: closing \\(graceful\\)',
      'listener 127\\.0\\.0\\.1:\\d+ closed',
      'connect to 127\\.0\\.0\\.1:1 failed: ',
    ])
      expect(r.stderr).toMatch(new RegExp(`^UCX ${pid}: ${line}`, 'm'));
    // Off by default.
    const quiet = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, NODE_DEBUG: '' },
      timeout: 30_000,
    });
    expect(quiet.stderr).not.toMatch(/^UCX \d+:/m);
  });
});

describe('async iteration and disposal', () => {
  it('for await (const msg of endpoint) yields each message as a Buffer until the peer closes', async () => {
    const listener = await listen({ host: '127.0.0.1', port: 0 }, async (ep) => {
      for (const text of ['one', 'two', 'three']) await ep.send(Buffer.from(text));
      await ep.close();
    });
    await using ep = await connect({ host: '127.0.0.1', port: listener.port });
    const got: string[] = [];
    for await (const message of ep) {
      expect(Buffer.isBuffer(message)).toBe(true);
      got.push(message.toString());
    }
    expect(got).toEqual(['one', 'two', 'three']);
    await listener.close();
  });

  it('for await ends when the endpoint is closed here, and leaving the loop early keeps it open', async () => {
    const listener = await listen({ host: '127.0.0.1', port: 0 }, async (ep) => {
      for await (const message of ep) await ep.send(message); // echo until the client closes
    });
    const ep = await connect({ host: '127.0.0.1', port: listener.port });
    await ep.send(Buffer.from('a'));
    await ep.send(Buffer.from('b'));
    for await (const message of ep) {
      expect(message.toString()).toBe('a');
      break;
    }
    expect(ep.closed).toBe(false);
    const loop = (async () => {
      const rest: string[] = [];
      for await (const m of ep) rest.push(m.toString());
      return rest;
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await ep.close();
    expect(await loop).toEqual(['b']);
    await listener.close();
  });

  it('for await (const frames of connection) on every transport, until the peer closes', async () => {
    for (const scheme of ['ucx', 'tcp', 'inproc']) {
      const server = await listenOn(`${scheme}://127.0.0.1:0`, (conn: Connection) => {
        void (async () => {
          for await (const frames of conn) await conn.send(frames);
        })();
      });
      {
        await using conn = await connectTo(`${scheme}://127.0.0.1:${server.port}`);
        await conn.send([Buffer.from('x'), Buffer.from('yz')]);
        await conn.send([]);
        const seen: string[][] = [];
        for await (const frames of conn) {
          seen.push(frames.map(String));
          if (seen.length === 2) break;
        }
        expect(seen).toEqual([['x', 'yz'], []]);
        expect(conn.closed).toBe(false);
      }
      await server.close();
    }
  });

  it('using / await using close a Context, a MemoryHandle and a connection at the end of the scope', async () => {
    let context: Context;
    let handleRef: { unmapped: boolean };
    {
      using ctx = new Context({ features: ['rma'] });
      context = ctx;
      using handle = ctx.memMap({ length: 16 });
      handleRef = handle;
      expect(ctx.closed).toBe(false);
    }
    expect(handleRef.unmapped).toBe(true);
    expect(context.closed).toBe(true);
    const server = await listenOn('tcp://127.0.0.1:0', () => {});
    let conn: Connection;
    {
      await using c = await connectTo(`tcp://127.0.0.1:${server.port}`);
      conn = c;
    }
    expect(conn.closed).toBe(true);
    await server.close();
  });
});

describe('error messages', () => {
  it("a peer's graceful close is said as such, not 'Connection reset by remote peer'", async () => {
    // (Once the handshake is done: a peer closing in the middle of it cannot say BYE, and UCX reports
    // both kinds of disconnect as UCS_ERR_CONNECTION_RESET.)
    const listener = await listen({ host: '127.0.0.1', port: 0 }, async (ep) => {
      await ep.send(Buffer.from('last'));
      await ep.close();
    });
    const ep = await connect({ host: '127.0.0.1', port: listener.port });
    expect((await ep.recvMessage()).toString()).toBe('last');
    const error = await ep.recvMessage().then(
      () => null,
      (e: unknown) => e as UCXError,
    );
    expect(error).toBeInstanceOf(UCXError);
    expect(error!.code).toBe('UCS_ERR_CONNECTION_RESET');
    expect(error!.message).toMatch(/^the peer closed the endpoint \(127\.0\.0\.1:\d+\) with close\(\)/);
    expect(error!.message).not.toMatch(/reset/i);
    await ep.close();
    await listener.close();
  });

  it('a refused connect names the address and says nobody listens there', async () => {
    const error = await connect({ host: '127.0.0.1', port: 1 }).then(
      () => null,
      (e: unknown) => e as UCXError,
    );
    expect(error!.code).toBe('UCS_ERR_NOT_CONNECTED');
    expect(error!.message).toMatch(/^cannot connect to 127\.0\.0\.1:1: nobody listens there \(connection refused\)/);
    const viaTransport = await connectTo('ucx://127.0.0.1:1').then(
      () => null,
      (e: unknown) => e as Error & { code: string },
    );
    expect(viaTransport!.code).toBe('ERR_TRANSPORT_CONNECT');
    expect(viaTransport!.message).toMatch(/^cannot connect to ucx:\/\/127\.0\.0\.1:1: nobody listens there \(connection refused\)/);
  });

  it("an accept hook's refusal says the listener refused", async () => {
    const context = new Context();
    const worker = context.createWorker();
    try {
      const listener = await worker.listen({ host: '127.0.0.1', port: 0, accept: () => false });
      const error = await worker.connect({ host: '127.0.0.1', port: listener.port }).then(
        () => null,
        (e: unknown) => e as UCXError,
      );
      expect(error!.code).toBe('UCS_ERR_REJECTED');
      expect(error!.message).toMatch(/its listener refused the connection/);
    } finally {
      await worker.close();
      context.close();
    }
  });
});
