// The rendezvous store (src/mpi/kvstore.ts) in one process over real TCP: the HMAC challenge-response
// (the secret never on the wire, no replay, an impostor store is caught), heartbeats (a silent rank or
// store is named within the timeout), and hostile bytes from peers that have and have not authenticated:
// each is refused or dropped, the store keeps serving, and every promise settles.
import { describe, it, expect, afterEach } from 'vitest';
import net from 'node:net';
import { KvClient, KvServer, PRE_AUTH_MAX_BYTES } from '../../src/mpi/kvstore.js';
import { proof, newNonce, AUTH_VERSION } from '../../src/mpi/auth.js';
import { TcpTransport, type TcpConnection } from '../../src/transport/tcp.js';
import { encodeTcpHeader } from '../../src/transport/framing.js';

const SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718';
const FAST = { heartbeatMs: 50, timeoutMs: 400 };
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function store(opts: Partial<Parameters<typeof KvServer.start>[0]> = {}): Promise<KvServer> {
  const server = await KvServer.start({ size: 2, secret: SECRET, liveness: FAST, ...opts });
  cleanup.push(() => server.close());
  return server;
}

async function join(url: string, rank: number, secret: string | null = SECRET, size = 2, timeoutMs = 3_000): Promise<KvClient> {
  const client = await KvClient.connect(url, { secret, rank, size, timeoutMs });
  cleanup.push(() => client.close());
  return client;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))]);
}

/** A raw framed connection to the store (the transport's framing, anything inside). */
async function raw(url: string): Promise<TcpConnection> {
  const connection = (await new TcpTransport().connect(url)) as TcpConnection;
  cleanup.push(() => connection.abort());
  return connection;
}

function json(frames: Buffer[]): Record<string, unknown> {
  return JSON.parse(frames[0]!.toString()) as Record<string, unknown>;
}

/** Authenticates by hand as `rank`; resolves with the connection once welcomed. */
async function authenticate(url: string, rank: number, size = 2): Promise<TcpConnection> {
  const connection = await raw(url);
  const challenge = json(await connection.recv());
  const nonce = newNonce();
  await connection.send([
    Buffer.from(
      JSON.stringify({
        op: 'hello',
        v: AUTH_VERSION,
        rank,
        size,
        pid: 1,
        host: 'h',
        nonce,
        mac: proof(SECRET, 'client', challenge.nonce as string, nonce, `${rank}|${size}`),
      }),
    ),
  ]);
  expect(json(await connection.recv()).op).toBe('welcome');
  return connection;
}

describe('rendezvous store: joining', () => {
  it('ranks that know the secret join, exchange values in rank order, and are released once all said finalize', async () => {
    const server = await store();
    const [a, b] = await Promise.all([join(server.url, 0), join(server.url, 1)]);
    const [va, vb] = await Promise.all([a.exchange('x', Buffer.from('zero'), 2_000), b.exchange('x', Buffer.from('one'), 2_000)]);
    expect(va.map(String)).toEqual(['zero', 'one']);
    expect(vb.map(String)).toEqual(['zero', 'one']);
    expect(a.server).toMatchObject({ served: 'the rendezvous store', liveness: FAST });
    const first = a.finalize(2_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.finalized(0)).toBe(true);
    expect(await b.finalize(2_000)).toBe(true);
    expect(await first).toBe(true);
  });

  it('the secret never crosses the wire: a recording proxy sees nonces and proofs only', async () => {
    const server = await store();
    const seen: Buffer[] = [];
    const proxy = net.createServer((socket) => {
      const upstream = net.connect(server.port, '127.0.0.1');
      socket.on('data', (d) => {
        seen.push(d);
        upstream.write(d);
      });
      upstream.on('data', (d) => {
        seen.push(d);
        socket.write(d);
      });
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => proxy.close(resolve)));
    const url = `tcp://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    const [a, b] = await Promise.all([join(url, 0), join(url, 1)]);
    await Promise.all([a.exchange('k', Buffer.from('v0'), 2_000), b.exchange('k', Buffer.from('v1'), 2_000)]);
    const wire = Buffer.concat(seen);
    expect(wire.length).toBeGreaterThan(200);
    expect(wire.includes(Buffer.from(SECRET))).toBe(false);
    expect(wire.includes(Buffer.from(SECRET, 'hex'))).toBe(false);
  });

  it('a wrong or missing secret is refused with ERR_MPI_BOOTSTRAP (wrong job secret), and the rank can still join', async () => {
    const denied: string[] = [];
    const server = await store({ onDenied: (reason) => denied.push(reason) });
    for (const secret of ['not-the-secret', null]) {
      await expect(join(server.url, 1, secret)).rejects.toMatchObject({
        code: 'ERR_MPI_BOOTSTRAP',
        message: expect.stringMatching(/refused rank 1: wrong job secret/),
      });
    }
    expect(denied).toEqual(['wrong job secret', 'wrong job secret']);
    await join(server.url, 1);
    expect(server.isRegistered(1)).toBe(true);
  });

  it('a proof replayed on another connection (another nonce) is refused', async () => {
    const server = await store();
    const first = await raw(server.url);
    const challenge = json(await first.recv());
    const nonce = newNonce();
    const hello = Buffer.from(
      JSON.stringify({
        op: 'hello',
        v: AUTH_VERSION,
        rank: 0,
        size: 2,
        pid: 1,
        host: 'h',
        nonce,
        mac: proof(SECRET, 'client', challenge.nonce as string, nonce, '0|2'),
      }),
    );
    const second = await raw(server.url);
    json(await second.recv());
    await second.send([hello]);
    expect(json(await second.recv())).toMatchObject({ op: 'denied', reason: 'wrong job secret' });
    // The same proof for another rank is refused too.
    const forRank1 = Buffer.from(hello.toString().replace('"rank":0', '"rank":1'));
    await first.send([forRank1]);
    expect(json(await first.recv())).toMatchObject({ op: 'denied', reason: 'wrong job secret' });
  });

  it('a store that does not know the secret is caught: its welcome carries no valid proof', async () => {
    const fake = net.createServer((socket) => {
      const send = (message: object): void => {
        const body = Buffer.from(JSON.stringify(message));
        socket.write(Buffer.concat([encodeTcpHeader([body]), body]));
      };
      send({ op: 'challenge', v: AUTH_VERSION, nonce: newNonce() });
      socket.once('data', () => send({ op: 'welcome', mac: 'ab'.repeat(32), heartbeatMs: 500, timeoutMs: 4000 }));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise((resolve) => {
          fake.close(resolve);
        }),
    );
    await expect(join(`tcp://127.0.0.1:${(fake.address() as net.AddressInfo).port}`, 0, SECRET, 2, 2_000)).rejects.toMatchObject({
      code: 'ERR_MPI_BOOTSTRAP',
      message: expect.stringMatching(/did not prove it knows the job secret/),
    });
  });

  it('an unreachable store is ERR_MPI_BOOTSTRAP after the timeout, with the hint', async () => {
    const closed = await store();
    const url = closed.url;
    await closed.close();
    const started = Date.now();
    await expect(KvClient.connect(url, { secret: SECRET, rank: 0, size: 2, timeoutMs: 500, hint: 'Set NODE_UCX_RENDEZVOUS_HOST' })).rejects.toMatchObject({
      code: 'ERR_MPI_BOOTSTRAP',
      message: expect.stringMatching(/cannot reach the rendezvous store .* within 500 ms .*Set NODE_UCX_RENDEZVOUS_HOST/),
    });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('an exchange that times out names the ranks that never joined', async () => {
    const server = await store({ size: 3 });
    const a = await KvClient.connect(server.url, { secret: SECRET, rank: 0, size: 3, timeoutMs: 2_000 });
    cleanup.push(() => a.close());
    await expect(a.exchange('process-card', Buffer.from('x'), 300)).rejects.toMatchObject({
      code: 'ERR_MPI_BOOTSTRAP',
      message: expect.stringMatching(
        /waiting for all ranks to publish 'process-card': ranks 1, 2 never joined the store at tcp:\/\/127\.0\.0\.1:\d+ .*NODE_UCX_RENDEZVOUS_HOST/,
      ),
    });
  });
});

describe('rendezvous store: liveness', () => {
  it('a rank that falls silent (stopped, or its link cut) ends the job: the store names it, the others are told', async () => {
    const lost: string[] = [];
    const server = await store({ onRankLost: (_rank, reason) => lost.push(reason) });
    const good = await join(server.url, 0);
    const aborted = new Promise<[number, string]>((resolve) => good.onAbort((code, reason) => resolve([code, reason])));
    const silent = await authenticate(server.url, 1); // says nothing more, ever
    void silent;
    const started = Date.now();
    const [code, reason] = await within(aborted, 3_000, 'the abort after rank 1 fell silent');
    expect(code).toBe(1);
    expect(reason).toMatch(
      /^rank 1 \(pid 1 on h, 127\.0\.0\.1\) has not answered for \d+ ms: it is stopped \(SIGSTOP\), hung, or its host or network link is gone$/,
    );
    expect(lost).toEqual([reason]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(FAST.timeoutMs - 100);
  });

  it('a busy rank is not silent: the client heartbeats from its own timer', async () => {
    const lost: string[] = [];
    const server = await store({ onRankLost: (_rank, reason) => lost.push(reason) });
    await Promise.all([join(server.url, 0), join(server.url, 1)]);
    await new Promise((resolve) => setTimeout(resolve, 4 * FAST.timeoutMs));
    expect(lost).toEqual([]);
  });

  it('a rank whose store falls silent is told so, naming where the store was', async () => {
    // A store that proves itself and then never speaks again.
    const fake = net.createServer((socket) => {
      const send = (message: object): void => {
        const body = Buffer.from(JSON.stringify(message));
        socket.write(Buffer.concat([encodeTcpHeader([body]), body]));
      };
      const serverNonce = newNonce();
      send({ op: 'challenge', v: AUTH_VERSION, nonce: serverNonce });
      socket.once('data', (data) => {
        const hello = JSON.parse(data.subarray(data.indexOf('{')).toString()) as { nonce: string };
        send({ op: 'welcome', mac: proof(SECRET, 'server', serverNonce, hello.nonce, '0|2'), served: 'rank 0', host: 'far', ...FAST });
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise((resolve) => {
          fake.close(resolve);
        }),
    );
    const client = await join(`tcp://127.0.0.1:${(fake.address() as net.AddressInfo).port}`, 0);
    const reason = await within(new Promise<string>((resolve) => client.onLost(resolve)), 3_000, 'onLost after the store fell silent');
    expect(reason).toMatch(/the rendezvous store at tcp:\/\/127\.0\.0\.1:\d+ \(rank 0 on far\) has not answered for \d+ ms/);
    const pending = client.exchange('late', Buffer.from('x'), 10_000);
    await expect(within(pending, 2_000, 'an exchange on a lost store to settle')).rejects.toBeDefined();
  });
});

describe('rendezvous store: hostile bytes', () => {
  // A small deterministic generator: the same cases on every run.
  let seed = 0x2545f491;
  const random = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));

  function mutations(): Buffer[] {
    const base = [
      { op: 'hello', v: AUTH_VERSION, rank: 0, size: 2, pid: 1, host: 'h', nonce: newNonce(), mac: 'ab'.repeat(32) },
      { op: 'exchange', name: 'x', id: 1 },
      { op: 'finalize' },
      { op: 'abort', code: 3, reason: 'r' },
      { op: 'status', id: 2 },
      { op: 'ping' },
    ];
    const out: Buffer[] = [];
    const weird: unknown[] = [null, -1, 1.5, 1e300, 'x'.repeat(300), [], {}, true, '__proto__', 2 ** 53, NaN];
    for (const message of base) {
      for (const key of Object.keys(message)) {
        for (const value of weird) out.push(Buffer.from(JSON.stringify({ ...message, [key]: value })));
      }
      const text = JSON.stringify(message);
      for (let i = 0; i < 20; i++) {
        const at = Math.floor(random() * text.length);
        out.push(Buffer.from(text.slice(0, at) + String.fromCharCode(Math.floor(random() * 128)) + text.slice(at + 1)));
        out.push(Buffer.from(text.slice(0, at)));
      }
    }
    for (let i = 0; i < 40; i++) out.push(bytes(Math.floor(random() * 200)));
    out.push(Buffer.from('"just a string"'), Buffer.from('[1,2,3]'), Buffer.from('{"op":{"nested":1}}'), Buffer.alloc(0));
    return out;
  }

  it('before the proof: random bytes, bad framing, mutated messages, oversized frames are refused; ranks still join', async () => {
    const denied: string[] = [];
    const server = await store({ onDenied: (reason) => denied.push(reason) });
    let cases = 0;
    // Framed garbage: each case on its own connection, which the store must end.
    const all = mutations();
    for (let i = 0; i < all.length; i += 16) {
      await Promise.all(
        all.slice(i, i + 16).map(async (message) => {
          const connection = await raw(server.url);
          await connection.recv();
          await connection.send([message]).catch(() => {});
          await within(
            connection.finished
              .catch(() => {})
              .then(() => true)
              .catch(() => true),
            3_000,
            'the store to end a connection after a malformed hello',
          ).catch(async () => {
            // The store may answer first; it must end the connection either way.
            throw new Error(`the store kept a connection open after ${message.toString('latin1').slice(0, 80)}`);
          });
          cases++;
        }),
      );
    }
    // Unframed garbage and a frame announcing more than the pre-auth limit.
    for (const chunk of [bytes(64), bytes(4096), Buffer.concat([encodeTcpHeader([Buffer.alloc(PRE_AUTH_MAX_BYTES + 1)]), Buffer.alloc(16)])]) {
      const socket = net.connect(server.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.on('error', () => {});
      socket.resume(); // read, or the reset is never noticed
      socket.write(chunk);
      await within(new Promise((resolve) => socket.once('close', resolve)), 3_000, 'the store to drop a connection sending unframed bytes');
      cases++;
    }
    expect(cases).toBeGreaterThan(300);
    expect(denied.length).toBeGreaterThan(200);
    // Still serving.
    const [a, b] = await Promise.all([join(server.url, 0), join(server.url, 1)]);
    const values = await Promise.all([a.exchange('after', Buffer.from('0'), 2_000), b.exchange('after', Buffer.from('1'), 2_000)]);
    expect(values[0]!.map(String)).toEqual(['0', '1']);
  }, 60_000);

  it('after the proof: a rank that sends garbage ends the job with a message naming it; nothing throws', async () => {
    for (const garbage of [Buffer.from('not json'), Buffer.from('{"op":"exchange","name":7,"id":1}'), Buffer.from('{"op":"exchange","name":"x","id":-4}')]) {
      const lost: string[] = [];
      const server = await KvServer.start({
        size: 2,
        secret: SECRET,
        liveness: { heartbeatMs: 200, timeoutMs: 4_000 },
        onRankLost: (_r, reason) => lost.push(reason),
      });
      cleanup.push(() => server.close());
      const good = await join(server.url, 0);
      const told = new Promise<string>((resolve) => good.onAbort((_code, reason) => resolve(reason)));
      const bad = await authenticate(server.url, 1);
      await bad.send([garbage]);
      const reason = await within(told, 3_000, 'the abort after garbage from rank 1');
      expect(reason).toMatch(/^rank 1 \(pid 1 on h, 127\.0\.0\.1\) sent the rendezvous store (a message that is not JSON|a malformed exchange)$/);
      expect(lost).toEqual([reason]);
    }
  });

  it('a store that sends garbage makes the rank give up with a coded error, not a hang', async () => {
    for (const reply of [
      Buffer.from('nonsense'),
      Buffer.from('{"op":"challenge","v":2,"nonce":"short"}'),
      Buffer.from('{"op":"challenge","v":9,"nonce":"x"}'),
    ]) {
      const fake = net.createServer((socket) => {
        socket.write(Buffer.concat([encodeTcpHeader([reply]), reply]));
        socket.on('error', () => {});
      });
      await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
      cleanup.push(
        () =>
          new Promise((resolve) => {
            fake.close(resolve);
          }),
      );
      await expect(join(`tcp://127.0.0.1:${(fake.address() as net.AddressInfo).port}`, 0, SECRET, 2, 500)).rejects.toMatchObject({ code: 'ERR_MPI_BOOTSTRAP' });
    }
  });
});
