// The Dask side of the collections benchmarks: runs a Python snippet with dask on
// LocalCluster(n_workers=2, threads_per_worker=1) (worker processes, as node-ucx's LocalCluster)
// and times it there. A snippet defines `def bench():` (build the collection, compute it, return a
// small JSON-able value); the cluster is started (and warmed with one task and tiny array and bag
// computations) before the clock starts; bench() runs `repeat` times (default 2) and the fastest
// run counts (the first includes one-time costs: imports on the workers, JIT on node-ucx's side). Python: $DASK_PYTHON, else the first of python3 and
// /usr/bin/python3 that imports dask.distributed (DASK_PYTHON=none, or run.mjs --no-dask: node-ucx only) (Debian: apt-get install -y python3-distributed
// python3-dask python3-numpy).
import { spawn, spawnSync } from 'node:child_process';

const PREAMBLE = `
import json, sys, time, os, warnings, logging
warnings.filterwarnings('ignore')
logging.getLogger('distributed').setLevel(logging.ERROR)
import dask
from dask.distributed import LocalCluster, Client
if __name__ == '__main__':
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    client.submit(lambda: 1).result()
    try:
        import dask.array as _da, dask.bag as _db
        _da.ones(16, chunks=4).sum().compute()
        _db.from_sequence([1, 2, 3]).sum().compute()
    except ImportError:
        pass
`;

const POSTAMBLE = `
    ms = None
    for _ in range(REPEAT):
        start = time.perf_counter()
        value = bench()
        took = (time.perf_counter() - start) * 1000
        ms = took if ms is None else min(ms, took)
    print('\\n__BENCH__' + json.dumps({'ms': ms, 'value': value}, default=float), flush=True)
    client.close()
    cluster.close()
`;

/** Python that imports dask.distributed and has these modules, or null; `missing` says what is not there. */
function probe(modules) {
  if (process.env.DASK_PYTHON === 'none') return { python: null, version: null, missing: ['DASK_PYTHON=none (node-ucx only)'] };
  const candidates = [process.env.DASK_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
  const check = `import importlib, dask, distributed\nmissing = []\nfor m in ${JSON.stringify(modules)}:\n    try: importlib.import_module(m)\n    except Exception as e: missing.append(m + ': ' + str(e).splitlines()[0])\nprint(dask.__version__); print(';'.join(missing))`;
  let why = 'no python3 with dask.distributed (apt-get install -y python3-distributed python3-dask python3-numpy)';
  for (const python of candidates) {
    const run = spawnSync(python, ['-c', check], { encoding: 'utf8', timeout: 60_000 });
    if (run.status !== 0) continue;
    const [version, missing] = run.stdout.trim().split('\n');
    return { python, version, missing: (missing ?? '').split(';').filter(Boolean) };
  }
  return { python: null, version: null, missing: [why] };
}

/**
 * The helper benches get: `available(module)` (e.g. 'dask.array') and `reason(module)` when it is not,
 * and `time(code)`: { ms, value } of one bench() run, or null when dask (or the module) is missing or
 * the snippet failed (the reason is printed to stderr).
 */
export function createDask() {
  const found = probe(['numpy', 'dask.array', 'dask.bag', 'dask.dataframe', 'pandas']);
  const missingOf = (module) => found.missing.filter((m) => m.startsWith(`${module}:`) || found.python === null);
  return {
    python: found.python,
    version: found.version,
    available: (module) => found.python !== null && missingOf(module).length === 0,
    reason: (module) => (found.python === null ? found.missing[0] : (missingOf(module)[0] ?? null)),
    async time(code, { needs = [], repeat = 2, timeoutMs = 900_000 } = {}) {
      for (const module of needs) {
        if (found.python === null || missingOf(module).length > 0) {
          process.stderr.write(`[dask] not run: ${found.python === null ? found.missing[0] : missingOf(module)[0]}\n`);
          return null;
        }
      }
      const body = code
        .split('\n')
        .map((line) => `    ${line}`)
        .join('\n');
      const script = `${PREAMBLE}\n    REPEAT = ${Number(repeat)}\n${body}\n${POSTAMBLE}`;
      return new Promise((resolve) => {
        const child = spawn(found.python, ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.stdout.setEncoding('utf8').on('data', (chunk) => {
          out += chunk;
        });
        child.stderr.setEncoding('utf8').on('data', (chunk) => {
          err += chunk;
        });
        child.on('close', (status, signal) => {
          clearTimeout(timer);
          const line = out.split('\n').find((l) => l.startsWith('__BENCH__'));
          if (line === undefined) {
            process.stderr.write(`[dask] snippet failed (exit ${status ?? signal}):\n${err.split('\n').slice(-15).join('\n')}\n`);
            return resolve(null);
          }
          resolve(JSON.parse(line.slice('__BENCH__'.length)));
        });
      });
    },
  };
}
