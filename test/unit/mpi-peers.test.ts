// LazyPeer (src/mpi/peers.ts): operations on a peer whose connection is still being made keep their call
// order, even when one is issued from a microtask that runs right after the endpoint is stored, ahead of
// the queued ones (the bug behind 'rank 3 sent more than the 0 bytes expected' in a cold Reduce_scatter).
// Also: MAX_RANKS is enforced where a job's size is read.
import { describe, it, expect } from 'vitest';
import { LazyPeer } from '../../src/mpi/peers.js';
import { detectLaunch } from '../../src/mpi/bootstrap.js';
import { MAX_RANKS } from '../../src/mpi/tags.js';

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('LazyPeer', () => {
  it('runs operations queued on the connection before one issued from a microtask that sees the endpoint first', async () => {
    const connection = deferred<string>();
    let connects = 0;
    const peer = new LazyPeer(() => {
      connects++;
      return connection.promise;
    });
    const order: string[] = [];
    const op = (name: string) => (endpoint: string) => {
      order.push(`${name}@${endpoint}`);
      return Promise.resolve();
    };
    const first = peer.use(op('A'));
    const second = peer.use(op('B'));
    // A reaction on the connect promise registered after the peer's own: it runs right after the endpoint is
    // stored, and before any reaction to a promise the peer resolves then.
    const third = connection.promise.then(() => peer.use(op('C')));
    connection.resolve('ep');
    await Promise.all([first, second, third]);
    expect(order).toEqual(['A@ep', 'B@ep', 'C@ep']);
    expect(connects).toBe(1);
    // Connected: an operation runs at once (synchronously).
    let ran = false;
    void peer.use(() => {
      ran = true;
      return Promise.resolve();
    });
    expect(ran).toBe(true);
  });

  it('issues each queued operation synchronously with the endpoint store (no await in between)', async () => {
    const connection = deferred<string>();
    const peer = new LazyPeer(() => connection.promise);
    const issued: string[] = [];
    void peer.use(() => {
      issued.push('queued');
      return new Promise(() => {});
    });
    void connection.promise.then(() => {
      issued.push(peer.endpoint === null ? 'not stored' : 'stored');
    });
    connection.resolve('ep');
    await connection.promise;
    await null;
    expect(issued).toEqual(['queued', 'stored']);
  });

  it('rejects the queued operations when connecting fails, and connects again on the next use', async () => {
    let attempt = 0;
    const peer = new LazyPeer(() => (++attempt === 1 ? Promise.reject(new Error('unreachable')) : Promise.resolve('ep')));
    const results = await Promise.allSettled([peer.use(() => Promise.resolve(1)), peer.use(() => Promise.resolve(2))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ message: 'unreachable' });
    expect(await peer.use((endpoint) => Promise.resolve(endpoint))).toBe('ep');
    expect(attempt).toBe(2);
  });

  it('an operation that throws rejects its own promise only', async () => {
    const peer = new LazyPeer(() => Promise.resolve('ep'));
    const bad = peer.use(() => {
      throw new Error('boom');
    });
    const good = peer.use(() => Promise.resolve('fine'));
    await expect(bad).rejects.toThrow('boom');
    await expect(good).resolves.toBe('fine');
  });
});

describe('MAX_RANKS', () => {
  it('a launcher that announces more than MAX_RANKS ranks is refused with ERR_MPI_BOOTSTRAP', () => {
    expect(() => detectLaunch({ NODE_UCX_RANK: '0', NODE_UCX_SIZE: String(MAX_RANKS + 1) })).toThrow(
      expect.objectContaining({ code: 'ERR_MPI_BOOTSTRAP', message: expect.stringMatching(/MAX_RANKS/) }),
    );
    expect(detectLaunch({ NODE_UCX_RANK: String(MAX_RANKS - 1), NODE_UCX_SIZE: String(MAX_RANKS) }).size).toBe(MAX_RANKS);
  });
});
