// The mpi4py starter examples in docs/examples run as documented: ucx-run -n 2 node docs/examples/<name>.mjs
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { start, explain, UCX_RUN, ROOT } from './job.js';

describe('docs/examples (MPI)', () => {
  it.each([
    ['mpi-hello.mjs', /(?=[\s\S]*Hello, World! I am process 0 of 2 on )(?=[\s\S]*Hello, World! I am process 1 of 2 on )[\s\S]*All 2 processes passed the barrier\./],
    ['mpi-send-recv.mjs', /rank 1 got 1000 ints with tag 77 from rank 0/],
    ['mpi-bcast.mjs', /rank 1: \{"key1":\[7,2\.72,\{"re":2,"im":3\}\],"key2":\["abc","xyz"\]/],
  ])('%s runs on 2 ranks', async (name, output) => {
    const result = await start(process.execPath, [UCX_RUN, '-n', '2', 'node', path.join(ROOT, 'docs', 'examples', name)]).done;
    expect(result.code, explain(result)).toBe(0);
    expect(result.stdout).toMatch(output);
  });
});
