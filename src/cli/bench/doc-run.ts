// ucx-bench report: re-measures the targets of docs/performance.md, one ucx-bench run per table
// (--json --compare, shared memory: ucx_perftest in the same run), and rewrites only the document's
// generated block and the plot next to it. Each target row sets the promise API's figure ("before")
// beside the fast path's ("after") from the same table, where the target has a fast path.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { version } from '../../index.js';
import { TESTS, isTestName, type BenchOptions, type Metric } from './args.js';
import { renderTargetBlock, replaceReportBlock, type RunTable, type TargetRow } from './doc.js';
import { renderPlotSvg, seriesFromRows, type PlotRow } from './plot.js';

/** One ucx-bench run of the report: one table of the document. */
export interface ReportTable {
  id: string;
  title: string;
  setting: string;
  args: string[];
}

/**
 * Shared memory (error handling 'none', as the targets were set), both processes pinned to a core each
 * (ucx_perftest too), every row the median of five runs. Modest iterations: a few minutes on two cores.
 */
const COMMON = ['--error-handling', 'none', '--compare', '--pin', '-r', '5', '--json'];

export const REPORT_TABLES: readonly ReportTable[] = [
  {
    id: 'A',
    title: '8 B latency, poll mode',
    setting: 'poll',
    args: [
      '-t',
      'tag_lat,tag_lat_sync,ep_lat,transport_lat,am_lat,am_lat_sync,put_lat,atomic_lat,atomic_lat_sync,obj_lat',
      '-s',
      '8',
      '-n',
      '10000',
      '--progress',
      'poll',
    ],
  },
  {
    id: 'B',
    title: '8 B latency, event mode (the default)',
    setting: 'event',
    args: ['-t', 'tag_lat,tag_lat_sync,ep_lat,transport_lat', '-s', '8', '-n', '10000', '--progress', 'event'],
  },
  { id: 'C', title: '8 B latency, adaptive mode', setting: 'adaptive', args: ['-t', 'tag_lat', '-s', '8', '-n', '10000', '--progress', 'adaptive'] },
  { id: 'D', title: '8 B message rate', setting: 'event', args: ['-t', 'msg_rate,msg_rate_batch', '-s', '8', '-n', '400000', '--window', '1024'] },
  {
    id: 'E',
    title: 'bandwidth, 64 KiB to 4 MiB',
    setting: 'event',
    args: ['-t', 'tag_bw,tag_bw_batch,ep_bw,stream_bw,transport_bw,put_bw,put_bw_batch,get_bw,get_bw_batch', '-s', '64K,256K,1M,4M', '-n', '1024'],
  },
];

/** mpi4py's pickled send/recv half round trip of a small object on this VM (TARGETS.md), for P7. */
const MPI4PY_OBJECT_US = 2.9;

export interface JsonResult {
  test: string;
  size: number;
  iters: number;
  lat_p50_us: number;
  lat_avg_us: number;
  lat_pct_us: number;
  bw_MBps: number;
  msg_rate: number;
  raw?: { lat_p50_us: number; bw_MBps: number; msg_rate: number } | { error: string } | null;
  ratio?: number | null;
  /** --repeat: ucx_perftest's metric in each run. */
  raw_runs?: number[];
}

/**
 * A reference whose own runs spread wider than this (max / min of ucx_perftest's runs in the table) is too
 * disturbed to judge a target by: on this VM other work can slow one ucx_perftest run 10-100x.
 */
export const MAX_REFERENCE_SPREAD = 3;

/** What each target compares: the fast path's test ("after"), the promise API's ("before"), and the reference. */
interface TargetSpec {
  target: string;
  table: string;
  test: string;
  sizes?: readonly number[];
  before?: string;
  /** 'perftest' (the row's own ucx_perftest figure), or another test of the same table (T1: ep_lat), or a constant. */
  reference: 'perftest' | { test: string; table?: string; label: string } | { value: number; label: string };
  goal: string;
  check: (ratio: number) => boolean;
}

const K = 1024;
const M = K * K;
const le = (x: number) => (r: number) => r <= x;
const ge = (x: number) => (r: number) => r >= x;

export const TARGETS: readonly TargetSpec[] = [
  { target: 'P1', table: 'A', test: 'tag_lat_sync', before: 'tag_lat', reference: 'perftest', goal: '≤ 2 × ucx_perftest', check: le(2) },
  { target: 'P2', table: 'B', test: 'tag_lat', reference: 'perftest', goal: '≤ 10 × ucx_perftest', check: le(10) },
  {
    target: 'P3',
    table: 'C',
    test: 'tag_lat',
    reference: { test: 'tag_lat', table: 'A', label: 'node-ucx poll' },
    goal: '≤ 1.3 × poll (table A); idle CPU not measured',
    check: le(1.3),
  },
  {
    target: 'P4',
    table: 'E',
    test: 'tag_bw_batch',
    before: 'tag_bw',
    sizes: [64 * K, 256 * K, M, 4 * M],
    reference: 'perftest',
    goal: '≥ 0.9 × ucx_perftest',
    check: ge(0.9),
  },
  { target: 'P4', table: 'E', test: 'ep_bw', sizes: [64 * K, 256 * K, M, 4 * M], reference: 'perftest', goal: '≥ 0.9 × ucx_perftest', check: ge(0.9) },
  { target: 'P5', table: 'D', test: 'msg_rate_batch', before: 'msg_rate', reference: 'perftest', goal: '≥ 0.25 × ucx_perftest', check: ge(0.25) },
  { target: "P5'", table: 'A', test: 'am_lat_sync', before: 'am_lat', reference: 'perftest', goal: '≤ 4 × ucx_perftest', check: le(4) },
  { target: "P5'", table: 'A', test: 'put_lat', reference: 'perftest', goal: '≤ 4 × ucx_perftest', check: le(4) },
  { target: "P5'", table: 'A', test: 'atomic_lat_sync', before: 'atomic_lat', reference: 'perftest', goal: '≤ 4 × ucx_perftest', check: le(4) },
  { target: 'BW', table: 'E', test: 'stream_bw', sizes: [64 * K, 256 * K], reference: 'perftest', goal: '≥ 0.9 × ucx_perftest', check: ge(0.9) },
  {
    target: 'BW',
    table: 'E',
    test: 'put_bw_batch',
    before: 'put_bw',
    sizes: [64 * K, 256 * K],
    reference: 'perftest',
    goal: '≥ 0.9 × ucx_perftest',
    check: ge(0.9),
  },
  {
    target: 'BW',
    table: 'E',
    test: 'get_bw_batch',
    before: 'get_bw',
    sizes: [64 * K, 256 * K],
    reference: 'perftest',
    goal: '≥ 0.9 × ucx_perftest',
    check: ge(0.9),
  },
  { target: 'P6', table: 'E', test: 'put_bw_batch', before: 'put_bw', sizes: [M], reference: 'perftest', goal: '≥ 0.9 × ucx_perftest', check: ge(0.9) },
  { target: 'P6', table: 'E', test: 'get_bw_batch', before: 'get_bw', sizes: [M], reference: 'perftest', goal: '≥ 0.9 × ucx_perftest', check: ge(0.9) },
  {
    target: 'P7',
    table: 'A',
    test: 'obj_lat',
    reference: { value: MPI4PY_OBJECT_US, label: 'mpi4py' },
    goal: `< mpi4py pickled (${MPI4PY_OBJECT_US} µs)`,
    check: (r) => r < 1,
  },
  { target: 'T1', table: 'B', test: 'transport_lat', reference: { test: 'ep_lat', label: 'ep_lat, same run' }, goal: '≤ 2 × ep_lat', check: le(2) },
  { target: 'T1', table: 'A', test: 'transport_lat', reference: { test: 'ep_lat', label: 'ep_lat, same run' }, goal: '≤ 2 × ep_lat', check: le(2) },
];

export function metricValue(metric: Metric, r: { lat_p50_us: number; bw_MBps: number; msg_rate: number }): number {
  return metric === 'latency' ? r.lat_p50_us : metric === 'bandwidth' ? r.bw_MBps : r.msg_rate;
}

function metricOfTest(test: string): Metric {
  return isTestName(test) ? TESTS[test].metric : 'latency';
}

function runJson(script: string, args: string[], timeoutMs: number): Promise<JsonResult[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`ucx-bench ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve((JSON.parse(stdout) as { results: JsonResult[] }).results);
    });
  });
}

/** The target rows, from every table's results (keyed by table id). */
export function targetRows(results: ReadonlyMap<string, readonly JsonResult[]>): TargetRow[] {
  const rows: TargetRow[] = [];
  for (const spec of TARGETS) {
    const table = results.get(spec.table) ?? [];
    const setting = REPORT_TABLES.find((t) => t.id === spec.table)?.setting ?? '';
    const metric = metricOfTest(spec.test);
    for (const r of table.filter((x) => x.test === spec.test && (spec.sizes === undefined || spec.sizes.includes(x.size)))) {
      const node = metricValue(metric, r);
      let reference: number | null = null;
      let referenceLabel = 'ucx_perftest';
      if (spec.reference === 'perftest') {
        if (r.raw && !('error' in r.raw)) reference = metricValue(metric, r.raw);
      } else if ('value' in spec.reference) {
        reference = spec.reference.value;
        referenceLabel = spec.reference.label;
      } else {
        const other = (results.get(spec.reference.table ?? spec.table) ?? []).find(
          (x) => x.test === (spec.reference as { test: string }).test && x.size === r.size,
        );
        reference = other === undefined ? null : metricValue(metricOfTest(other.test), other);
        referenceLabel = spec.reference.label;
      }
      const beforeRow = spec.before === undefined ? undefined : table.find((x) => x.test === spec.before && x.size === r.size);
      const before = beforeRow === undefined ? null : { test: beforeRow.test, value: metricValue(metric, beforeRow) };
      const ratio = reference !== null && reference > 0 ? node / reference : null;
      const runs = spec.reference === 'perftest' ? (r.raw_runs ?? []).filter((x) => x > 0) : [];
      const referenceSpread = runs.length > 1 ? Math.max(...runs) / Math.min(...runs) : null;
      const judged = ratio !== null && (referenceSpread === null || referenceSpread <= MAX_REFERENCE_SPREAD);
      rows.push({
        target: spec.target,
        test: spec.test,
        size: r.size,
        setting,
        metric,
        node,
        before,
        beforeRatio: before !== null && reference !== null && reference > 0 ? before.value / reference : null,
        reference,
        referenceLabel,
        referenceSpread,
        ratio,
        goal: spec.goal,
        met: judged ? spec.check(ratio!) : null,
        table: spec.table,
      });
    }
  }
  return rows;
}

/** `ucx-bench report`: measures, writes the plot next to the document, rewrites the document's block. */
export async function runReport(options: BenchOptions, script: string): Promise<number> {
  const doc = path.resolve(options.doc);
  const before = readFileSync(doc, 'utf8');
  const svgFile = doc.replace(/\.md$/i, '') + '.svg';
  const results = new Map<string, JsonResult[]>();
  const tables: RunTable[] = [];
  const plotRows: PlotRow[] = [];
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  for (const table of REPORT_TABLES) {
    const args = [...table.args, ...COMMON];
    process.stderr.write(`ucx-bench report: table ${table.id}: ucx-bench ${args.join(' ')}\n`);
    const rows = await runJson(script, args, 15 * 60_000);
    results.set(table.id, rows);
    tables.push({ id: table.id, title: table.title, command: `ucx-bench ${args.filter((arg) => arg !== '--json').join(' ')}`, rows });
    for (const r of rows) {
      const raw = r.raw && !('error' in r.raw) ? { latP50Us: r.raw.lat_p50_us, bwMBps: r.raw.bw_MBps } : null;
      plotRows.push({ test: `${r.test} ${table.setting}`, size: r.size, latP50Us: r.lat_p50_us, bwMBps: r.bw_MBps, raw });
    }
  }
  writeFileSync(svgFile, renderPlotSvg(seriesFromRows(plotRows), `ucx-bench report, node-ucx ${version.binding}, UCX ${version.ucx}`));
  const cpus = os.cpus();
  const block = renderTargetBlock(
    targetRows(results),
    {
      date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      command: 'npm run bench:report',
      binding: version.binding,
      ucx: version.ucx,
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown CPU',
      load,
      plot: path.basename(svgFile),
    },
    tables,
  );
  writeFileSync(doc, replaceReportBlock(before, block));
  process.stderr.write(`ucx-bench report: rewrote the generated block of ${options.doc} and wrote ${path.relative(process.cwd(), svgFile)}\n`);
  return 0;
}
