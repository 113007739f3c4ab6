// The mpi4py starter examples in docs/examples run as documented: ucx-run -n 2 node docs/examples/<name>.mjs
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { start, explain, UCX_RUN, ROOT } from './job.js';

describe('docs/examples (MPI)', () => {
  it.each([
    [
      'mpi-hello.mjs',
      /(?=[\s\S]*Hello, World! I am process 0 of 2 on )(?=[\s\S]*Hello, World! I am process 1 of 2 on )[\s\S]*All 2 processes passed the barrier\./,
    ],
    ['mpi-send-recv.mjs', /rank 1 got 1000 ints with tag 77 from rank 0/],
    ['mpi-bcast.mjs', /rank 1: \{"key1":\[7,2\.72,\{"re":2,"im":3\}\],"key2":\["abc","xyz"\]/],
  ])('%s runs on 2 ranks', async (name, output) => {
    const result = await start(process.execPath, [UCX_RUN, '-n', '2', 'node', path.join(ROOT, 'docs', 'examples', name)]).done;
    expect(result.code, explain(result)).toBe(0);
    expect(result.stdout).toMatch(output);
  });

  it('mpi-osu-latency.mjs (demo/osu_latency.py) prints a latency for every size from 0 B up to its maximum, timed with Wtime', async () => {
    const result = await start(process.execPath, [UCX_RUN, '-n', '2', 'node', path.join(ROOT, 'docs', 'examples', 'mpi-osu-latency.mjs'), '16384', '200'], {
      ms: 60_000,
    }).done;
    expect(result.code, explain(result)).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['# MPI Latency Test', '# Size [B]        Latency [us]']);
    const rows = lines.slice(2).map((line) => /^(\d+) +(\d+\.\d\d)$/.exec(line));
    expect(
      rows.map((m) => Number(m?.[1])),
      result.stdout,
    ).toEqual([0, ...Array.from({ length: 15 }, (_, i) => 2 ** i)]);
    for (const m of rows) expect(Number(m![2])).toBeGreaterThan(0);
  });

  it('mpi-osu-latency.mjs refuses to run on other than two ranks', async () => {
    const result = await start(process.execPath, [UCX_RUN, '-n', '3', 'node', path.join(ROOT, 'docs', 'examples', 'mpi-osu-latency.mjs'), '16', '10'], {
      ms: 60_000,
    }).done;
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/This test requires exactly two processes/);
  });
});
