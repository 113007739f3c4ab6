// worker_threads (R5): four threads, each with its own Context, pass traffic at
// once and terminate cleanly — also while endpoints are open.
import { Worker as Thread } from 'node:worker_threads';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { within } from '../helpers.js';

interface ThreadReport {
  index: number;
  sent: number;
  received: number;
  ok: boolean;
}

function startThreads(count: number, rounds: number, stayOpen: boolean): { threads: Thread[]; reports: Promise<ThreadReport[]> } {
  const threads: Thread[] = [];
  const ports: Promise<number>[] = [];
  const reports: Promise<ThreadReport>[] = [];
  for (let index = 0; index < count; index++) {
    const thread = new Thread(path.join(__dirname, 'fixtures', 'thread-peer.mjs'), { workerData: { index, rounds, stayOpen } });
    threads.push(thread);
    ports.push(new Promise((resolve) => thread.once('message', (m: { port: number }) => resolve(m.port))));
    reports.push(
      new Promise((resolve, reject) => {
        thread.on('message', (m: { report?: ThreadReport }) => {
          if (m.report) resolve(m.report);
        });
        thread.once('error', reject);
      }),
    );
  }
  // Ring: each thread connects to the next one's listener.
  void Promise.all(ports).then((all) => threads.forEach((t, i) => t.postMessage({ connectTo: all[(i + 1) % count] })));
  return { threads, reports: Promise.all(reports) };
}

describe('worker_threads', () => {
  it('four threads with their own Context pass traffic at once and exit by themselves', async () => {
    const { threads, reports } = startThreads(4, 200, false);
    const done = await within(reports, 30_000, 'reports from 4 threads');
    for (const report of done) expect(report).toMatchObject({ sent: 200, received: 200, ok: true });
    const codes = await within(Promise.all(threads.map((t) => new Promise<number>((resolve) => t.once('exit', resolve)))), 15_000, 'threads to exit');
    expect(codes).toEqual([0, 0, 0, 0]);
  });

  it('terminating threads with open endpoints and listeners is clean', async () => {
    const { threads, reports } = startThreads(4, 50, true);
    await within(reports, 30_000, 'reports from 4 threads');
    const codes = await within(Promise.all(threads.map((t) => t.terminate())), 15_000, 'terminate()');
    expect(codes).toEqual([1, 1, 1, 1]); // terminate() exit code
    // The addon still works in the main thread's environment afterwards.
    const { Context } = await import('node-ucx');
    const context = new Context();
    const worker = context.createWorker();
    await worker.close();
    context.close();
  });
});
