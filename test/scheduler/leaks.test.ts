// Nothing leaks: 1,000 client connect/close cycles (with tasks, small results inline and large ones
// fetched from workers), and futures that are garbage collected. Both run in a child process with
// --expose-gc (fixtures/leaks.mjs), so that what is measured is what is left after a full collection.
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/leaks.mjs', import.meta.url));
const run = async (...args: string[]): Promise<Record<string, any>> => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', FIXTURE, ...args], { timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, any>;
};

describe('leaks', () => {
  for (const protocol of ['inproc', 'tcp', 'ucx']) {
    it(`1,000 client connect/close cycles over ${protocol} leave no fds, memory, connections or scheduler state behind`, async () => {
      const out = await run('cycles', protocol, '1000');
      expect(out.after.fds).toBe(out.before.fds);
      // What stays after a full collection: no more than 2 KB a cycle (caches settle after the warm-up).
      expect(out.after.heap - out.before.heap).toBeLessThan(2_000_000);
      expect(out.after.workerResources).toEqual(out.before.workerResources);
      expect(out.added).toBe(out.removed);
      expect(out.tasks).toBe(0);
      expect(out.workers).toBe(2);
    });
  }

  it('futures garbage collected: awaited ones still get their results, dropped ones are forgotten by the cluster', async () => {
    const out = await run('gc', 'tcp');
    expect(out.sum).toBe((49 * 50) / 2 + 50);
    expect(out.tasks).toBe(0);
    expect(out.stored).toEqual([0, 0]);
  });
});
