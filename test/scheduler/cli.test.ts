// The ucx-scheduler and ucx-worker CLIs: usage, the scheduler file (0600, removed on exit), a scheduler and
// workers as processes with a client by file, the nanny's restarts, and the errors with their exit codes.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { start, explain, ROOT } from '../mpi/job.js';
import { NODE, SCHEDULER, WORKER, NO_LAUNCHER, tempDir, outputMatch, startScheduler, clientByFile } from './launch-helpers.js';

describe('ucx-scheduler and ucx-worker', () => {
  it('--help and --version exit 0; bad usage exits 2 with the reason', async () => {
    for (const cli of [SCHEDULER, WORKER]) {
      const help = await start(NODE, [cli, '--help']).done;
      expect(help.code, explain(help)).toBe(0);
      expect(help.stdout).toMatch(/^usage: ucx-(scheduler|worker)/);
      const version = await start(NODE, [cli, '--version']).done;
      expect(version.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
      const bogus = await start(NODE, [cli, '--bogus']).done;
      expect(bogus.code, explain(bogus)).toBe(2);
      expect(bogus.stderr).toMatch(/Unknown option '--bogus'/);
    }
    const cases: [string[], RegExp][] = [
      [[SCHEDULER, '--protocol', 'udp', '--scheduler-file', '/tmp/x'], /--protocol must be ucx or tcp/],
      [[SCHEDULER, '--port', '70000', '--scheduler-file', '/tmp/x'], /--port must be an integer/],
      [[SCHEDULER], /nobody could join this scheduler: give --scheduler-file/],
      [[SCHEDULER, '--scheduler-file', '/tmp/x', '--dashboard-host', '0.0.0.0'], /--dashboard-host needs --dashboard-port/],
      [[SCHEDULER, '--scheduler-file', '/tmp/x', '--dashboard-port', '70000'], /--dashboard-port must be an integer/],
      [[WORKER], /give a scheduler URL or --scheduler-file/],
      [[WORKER, 'ucx://127.0.0.1:1', '--scheduler-file', '/tmp/x'], /one of them/],
      [[WORKER, 'http://127.0.0.1:1'], /is not a scheduler URL/],
      [[WORKER, 'ucx://127.0.0.1:1'], /no cluster secret/],
      [[WORKER, '--scheduler-file', '/tmp/x', '--memory-limit', 'lots'], /--memory-limit: .*not a memory size/],
      [[WORKER, '--scheduler-file', '/tmp/x', '--resources', 'GPU'], /--resources: .*not NAME=NUMBER/],
      [[WORKER, '--scheduler-file', '/tmp/x', '--nthreads', '0'], /--nthreads must be an integer/],
      [[WORKER, '--scheduler-file', '/tmp/x', '--nanny', '--no-nanny'], /contradict/],
    ];
    for (const [args, message] of cases) {
      const result = await start(NODE, args, { env: NO_LAUNCHER }).done;
      expect(result.code, explain(result)).toBe(2);
      expect(result.stderr).toMatch(message);
    }
  });

  it('writes the scheduler file with mode 0600 (address and secret), and on SIGTERM closes, removes it and exits 0', async () => {
    const file = path.join(tempDir(), 'scheduler.json');
    const { job, address } = await startScheduler(file);
    expect(address).toMatch(/^ucx:\/\/127\.0\.0\.1:\d+$/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const contents = JSON.parse(fs.readFileSync(file, 'utf8')) as { address: string; secret: string; pid: number };
    expect(contents.address).toBe(address);
    expect(Buffer.from(contents.secret, 'base64').length).toBe(32);
    expect(contents.pid).toBe(job.child.pid);
    // The secret is on no command line.
    expect(fs.readFileSync(`/proc/${job.child.pid}/cmdline`, 'utf8')).not.toContain(contents.secret);
    job.child.kill('SIGTERM');
    const result = await job.done;
    expect(result.code, explain(result)).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('--dashboard-port serves the dashboard and /metrics, on loopback unless told otherwise', async () => {
    const file = path.join(tempDir(), 'scheduler.json');
    const job = start(NODE, [SCHEDULER, '--host', '127.0.0.1', '--port', '0', '--scheduler-file', file, '--dashboard-port', '0'], {
      env: NO_LAUNCHER,
      ms: 90_000,
    });
    const [, url] = await outputMatch(job, 'stderr', /Dashboard at: (\S+)/);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const metrics = await fetch(new URL('metrics', url));
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^# (HELP|TYPE) /m);
    job.child.kill('SIGTERM');
    expect((await job.done).code).toBe(0);
  });

  it.each(['ucx', 'tcp'])('a scheduler and two workers as processes (%s), a client by the scheduler file; SIGTERM ends them all with 0', async (protocol) => {
    const file = path.join(tempDir(), 'scheduler.json');
    // The workers start first and wait for the file (as under a batch system).
    const workers = [
      start(NODE, [WORKER, '--scheduler-file', file, '--name', 'nannied', '--memory-limit', '2GiB', '--resources', 'GPU=1'], { env: NO_LAUNCHER, ms: 90_000 }),
      start(NODE, [WORKER, '--scheduler-file', file, '--name', 'plain', '--no-nanny', '--nthreads', '2'], { env: NO_LAUNCHER, ms: 90_000 }),
    ];
    const joined = workers.map((w) => outputMatch(w, 'stderr', /joined/));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { job } = await startScheduler(file, ['--protocol', protocol]);
    await Promise.all(joined);
    const report = await clientByFile(file);
    expect(report.workers).toEqual({
      nannied: { nthreads: 1, memoryLimit: 2 ** 31, resources: { GPU: 1 } },
      plain: { nthreads: 2, memoryLimit: expect.any(Number), resources: {} },
    });
    expect(report.total).toBe(328350);
    expect(report.gpu).toBe('nannied');
    expect(report.secretInEnv).toBe(false);
    job.child.kill('SIGTERM');
    for (const result of await Promise.all([job.done, ...workers.map((w) => w.done)])) expect(result.code, explain(result)).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('the nanny restarts a worker that was SIGKILLed; the new one joins and works', async () => {
    const file = path.join(tempDir(), 'scheduler.json');
    const { job } = await startScheduler(file);
    const worker = start(NODE, [WORKER, '--scheduler-file', file, '--name', 'phoenix'], { env: NO_LAUNCHER, ms: 90_000 });
    const first = await outputMatch(worker, 'stderr', /\(pid (\d+)\) at \S+ joined/);
    const pid = Number(first[1]);
    const restarted = outputMatch(worker, 'stderr', /restarting the worker[\s\S]*?\(pid (\d+)\) at \S+ joined/);
    process.kill(pid, 'SIGKILL');
    const again = await restarted;
    expect(Number(again[1])).not.toBe(pid);
    const report = await clientByFile(file);
    expect(Object.keys(report.workers)).toEqual(['phoenix']);
    expect(report.total).toBe(328350);
    job.child.kill('SIGTERM');
    expect((await worker.done).code).toBe(0);
    expect((await job.done).code).toBe(0);
  });

  it('clear errors with exit codes: no scheduler file (3), not a scheduler file (3), unreachable (4)', async () => {
    const dir = tempDir();
    const missing = await start(NODE, [WORKER, '--scheduler-file', path.join(dir, 'none.json'), '--timeout', '0.5'], { env: NO_LAUNCHER }).done;
    expect(missing.code, explain(missing)).toBe(3);
    expect(missing.stderr).toMatch(/there is no scheduler file at .*none\.json \(waited/);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"address": 5}');
    const bad = await start(NODE, [WORKER, '--scheduler-file', path.join(dir, 'bad.json')], { env: NO_LAUNCHER }).done;
    expect(bad.code, explain(bad)).toBe(3);
    expect(bad.stderr).toMatch(/is not a scheduler file/);
    const secret = Buffer.alloc(32, 9).toString('base64');
    const unreachable = await start(NODE, [WORKER, 'tcp://127.0.0.1:1', '--timeout', '1'], { env: { ...NO_LAUNCHER, NODE_UCX_CLUSTER_SECRET: secret } }).done;
    expect(unreachable.code, explain(unreachable)).toBe(4);
    expect(unreachable.stderr).toMatch(/cannot reach the scheduler at tcp:\/\/127\.0\.0\.1:1/);
  }, 120_000);

  it('a worker with the wrong secret exits 5 (with and without a nanny); one given the right secret in the environment joins', async () => {
    const secret = Buffer.alloc(32, 9).toString('base64');
    const file = path.join(tempDir(), 'scheduler.json');
    const { job, address } = await startScheduler(file);
    for (const nanny of ['--nanny', '--no-nanny']) {
      const refused = await start(NODE, [WORKER, address, nanny], { env: { ...NO_LAUNCHER, NODE_UCX_CLUSTER_SECRET: secret } }).done;
      expect(refused.code, explain(refused)).toBe(5);
      expect(refused.stderr).toMatch(/refused this worker.*wrong or no cluster secret/);
    }
    // A scheduler whose secret came from the environment: a worker given it the same way joins.
    job.child.kill('SIGTERM');
    expect((await job.done).code).toBe(0);
    const sched = start(NODE, [SCHEDULER, '--host', '127.0.0.1', '--port', '0', '--protocol', 'tcp'], {
      env: { ...NO_LAUNCHER, NODE_UCX_CLUSTER_SECRET: secret },
      ms: 60_000,
    });
    const [, url] = await outputMatch(sched, 'stdout', /Scheduler at: (\S+)/);
    const worker = start(NODE, [WORKER, url!, '--no-nanny'], { env: { ...NO_LAUNCHER, NODE_UCX_CLUSTER_SECRET: secret }, ms: 60_000 });
    await outputMatch(worker, 'stderr', /joined/);
    sched.child.kill('SIGINT');
    expect((await sched.done).code).toBe(0);
    expect((await worker.done).code).toBe(0);
  }, 120_000);
});
