// scheduler-dashboard.mjs: a LocalCluster with its live dashboard. It prints the
// dashboard's link (open it in a browser while the tasks run), runs a few hundred
// tasks with a progress bar on stderr, reads /metrics as Prometheus would, and exits.
//
// Run: node docs/examples/scheduler-dashboard.mjs
//      HOLD_MS=60000 node docs/examples/scheduler-dashboard.mjs   (the dashboard stays up a minute more)
import { LocalCluster, Client, progress } from 'node-ucx/scheduler';

// dashboard: true listens on 127.0.0.1:8787 (another free port if that one is taken).
const cluster = new LocalCluster({ workers: 2, threads: 2, protocol: 'tcp', dashboard: true });
await cluster.ready;
console.log(`dashboard: ${cluster.dashboardLink}`);
const client = new Client(cluster);

// Self-contained functions: each runs on a worker; the key prefix ('load', 'slowinc', 'total')
// is the function's name, and the dashboard groups and colours tasks by it.
const load = (i) => new Promise((resolve) => setTimeout(() => resolve(new Float64Array(50_000).fill(i)), 20));
const slowinc = (x) => new Promise((resolve) => setTimeout(() => resolve(x + 1), 5 + (x % 7) * 3));
const total = (...arrays) => arrays.reduce((sum, a) => sum + a.reduce((s, v) => s + v, 0), 0);

const arrays = client.map(
  load,
  Array.from({ length: 16 }, (_, i) => i),
);
const incs = client.map(
  slowinc,
  Array.from({ length: 300 }, (_, i) => i),
);
const sum = client.submit(total, ...arrays); // its inputs come to it from both workers
await progress([...arrays, ...incs, sum]);
console.log(`sum of the arrays: ${await sum}`);

// The same numbers for a monitoring system: GET /metrics (the Prometheus text format).
const metrics = await (await fetch(new URL('metrics', cluster.dashboardLink))).text();
for (const line of metrics.split('\n')) {
  if (/^ucx_scheduler_(tasks_finished_total|bytes_moved_total|threads) /.test(line)) console.log(line);
}

const holdMs = Number(process.env.HOLD_MS ?? 0);
if (holdMs > 0) {
  console.log(`the dashboard stays up for ${holdMs / 1000} s`);
  await new Promise((resolve) => setTimeout(resolve, holdMs));
}
await client.close();
await cluster.close();
