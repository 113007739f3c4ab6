// A worker's memory limit: 64 MiB, and 256 MiB of results. They spill to disk (the worker reports
// spilled bytes), every result comes back right (from disk, to tasks and to the client), the worker
// holds less than its limit beyond its idle footprint the whole time, and the nanny never has to kill it.
import { describe, it, expect } from 'vitest';
import { LocalCluster, Client, moduleFunction } from 'node-ucx/scheduler';
import { within } from '../helpers.js';

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url).href;
const MiB = 2 ** 20;

describe('memory limit', () => {
  it('64 MiB with 256 MiB of results: spills, results correct, resident memory bounded, no restart', async () => {
    await using cluster = new LocalCluster({ workers: 1, protocol: 'tcp', memoryLimit: 64 * MiB });
    await within(cluster.ready, 20_000, 'the cluster');
    await using client = new Client(cluster, { setAsDefault: false });
    const restarts: string[] = [];
    cluster.nannies[0]!.on('restart', (reason: string) => restarts.push(reason));
    const rss = async (): Promise<number> => Object.values(await client.run(() => process.memoryUsage.rss()))[0]!;
    const idle = await rss();
    let peak = idle;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rss().catch(() => 0));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      // 64 results of 4 MiB (Float64Array of 512 Ki elements, each its index).
      const blocks = Array.from({ length: 64 }, (_, i) => client.submit(moduleFunction(TASKS, 'block'), 512 * 1024, i));
      // (A failure says whether the nanny had to restart the worker.)
      const timely = <T>(p: Promise<T>, what: string): Promise<T> =>
        within(p, 30_000, what).catch((error: Error) => {
          error.message += ` (restarts: ${restarts.join('; ') || 'none'})`;
          throw error;
        });
      await timely(client.wait(blocks), '256 MiB of results');
      expect(blocks.every((b) => b.status === 'finished')).toBe(true);
      // Every one read back (from disk, most of them) by a task, and a few by the client.
      const sums = (await timely(client.gather(blocks.map((b) => client.submit(moduleFunction(TASKS, 'checksum'), b))), 'the checksums')) as {
        sum: number;
        first: number;
        last: number;
        length: number;
      }[];
      sums.forEach((s, i) => expect(s).toEqual({ sum: i * 512 * 1024, first: i, last: i, length: 512 * 1024 }));
      const direct = (await client.gather([blocks[0], blocks[63]])) as Float64Array[];
      expect([direct[0]![0], direct[0]!.length, direct[1]![524287]]).toEqual([0, 512 * 1024, 63]);
      const info = await client.schedulerInfo();
      const metrics = Object.values(info.workers)[0]!.metrics!;
      expect(metrics.spilled).toBeGreaterThan(128 * MiB);
      expect(metrics.memory).toBeLessThanOrEqual(0.6 * 64 * MiB);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(restarts).toEqual([]);
    expect(peak - idle, `resident memory grew by ${((peak - idle) / MiB).toFixed(1)} MiB`).toBeLessThan(64 * MiB);
  });
});
