// Lifetimes: what keeps a process alive, how close and abort settle every promise,
// and what a closed object says when used.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { Context, UCXError, AbortError, defaultWorker, listen, connect } from 'node-ucx';
import { PROGRESS_MODES, startPeer, within } from '../helpers.js';

function runScenario(scenario: string, mode: string): Promise<{ code: number | null; signal: string | null; ms: number; out: string }> {
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'exit-scenario.mjs'), scenario, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    out += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: string | null; ms: number; out: string }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, ms: Date.now() - started, out }));
  });
  return within(exited, 15_000, `the '${scenario}' process to exit`).finally(() => child.kill('SIGKILL'));
}

describe.each(PROGRESS_MODES)('process lifetime in %s mode', (mode) => {
  it('an idle worker does not keep the process alive', async () => {
    const result = await runScenario('idle-worker', mode);
    expect(result).toMatchObject({ code: 0, signal: null });
    expect(result.out).toContain('idle');
  });

  it('an open listener keeps the process alive until it closes', async () => {
    const result = await runScenario('listener', mode);
    expect(result).toMatchObject({ code: 0, signal: null });
    expect(result.ms).toBeGreaterThanOrEqual(1400);
  });

  it('a pending receive keeps the process alive until it settles', async () => {
    const result = await runScenario('pending-recv', mode);
    expect(result).toMatchObject({ code: 0, signal: null });
    expect(result.out).toContain('recv AbortError');
    expect(result.ms).toBeGreaterThanOrEqual(1400);
  });

  it('a process with open endpoints exits cleanly', async () => {
    const result = await runScenario('open-endpoints', mode);
    expect(result, result.out).toMatchObject({ code: 0, signal: null });
    expect(result.out).toContain('got bye');
  });

  it('process.exit() with operations in flight is clean', async () => {
    const result = await runScenario('exit-with-pending', mode);
    expect(result, result.out).toMatchObject({ code: 0, signal: null });
  });
});

describe('listener', () => {
  it('port 0 gives the real port, and connections arrive as events and through async iteration', async () => {
    const context = new Context();
    const worker = context.createWorker();
    const listener = await worker.listen({ host: '127.0.0.1', port: 0 });
    expect(listener.host).toBe('127.0.0.1');
    expect(listener.port).toBeGreaterThan(0);
    const viaEvent = new Promise((resolve) => listener.once('connection', resolve));
    const iterated = (async () => {
      const seen = [];
      for await (const ep of listener) {
        seen.push(ep);
        if (seen.length === 2) break;
      }
      return seen;
    })();
    const peer = startPeer('peer.mjs');
    await peer.next('ready');
    await peer.call('connect', { host: '127.0.0.1', port: listener.port });
    await peer.call('connect', { host: '127.0.0.1', port: listener.port });
    const accepted = await within(iterated, 10_000, 'two connections through async iteration');
    expect(accepted).toHaveLength(2);
    expect(await within(viaEvent, 1000, "'connection' event")).toBe(accepted[0]);
    expect(accepted[0]!.role).toBe('server');
    const closeEvent = new Promise((resolve) => listener.once('close', resolve));
    await listener.close();
    await within(closeEvent, 1000, "listener 'close' event");
    await listener.close(); // idempotent
    // Accepted endpoints outlive their listener.
    expect(accepted[0]!.closed).toBe(false);
    await worker.close();
    context.close();
  });

  it('listening on a port in use rejects with a coded error', async () => {
    const context = new Context();
    const worker = context.createWorker();
    const first = await worker.listen({ host: '127.0.0.1', port: 0 });
    const error = await worker.listen({ host: '127.0.0.1', port: first.port }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UCXError);
    expect((error as UCXError).code).toMatch(/^UCS_ERR_/);
    await worker.close();
    context.close();
  });

  it('closing the listener ends its async iterators', async () => {
    const context = new Context();
    const worker = context.createWorker();
    const listener = await worker.listen({ host: '127.0.0.1', port: 0 });
    const iterated = (async () => {
      let n = 0;
      for await (const _ of listener) n++;
      return n;
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await listener.close();
    expect(await within(iterated, 2000, 'the iterator to end')).toBe(0);
    await worker.close();
    context.close();
  });
});

describe.each(PROGRESS_MODES)('close and abort in %s mode', (mode) => {
  it('connecting to a port nobody listens on rejects with a coded error', async () => {
    const context = new Context();
    const worker = context.createWorker({ progress: mode });
    const probe = await worker.listen({ host: '127.0.0.1', port: 0 });
    const freePort = probe.port;
    await probe.close();
    const error = await within(
      worker.connect({ host: '127.0.0.1', port: freePort }).catch((e: unknown) => e),
      15_000,
      'connect to fail',
    );
    expect(error).toBeInstanceOf(UCXError);
    expect((error as UCXError).code).toMatch(/^UCS_ERR_/);
    expect(worker.stats().endpoints).toBe(0);
    await worker.close();
    context.close();
  });

  it('an aborted receive rejects with AbortError and its UCX request is cancelled', async () => {
    const context = new Context();
    const worker = context.createWorker({ progress: mode });
    const controller = new AbortController();
    const pending = worker.tagRecv(Buffer.alloc(8), 42n, undefined, { signal: controller.signal }).catch((e: unknown) => e);
    const pendingMessage = worker.tagRecvMessage(43n, undefined, { signal: controller.signal }).catch((e: unknown) => e);
    expect(worker.stats().pendingRequests).toBe(2);
    controller.abort(new Error('changed my mind'));
    const error = await within(pending, 2000, 'tagRecv to reject');
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).code).toBe('ABORT_ERR');
    expect(((error as AbortError).cause as Error).message).toBe('changed my mind');
    expect(await within(pendingMessage, 2000, 'tagRecvMessage to reject')).toBeInstanceOf(AbortError);
    expect(worker.stats().pendingRequests).toBe(0);
    // Already aborted: rejects at once, nothing is posted.
    expect(await worker.tagRecv(Buffer.alloc(8), 1n, undefined, { signal: controller.signal }).catch((e: unknown) => e)).toBeInstanceOf(AbortError);
    await worker.close();
    context.close();
  });

  it('aborting endpoint receives and a connect rejects with AbortError', async () => {
    const context = new Context();
    const worker = context.createWorker({ progress: mode });
    const listener = await worker.listen({ host: '127.0.0.1', port: 0 });
    const acceptedFirst = new Promise<import('node-ucx').Endpoint>((resolve) => listener.once('connection', resolve));
    const ep = await worker.connect({ host: '127.0.0.1', port: listener.port });
    const controller = new AbortController();
    const recv = ep.recv(Buffer.alloc(8), { signal: controller.signal }).catch((e: unknown) => e);
    const message = ep.recvMessage({ signal: controller.signal }).catch((e: unknown) => e);
    const stream = ep.streamRecv(Buffer.alloc(8), { signal: controller.signal }).catch((e: unknown) => e);
    controller.abort();
    for (const outcome of await within(Promise.all([recv, message, stream]), 2000, 'aborted receives')) {
      expect(outcome).toBeInstanceOf(AbortError);
    }
    // UCX cannot cancel a stream receive, so the stream position is gone: said, not silently skipped.
    const afterAbort = await ep.streamRecv(Buffer.alloc(8)).catch((e: unknown) => e);
    expect((afterAbort as UCXError).code).toBe('ERR_UCX_STREAM_ABORTED');
    // Endpoint messages are unaffected by an aborted endpoint receive.
    const accepted = await within(acceptedFirst, 2000, 'accepted endpoint');
    const next = ep.recvMessage();
    await accepted.send(Buffer.from('after abort'));
    expect((await within(next, 5000, 'message after abort')).toString()).toBe('after abort');
    const connectError = await worker.connect({ host: '127.0.0.1', port: listener.port }, { signal: controller.signal }).catch((e: unknown) => e);
    expect(connectError).toBeInstanceOf(AbortError);
    await worker.close();
    context.close();
  });

  it('endpoint close rejects its pending receives with ERR_UCX_CLOSED, and is idempotent', async () => {
    const context = new Context();
    const worker = context.createWorker({ progress: mode });
    const listener = await worker.listen({ host: '127.0.0.1', port: 0 });
    const ep = await worker.connect({ host: '127.0.0.1', port: listener.port });
    const recv = ep.recv(Buffer.alloc(8)).catch((e: unknown) => e);
    const message = ep.recvMessage().catch((e: unknown) => e);
    const closeEvent = new Promise((resolve) => ep.once('close', resolve));
    const first = ep.close();
    expect(ep.close()).toBe(first);
    await within(first, 6000, 'ep.close()');
    await within(closeEvent, 1000, "'close' event");
    for (const outcome of await within(Promise.all([recv, message]), 2000, 'receives to reject')) {
      expect(outcome).toBeInstanceOf(UCXError);
      expect((outcome as UCXError).code).toBe('ERR_UCX_CLOSED');
    }
    expect(ep.closed).toBe(true);
    const sendError = await ep.send(Buffer.from('x')).catch((e: unknown) => e);
    expect((sendError as UCXError).code).toBe('ERR_UCX_CLOSED');
    expect(() => ep.info()).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
    await worker.close();
    context.close();
  });

  it('worker close settles every pending operation and later calls reject with ERR_UCX_CLOSED', async () => {
    const context = new Context();
    const worker = context.createWorker({ progress: mode });
    const listener = await worker.listen({ host: '127.0.0.1', port: 0 });
    const accepted = new Promise<import('node-ucx').Endpoint>((resolve) => listener.once('connection', resolve));
    const ep = await worker.connect({ host: '127.0.0.1', port: listener.port });
    await accepted;
    const outcomes = Promise.all(
      [worker.tagRecv(Buffer.alloc(8), 7n), worker.tagRecvMessage(8n), ep.recv(Buffer.alloc(8)), ep.recvMessage(), ep.streamRecv(Buffer.alloc(8))].map((p) =>
        p.then(
          () => 'resolved',
          (e: unknown) => e,
        ),
      ),
    );
    const closeEvent = new Promise((resolve) => worker.once('close', resolve));
    await within(worker.close(), 10_000, 'worker.close()');
    await within(closeEvent, 1000, "worker 'close' event");
    for (const outcome of await within(outcomes, 2000, 'pending operations to settle')) {
      expect(outcome).toBeInstanceOf(UCXError);
      expect((outcome as UCXError).code).toMatch(/^(ERR_UCX_CLOSED|UCS_ERR_CANCELED)$/);
    }
    expect(listener.closed).toBe(true);
    expect(ep.closed).toBe(true);
    const late = await worker.tagRecv(Buffer.alloc(8), 1n).catch((e: unknown) => e);
    expect((late as UCXError).code).toBe('ERR_UCX_CLOSED');
    expect(await worker.flush().catch((e: unknown) => (e as UCXError).code)).toBe('ERR_UCX_CLOSED');
    expect(() => worker.progress()).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
    await worker.close(); // idempotent
    context.close();
    context.close(); // idempotent
    expect(() => context.createWorker()).toThrow(expect.objectContaining({ code: 'ERR_UCX_CLOSED' }));
  });
});

describe('context', () => {
  it('reports memory types, version and the effective UCX configuration', async () => {
    const { version } = await import('node-ucx');
    expect(version.ucx).toMatch(/^\d+\.\d+\.\d+/);
    const context = new Context({ features: ['tag', 'am'], config: { TLS: 'tcp,self', RNDV_THRESH: '16384' } });
    expect(context.memoryTypes).toContain('host');
    const config = context.config();
    expect(config.TLS).toBe('tcp,self');
    expect(config.RNDV_THRESH).toBe('16K');
    expect(config.KEEPALIVE_INTERVAL).toMatch(/^1000000(\.0+)?us$/);
    context.close();
  });

  it('an invalid UCX option value or an unavailable transport is a coded error', () => {
    expect(() => new Context({ config: { KEEPALIVE_INTERVAL: 'soon' } })).toThrow(expect.objectContaining({ code: 'UCS_ERR_INVALID_PARAM' }));
    expect(() => new Context({ config: { TLS: 'no_such_transport' } })).toThrow(expect.objectContaining({ code: 'UCS_ERR_NO_DEVICE' }));
  });

  it('a context without the am feature refuses endpoint messages with a coded error', async () => {
    const context = new Context({ features: ['tag', 'stream'] });
    const worker = context.createWorker();
    const listener = await worker.listen({ host: '127.0.0.1', port: 0 });
    const ep = await worker.connect({ host: '127.0.0.1', port: listener.port });
    const error = await ep.send(Buffer.from('x')).catch((e: unknown) => e);
    expect((error as UCXError).code).toBe('UCS_ERR_UNSUPPORTED');
    await worker.close();
    context.close();
  });

  it('the module-level listen/connect use one lazily created default worker', async () => {
    const listener = await listen({ host: '127.0.0.1', port: 0 });
    const accepted = new Promise<import('node-ucx').Endpoint>((resolve) => listener.once('connection', resolve));
    const ep = await connect({ host: '127.0.0.1', port: listener.port });
    const server = await accepted;
    expect(ep.worker).toBe(defaultWorker());
    const got = server.recvMessage();
    await ep.send(Buffer.from('default'));
    expect((await within(got, 5000, 'message on the default worker')).toString()).toBe('default');
    await defaultWorker().close();
  });
});

describe('endpoints made from a worker address', () => {
  it("the passive side gets the peer's endpoint through the worker's 'connection' event, and messages flow both ways", async () => {
    const context = new Context();
    const worker = context.createWorker({ acceptAddressConnections: true });
    const peer = startPeer('peer.mjs');
    const { address } = await peer.next('ready');
    // The peer connects to *our* worker address; we have no listener at all.
    const incoming = new Promise<import('node-ucx').Endpoint>((resolve) => worker.once('connection', resolve));
    const index = await peer.call<number>('connect', { address: worker.address.toString('base64') });
    const echoed = peer.call('sendPattern', { ep: index, size: 5000, seed: 3 });
    const ep = await within(incoming, 10_000, "the worker's 'connection' event");
    expect(ep.role).toBe('reply');
    const first = await within(ep.recvMessage(), 10_000, "the peer's message");
    expect(first.length).toBe(5000);
    await echoed;
    const checked = peer.call<{ length: number; ok: boolean }>('recvCheck', { ep: index, size: 5000, seed: 3 });
    await ep.send(first);
    expect(await checked).toEqual({ length: 5000, ok: true });
    await worker.close();
    context.close();
  });

  it('a worker that does not accept address connections refuses endpoint messaging at once with UCS_ERR_REJECTED; raw tags still flow', async () => {
    const context = new Context();
    const server = context.createWorker();
    const client = context.createWorker();
    expect(server.acceptsAddressConnections).toBe(false);
    let connections = 0;
    server.on('connection', () => connections++);
    const ep = await within(client.connect({ address: server.address }), 10_000, 'connect by address');
    const started = Date.now();
    await expect(within(ep.send(Buffer.from('hello')), 5_000, 'the refusal')).rejects.toMatchObject({ code: 'UCS_ERR_REJECTED' });
    expect(Date.now() - started).toBeLessThan(2_000);
    const tagged = server.tagRecv(Buffer.alloc(8), 3n);
    await ep.tagSend(Buffer.from('raw'), 3n);
    expect(await within(tagged, 5_000, 'the raw tag')).toEqual({ length: 3, tag: 3n });
    expect(connections).toBe(0);
    expect(server.stats().endpoints).toBe(0);
    await within(client.close(), 10_000, 'client.close()');
    await within(server.close(), 10_000, 'server.close()');
    context.close();
  });

  it("an active message's reply endpoint from an address-connected peer answers inside the handler and is closed after it", async () => {
    const context = new Context();
    const server = context.createWorker();
    const client = context.createWorker();
    const ep = await within(client.connect({ address: server.address }), 10_000, 'connect by address');
    let kept: import('node-ucx').Endpoint | null = null;
    server.onActiveMessage(5, (message) => {
      kept = message.reply;
      // Inside the handler the reply endpoint works (the send starts now, completes later).
      void message.reply!.amSend(6, Buffer.from('answer'), null).catch(() => {});
    });
    const answered = new Promise<string>((resolve) => client.onActiveMessage(6, (message) => resolve(message.header.toString())));
    await ep.amSend(5, Buffer.from('question'), null, { reply: true });
    expect(await within(answered, 10_000, 'the answer on the reply endpoint')).toBe('answer');
    expect(kept).not.toBeNull();
    expect(kept!.role).toBe('reply');
    expect(kept!.closed).toBe(true);
    await expect(kept!.amSend(6, Buffer.from('later'), null)).rejects.toMatchObject({ code: 'ERR_UCX_CLOSED' });
    await within(client.close(), 10_000, 'client.close()');
    await within(server.close(), 10_000, 'server.close()');
    context.close();
  });

  // UCX 1.13 frees the reply endpoint it made for an address-connected peer as soon as that peer goes
  // away; the 'connection' endpoint is node-ucx's own, so using it afterwards is an error, not a crash.
  for (const how of ['closes its endpoint and exits', 'is SIGKILLed'] as const) {
    it(`when the address-connected peer ${how}, its 'connection' endpoint rejects operations and closes cleanly`, async () => {
      const context = new Context();
      const worker = context.createWorker({ acceptAddressConnections: true });
      const peer = startPeer('peer.mjs');
      await peer.next('ready');
      const incoming = new Promise<import('node-ucx').Endpoint>((resolve) => worker.once('connection', resolve));
      const index = await peer.call<number>('connect', { address: worker.address.toString('base64') });
      const sent = peer.call('sendPattern', { ep: index, size: 64, seed: 1 });
      const ep = await within(incoming, 10_000, "the worker's 'connection' event");
      expect((await within(ep.recvMessage(), 10_000, 'first message')).length).toBe(64);
      await sent;
      const failed = new Promise<unknown>((resolve) => ep.once('error', resolve));
      if (how === 'is SIGKILLed') {
        peer.kill();
      } else {
        await peer.call('closeEndpoint', { ep: index });
        peer.child.send({ cmd: 'exit', id: -1, code: 0 });
      }
      await within(peer.exited, 10_000, 'the peer exits');
      // Let UCX notice (and, for its own reply endpoint, free) the peer's side.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const outcome = await within(
        ep.send(Buffer.alloc(64)).then(
          () => 'sent',
          (error: unknown) => error,
        ),
        10_000,
        'send after the peer left',
      );
      if (outcome !== 'sent') expect((outcome as { code?: string }).code).toMatch(/^(UCS_ERR_|ERR_UCX_)/);
      if (how === 'is SIGKILLed') expect(await within(failed, 10_000, "the endpoint's 'error' event")).toBeInstanceOf(UCXError);
      await within(ep.close(), 10_000, 'ep.close()');
      await within(worker.close(), 10_000, 'worker.close()');
      context.close();
    });
  }
});
