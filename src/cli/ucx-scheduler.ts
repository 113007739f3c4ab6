#!/usr/bin/env node
// ucx-scheduler: runs a node-ucx/scheduler Scheduler until SIGINT or SIGTERM (dask-scheduler).
//
//   ucx-scheduler [--host HOST] [--port PORT] [--protocol ucx|tcp] [--scheduler-file PATH]
//
// Workers and clients need the address and the cluster secret: --scheduler-file writes both
// (mode 0600; removed on exit) for `ucx-worker --scheduler-file PATH` and `new Client({ schedulerFile })`;
// or the secret comes from NODE_UCX_CLUSTER_SECRET (base64), set for every process of the cluster.
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Scheduler as SchedulerType, SchedulerOptions } from '../scheduler/scheduler.js';

const USAGE = `usage: ucx-scheduler [options]

  --host HOST            the address to listen on (default: this host's first non-loopback IPv4
                         address; 0.0.0.0 listens on all and advertises that one)
  --port PORT            the port to listen on (default 8786; 0: any free port)
  --protocol ucx|tcp     the transport (default ucx)
  --scheduler-file PATH  write the address and the cluster secret there (mode 0600) for workers and
                         clients; removed when the scheduler stops
  --worker-saturation N  root-task queuing: tasks queued per worker thread (default 2; inf: off)
  --allowed-failures N   worker deaths a task may see before it fails as KilledWorker (default 3)
  --dashboard-port PORT  serve the read-only web dashboard and /metrics on PORT (0: any free port);
                         printed on stderr as 'Dashboard at: URL'
  --dashboard-host HOST  the dashboard's interface (default 127.0.0.1; anything else shows key names and
                         worker addresses to whoever can reach it)
  --version              node-ucx's version
  -h, --help             this text

The cluster secret is NODE_UCX_CLUSTER_SECRET (base64, removed from the environment once read) or, with
--scheduler-file, a fresh random one. The address is printed on stdout as 'Scheduler at: URL'.
SIGINT or SIGTERM closes the scheduler (its workers stop) and exits 0.

Exit codes: 0 closed by a signal, 1 an unexpected error, 2 bad usage, 3 cannot listen or write the file.`;

function die(message: string, code: number): never {
  process.stderr.write(`ucx-scheduler: ${message}\n`);
  process.exit(code);
}

function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function integer(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) die(`${flag} must be an integer from ${min} to ${max} (got '${text}')\n\n${USAGE}`, 2);
  return value;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        protocol: { type: 'string' },
        'scheduler-file': { type: 'string' },
        'worker-saturation': { type: 'string' },
        'allowed-failures': { type: 'string' },
        'dashboard-port': { type: 'string' },
        'dashboard-host': { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    die(`${(error as Error).message}\n\n${USAGE}`, 2);
  }
  const values = parsed.values;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    process.exit(0);
  }
  const protocol = values.protocol ?? 'ucx';
  if (protocol !== 'ucx' && protocol !== 'tcp') die(`--protocol must be ucx or tcp (got '${protocol}')`, 2);
  const port = integer('--port', values.port, 0, 65535) ?? 8786;
  const allowedFailures = integer('--allowed-failures', values['allowed-failures'], 0, 1_000_000);
  let workerSaturation: number | undefined;
  if (values['worker-saturation'] !== undefined) {
    const text = values['worker-saturation'];
    workerSaturation = text === 'inf' ? Infinity : Number(text);
    if (!(workerSaturation > 0)) die(`--worker-saturation must be a number above 0 or inf (got '${text}')`, 2);
  }
  const dashboardPort = integer('--dashboard-port', values['dashboard-port'], 0, 65535);
  if (values['dashboard-host'] !== undefined && dashboardPort === undefined) die('--dashboard-host needs --dashboard-port', 2);
  const dashboard: SchedulerOptions['dashboard'] =
    dashboardPort === undefined ? undefined : { port: dashboardPort, ...(values['dashboard-host'] !== undefined ? { host: values['dashboard-host'] } : {}) };

  const fromEnv = process.env.NODE_UCX_CLUSTER_SECRET;
  delete process.env.NODE_UCX_CLUSTER_SECRET;
  const schedulerFile = values['scheduler-file'];
  if ((fromEnv === undefined || fromEnv === '') && schedulerFile === undefined) {
    die(
      'nobody could join this scheduler: give --scheduler-file PATH (it holds the address and the cluster secret), ' +
        'or set NODE_UCX_CLUSTER_SECRET (base64, 16 bytes or more) for the scheduler, its workers and clients',
      2,
    );
  }
  let secret: Buffer;
  if (fromEnv !== undefined && fromEnv !== '') {
    secret = Buffer.from(fromEnv, 'base64');
    if (secret.length < 16 || !/^[A-Za-z0-9+/]+=*$/.test(fromEnv)) die('NODE_UCX_CLUSTER_SECRET must be base64 of 16 bytes or more', 2);
  } else {
    secret = randomBytes(32);
  }

  // The scheduler (and with it the native addon) is loaded only once the command line is known to be good.
  const { Scheduler } = await import('../scheduler/scheduler.js');
  const { writeSchedulerFile } = await import('../scheduler/scheduler-file.js');
  const { routableHost } = await import('../scheduler/task-worker.js');

  const host = values.host ?? routableHost();
  const wildcard = host === '0.0.0.0' || host === '::';
  const config = {
    ...(workerSaturation !== undefined ? { workerSaturation } : {}),
    ...(allowedFailures !== undefined ? { allowedFailures } : {}),
  };
  let scheduler: SchedulerType;
  try {
    scheduler = await Scheduler.start({
      address: `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}`,
      secret,
      config,
      ...(dashboard !== undefined ? { dashboard } : {}),
    });
  } catch (error) {
    die(`cannot listen on ${protocol}://${host}:${port}: ${(error as Error).message}`, 3);
  }
  // Signals are handled from here on: the scheduler file and the address come after, so whoever sees
  // them can stop the scheduler cleanly.
  let removeFile = (): void => {};
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) {
        // A second signal: no more waiting.
        removeFile();
        process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
      }
      stopping = true;
      process.stderr.write(`ucx-scheduler: ${signal}: closing\n`);
      removeFile();
      // Workers are told to close; a graceful close that waits on a peer that already left is not waited for long.
      const bound = new Promise((resolve) => setTimeout(resolve, 2_000).unref());
      void Promise.race([scheduler.close(), bound]).finally(() => process.exit(0));
    });
  }

  // Listening on every interface: workers and clients are told this host's routable address.
  const address = wildcard ? scheduler.address.replace(/\/\/[^/]*:(\d+)$/, `//${routableHost()}:$1`) : scheduler.address;
  if (schedulerFile !== undefined) {
    try {
      removeFile = writeSchedulerFile(schedulerFile, { address, secret });
    } catch (error) {
      await scheduler.close();
      die(`cannot write the scheduler file ${schedulerFile}: ${(error as Error).message}`, 3);
    }
  }
  process.on('exit', () => removeFile());
  scheduler.on('warning', (warning: unknown) => process.stderr.write(`ucx-scheduler: warning: ${String((warning as Error)?.message ?? warning)}\n`));
  scheduler.on('worker-added', (worker: string) => process.stderr.write(`ucx-scheduler: worker ${worker} joined\n`));
  scheduler.on('worker-removed', (worker: string, reason: string) => process.stderr.write(`ucx-scheduler: worker ${worker} left (${reason})\n`));
  process.stdout.write(`Scheduler at: ${address}\n`);
  if (schedulerFile !== undefined) process.stderr.write(`ucx-scheduler: scheduler file ${schedulerFile}\n`);
  if (scheduler.dashboardAddress !== null) process.stderr.write(`Dashboard at: ${scheduler.dashboardAddress}\n`);
}

main().catch((error: unknown) => die(String((error as Error)?.stack ?? error), 1));
