// Closing a ucx:// connection when the peer cannot take part: a frozen peer (SIGSTOP) holds a
// pending send, and both sides closing at once. One bound for close() (transportDefaults.closeTimeoutMs),
// and everything pending settled when it resolves (docs/transport.md, Closing).
import path from 'node:path';
import { describe, it, expect, afterEach } from 'vitest';
import { Context, defaults, type ErrorHandling } from 'node-ucx';
import { ucxTransport, transportDefaults } from 'node-ucx/transport';
import { startPeer, within } from '../helpers.js';

const PEER = path.join(__dirname, 'fixtures', 'transport-peer.mjs');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setCloseTimeouts(ms: number): void {
  const old = [transportDefaults.closeTimeoutMs, defaults.closeTimeoutMs] as const;
  transportDefaults.closeTimeoutMs = ms;
  defaults.closeTimeoutMs = ms;
  cleanups.push(() => {
    [transportDefaults.closeTimeoutMs, defaults.closeTimeoutMs] = old;
  });
}

async function connected(errorHandling: ErrorHandling) {
  const context = new Context();
  const worker = context.createWorker({ errorHandling });
  cleanups.push(async () => {
    await worker.close();
    context.close();
  });
  const peer = startPeer(PEER, ['ucx', errorHandling]);
  cleanups.push(() => {
    peer.kill('SIGKILL');
  });
  const { url } = await peer.next('ready');
  const conn = await within(ucxTransport({ worker }).connect(url as string), 10_000, 'connect');
  await peer.next('connection');
  return { worker, peer, conn };
}

describe('closing a ucx:// connection', () => {
  for (const errorHandling of ['peer', 'none'] as const) {
    it(`to a frozen peer (SIGSTOP, '${errorHandling}'): close() takes one closeTimeoutMs and the pending send has settled when it resolves`, async () => {
      setCloseTimeouts(1000);
      const { worker, peer, conn } = await connected(errorHandling);
      await within(conn.send([Buffer.from('warm-up')]), 5_000, 'a first send');
      peer.kill('SIGSTOP');
      let settled: string | undefined;
      const send = conn.send([Buffer.alloc(16 << 20)]).then(
        () => {
          settled = 'resolved';
        },
        (e: { code?: string }) => {
          settled = e.code ?? 'rejected';
        },
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      await within(conn.close(), 5_000, 'close() of a connection to a frozen peer');
      const took = Date.now() - started;
      await Promise.resolve();
      expect(settled, 'the pending send when close() resolved').toBeDefined();
      await send;
      expect(took).toBeLessThan(1000 + 700);
      // A force-closed request UCX still holds is abandoned (it keeps the worker busy until UCX lets go of it, soon).
      const idleBy = Date.now() + 1000;
      while (worker.stats().keepsAlive && Date.now() < idleBy) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(worker.stats(), 'the worker 1 s after close()').toMatchObject({ keepsAlive: false, pendingRequests: 0 });
    });
  }

  // Before: one time in four or so a side waited out a whole bound (5 s): its BYE (or GOODBYE) reached a
  // peer that had already closed, and the disconnect that followed was ignored while closing.
  for (const [errorHandling, traffic] of [
    ['peer', false],
    ['none', false],
    ['peer', true],
    ['none', true],
  ] as const) {
    it(`when both sides close at once ('${errorHandling}'${traffic ? ', with messages in flight' : ''}), both closes finish within a fraction of closeTimeoutMs, three times over`, async () => {
      for (let round = 0; round < 3; round++) {
        const { peer, conn } = await connected(errorHandling);
        await within(conn.send([Buffer.from('warm-up')]), 5_000, 'a first send');
        if (traffic) {
          await peer.call('echoLoop', {});
          for (let i = 0; i < 20; i++) void conn.send([Buffer.alloc(i % 2 ? 100 : 1 << 20)]).catch(() => {});
        }
        const started = Date.now();
        const theirs = peer.call('close', {}, 15_000);
        const ours = conn.close();
        await within(Promise.all([ours, theirs]), 15_000, 'both closes');
        expect(Date.now() - started, `round ${round}`).toBeLessThan(transportDefaults.closeTimeoutMs / 2);
      }
    });
  }
});
