#!/usr/bin/env node
// ucx-worker: runs a node-ucx/scheduler worker that joins a scheduler (dask-worker).
//
//   ucx-worker [options] SCHEDULER_URL        (the secret in NODE_UCX_CLUSTER_SECRET)
//   ucx-worker [options] --scheduler-file PATH
//
// By default this process is the worker's nanny: the worker runs in a child process that is restarted if
// it dies or outgrows its memory limit. Under a batch system one task per worker is the usual form:
//   srun -n 3 ucx-worker --scheduler-file ~/sched.json
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import type { TaskWorker as TaskWorkerType } from '../scheduler/task-worker.js';

const USAGE = `usage: ucx-worker [options] SCHEDULER_URL
       ucx-worker [options] --scheduler-file PATH

  --scheduler-file PATH  the scheduler's file (address and cluster secret), waited for if not there yet
  --nthreads N           threads that run tasks (default 1)
  --memory-limit LIMIT   bytes, 4GiB, 4GB, 80%, 0.8 (of this host's memory), auto (memory × nthreads/CPUs,
                         the default) or 0 (none). Results spill to disk past 60 %, tasks pause past 80 %;
                         the nanny restarts the worker past 95 %
  --name NAME            the worker's name (default: its address)
  --resources SPEC       resources tasks may ask for: GPU=1,MEM=4e9
  --host HOST            the address to listen on for peers (default: as the scheduler's, on this host)
  --nanny / --no-nanny   supervise the worker in a child process and restart it if it dies (default),
                         or be the worker
  --timeout SECONDS      how long to wait for the scheduler file and the scheduler (default 60)
  --version              node-ucx's version
  -h, --help             this text

With a URL, the cluster secret is NODE_UCX_CLUSTER_SECRET (base64), removed from the environment once read.
The worker stops (exit 0) when the scheduler closes it, or on SIGINT or SIGTERM.

Exit codes: 0 closed, 1 an unexpected error, 2 bad usage, 3 no scheduler file (or not one),
4 the scheduler cannot be reached, 5 the scheduler refused this worker (wrong cluster secret).`;

const EXIT = { usage: 2, file: 3, unreachable: 4, refused: 5 } as const;

function die(message: string, code: number): never {
  process.stderr.write(`ucx-worker: ${message}\n`);
  process.exit(code);
}

function log(message: string): void {
  process.stderr.write(`ucx-worker: ${message}\n`);
}

function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      options: {
        'scheduler-file': { type: 'string' },
        nthreads: { type: 'string' },
        'memory-limit': { type: 'string' },
        name: { type: 'string' },
        resources: { type: 'string' },
        host: { type: 'string' },
        nanny: { type: 'boolean' },
        'no-nanny': { type: 'boolean' },
        timeout: { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    die(`${(error as Error).message}\n\n${USAGE}`, EXIT.usage);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    process.exit(0);
  }
  const file = values['scheduler-file'];
  if (positionals.length > 1) die(`one scheduler URL, not ${positionals.length}\n\n${USAGE}`, EXIT.usage);
  const url = positionals[0];
  if ((url === undefined) === (file === undefined)) die(`give a scheduler URL or --scheduler-file PATH (one of them)\n\n${USAGE}`, EXIT.usage);
  if (url !== undefined && !/^(ucx|tcp):\/\/[^/]+:\d+\/?$/.test(url)) die(`'${url}' is not a scheduler URL (ucx://host:port or tcp://host:port)`, EXIT.usage);
  if (values.nanny && values['no-nanny']) die('--nanny and --no-nanny contradict each other', EXIT.usage);
  const nanny = values['no-nanny'] !== true;
  const nthreads = Number(values.nthreads ?? 1);
  if (!Number.isInteger(nthreads) || nthreads < 1 || nthreads > 1024)
    die(`--nthreads must be an integer from 1 to 1024 (got '${values.nthreads}')`, EXIT.usage);
  const timeoutS = Number(values.timeout ?? 60);
  if (!(timeoutS > 0)) die(`--timeout must be a number of seconds above 0 (got '${values.timeout}')`, EXIT.usage);
  const timeoutMs = Math.round(timeoutS * 1000);

  const { parseMemoryLimit, parseResources } = await import('../scheduler/launch.js');
  const parse = <T>(flag: string, fn: () => T): T => {
    try {
      return fn();
    } catch (error) {
      die(`${flag}: ${(error as Error).message}`, EXIT.usage);
    }
  };
  const memoryLimit = parse('--memory-limit', () => parseMemoryLimit(values['memory-limit'] ?? 'auto', nthreads));
  const resources = values.resources === undefined ? undefined : parse('--resources', () => parseResources(values.resources!));

  // The secret: from the scheduler file, or the environment (which must not pass it on to what this process runs).
  const fromEnv = process.env.NODE_UCX_CLUSTER_SECRET;
  delete process.env.NODE_UCX_CLUSTER_SECRET;
  let address: string;
  let secret: Buffer;
  if (file !== undefined) {
    const { waitForSchedulerFile } = await import('../scheduler/scheduler-file.js');
    try {
      ({ address, secret } = await waitForSchedulerFile(file, timeoutMs));
    } catch (error) {
      die((error as Error).message, EXIT.file);
    }
  } else {
    if (fromEnv === undefined || fromEnv === '') die('no cluster secret: set NODE_UCX_CLUSTER_SECRET (base64), or use --scheduler-file PATH', EXIT.usage);
    secret = Buffer.from(fromEnv, 'base64');
    if (secret.length < 16) die('NODE_UCX_CLUSTER_SECRET must be base64 of 16 bytes or more', EXIT.usage);
    address = url!;
  }

  // Before starting anything, make sure the scheduler is there and lets this cluster's secret in (a clear
  // error and exit code, rather than a worker process that fails and a nanny that gives up). The probe
  // joins as a worker and leaves without registering: the scheduler takes no notice of it.
  const { connectRpc, Router, RpcError } = await import('../rpc/index.js');
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      const probe = await connectRpc(address, {
        secret,
        self: { name: `ucx-worker-probe-${process.pid}`, role: 'worker' },
        router: new Router(() => {}),
        timeoutMs: Math.max(1_000, Math.min(5_000, deadline - Date.now())),
      });
      probe.abort();
      break;
    } catch (error) {
      if (error instanceof RpcError && error.code === 'ERR_RPC_AUTH') {
        die(`the scheduler at ${address} refused this worker: ${error.message}`, EXIT.refused);
      }
      if (Date.now() >= deadline) die(`cannot reach the scheduler at ${address} (tried for ${timeoutS} s): ${(error as Error).message}`, EXIT.unreachable);
      if (attempt === 0) log(`waiting for the scheduler at ${address}: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 100 * 2 ** attempt)));
    }
  }

  const worker = {
    nthreads,
    memoryLimit,
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(resources !== undefined ? { resources } : {}),
    ...(values.host !== undefined ? { listen: `${address.split(':')[0]}://${values.host}:0` } : {}),
  };
  const described = `${nthreads} thread${nthreads === 1 ? '' : 's'}, memory limit ${memoryLimit > 0 ? `${(memoryLimit / 2 ** 30).toFixed(2)} GiB` : 'none'}`;

  if (!nanny) {
    const { TaskWorker } = await import('../scheduler/task-worker.js');
    let task: TaskWorkerType;
    try {
      task = await TaskWorker.start({ ...worker, scheduler: address, secret });
    } catch (error) {
      const refused = error instanceof RpcError && error.code === 'ERR_RPC_AUTH';
      die(`cannot join the scheduler at ${address}: ${(error as Error).message}`, refused ? EXIT.refused : EXIT.unreachable);
    }
    log(`worker ${task.name} at ${task.address} joined ${address} (${described})`);
    task.once('close', (reason: string) => {
      log(`closed: ${reason}`);
      process.exit(0);
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        log(`${signal}: closing`);
        const bound = new Promise((resolve) => setTimeout(resolve, 2_000).unref());
        void Promise.race([task.close(signal), bound]).finally(() => process.exit(0));
      });
    }
    return;
  }

  const { Nanny } = await import('../scheduler/nanny.js');
  const supervisor = new Nanny({ scheduler: address, secret, worker });
  let stopping = false;
  supervisor.on('ready', (at: string) => log(`worker ${values.name ?? at} (pid ${supervisor.pid}) at ${at} joined ${address} (${described})`));
  supervisor.on('restart', (reason: string) => log(`restarting the worker: ${reason}`));
  supervisor.on('error', (error: unknown) => {
    // A restart that could not join: the scheduler is gone.
    die(`the worker could not rejoin ${address}: ${(error as Error).message}`, EXIT.unreachable);
  });
  supervisor.on('exit', (code: number | null, signal: string | null, restarting: boolean) => {
    if (restarting) return;
    if (stopping || code === 0) {
      log(stopping ? 'closed' : 'the worker was closed by the scheduler');
      process.exit(0);
    }
    die(`the worker exited (${signal ?? code}) and is not restarted`, code === 3 ? EXIT.unreachable : 1);
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: closing`);
      void supervisor.close().finally(() => process.exit(0));
    });
  }
  try {
    await supervisor.start();
  } catch (error) {
    if (stopping) return;
    die(`the worker did not start: ${(error as Error).message}`, EXIT.unreachable);
  }
}

main().catch((error: unknown) => die(String((error as Error)?.stack ?? error), 1));
