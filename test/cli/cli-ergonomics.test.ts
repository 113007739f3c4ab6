// ucx-bench and ucx-run as a person uses them: Ctrl-C keeps what was measured, the plot tells every
// test apart and labels every size, JSON and CSV name their columns alike; ucx-run parses its
// options with util.parseArgs, says its version, and catches a script given as the command.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { renderPlotSvg, seriesFromRows, colorOf, MARKERS } from '../../dist/cli/bench/plot.js';
import { csvColumns, flattenRow, renderCsv, rowToJson, toRow, attachRaw, attachNet } from '../../dist/cli/bench/report.js';

const ROOT = path.resolve(__dirname, '..', '..');
const BENCH = path.join(ROOT, 'dist', 'cli', 'ucx-bench.js');
const RUN = path.join(ROOT, 'dist', 'cli', 'ucx-run.js');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Runs ucx-bench until its progress says the second measurement started, then sends it SIGINT. */
function interruptBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BENCH, ...args], { cwd: ROOT, env: { ...process.env, NODE_UCX_BENCH_PROGRESS: '1' } });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no progress in 60 s:\n${stderr}`));
    }, 60_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (!sent && /^\[2\/\d+\] /m.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('ucx-bench', () => {
  // Many sizes, a few thousand round trips each: the first finishes quickly, the whole run takes long.
  const slow = ['-t', 'tag_lat', '-s', '8:4M:x2', '-n', '3000', '-w', '10'];
  const TOTAL = 20;

  it('Ctrl-C prints the table of what was measured so far, one clean line, and exits 130', async () => {
    const r = await interruptBench(slow);
    expect(r.code, r.stderr).toBe(130);
    const said = /\nucx-bench: interrupted after (\d+) of (\d+) measurements; the rows above are the (\d+) finished\n$/.exec(r.stderr);
    expect(said, r.stderr).not.toBeNull();
    const finished = Number(said![1]);
    expect(Number(said![2])).toBe(TOTAL);
    expect(finished).toBeGreaterThanOrEqual(1);
    expect(finished).toBeLessThan(TOTAL);
    expect(r.stdout).toMatch(/^test\s+size\s+iters\s+p50 µs/m);
    expect(r.stdout.match(/^tag_lat\s/gm)).toHaveLength(finished);
    expect(r.stdout).toMatch(/^tag_lat\s+8\s+3000\s/m);
    expect(r.stderr).not.toMatch(/Error|at .*\.js:\d+/);
  }, 90_000);

  it('Ctrl-C with --json still writes valid JSON, marked interrupted', async () => {
    const r = await interruptBench([...slow, '--json']);
    expect(r.code, r.stderr).toBe(130);
    const report = JSON.parse(r.stdout) as { interrupted: { finished: number; of: number }; results: { size: number }[] };
    expect(report.interrupted.of).toBe(TOTAL);
    expect(report.interrupted.finished).toBeGreaterThanOrEqual(1);
    expect(report.results).toHaveLength(report.interrupted.finished);
    expect(report.results[0]!.size).toBe(8);
  }, 90_000);

  it('JSON and CSV use the same column names (CSV: the JSON fields, nested ones joined with _)', () => {
    const c = { test: 'tag_lat' as const, size: 8, iters: 2, warmup: 0, window: 1, mem: 'host' as const };
    const row = toRow(c, { samples: Float64Array.from([2, 2]), totalUs: 4, check: null }, 99);
    attachRaw(row, { test: 'tag_lat', iters: 2, latP50Us: 1, latAvgUs: 1, bwMBps: 8, msgRate: 5e5 });
    attachNet(row, { latP50Us: 8, latAvgUs: 8, bwMBps: 1, msgRate: 1 });
    row.runs = [2, 3];
    const opts = { percentile: 99, compare: true, baseline: true };
    const json = flattenRow(rowToJson(row));
    const [header, line] = renderCsv([row], opts).trim().split('\n');
    expect(header!.split(',')).toEqual(csvColumns(opts, [row]));
    for (const column of header!.split(',')) {
      if (!column.endsWith('_error')) expect(Object.keys(json), column).toContain(column);
    }
    for (const key of Object.keys(json)) expect(header!.split(','), key).toContain(key);
    expect(line).toContain(',99,'); // the percentile is a column, not part of a name
    expect(header).not.toMatch(/lat_p99/);
  });

  it('the plot gives every test its own colour and marker, and labels every size', () => {
    const tests = [
      'tag_lat',
      'tag_bw',
      'stream_lat',
      'stream_bw',
      'am_lat',
      'am_bw',
      'put_lat',
      'put_bw',
      'get_lat',
      'get_bw',
      'atomic_lat',
      'obj_lat',
      'msg_lat',
      'msg_bw',
    ];
    const sizes = [8, 64, 512, 4096, 32768, 262144, 2097152];
    const rows = tests.flatMap((test, i) => sizes.map((size) => ({ test, size, latP50Us: 1 + i + size / 1e4, bwMBps: size / (1 + i) })));
    const svg = renderPlotSvg(seriesFromRows(rows));
    const legend = [...svg.matchAll(/<g class="series" data-test="([^"]+)" data-source="node-ucx" data-color="([^"]+)" data-marker="([^"]+)">/g)];
    expect(legend.map((m) => m[1])).toEqual(tests);
    expect(new Set(legend.map((m) => m[2])).size, 'colours').toBe(tests.length);
    expect(new Set(legend.map((m) => `${m[2]} ${m[3]}`)).size, 'colour and marker').toBe(tests.length);
    expect(new Set(legend.map((m) => m[3])).size, 'markers').toBe(Math.min(tests.length, MARKERS.length));
    for (const label of ['8', '64', '512', '4K', '32K', '256K', '2M']) {
      expect(svg.match(new RegExp(`class="size-label"[^>]*>${label}</text>`, 'g')), label).toHaveLength(2); // both panels
    }
    expect(new Set(Array.from({ length: 40 }, (_, i) => colorOf(i))).size).toBe(40);
  });
});

describe('ucx-run', () => {
  const ucxRun = (...args: string[]) => spawnSync(process.execPath, [RUN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });

  it("--version and -V print node-ucx's version", () => {
    for (const flag of ['--version', '-V']) {
      const r = ucxRun(flag);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`ucx-run (node-ucx) ${VERSION}\n`);
    }
  });

  it('a script where the command goes: "did you mean: ucx-run -n 2 node app.mjs"', () => {
    const r = ucxRun('-n', '2', 'app.mjs');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("ucx-run: 'app.mjs' is a script, not a command: did you mean: ucx-run -n 2 node app.mjs\n");
    const withArgs = ucxRun('-np', '3', '--tag-output', 'docs/examples/mpi-hello.mjs', '--flag');
    expect(withArgs.stderr).toContain('did you mean: ucx-run -np 3 --tag-output node docs/examples/mpi-hello.mjs --flag');
  });

  it('parses its options with util.parseArgs: -n N, -np N, -n=N, --np=N, -c N, --timeout=S, and stops at the command', () => {
    for (const args of [['-n', '2'], ['-np', '2'], ['-n=2'], ['--np=2'], ['-c', '2'], ['--timeout=20', '-n', '2'], ['-n', '2', '--']]) {
      const r = ucxRun(...args, 'node', '-e', 'console.log(process.env.NODE_UCX_SIZE, process.argv.slice(1).join(" "))', '--', '-n', '7', '--x');
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      // -n 7 and --x belong to the command, not to ucx-run.
      expect(r.stdout.trim().split('\n')).toEqual(['2 -n 7 --x', '2 -n 7 --x']);
    }
  });

  it('says what is wrong with bad usage, exit code 2', () => {
    for (const [args, message] of [
      [['--bogus', '-n', '1', 'node'], /^ucx-run: unknown option --bogus\n/],
      [['-n'], /^ucx-run: -n needs a value\n/],
      [['-n', 'two', 'node'], /^ucx-run: -n must be an integer from 1 to 4096\n/],
      [['node'], /^ucx-run: -n N is required\n/],
      [['-n', '2'], /^ucx-run: no command to run\n/],
      [['--timeout', '-1', '-n', '1', 'node'], /^ucx-run: --timeout/],
    ] as const) {
      const r = ucxRun(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});
