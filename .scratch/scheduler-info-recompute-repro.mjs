import { LocalCluster, Client, ref } from '/work/wt-df/dist/scheduler/index.js';
const cluster = new LocalCluster({ workers: 2, threads: 1 });
const client = new Client(cluster);
await client.ready;
for (const n of [3, 4, 5, 6, 8]) {
  const g = {};
  for (let i = 0; i < n; i++) g[`p-${n}-${i}`] = [(i) => new Float64Array(10000).fill(i), i];
  g[`total-${n}`] = [(parts) => parts.reduce((s, p) => s + p[0], 0), Array.from({ length: n }, (_, i) => ref(`p-${n}-${i}`))];
  const res = [];
  for (let k = 0; k < 3; k++) {
    try { res.push((await client.compute(g, [`total-${n}`]))[0]); await client.schedulerInfo(); } catch (e) { res.push(e.message.slice(0, 120)); }
  }
  console.log(n, res);
}
await client.close(); await cluster.close();
