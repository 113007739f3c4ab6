// node-ucx/collections/array on a real distributed cluster (LocalCluster: a scheduler and two worker
// processes over UCX): the same results as the direct computation, chunk kernels imported by the
// workers, user functions shipped as source, blocks fetched worker to worker as typed arrays,
// persist() leaving blocks on the workers, .npy files written and read by the workers. A few
// cases also run on the 'processes' pool.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalCluster, Client } from 'node-ucx/scheduler';
import * as da from 'node-ucx/collections/array';
import { within } from '../helpers.js';
import * as R from './array-reference.js';

let cluster: LocalCluster;
let client: Client;

beforeAll(async () => {
  cluster = new LocalCluster({ workers: 2 });
  await within(cluster.ready, 30_000, 'the cluster to start');
  client = new Client(cluster);
  await within(client.ready, 30_000, 'the client to connect');
});

afterAll(async () => {
  da.setDefaultClient(null);
  await client?.close();
  await cluster?.close();
  await da.closeLocalPools();
});

const shape = [40, 30];
const values = Float64Array.from({ length: 1200 }, (_, i) => Math.cos(i / 3) * 5 + (i % 7));
const plain: R.Plain = { data: values, shape };
const x = da.fromArray(values, { shape, chunks: [16, 12] });

const cases = [
  {
    name: 'elementwise chain, then std over axis 0',
    make: () => x.mul(2).sub(x.abs().sqrt()).std({ axis: 0 }),
    expected: () =>
      R.reduce(
        R.map(plain, (v) => v * 2 - Math.sqrt(Math.abs(v))),
        [0],
        (g) => Math.sqrt(R.variance(0)(g)),
      ),
    digits: 10,
  },
  {
    name: 'broadcast: columns standardized',
    make: () => x.sub(x.mean({ axis: 0 })).div(x.std({ axis: 0, keepdims: true })),
    expected: () =>
      R.broadcast(
        R.broadcast(plain, R.reduce(plain, [0], R.mean), (a, b) => a - b),
        R.reduce(plain, [0], (g) => Math.sqrt(R.variance(0)(g)), true),
        (a, b) => a / b,
      ),
    digits: 10,
  },
  { name: 'argmax over all (a flat index)', make: () => x.argmax(), expected: () => R.reduce(plain, undefined, R.argmax) },
  {
    name: 'blocked matmul with 3 contraction blocks',
    make: () => x.matmul(x.T.rechunk([12, 10])),
    expected: () => R.matmul(plain, R.transpose(plain)),
    digits: 9,
  },
  {
    name: 'slice and rechunk',
    make: () =>
      x
        .slice([
          [3, 37, 3],
          [null, null, -4],
        ])
        .rechunk([5, -1]),
    expected: () => R.select(plain, [R.sliceIndices(40, 3, 37, 3), R.sliceIndices(30, null, null, -4)]),
  },
  {
    name: 'mapBlocks: a user function shipped as source, with an extra value',
    make: () => x.mapBlocks((b, k: number) => b.data.map((v) => v * k), {}, -3).lt(0),
    expected: () => R.map(plain, (v) => +(v * -3 < 0)),
  },
];

describe('array on a distributed Client (2 workers over UCX)', () => {
  it('computes graphs that share input blocks one after another (blocks that were only dependencies, released in between, are sent again)', async () => {
    const z = da.fromArray(values, { shape, chunks: [20, 15] });
    for (let i = 0; i < 3; i++)
      R.expectArray(
        await z.add(i).sum().compute({ scheduler: client }),
        R.reduce(
          R.map(plain, (v) => v + i),
          undefined,
          R.sum,
        ),
        'float64',
        10,
      );
    R.expectArray(
      await z.max({ axis: 1 }).compute({ scheduler: client }),
      R.reduce(plain, [1], (g) => Math.max(...g)),
      'float64',
    );
  });

  for (const c of cases) {
    it(`${c.name} equals the direct computation`, async () => {
      R.expectArray(await c.make().compute({ scheduler: client }), c.expected(), undefined, c.digits);
    });
  }

  it('is the default scheduler while the Client is the default; blocks move between workers', async () => {
    da.setDefaultClient(client);
    const before = (await client.schedulerInfo()).bytesMoved;
    const r = da.random([300, 300], { seed: 3, chunks: 100 });
    const local = await r.compute({ scheduler: 'sync' });
    // A product whose blocks come from both workers: some must travel.
    const product = await r.matmul(r.T).compute();
    const l = { data: local.data, shape: [300, 300] };
    R.expectArray(product, R.matmul(l, R.transpose(l)), 'float64', 9);
    const after = (await client.schedulerInfo()).bytesMoved;
    expect(after - before).toBeGreaterThan(0);
  });

  it('persist() leaves the blocks on the workers: the graph holds Futures, and later computations start there', async () => {
    const y = x.add(1);
    const held = await y.persist({ scheduler: client });
    expect(held.keys).toEqual(y.keys);
    for (const key of held.keys) expect(ArrayBuffer.isView(held.graph()[key])).toBe(false);
    R.expectArray(
      await held.sum({ axis: 1 }).compute({ scheduler: client }),
      R.reduce(
        R.map(plain, (v) => v + 1),
        [1],
        R.sum,
      ),
      'float64',
      10,
    );
  });

  it('toNpy and readNpy run on the workers', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'array-dist-'));
    try {
      const file = path.join(dir, 'x.npy');
      await x.toNpy(file, { scheduler: client });
      R.expectArray(
        await da
          .readNpy(file, { chunks: [7, 30] })
          .mean({ axis: 0 })
          .compute({ scheduler: client }),
        R.reduce(plain, [0], R.mean),
        'float64',
        10,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a task that fails on a worker rejects with its code', async () => {
    await expect(x.mapBlocks((b) => b.data.subarray(1)).compute({ scheduler: client })).rejects.toMatchObject({
      code: 'ERR_UCX_ARRAY_CHUNKS',
      key: expect.stringMatching(/^map-blocks-/),
    });
    await expect(da.zeros([0]).max().compute({ scheduler: client })).rejects.toMatchObject({ code: 'ERR_UCX_ARRAY_EMPTY' });
  });
});

describe("array on 'processes'", () => {
  for (const c of cases.slice(0, 3)) {
    it(`${c.name} equals the direct computation`, async () => {
      R.expectArray(await c.make().compute({ scheduler: 'processes', numWorkers: 2 }), c.expected(), undefined, c.digits);
    });
  }
});
