// scheduler-typed-arrays.mjs: typed arrays between workers. Each worker makes 1 MiB Float64Arrays; a
// tree of additions combines them, fetching inputs worker to worker (typed arrays travel as frames of
// their own, zero copy over UCX); only the final sum, a number, comes back here.
//
// Run: node docs/examples/scheduler-typed-arrays.mjs
import assert from 'node:assert/strict';
import { LocalCluster, Client } from 'node-ucx/scheduler';

const cluster = new LocalCluster({ workers: 2 });
const client = new Client(cluster);
try {
  const make = (i, n) => new Float64Array(n).fill(i);
  const add = (a, b) => {
    const out = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
    return out;
  };

  let layer = client.map(
    make,
    Array.from({ length: 16 }, (_, i) => i),
    Array(16).fill(131072),
  );
  while (layer.length > 1) {
    const next = [];
    for (let i = 0; i < layer.length; i += 2) next.push(client.submit(add, layer[i], layer[i + 1]));
    layer = next;
  }
  const total = await client.submit((a) => a.reduce((s, v) => s + v, 0), layer[0]);
  assert.equal(total, 120 * 131072);
  const info = await client.schedulerInfo();
  console.log('sum =', total, '; bytes moved between workers:', info.bytesMoved);
} finally {
  await client.close();
  await cluster.close();
}
