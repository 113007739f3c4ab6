// .npy files: toNpy and readNpy round trips on 'sync' and 'threads' (several dtypes, 0-d to 3-d,
// blocks that cut every axis), stacks of files read as one array, NumPy itself reading what toNpy
// wrote and the other way round (when a python3 with numpy is installed), and the coded errors of
// missing and unreadable files, which name the file.
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as da from 'node-ucx/collections/array';
import type { LocalScheduler } from 'node-ucx/collections/array';
import * as R from './array-reference.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'array-io-'));
});
afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await da.closeLocalPools();
});

/** A python3 that can import numpy (the Debian one when the first on PATH cannot), or null. */
const python = ['python3', '/usr/bin/python3'].find((exe) => spawnSync(exe, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0) ?? null;

/** A .npy file with any descriptor and shape, written by hand (for what toNpy cannot make). */
function writeRawNpy(file: string, descr: string, shape: string, data: Buffer, fortran = 'False'): void {
  let dict = `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;
  dict += ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(dict.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(dict, 'latin1'), data]));
}

const SCHEDULERS: LocalScheduler[] = ['sync', 'threads'];

describe.each(SCHEDULERS)("npy on '%s'", (scheduler) => {
  const arrays = [
    {
      name: 'float64 3-d, every axis cut',
      make: () =>
        da
          .arange(0, 60, 1, { dtype: 'float64' })
          .div(7)
          .rechunk(5)
          .mapBlocks((b) => b.data, {})
          .rechunk(-1),
      shape: [3, 4, 5],
      chunks: [2, 3, 2],
    },
    { name: 'int16 2-d', make: () => da.arange(-50, 50, 1, { dtype: 'int16' }), shape: [10, 10], chunks: [3, 10] },
    { name: 'bool 1-d', make: () => da.arange(17).mod(3).eq(0), shape: [17], chunks: [4] },
    { name: 'float32 0-d', make: () => da.full([], 2.5, { dtype: 'float32' }), shape: [], chunks: [] },
  ];
  for (const a of arrays) {
    it(`toNpy then readNpy gives the array back: ${a.name}`, async () => {
      const flat = await a.make().compute({ scheduler: 'sync' });
      const x = da.fromArray(flat.data, { shape: a.shape, chunks: a.chunks.length ? a.chunks : undefined });
      const file = path.join(dir, `${scheduler}-${a.name.replace(/\W+/g, '_')}.npy`);
      await expect(x.toNpy(file, { scheduler })).resolves.toBe(file);
      const back = da.readNpy(file, { chunks: a.shape.map(() => 2) as never });
      expect(back.dtype).toBe(x.dtype);
      R.expectArray(await back.compute({ scheduler }), { data: flat.data, shape: a.shape }, x.dtype);
      // Reading blocks of a slice reads only the rows it needs, and gives the same elements.
      if (a.shape.length > 0)
        R.expectArray(
          await back.slice([[1, null, 2]]).compute({ scheduler }),
          R.select({ data: flat.data, shape: a.shape }, [R.sliceIndices(a.shape[0]!, 1, null, 2)]),
        );
    });
  }

  it('a glob of files is one array, stacked on the first axis; blocks never straddle two files', async () => {
    const parts = [
      [2, 3],
      [5, 3],
      [1, 3],
    ].map(([r, c], i) => {
      const data = Float64Array.from({ length: r! * c! }, (_, k) => i * 100 + k);
      return { data, file: path.join(dir, `${scheduler}-stack-${i}.npy`), shape: [r!, c!] };
    });
    for (const p of parts) await da.fromArray(p.data, { shape: p.shape }).toNpy(p.file, { scheduler });
    const stacked = da.readNpy(path.join(dir, `${scheduler}-stack-*.npy`), { chunks: [3, 2] });
    expect(stacked.shape).toEqual([8, 3]);
    // Rows cut every 3 (0, 3, 6) and at the files' boundaries (2, 7).
    expect(stacked.chunks).toEqual([
      [2, 1, 3, 1, 1],
      [2, 1],
    ]);
    const all = parts.flatMap((p) => Array.from(p.data));
    R.expectArray(await stacked.compute({ scheduler }), { data: all, shape: [8, 3] }, 'float64');
    R.expectArray(await stacked.sum({ axis: 0 }).compute({ scheduler }), R.reduce({ data: all, shape: [8, 3] }, [0], R.sum), 'float64');
  });
});

describe.skipIf(python === null)('NumPy reads what toNpy writes, and the other way round', () => {
  it('np.load of toNpy files; readNpy of np.save files', async () => {
    const mine = path.join(dir, 'mine.npy');
    const x = da
      .arange(24, { chunks: 5 })
      .mapBlocks((b) => Int32Array.from(b.data, (v) => v * 3 - 7), { dtype: 'int32' })
      .compute({ scheduler: 'sync' });
    await da.fromArray((await x).data, { shape: [4, 6], chunks: [3, 4] }).toNpy(mine, { scheduler: 'threads' });
    const theirs = path.join(dir, 'theirs.npy');
    const script = [
      'import numpy as np, sys',
      `a = np.load(${JSON.stringify(mine)})`,
      'assert a.dtype == np.int32 and a.shape == (4, 6), (a.dtype, a.shape)',
      'assert (a == (np.arange(24, dtype=np.int32) * 3 - 7).reshape(4, 6)).all()',
      `np.save(${JSON.stringify(theirs)}, (np.arange(30, dtype=np.float32).reshape(5, 6) / 4))`,
      'print("ok")',
    ].join('\n');
    const run = spawnSync(python!, ['-c', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('ok');
    const read = da.readNpy(theirs, { chunks: [2, 4] });
    R.expectArray(await read.compute({ scheduler: 'threads' }), { data: Array.from({ length: 30 }, (_, i) => i / 4), shape: [5, 6] }, 'float32');
  });
});

describe('npy errors name the file', () => {
  it('a missing file or a glob matching none: ENOENT naming it, where the graph is built', () => {
    const missing = path.join(dir, 'nope.npy');
    expect(() => da.readNpy(missing)).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining(missing) }));
    expect(() => da.readNpy(path.join(dir, 'nothing-*.npy'))).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('nothing-*.npy') }),
    );
    expect(() => da.readNpy(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('not a .npy, int64, Fortran order, truncated: ERR_UCX_ARRAY_NPY naming the file and why', () => {
    const text = path.join(dir, 'text.npy');
    fs.writeFileSync(text, 'hello, not numpy');
    expect(() => da.readNpy(text)).toThrow(expect.objectContaining({ code: 'ERR_UCX_ARRAY_NPY', message: expect.stringContaining(`'${text}'`) }));
    const int64 = path.join(dir, 'int64.npy');
    writeRawNpy(int64, '<i8', '(2,)', Buffer.alloc(16));
    expect(() => da.readNpy(int64)).toThrow(expect.objectContaining({ code: 'ERR_UCX_ARRAY_NPY', message: expect.stringContaining("dtype '<i8'") }));
    const fortran = path.join(dir, 'fortran.npy');
    writeRawNpy(fortran, '<f8', '(2, 2)', Buffer.alloc(32), 'True');
    expect(() => da.readNpy(fortran)).toThrow(expect.objectContaining({ code: 'ERR_UCX_ARRAY_NPY', message: expect.stringContaining('Fortran') }));
    const short = path.join(dir, 'short.npy');
    writeRawNpy(short, '<f8', '(4,)', Buffer.alloc(16));
    expect(() => da.readNpy(short)).toThrow(expect.objectContaining({ code: 'ERR_UCX_ARRAY_NPY', message: expect.stringContaining('truncated') }));
  });

  it('stacked files that disagree: ERR_UCX_ARRAY_SHAPE naming both', () => {
    writeRawNpy(path.join(dir, 'mixed-0.npy'), '<f8', '(1, 2)', Buffer.alloc(16));
    writeRawNpy(path.join(dir, 'mixed-1.npy'), '<f8', '(1, 3)', Buffer.alloc(24));
    expect(() => da.readNpy(path.join(dir, 'mixed-*.npy'))).toThrow(
      expect.objectContaining({ code: 'ERR_UCX_ARRAY_SHAPE', message: expect.stringMatching(/mixed-1\.npy.*mixed-0\.npy/) }),
    );
  });

  it('toNpy into a missing directory rejects with ENOENT naming the path', async () => {
    const file = path.join(dir, 'no-such-dir', 'x.npy');
    await expect(da.zeros([3]).toNpy(file)).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining(file) });
    await expect(da.zeros([3]).toNpy('' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});
