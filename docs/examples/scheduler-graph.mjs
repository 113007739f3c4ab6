// scheduler-graph.mjs: a task graph two ways — a plain graph spec ({ key: [fn, ...args] } with
// ref(key) for a result, as Dask's) and delayed(), which builds the same thing by calling functions.
//
// Run: node docs/examples/scheduler-graph.mjs
import assert from 'node:assert/strict';
import { LocalCluster, Client, ref, delayed } from 'node-ucx/scheduler';

const cluster = new LocalCluster({ workers: 2 });
const client = new Client(cluster);
try {
  const inc = (x) => x + 1;
  const add = (a, b) => a + b;
  const graph = {
    x: 1,
    y: [inc, ref('x')],
    z: [add, ref('x'), ref('y')],
  };
  const [z] = await client.compute(graph, ['z']);
  assert.equal(z, 3);
  console.log('graph: z =', z);

  // The same with delayed: nothing runs until compute().
  const lazyInc = delayed(inc);
  const lazyAdd = delayed(add);
  const x = lazyInc(1);
  const result = await lazyAdd(x, lazyInc(x)).compute({ client });
  assert.equal(result, 5);
  console.log('delayed: add(inc(1), inc(inc(1))) =', result);

  // An error comes back with the stack from the worker.
  const failing = client.submit((n) => {
    if (n > 0) throw new RangeError(`n is ${n}`);
  }, 7);
  await assert.rejects(failing.result(), (error) => {
    console.log('task error:', error.name, error.remote.name, error.remote.message);
    return error.remote.name === 'RangeError';
  });
} finally {
  await client.close();
  await cluster.close();
}
