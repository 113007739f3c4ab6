// scheduler-map-reduce.mjs: a LocalCluster of two worker processes, a map over 1,000 inputs and a
// reduction — results stay on the workers until the last step asks for them.
//
// Run: node docs/examples/scheduler-map-reduce.mjs
import assert from 'node:assert/strict';
import { LocalCluster, Client } from 'node-ucx/scheduler';

const cluster = new LocalCluster({ workers: 2, threads: 1 });
const client = new Client(cluster);
try {
  // Self-contained functions travel as source: they see their arguments, not this module's variables.
  const square = (x) => x * x;
  const squares = client.map(
    square,
    Array.from({ length: 1000 }, (_, i) => i),
  );

  // Futures as arguments are dependencies: the sum runs where the squares are, and only it comes back.
  const total = client.submit((...xs) => xs.reduce((a, b) => a + b, 0), ...squares);
  assert.equal(await total, 332_833_500);
  console.log('sum of squares 0..999 =', await total);

  const info = await client.schedulerInfo();
  console.log('workers:', Object.keys(info.workers).length, 'tasks by state:', info.tasks);
} finally {
  await client.close();
  await cluster.close();
}
