// A LocalCluster (scheduler here, 2 workers × 1 thread in processes of their own) for node-bench.mjs's S5
// and S6, so that this process's CPU time and memory are the scheduler's alone. Over IPC:
//   → { type: 'ready', address, secret }      (the secret over IPC, never on a command line)
//   ← { type: 'begin' }  → { type: 'begun' }  a baseline: CPU now, memory after a full GC, then samples every 5 ms
//   ← { type: 'end' }    → { type: 'stats', cpuSeconds, heapGrowth, peakRss, rssGrowth }
//   ← { type: 'close' }                       close the cluster and exit
//   → { type: 'worker-removed' | 'worker-added', worker, reason, workers }   as they happen
import { LocalCluster } from 'node-ucx/scheduler';

// The scheduler's config (SchedulerConfig, JSON) comes in the environment: run.mjs --scheduler-config.
const config = JSON.parse(process.env.BENCH_SCHEDULER_CONFIG ?? '{}');
const cluster = new LocalCluster({ workers: 2, threads: 1, protocol: 'ucx', scheduler: { config } });
await cluster.ready;
process.send({ type: 'ready', address: cluster.schedulerAddress, secret: cluster.secret.toString('base64') });
// The parent watches for a cluster that has lost its workers (it would wait for ever).
cluster.scheduler.on('worker-removed', (worker, reason) =>
  process.send({ type: 'worker-removed', worker, reason, workers: cluster.scheduler.state.workers.size }),
);
cluster.scheduler.on('worker-added', (worker) => process.send({ type: 'worker-added', worker, workers: cluster.scheduler.state.workers.size }));

const heapOf = (m) => m.heapUsed + m.external;
let run = null;
process.on('message', async (message) => {
  if (message?.type === 'begin') {
    globalThis.gc?.();
    const m = process.memoryUsage();
    run = { cpu: process.cpuUsage(), baseHeap: heapOf(m), baseRss: m.rss, peakHeap: heapOf(m), peakRss: m.rss };
    run.timer = setInterval(() => {
      const s = process.memoryUsage();
      run.peakHeap = Math.max(run.peakHeap, heapOf(s));
      run.peakRss = Math.max(run.peakRss, s.rss);
    }, 5);
    process.send({ type: 'begun' });
  } else if (message?.type === 'end') {
    clearInterval(run.timer);
    const cpu = process.cpuUsage(run.cpu);
    const m = process.memoryUsage();
    run.peakHeap = Math.max(run.peakHeap, heapOf(m));
    run.peakRss = Math.max(run.peakRss, m.rss);
    process.send({
      type: 'stats',
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      heapGrowth: run.peakHeap - run.baseHeap,
      peakRss: run.peakRss,
      rssGrowth: run.peakRss - run.baseRss,
    });
  } else if (message?.type === 'close') {
    await Promise.race([cluster.close(), new Promise((resolve) => setTimeout(resolve, 5_000))]);
    process.exit(0);
  }
});
