// Out of core: a collection larger than the workers' memory together completes through the scheduler's
// spilling. Two workers with a 48 MiB memory limit each hold a persisted 192 MiB array (48 blocks of
// 4 MiB): most of it goes to disk, and reductions over it (reading every block back) are exact.
import { describe, it, expect } from 'vitest';
import { LocalCluster, Client } from 'node-ucx/scheduler';
import * as da from 'node-ucx/collections/array';
import { within } from '../helpers.js';

const MiB = 2 ** 20;

describe('collections out of core', () => {
  it('a 192 MiB array persisted on two workers of 48 MiB each spills, and its sum and max come back exact', async () => {
    await using cluster = new LocalCluster({ workers: 2, protocol: 'tcp', memoryLimit: 48 * MiB });
    await within(cluster.ready, 30_000, 'the cluster');
    await using client = new Client(cluster, { setAsDefault: false });
    const n = 24 * MiB; // float64: 192 MiB
    const x = da.arange(n, { chunks: [n / 48], dtype: 'float64' });
    expect(x.nbytes).toBe(192 * MiB);
    const held = await within(x.persist({ scheduler: client }), 60_000, 'the array persisted');
    const [sum, max] = (await within(da.compute([held.sum(), held.max()], { scheduler: client }), 60_000, 'sum and max')) as { data: Float64Array }[];
    // 0 + 1 + ... + (n - 1), exact in float64 (below 2^53).
    expect(sum!.data[0]).toBe((n * (n - 1)) / 2);
    expect(max!.data[0]).toBe(n - 1);
    // The persisted blocks are all held, most of them on disk (the workers report with their heartbeats).
    const held_ = async (): Promise<{ spilled: number; memory: number }> => {
      const info = await client.schedulerInfo();
      const workers = Object.values(info.workers);
      return { spilled: workers.reduce((t, w) => t + (w.metrics?.spilled ?? 0), 0), memory: workers.reduce((t, w) => t + (w.metrics?.memory ?? 0), 0) };
    };
    let report = await held_();
    for (const end = Date.now() + 10_000; report.spilled + report.memory < n * 8 && Date.now() < end; report = await held_()) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(report.spilled + report.memory).toBeGreaterThanOrEqual(n * 8);
    expect(report.spilled).toBeGreaterThan(n * 8 - 2 * 48 * MiB);
    // Spilling, not the nanny: no worker was restarted for its memory.
    expect(cluster.nannies.map((nanny) => nanny.restarts)).toEqual([0, 0]);
  }, 120_000);
});
