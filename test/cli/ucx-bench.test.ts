// ucx-bench: argument and size parsing (unit), output formats, and short real
// loopback runs of every test, started the way users start it (node dist/cli/ucx-bench.js).
import { describe, it, expect, afterEach } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import {
  parseSize,
  parseSizes,
  parseBenchArgs,
  planCases,
  windowCounts,
  formatSize,
  parseHostPort,
  UsageError,
  DEFAULT_TESTS,
  TEST_NAMES,
  DEFAULT_WINDOW,
  TESTS,
  HOST_MEMORY_TESTS,
} from '../../dist/cli/bench/args.js';
import { parsePerftestRow, parseUcxInfoDevices, findExecutable } from '../../dist/cli/bench/perftest.js';
import { attachNet, percentile, renderCsv, renderMarkdown, renderTable, toRow } from '../../dist/cli/bench/report.js';
import { renderPlotFile, renderPlotSvg, seriesFromRows } from '../../dist/cli/bench/plot.js';
import { REPORT_END, REPORT_START, renderTargetBlock, replaceReportBlock } from '../../dist/cli/bench/doc.js';
import { REPORT_TABLES, targetRows } from '../../dist/cli/bench/doc-run.js';
import { XMLValidator } from './xml-check.js';
import { Context, version } from 'node-ucx';
import * as cuda from 'node-ucx/cuda';

const CLI = path.resolve(__dirname, '../../dist/cli/ucx-bench.js');
const HAVE_PERFTEST = findExecutable('ucx_perftest') !== null;
/** --mem cuda needs a UCX built with CUDA and a GPU; the real --mem cuda run is where both exist. */
const cudaUsable = ((): boolean => {
  const context = new Context();
  try {
    return context.memoryTypes.includes('cuda') && cuda.available().ok;
  } finally {
    context.close();
  }
})();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion; fails the test (with its stderr) if it takes longer than `ms`. */
function bench(args: string[], ms = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: ms, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error && error.killed) reject(new Error(`ucx-bench ${args.join(' ')} did not finish within ${ms} ms; stderr:\n${stderr}`));
      else resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

interface JsonRow {
  test: string;
  size: number;
  iters: number;
  window: number | null;
  lat_p50_us: number;
  lat_avg_us: number;
  lat_pct_us: number;
  bw_MBps: number;
  msg_rate: number;
  check: string | null;
  raw?: { tool: string; lat_p50_us: number; bw_MBps: number } | { error: string } | null;
  ratio?: number | null;
  runs?: number[];
}
interface JsonReport {
  tool: string;
  version: { ucx: string };
  transports: string[];
  results: JsonRow[];
  perftest: unknown;
}

function parseReport(run: Run): JsonReport {
  expect(run.code, `exit code; stderr:\n${run.stderr}`).toBe(0);
  return JSON.parse(run.stdout) as JsonReport;
}

function expectSane(row: JsonRow): void {
  for (const key of ['lat_p50_us', 'lat_avg_us', 'lat_pct_us', 'bw_MBps', 'msg_rate'] as const) {
    expect(Number.isFinite(row[key]) && row[key] > 0, `${row.test} ${row.size}: ${key} = ${row[key]}`).toBe(true);
  }
  expect(row.lat_p50_us).toBeLessThanOrEqual(row.lat_pct_us);
  expect(row.check, `${row.test} ${row.size}: the server's check`).toBeNull();
}

describe('size parsing', () => {
  it.each([
    ['8', 8],
    ['4096', 4096],
    ['64K', 65536],
    ['64k', 65536],
    ['2KB', 2048],
    ['1M', 1 << 20],
    ['1MiB', 1 << 20],
    ['1.5K', 1536],
    ['1G', 1 << 30],
    [' 16 ', 16],
  ])('parseSize(%j) is %d', (text, size) => {
    expect(parseSize(text)).toBe(size);
  });

  it.each(['0', '', 'abc', '1.3', '2T', '-8', '2G', 'K'])('parseSize(%j) is a UsageError', (text) => {
    expect(() => parseSize(text)).toThrow(UsageError);
  });

  it.each([
    ['8,64K,1M', [8, 65536, 1 << 20]],
    ['8:64:x2', [8, 16, 32, 64]],
    ['8:100:x3', [8, 24, 72]],
    ['1K:4K:+1K', [1024, 2048, 3072, 4096]],
    ['100:130:10', [100, 110, 120, 130]],
    ['8,8,16', [8, 16]],
    ['8,1K:4K,1M', [8, 1024, 2048, 4096, 1 << 20]],
    ['16:16', [16]],
  ])('parseSizes(%j)', (text, sizes) => {
    expect(parseSizes(text)).toEqual(sizes);
  });

  it('8:4M:x2 is every power of two from 8 B to 4 MiB', () => {
    const sizes = parseSizes('8:4M:x2');
    expect(sizes).toHaveLength(20);
    expect(sizes[0]).toBe(8);
    expect(sizes.at(-1)).toBe(4 << 20);
  });

  it.each(['64:8', '8:64:x1', '8:64:x', '', '8,,16', '1:2:3:4', '8:64:+0'])('parseSizes(%j) is a UsageError', (text) => {
    expect(() => parseSizes(text)).toThrow(UsageError);
  });

  it('formatSize prints the units it parses', () => {
    expect([8, 1000, 1024, 65536, 1 << 20, 3 << 20, 1 << 30].map(formatSize)).toEqual(['8', '1000', '1K', '64K', '1M', '3M', '1G']);
  });
});

describe('argument parsing', () => {
  it('no arguments: the default loopback run in event mode', () => {
    const options = parseBenchArgs([]);
    expect(options).toMatchObject({
      command: 'run',
      role: 'loopback',
      tests: [...DEFAULT_TESTS],
      sizes: null,
      iters: null,
      warmup: null,
      window: DEFAULT_WINDOW,
      progress: 'event',
      errorHandling: null,
      ucx: {},
      percentile: 99,
      format: 'table',
      mem: 'host',
      compare: false,
      connect: null,
      defaultRun: true,
    });
  });

  it('every option, long and short', () => {
    const options = parseBenchArgs([
      '-t',
      'tag_lat,put_bw',
      '-s',
      '8,64K',
      '-s',
      '1M',
      '-n',
      '500',
      '-w',
      '5',
      '--window',
      '16',
      '--progress',
      'poll',
      '--error-handling',
      'none',
      '--ucx',
      'TLS=tcp',
      '--ucx',
      'UCX_RNDV_THRESH=8K',
      '--percentile',
      '99.9',
      '--json',
      '--compare',
      '--timeout',
      '5',
      '-r',
      '3',
    ]);
    expect(options).toMatchObject({
      tests: ['tag_lat', 'put_bw'],
      sizes: [8, 65536, 1 << 20],
      iters: 500,
      warmup: 5,
      window: 16,
      progress: 'poll',
      errorHandling: 'none',
      ucx: { TLS: 'tcp', RNDV_THRESH: '8K' },
      percentile: 99.9,
      format: 'json',
      compare: true,
      timeoutMs: 5000,
      repeat: 3,
      defaultRun: false,
    });
    expect(parseBenchArgs(['--test=all', '--csv']).tests).toEqual(TEST_NAMES);
    expect(parseBenchArgs(['--csv']).format).toBe('csv');
    expect(parseBenchArgs(['--markdown']).format).toBe('markdown');
  });

  it('topologies: --server [--port] [--host], --client HOST:PORT, info, list', () => {
    expect(parseBenchArgs(['--server'])).toMatchObject({ role: 'server', port: 13338, host: '0.0.0.0' });
    expect(parseBenchArgs(['--server', '--port', '0', '--host', '127.0.0.1'])).toMatchObject({ role: 'server', port: 0, host: '127.0.0.1' });
    expect(parseBenchArgs(['--client', 'node7:4000'])).toMatchObject({ role: 'client', connect: { host: 'node7', port: 4000 } });
    expect(parseHostPort('[::1]:13338')).toEqual({ host: '::1', port: 13338 });
    expect(parseBenchArgs(['info', '--json'])).toMatchObject({ command: 'info', format: 'json' });
    expect(parseBenchArgs(['list']).command).toBe('list');
    expect(parseBenchArgs(['-h']).command).toBe('help');
  });

  it.each([
    [['--bogus'], /bogus/],
    [['-t', 'tag_lat,nope'], /unknown test 'nope'/],
    [['--progress', 'busy'], /--progress must be one of event, poll, adaptive/],
    [['--error-handling', 'all'], /--error-handling/],
    [['--json', '--csv'], /cannot be combined/],
    [['--csv', '--markdown'], /--csv and --markdown cannot be combined/],
    [['--port', '5000'], /--port goes with --server/],
    [['--client', 'nohostport'], /HOST:PORT/],
    [['--client', 'h:99999'], /port/],
    [['--server', '--client', 'h:1'], /cannot be combined/],
    [['--percentile', '100'], /--percentile/],
    [['-n', '0'], /-n\/--iters/],
    [['-n', '1e3'], /whole number/],
    [['--mem', 'gpu'], /--mem must be one of host, cuda/],
    [['--mem', 'cuda', '-t', 'tag_bw,put_lat'], /--mem cuda: put_lat runs on host memory only/],
    [['--mem', 'cuda', '-t', 'obj_lat'], /--mem cuda: obj_lat runs on host memory only/],
    [['--mem', 'cuda', '-t', 'atomic_lat'], /--mem cuda: atomic_lat runs on host memory only/],
    [['--ucx', 'TLS'], /KEY=VALUE/],
    [['frobnicate'], /unknown command/],
    [['--repeat', '0'], /-r\/--repeat/],
  ])('%j is a UsageError matching %s', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(UsageError);
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });

  it('plans each test at its sizes; atomics only at 4 or 8 bytes', () => {
    const cases = planCases(parseBenchArgs([]));
    for (const c of cases) expect(c.mem).toBe('host');
    expect(planCases(parseBenchArgs(['--mem', 'cuda', '-t', 'put_bw,get_bw,am_lat'])).map((c) => c.mem)).toEqual(['cuda', 'cuda', 'cuda', 'cuda', 'cuda']);
    expect(cases.map((c) => `${c.test}:${formatSize(c.size)}`)).toEqual(['tag_lat:8', 'ep_lat:8', 'tag_bw:64K', 'tag_bw:1M', 'ep_bw:64K', 'ep_bw:1M']);
    for (const c of cases) expect(c.iters).toBeGreaterThanOrEqual(100);
    const atomics = planCases(parseBenchArgs(['-t', 'atomic_lat,tag_lat', '-s', '4,64K', '-n', '10', '-w', '0']));
    expect(atomics.map((c) => [c.test, c.size, c.iters, c.warmup])).toEqual([
      ['atomic_lat', 4, 10, 0],
      ['tag_lat', 4, 10, 0],
      ['tag_lat', 65536, 10, 0],
    ]);
    expect(planCases(parseBenchArgs(['-t', 'atomic_lat', '-s', '1M']))[0]!.size).toBe(8);
  });

  it('splits bandwidth runs into windows', () => {
    expect(windowCounts(10, 4)).toEqual([4, 4, 2]);
    expect(windowCounts(8, 4)).toEqual([4, 4]);
    expect(windowCounts(0, 4)).toEqual([]);
  });
});

describe('output helpers', () => {
  it('parses ucx_perftest -f rows and ucx_info -d listings', () => {
    const output = [
      '+--------------+--------------+----------+---------+---------+',
      '|     Test     | # iterations | 50.0%ile | average | overall |',
      '                       10000      0.176     0.179     0.181       42.52      42.50     5572715     5572700',
    ].join('\n');
    // The "overall" columns (the whole run), not "average" (the last reporting interval).
    expect(parsePerftestRow(output, 'tag_lat')).toEqual({ test: 'tag_lat', iters: 10000, latP50Us: 0.176, latAvgUs: 0.181, bwMBps: 42.5, msgRate: 5572700 });
    expect(parsePerftestRow('  1024     90.351       inf   976.941        0.00    1023.60           0        1024', 'tag_bw')).toMatchObject({
      latAvgUs: 976.941,
      bwMBps: 1023.6,
      msgRate: 1024,
    });
    expect(parsePerftestRow('UCX ERROR client failed', 'tag_lat')).toBeNull();
    const info =
      '# Memory domain: tcp\n#      Transport: tcp\n#         Device: lo\n#      Transport: tcp\n#         Device: eth0\n#      Transport: posix\n#         Device: memory\n';
    expect(parseUcxInfoDevices(info)).toEqual([
      { transport: 'tcp', devices: ['lo', 'eth0'] },
      { transport: 'posix', devices: ['memory'] },
    ]);
  });

  it('nearest-rank percentiles, and rows to CSV and a table', () => {
    const sorted = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect([percentile(sorted, 50), percentile(sorted, 99), percentile(sorted, 10)]).toEqual([5, 10, 1]);
    const row = toRow(
      { test: 'tag_bw', size: 1 << 20, iters: 100, warmup: 0, window: 10, mem: 'host' },
      { samples: Float64Array.from([100, 100]), totalUs: 10_000, check: null },
      99,
    );
    expect(row.bwMBps).toBeCloseTo(10_000); // 100 MiB in 10 ms
    expect(row.msgRate).toBeCloseTo(10_000);
    const csv = renderCsv([row], { percentile: 99.9, compare: false }).trim().split('\n');
    expect(csv[0]).toBe('test,size,iters,warmup,window,percentile,lat_p50_us,lat_avg_us,lat_pct_us,bw_MBps,msg_rate,check');
    expect(csv[1]!.split(',')).toHaveLength(12);
    expect(renderTable([row], { percentile: 99, compare: true })).toMatch(/tag_bw\s+1M\s+100 .* - +-\n$/);
    const markdown = renderMarkdown([row], { percentile: 99, compare: false }).trim().split('\n');
    expect(markdown[0]).toBe('| test | size | iters | p50 µs | avg µs | p99 µs | MB/s | msg/s |');
    expect(markdown[1]).toBe('| :-- | --: | --: | --: | --: | --: | --: | --: |');
    expect(markdown[2]).toMatch(/^\| tag_bw \| 1M \| 100 \| /);
  });
});
describe('--plot, --baseline and the report block', () => {
  const rows = [
    { test: 'tag_lat', size: 8, latP50Us: 2, bwMBps: 4, raw: { latP50Us: 0.5, bwMBps: 15 } },
    { test: 'tag_lat', size: 1024, latP50Us: 3, bwMBps: 300, raw: { latP50Us: 1, bwMBps: 900 } },
    { test: 'tag_bw', size: 65536, latP50Us: 10, bwMBps: 6000, raw: { error: 'failed' } },
    { test: 'tag_bw', size: 1 << 20, latP50Us: 100, bwMBps: 9000, raw: null },
  ];

  it('the SVG is well-formed XML with one series (legend entry, and one line per panel) per test and source', () => {
    const series = seriesFromRows(rows);
    expect(series.map((s) => `${s.test}/${s.source}/${s.points.length}`)).toEqual(['tag_lat/node-ucx/2', 'tag_lat/ucx_perftest/2', 'tag_bw/node-ucx/2']);
    const svg = renderPlotSvg(series, 'a <title> & more');
    expect(XMLValidator.check(svg)).toBe(true);
    expect(svg.match(/<g class="series" /g)).toHaveLength(3);
    expect(svg.match(/<polyline /g)).toHaveLength(6);
    expect(svg).toMatch(/<polyline class="line" data-test="tag_lat" data-source="ucx_perftest"[^>]*stroke-dasharray/);
    expect(svg).not.toMatch(/<polyline class="line" data-test="tag_lat" data-source="node-ucx"[^>]*stroke-dasharray/);
    for (const size of ['8', '1K', '64K', '1M']) expect(svg).toContain(`>${size}</text>`); // every measured size is labelled
    expect(svg).not.toMatch(/NaN|Infinity/);
    const html = renderPlotFile('x.html', series);
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('<svg ');
    expect(html).not.toContain('<?xml');
    expect(XMLValidator.check(renderPlotFile('x.svg', []))).toBe(true); // no data: still a valid (empty) plot
  });

  it('--plot and --baseline are parsed; the net columns render', () => {
    expect(parseBenchArgs(['--plot', 'a.svg', '--baseline', 'tcp'])).toMatchObject({ plot: 'a.svg', baseline: 'tcp' });
    expect(parseBenchArgs(['--plot', 'a.HTML']).plot).toBe('a.HTML');
    expect(parseBenchArgs([])).toMatchObject({ plot: null, baseline: null });
    expect(parseBenchArgs(['report']).command).toBe('report');
    expect(() => parseBenchArgs(['--plot', 'a.png'])).toThrow(UsageError);
    expect(() => parseBenchArgs(['--baseline', 'udp'])).toThrow(UsageError);
    const row = toRow(
      { test: 'tag_lat', size: 8, iters: 2, warmup: 0, window: 1, mem: 'host' },
      { samples: Float64Array.from([2, 2]), totalUs: 4, check: null },
      99,
    );
    attachNet(row, { latP50Us: 8, latAvgUs: 8, bwMBps: 1, msgRate: 1 });
    expect(row.netRatio).toBeCloseTo(0.25);
    expect(renderTable([row], { percentile: 99, compare: false, baseline: true })).toMatch(/net\s+node\/net\n.*8\.00 µs\s+0\.25×\n$/);
    const csv = renderCsv([row], { percentile: 99, compare: false, baseline: true }).trim().split('\n');
    expect(csv[0]).toMatch(/,net_tool,net_lat_p50_us,net_lat_avg_us,net_bw_MBps,net_msg_rate,net_error,net_ratio$/);
    expect(csv[1]).toMatch(/,node:net,8,8,1,1,,0\.25$/);
  });

  it('the report block replaces only the text between its markers', () => {
    const doc = `# Title\n\nhand-written | table |\n\n${REPORT_START}\nold block\n${REPORT_END}\n\n## After\ntext\n`;
    const out = replaceReportBlock(doc, 'new block');
    expect(out).toBe(`# Title\n\nhand-written | table |\n\n${REPORT_START}\nnew block\n${REPORT_END}\n\n## After\ntext\n`);
    expect(replaceReportBlock(out, 'new block')).toBe(out); // idempotent
    const appended = replaceReportBlock('# Doc\n', 'first');
    expect(appended).toBe(`# Doc\n\n${REPORT_START}\nfirst\n${REPORT_END}\n`);
    expect(() => replaceReportBlock(`a\n${REPORT_END}\nb\n${REPORT_START}\n`, 'x')).toThrow(/exactly one/);
    expect(() => replaceReportBlock(`a\n${REPORT_START}\nb\n`, 'x')).toThrow(/exactly one/);
    // Markers quoted in prose are not markers.
    const prose = `rewrites the block between \`${REPORT_START}\` and \`${REPORT_END}\`.\n`;
    expect(replaceReportBlock(prose + doc, 'new block')).toBe(prose + out);
    expect(replaceReportBlock(prose, 'b')).toBe(`${prose}\n${REPORT_START}\nb\n${REPORT_END}\n`);
    const block = renderTargetBlock(
      [
        {
          target: 'P1',
          test: 'tag_lat_sync',
          size: 8,
          setting: 'poll',
          metric: 'latency',
          node: 1,
          before: { test: 'tag_lat', value: 2 },
          beforeRatio: 4,
          reference: 0.5,
          referenceLabel: 'ucx_perftest',
          referenceSpread: 1.25,
          ratio: 2,
          goal: '≤ 2 × ucx_perftest',
          met: true,
          table: 'A',
        },
      ],
      {
        date: '2026-01-01 00:00 UTC',
        command: 'npm run bench:report',
        binding: '0.1.0',
        ucx: '1.13.1',
        cpus: 2,
        cpuModel: 'cpu',
        load: '0',
        plot: 'performance.svg',
      },
      [
        {
          id: 'A',
          title: '8 B latency',
          command: 'ucx-bench -t tag_lat,tag_lat_sync',
          rows: [
            {
              test: 'tag_lat',
              size: 8,
              iters: 10,
              lat_p50_us: 2,
              lat_avg_us: 2.5,
              lat_pct_us: 3,
              bw_MBps: 3.05,
              msg_rate: 400000,
              raw: { lat_p50_us: 0.5, bw_MBps: 1, msg_rate: 1 },
              ratio: 4,
            },
          ],
        },
      ],
    );
    expect(block).toMatch(/^## Generated target table/);
    expect(block).toContain(
      '| P1 | tag_lat_sync | 8 | poll | 2.00 µs (tag_lat) | 1.00 µs | 0.50 µs (ucx_perftest) | 1.3× | 4.00× | 2.00× | ≤ 2 × ucx_perftest | yes | A |',
    );
    expect(block).toContain('### Table A: 8 B latency');
    // The report's target rows: the fast path against ucx_perftest with the promise API beside it, T1 against ep_lat.
    const row = (test: string, p50: number, raw: number | null, extra: Record<string, number> = {}) => ({
      test,
      size: 8,
      iters: 10,
      lat_p50_us: p50,
      lat_avg_us: p50,
      lat_pct_us: p50,
      bw_MBps: 1,
      msg_rate: 1,
      raw: raw === null ? null : { lat_p50_us: raw, bw_MBps: 1, msg_rate: 1 },
      ...extra,
    });
    const rows = targetRows(
      new Map([
        [
          'A',
          [
            row('tag_lat', 1.2, 0.1),
            row('tag_lat_sync', 0.18, 0.1, { raw_runs: [0.1, 0.12] } as never),
            row('ep_lat', 1.0, 0.1),
            row('transport_lat', 2.5, 0.1),
            row('am_lat_sync', 0.2, 0.1, { raw_runs: [0.05, 0.5] } as never),
          ],
        ],
        ['B', [row('tag_lat', 1.0, 0.1), row('ep_lat', 1.5, 0.1), row('transport_lat', 2.4, 0.1)]],
      ]),
    );
    expect(REPORT_TABLES.map((t) => t.id)).toEqual(['A', 'B', 'C', 'D', 'E']);
    const p1 = rows.find((r) => r.target === 'P1')!;
    expect(p1).toMatchObject({ test: 'tag_lat_sync', before: { test: 'tag_lat', value: 1.2 }, reference: 0.1, met: true, table: 'A' });
    expect(p1.ratio).toBeCloseTo(1.8);
    expect(p1.beforeRatio).toBeCloseTo(12);
    expect(p1.referenceSpread).toBeCloseTo(1.2);
    // A reference whose own runs spread 10x is not judged.
    expect(rows.find((r) => r.test === 'am_lat_sync')).toMatchObject({ referenceSpread: 10, met: null });
    const t1 = rows.filter((r) => r.target === 'T1').map((r) => [r.table, Number(r.ratio!.toFixed(2)), r.met]);
    expect(t1).toEqual([
      ['B', 1.6, true],
      ['A', 2.5, false],
    ]);
    expect(block).toContain('| tag_lat | 8 | 10 | 2.00 | 2.50 | 3.00 | 3.05 | 400.0k | 0.50 µs | 4.00× |');
    expect(block).toContain('2 CPUs');
    expect(block).toContain('](performance.svg)');
  });
});

describe('ucx-bench runs', () => {
  const started: ChildProcess[] = [];
  afterEach(() => {
    for (const child of started.splice(0)) child.kill('SIGKILL');
  });

  it('--help, list and a usage error', async () => {
    const help = await bench(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: ucx-bench/);
    const list = await bench(['list']);
    for (const name of TEST_NAMES) expect(list.stdout).toContain(name);
    const bad = await bench(['-t', 'bogus']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown test 'bogus'/);
  });

  it.skipIf(cudaUsable)('--mem cuda fails with a clear message where UCX has no CUDA or there is no GPU', async () => {
    const run = await bench(['--mem', 'cuda', '-t', 'tag_lat', '-n', '10']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--mem cuda: (this UCX build has no CUDA support|no usable GPU)/);
  });

  it.runIf(cudaUsable)('--mem cuda: every device-memory test at 8 B and 1 MiB, data in GPU memory on both sides', async () => {
    const rma = ['put_bw', 'get_bw'];
    const messaging = TEST_NAMES.filter((test) => HOST_MEMORY_TESTS[test] === undefined && !rma.includes(test));
    const common = ['--mem', 'cuda', '-s', '8,1M', '-n', '20', '-w', '2', '--window', '4', '--json'];
    const runs: { tests: string[]; report: JsonReport }[] = [
      { tests: messaging, report: parseReport(await bench([...common, '-t', messaging.join(',')], 60_000)) },
    ];
    // Device-memory RMA needs the v2 protocols, which node-ucx refuses on UCX 1.13 with CUDA (they crash there).
    const v2 = await bench([...common, '--ucx', 'PROTO_ENABLE=y', '-t', rma.join(',')], 60_000);
    if (/^1\.13\./.test(version.ucx)) {
      expect(v2.code, v2.stderr).toBe(1);
      expect(v2.stderr).toMatch(/UCS_ERR_UNSUPPORTED|PROTO_ENABLE=y\) crash/);
    } else {
      runs.push({ tests: rma, report: parseReport(v2) });
    }
    for (const { tests, report } of runs) {
      expect(report.results.map((r) => `${r.test}:${r.size}`)).toEqual(tests.flatMap((test) => [`${test}:8`, `${test}:1048576`]));
      for (const row of report.results) {
        expect(row.check, `${row.test} ${row.size}`).toBeNull();
        expect(row.lat_avg_us, `${row.test} ${row.size}`).toBeGreaterThan(0);
      }
    }
    // RMA on device memory needs the v2 protocols: without them, a usage error, not a crash.
    const refused = await bench(['--mem', 'cuda', '-t', 'put_bw', '-n', '10']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--mem cuda: put_bw needs .*--ucx PROTO_ENABLE=y/);
  });

  it('every test, two sizes, over the default error handling (TCP on UCX 1.13), as JSON', async () => {
    const report = parseReport(await bench(['-t', 'all', '-s', '8,64K', '-n', '20', '-w', '2', '--window', '4', '--json'], 90_000));
    expect(report.tool).toBe('ucx-bench');
    expect(report.version.ucx).toMatch(/^\d+\.\d+/);
    expect(report.transports.length).toBeGreaterThan(0);
    const expected = TEST_NAMES.flatMap((test) => (TESTS[test].family === 'atomic' ? [`${test}:8`] : [`${test}:8`, `${test}:65536`]));
    expect(report.results.map((r) => `${r.test}:${r.size}`)).toEqual(expected);
    for (const row of report.results) {
      expect(row.iters).toBe(20);
      expect(row.window).toBe(TESTS[row.test as keyof typeof TESTS].kind === 'bw' ? 4 : null);
      expectSane(row);
    }
  }, 100_000);

  it('every test at 8 B with --error-handling none (shared memory on one machine)', async () => {
    const report = parseReport(await bench(['-t', 'all', '-s', '8', '-n', '20', '-w', '2', '--window', '4', '--error-handling', 'none', '--json'], 90_000));
    expect(report.results).toHaveLength(TEST_NAMES.length);
    for (const row of report.results) expectSane(row);
  }, 100_000);

  it.each(['poll', 'adaptive'])('--progress %s, each case run twice (--repeat 2)', async (mode) => {
    const report = parseReport(
      await bench(['-t', 'tag_lat,ep_bw,am_lat', '-s', '8', '-n', '30', '-w', '3', '--window', '8', '--progress', mode, '-r', '2', '--json']),
    );
    expect(report.results).toHaveLength(3);
    for (const row of report.results) {
      expectSane(row);
      expect(row.runs).toHaveLength(2);
      // The reported row is one of the runs (for two runs, the lower metric).
      expect(Math.min(...row.runs!)).toBeCloseTo(row.test === 'ep_bw' ? row.bw_MBps : row.lat_p50_us, 2);
    }
  });

  it('--csv: a header and one row per test and size; the --percentile is a column', async () => {
    const run = await bench(['-t', 'tag_lat,tag_bw', '-s', '8,1K', '-n', '20', '-w', '2', '--csv', '--percentile', '90']);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('test,size,iters,warmup,window,percentile,lat_p50_us,lat_avg_us,lat_pct_us,bw_MBps,msg_rate,check');
    expect(lines.slice(1).map((line) => line.split(',').slice(0, 2).join(','))).toEqual(['tag_lat,8', 'tag_lat,1024', 'tag_bw,8', 'tag_bw,1024']);
    for (const line of lines.slice(1)) expect(line.split(',')).toHaveLength(12);
    for (const line of lines.slice(1)) expect(line.split(',')[5]).toBe('90');
  });

  it("UCX's own log goes to stderr, so --json stays parseable (--ucx with a key UCX warns about)", async () => {
    const run = await bench(['-t', 'tag_lat', '-s', '8', '-n', '10', '--json', '--ucx', 'NO_SUCH_SETTING=1']);
    const report = parseReport(run);
    expect(report.results).toHaveLength(1);
    expect(run.stderr).toMatch(/NO_SUCH_SETTING/);
  });

  it('the table: header, one line per test and size, and the explanation', async () => {
    const run = await bench(['-t', 'tag_lat,obj_lat', '-s', '8', '-n', '30']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ucx-bench: node-ucx \S+ on UCX \S+, loopback/);
    expect(run.stdout).toMatch(/test\s+size\s+iters\s+p50 µs\s+avg µs\s+p99 µs\s+MB\/s\s+msg\/s\n/);
    expect(run.stdout).toMatch(/\ntag_lat\s+8\s+30\s/);
    expect(run.stdout).toMatch(/\nobj_lat\s+8\s+30\s/);
    expect(run.stdout).toContain('half round trip');
    expect(run.stdout).not.toContain('--compare adds'); // hints only on the default run
  });

  it('--compare adds ucx_perftest and the ratio (or says ucx_perftest is missing)', async () => {
    const report = parseReport(await bench(['-t', 'tag_lat,tag_bw,obj_lat', '-s', '8', '-n', '200', '-w', '20', '--json', '--compare'], 50_000));
    const [lat, bw, obj] = report.results;
    expect(obj!.raw).toBeNull(); // no ucx_perftest counterpart
    expect(obj!.ratio).toBeNull();
    if (!HAVE_PERFTEST) {
      expect(JSON.stringify(report.perftest)).toMatch(/ucx_perftest not found/);
      return;
    }
    for (const row of [lat!, bw!]) {
      expect(row.raw, JSON.stringify(row.raw)).toMatchObject({ tool: 'ucx_perftest' });
      expect(row.ratio).toBeGreaterThan(0);
    }
  }, 60_000);

  it('--server and --client on two "machines" (two processes here)', async () => {
    const server = spawn(process.execPath, [CLI, '--server', '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(server);
    const line = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: server.stdout! }).on('line', (text) => {
        if (/server on/.test(text)) resolve(text);
      });
      server.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening`)));
    });
    const port = /:(\d+) \(/.exec(line)![1]!;
    for (const tests of ['tag_lat,put_bw', 'atomic_lat']) {
      // The server serves one client after another.
      const report = parseReport(await bench(['--client', `127.0.0.1:${port}`, '-t', tests, '-s', '8', '-n', '20', '-w', '2', '--json']));
      expect(report.results).toHaveLength(tests.split(',').length);
      for (const row of report.results) expectSane(row);
    }
    expect(server.exitCode).toBeNull();
  });

  it('--baseline tcp and --plot: a net column for *_lat and *_bw, and the plot file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ucx-bench-'));
    try {
      const svg = path.join(dir, 'plot.svg');
      const report = parseReport(
        await bench([
          '-t',
          'tag_lat,tag_bw,msg_rate',
          '-s',
          '8,4K',
          '-n',
          '100',
          '-w',
          '10',
          '--window',
          '16',
          '--error-handling',
          'none',
          '--baseline',
          'tcp',
          '--plot',
          svg,
          '--json',
        ]),
      );
      const results = report.results as (JsonRow & { net?: { tool: string; lat_p50_us: number; bw_MBps: number } | null; net_ratio?: number | null })[];
      expect(results.map((r) => `${r.test} ${r.size}`)).toEqual(['tag_lat 8', 'tag_lat 4096', 'tag_bw 8', 'tag_bw 4096', 'msg_rate 8', 'msg_rate 4096']);
      for (const row of results) {
        if (row.test === 'msg_rate') {
          expect(row.net).toBeNull();
          continue;
        }
        expect(row.net, JSON.stringify(row)).toMatchObject({ tool: 'node:net' });
        expect(row.net!.lat_p50_us).toBeGreaterThan(0);
        expect(row.net!.bw_MBps).toBeGreaterThan(0);
        expect(row.net_ratio).toBeGreaterThan(0);
      }
      const text = readFileSync(svg, 'utf8');
      expect(XMLValidator.check(text)).toBe(true);
      expect(text.match(/<g class="series" /g)).toHaveLength(5); // three tests by node-ucx, two by net
      const html = path.join(dir, 'plot.html');
      const table = await bench(['-t', 'tag_lat', '-s', '8', '-n', '50', '-w', '5', '--baseline', 'tcp', '--plot', html]);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/\bnet\s+node\/net\n/);
      expect(readFileSync(html, 'utf8')).toMatch(/^<!DOCTYPE html>[\s\S]*<svg [\s\S]*<\/svg>/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);

  it('info: UCX version, memory types and transports', async () => {
    const run = await bench(['info', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const info = JSON.parse(run.stdout) as { ucx: string; memoryTypes: string[]; transports: unknown; loopback: Record<string, unknown> };
    expect(info.ucx).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.memoryTypes).toContain('host');
    if (findExecutable('ucx_info') !== null) expect(Array.isArray(info.transports) && info.transports.length > 0).toBe(true);
    expect(Object.keys(info.loopback)).toEqual(['peer', 'none']);
    const text = await bench(['info']);
    expect(text.stdout).toMatch(/^node-ucx\s+\S+\nUCX\s+\d/);
  });

  it('the default run (npm run bench): a quick summary with hints', async () => {
    const run = await bench([], 40_000);
    expect(run.code, run.stderr).toBe(0);
    for (const row of ['tag_lat\\s+8', 'ep_lat\\s+8', 'tag_bw\\s+64K', 'tag_bw\\s+1M', 'ep_bw\\s+64K', 'ep_bw\\s+1M']) {
      expect(run.stdout).toMatch(new RegExp(`\\n${row}\\s`));
    }
    expect(run.stdout).toMatch(/--compare/);
    expect(run.stdout).toMatch(/--progress poll/);
    expect(run.stdout).toMatch(/--error-handling none/);
  }, 45_000);
});
