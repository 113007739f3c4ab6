// ucx-run --hosts through a launcher agent, on this machine (test/mpi/fixtures/local-agent.sh runs the
// agent's command here, as ssh to localhost would): remote ranks join, their output and exit codes come
// back, signals reach them, and an agent that fails or dies ends the job instead of hanging it.
// test/net/mpi-hosts.test.ts does the same across network namespaces.
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { start, lastJson, explain, UCX_RUN, FIXTURES } from './job.js';

const NODE = process.execPath;
const AGENT = path.join(FIXTURES, 'local-agent.sh');
const ENV = { NODE_UCX_RANK: undefined, NODE_UCX_SIZE: undefined, NODE_UCX_RENDEZVOUS: undefined };

function hostsRun(hosts: string, args: string[], opts: { agent?: string; launcherArgs?: string[]; ms?: number } = {}) {
  return start(NODE, [UCX_RUN, '--hosts', hosts, '--launcher-agent', opts.agent ?? AGENT, ...(opts.launcherArgs ?? []), ...args], {
    env: ENV,
    ms: opts.ms ?? 30_000,
  });
}

describe('ucx-run --hosts through a launcher agent', () => {
  it("ranks on an agent's host join the ranks started here; NODE_UCX_HOST and the local rank and size are per host", async () => {
    const script =
      'const e = process.env; console.log(JSON.stringify({ r: e.NODE_UCX_RANK, h: e.NODE_UCX_HOST, lr: e.NODE_UCX_LOCAL_RANK, ls: e.NODE_UCX_LOCAL_SIZE }))';
    const env = await hostsRun('localhost:1,elsewhere:2', ['node', '-e', script]).done;
    expect(env.code, explain(env)).toBe(0);
    const lines = env.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>)
      .sort((a, b) => Number(a.r) - Number(b.r));
    expect(lines).toEqual([
      { r: '0', h: 'localhost', lr: '0', ls: '1' },
      { r: '1', h: 'elsewhere', lr: '0', ls: '2' },
      { r: '2', h: 'elsewhere', lr: '1', ls: '2' },
    ]);
    const result = await hostsRun('localhost:2,elsewhere:2', ['node', path.join(FIXTURES, 'mpi-bootstrap.mjs')]).done;
    expect(result.code, explain(result)).toBe(0);
    expect(lastJson(result.stdout)).toMatchObject({ ok: true, size: 4 });
  });

  it("--tag-output prefixes the remote ranks' lines too", async () => {
    const result = await hostsRun('elsewhere:2', ['node', '-e', 'console.log("out"); console.error("err")'], { launcherArgs: ['--tag-output'] }).done;
    expect(result.code, explain(result)).toBe(0);
    expect(result.stdout).toContain('[0] out\n');
    expect(result.stdout).toContain('[1] out\n');
    expect(result.stderr).toContain('[1] err\n');
  });

  it('a remote rank that fails ends the job with its code, naming its host', async () => {
    const result = await hostsRun('localhost:2,elsewhere:2', ['node', path.join(FIXTURES, 'mpi-fail.mjs'), 'exit', '3']).done;
    expect(result.code, explain(result)).toBe(3);
    expect(result.stderr).toMatch(/ucx-run: rank 3 on elsewhere exited with code 3; terminating the other ranks/);
    expect(result.ms).toBeLessThan(15_000);
  });

  it('SIGINT reaches the remote ranks', async () => {
    const job = hostsRun('elsewhere:2', [
      'node',
      '-e',
      'process.on("SIGINT", () => { console.log(JSON.stringify({ sigint: process.env.NODE_UCX_RANK })); process.exit(0); }); console.log(JSON.stringify({ ready: process.env.NODE_UCX_RANK })); setInterval(() => {}, 1000)',
    ]);
    await job.line<{ ready?: string }>((v) => v.ready === '0');
    await job.line<{ ready?: string }>((v) => v.ready === '1');
    job.child.kill('SIGINT');
    const result = await job.done;
    expect(result.code, explain(result)).toBe(130);
    expect(result.stdout).toContain('{"sigint":"0"}');
    expect(result.stdout).toContain('{"sigint":"1"}');
  });

  it('an agent that cannot run, or exits at once, ends the job with a message instead of waiting for its ranks', async () => {
    const missing = await hostsRun('elsewhere:1', ['node', '-e', ''], { agent: '/nonexistent/agent' }).done;
    expect(missing.code, explain(missing)).toBe(127);
    expect(missing.stderr).toMatch(/cannot run the launcher agent '\/nonexistent\/agent' for host elsewhere/);
    const failing = await hostsRun('localhost:1,elsewhere:1', ['node', path.join(FIXTURES, 'mpi-bootstrap.mjs')], { agent: 'false' }).done;
    expect(failing.code, explain(failing)).toBe(1);
    expect(failing.stderr).toMatch(/lost the launcher agent of host elsewhere \(exit code 1\) with rank 1 still running/);
    expect(failing.ms).toBeLessThan(15_000);
  });
});
