#!/usr/bin/env node
// The ucx-bench executable. UCX writes its log to stdout unless told otherwise, which would
// corrupt --json and --csv output: send it to stderr (unless the user chose). UCX reads this when
// the addon loads, so the rest comes in by dynamic import, after it is set.
process.env.UCX_LOG_FILE ??= 'stderr';
// The default loopback run (no --server/--client) measures the loopback device only: UCX would
// otherwise add the host's other interfaces as extra rails. The spawned peer inherits this.
const args = process.argv.slice(2);
if (!args.some((a) => a === '--server' || a === '--client' || a.startsWith('--client='))) {
  process.env.UCX_NET_DEVICES ??= 'lo';
}
// --pin: this process runs on CPU 1 (its peer, started with the same flag, on CPU 0): re-run under taskset.
if (args.includes('--pin') && process.env.NODE_UCX_BENCH_PINNED === undefined && !args.includes('--peer')) {
  const { spawnSync } = await import('node:child_process');
  const pinned = spawnSync('taskset', ['-c', '1', process.execPath, ...process.execArgv, process.argv[1]!, ...args], {
    stdio: 'inherit',
    env: { ...process.env, NODE_UCX_BENCH_PINNED: '1' },
  });
  if (pinned.error !== undefined) {
    process.stderr.write(`ucx-bench: --pin needs taskset (util-linux): ${pinned.error.message}\n`);
    process.exit(2);
  }
  process.exit(pinned.status ?? 1);
}
const { run } = await import('./bench/cli.js');
await run(args);
