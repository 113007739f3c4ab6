// Dynamic process management: spawn, getParent, intercommunicators (point-to-point and every collective
// across the two groups, MPI.ROOT, merge, disconnect), ports with accept/connect and the name service,
// mpi4py's spawning and DPM demos as ported in docs/examples, and the failures: a spawn that cannot
// start, bad arguments, a child that dies, a forged port token.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { start, ucxRun, lastJson, explain, UCX_RUN, ROOT } from './job.js';

const NODE = process.execPath;
const EXAMPLES = path.join(ROOT, 'docs', 'examples');

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('dynamic processes', () => {
  it('2 parents spawn 3 children: point-to-point, every intercommunicator collective both ways, merge (both orders), disconnect', async () => {
    const result = await ucxRun(2, 'mpi-dpm.mjs', ['parent', '3'], { ms: 60_000 }).done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson(result.stdout)).toEqual({
      ok: true,
      all: [
        { ls: 2, rs: 3, merged: 5 },
        { ls: 2, rs: 3, merged: 5 },
      ],
    });
  });

  it('a job accepts on a published port, another looks it up and connects: the same battery across two ucx-run jobs', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-names-'));
    const server = ucxRun(3, 'mpi-dpm.mjs', ['server', dir], { ms: 60_000 });
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(path.join(dir, 'dpm-test.port')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const client = await ucxRun(2, 'mpi-dpm.mjs', ['client', dir], { ms: 60_000 }).done;
    const served = await server.done;
    expect(served.code, explain(served)).toBe(0);
    expect(client.code, explain(client)).toBe(0);
    expect(lastJson(served.stdout)).toEqual({ ok: true, mode: 'server', ls: 3, rs: 2, merged: 5 });
    expect(lastJson(client.stdout)).toEqual({ ok: true, mode: 'client', ls: 2, rs: 3, merged: 5 });
    expect(fs.existsSync(path.join(dir, 'dpm-test.port')), 'the server unpublished the name').toBe(false);
  });

  it('a spawn whose children cannot start rejects on every parent with ERR_MPI_SPAWN, and the parents go on', async () => {
    const result = await ucxRun(2, 'mpi-dpm.mjs', ['spawn-missing'], { ms: 60_000 }).done;
    expect(result.code, explain(result)).toBe(0);
    const lines = jsonLines(result.stdout).sort((a, b) => Number(a.rank) - Number(b.rank));
    expect(lines).toEqual([
      { rank: 0, code: 'ERR_MPI_SPAWN', message: "spawn: the job of 2 'node /nonexistent/child.mjs' ended (exit code 1) before it connected" },
      {
        rank: 1,
        code: 'ERR_MPI_SPAWN',
        message: "at the root (rank 0): spawn: the job of 2 'node /nonexistent/child.mjs' ended (exit code 1) before it connected",
      },
    ]);
  });

  it('bad spawn arguments are TypeError/RangeError at the root (Node codes) and ERR_MPI_ARG on the others; nothing is started', async () => {
    const result = await ucxRun(2, 'mpi-dpm.mjs', ['spawn-bad-args'], { ms: 60_000 }).done;
    expect(result.code, explain(result)).toBe(0);
    const lines = jsonLines(result.stdout).sort((a, b) => Number(a.rank) - Number(b.rank));
    expect(lines).toEqual([
      { rank: 0, outcomes: ['TypeError:ERR_INVALID_ARG_TYPE', 'TypeError:ERR_INVALID_ARG_TYPE', 'RangeError:ERR_OUT_OF_RANGE'] },
      { rank: 1, outcomes: ['MPIError:ERR_MPI_ARG', 'MPIError:ERR_MPI_ARG', 'MPIError:ERR_MPI_ARG'] },
    ]);
  });

  it('a child that dies after connecting ends the parent job too, saying the connected job was lost', async () => {
    const result = await ucxRun(2, 'mpi-dpm.mjs', ['child-dies'], { ms: 60_000 }).done;
    expect(result.code, explain(result)).toBe(1);
    expect(result.stderr).toMatch(/lost the connected job \(the link to the connected job \(from tcp:\/\/127\.0\.0\.1:\d+\) ended before it disconnected/);
    expect(result.ms).toBeLessThan(20_000);
  });

  it('a forged port token is refused with ERR_MPI_PORT, a malformed port name is ERR_MPI_ARG', async () => {
    const result = await ucxRun(1, 'mpi-dpm.mjs', ['wrong-token'], { ms: 30_000 }).done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson(result.stdout)).toEqual({
      rank: 0,
      outcome: expect.stringMatching(/^ERR_MPI_PORT: the port at tcp:\/\/\S+ refused the connection \(wrong port token\)$/),
      malformed: 'MPIError:ERR_MPI_ARG',
    });
  });
});

describe("mpi4py's DPM demos, as ported in docs/examples", () => {
  it('mpi-spawn-master.mjs spawns 5 mpi-spawn-worker.mjs and computes pi (demo/spawning)', async () => {
    const result = await start(NODE, [UCX_RUN, '-n', '1', 'node', path.join(EXAMPLES, 'mpi-spawn-master.mjs')], { ms: 60_000 }).done;
    expect(result.code, explain(result)).toBe(0);
    expect(result.stdout).toMatch(/mpi-spawn-master\.mjs -> .*mpi-spawn-worker\.mjs\npi: 3\.14160098692312\d\d, error: 0\.00000833333333\d\d\n/);
  });

  it('mpi-cpi-dpm.mjs, parent/child: the parent reads n from stdin and spawns 3 children (demo/compute-pi)', async () => {
    const result = await start(NODE, [UCX_RUN, '-n', '1', 'node', path.join(EXAMPLES, 'mpi-cpi-dpm.mjs'), '3'], { ms: 60_000, input: '100\n' }).done;
    expect(result.code, explain(result)).toBe(0);
    expect(result.stdout).toMatch(/computed pi is:  3\.14160098692312\d\d\nabsolute error:  0\.00000833333333\d\d\ncomputing units: 3 processes\n/);
  });

  it('mpi-cpi-dpm.mjs, client/server: a 3-rank server publishes "cpi", a client looks it up and connects', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-names-'));
    const env = { NODE_UCX_NAME_DIR: dir };
    const server = start(NODE, [UCX_RUN, '-n', '3', 'node', path.join(EXAMPLES, 'mpi-cpi-dpm.mjs'), 'server', '-v'], { env, ms: 60_000 });
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(path.join(dir, 'cpi.port')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const client = await start(NODE, [UCX_RUN, '-n', '1', 'node', path.join(EXAMPLES, 'mpi-cpi-dpm.mjs'), 'client', '-v'], { env, ms: 60_000, input: '200\n' })
      .done;
    const served = await server.done;
    expect(client.code, explain(client)).toBe(0);
    expect(served.code, explain(served)).toBe(0);
    expect(client.stdout).toMatch(
      /server connected\.[\s\S]*computed pi is:  3\.14159473692312\d\d\n[\s\S]*computing units: 3 processes\n[\s\S]*server disconnected\./,
    );
    expect(served.stdout).toMatch(
      /service 'cpi' published\.[\s\S]*client connection accepted\.[\s\S]*client disconnected\.\nservice 'cpi' unpublished\nclosed  port 'node-ucx-port:/,
    );
  });
});
