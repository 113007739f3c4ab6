// The table of `npm run bench:scheduler`: rows S1–S8 from both systems' results (node-bench.mjs,
// dask_bench.py), as text for the terminal and as Markdown for docs/performance.md's generated block
// (between the markers, as ucx-bench's report writes its own; everything outside them is by hand).
// Pure functions.

export const BLOCK_START = '<!-- bench:scheduler:start -->';
export const BLOCK_END = '<!-- bench:scheduler:end -->';

const fixed = (x, digits) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
const num = (x) => {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
};
const ratio = (dask, node) => (dask > 0 && node > 0 ? dask / node : null);
const times = (r) => (r === null ? '-' : `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`);

/**
 * The rows: [id, workload, node-ucx, Dask, Dask / node-ucx (how many times faster; for S7/S8 a comparison),
 * target, met]. `results` maps 'S1' → { node, dask } (either may be missing); `reference` the transport's
 * 1 MiB bandwidth in MB/s, when measured.
 */
export function tableRows(results, sizes, reference = {}) {
  const rows = [];
  const get = (id) => results[id] ?? {};
  const met = (ok) => (ok === null ? '?' : ok ? 'yes' : 'no');

  const s1 = get('S1');
  if (s1.node || s1.dask) {
    const n = s1.node?.summary;
    const d = s1.dask?.summary;
    const r = ratio(d?.seconds, n?.seconds);
    rows.push([
      'S1',
      `${sizes.S1.tasks.toLocaleString('en')} no-op tasks, map + gather`,
      `${num(n?.seconds)} s (${num(n?.tasksPerSecond)}/s)`,
      `${num(d?.seconds)} s (${num(d?.tasksPerSecond)}/s)`,
      times(r),
      '≥ 30×',
      met(r === null ? null : r >= 30),
    ]);
    const r2 = ratio(d?.queuingOffSeconds, n?.seconds);
    rows.push([
      'S1',
      '… Dask with root-task queuing off (worker-saturation: inf)',
      `${num(n?.seconds)} s (queuing off too: ${num(n?.queuingOffSeconds)} s)`,
      `${num(d?.queuingOffSeconds)} s (${num(d?.queuingOffTasksPerSecond)}/s)`,
      times(r2),
      '≥ 3×',
      met(r2 === null ? null : r2 >= 3),
    ]);
  }
  const s2 = get('S2');
  if (s2.node || s2.dask) {
    const n = s2.node?.summary;
    const d = s2.dask?.summary;
    const r = ratio(d?.msPerStep, n?.msPerStep);
    rows.push([
      'S2',
      `${sizes.S2.steps}-step dependency chain, per step`,
      `${num(n?.msPerStep)} ms`,
      `${num(d?.msPerStep)} ms`,
      times(r),
      '≥ 30×, ≤ 0.2 ms',
      met(r === null ? null : r >= 30 && n.msPerStep <= 0.2),
    ]);
  }
  const s3 = get('S3');
  if (s3.node || s3.dask) {
    const n = s3.node?.summary;
    const d = s3.dask?.summary;
    const r = ratio(d?.msPerRoundTrip, n?.msPerRoundTrip);
    rows.push([
      'S3',
      `submit → result round trip (median of ${sizes.S3.trips})`,
      `${num(n?.msPerRoundTrip)} ms`,
      `${num(d?.msPerRoundTrip)} ms`,
      times(r),
      '≥ 40×, ≤ 0.25 ms',
      met(r === null ? null : r >= 40 && n.msPerRoundTrip <= 0.25),
    ]);
  }
  const s4 = get('S4');
  if (s4.node || s4.dask) {
    const n = s4.node?.summary;
    const d = s4.dask?.summary;
    const r = ratio(d?.seconds, n?.seconds);
    const mib = (sizes.S4.elements * 8) / 2 ** 20;
    const bw = reference.bandwidthMBps;
    const share = bw && n ? (n.movedMiBps * 1.048576) / bw : null;
    rows.push([
      'S4',
      `tree sum of ${sizes.S4.leaves} × ${num(mib)} MiB Float64Arrays (numpy in Dask)`,
      `${num(n?.seconds)} s, ${num(n?.movedMiBps)} MiB/s moved (${num(n ? n.bytesMoved / 2 ** 20 : null)} MiB)${share === null ? '' : `, ${fixed(share, 2)} × ep_bw 1 MiB`}`,
      `${num(d?.seconds)} s, ${num(d?.movedMiBps)} MiB/s moved (${num(d ? d.bytesMoved / 2 ** 20 : null)} MiB)`,
      times(r),
      '≥ 5×; moved ≥ 0.5 × transport bw',
      met(r === null ? null : r >= 5 && (share === null || share >= 0.5)),
    ]);
  }
  for (const id of ['S5', 'S6']) {
    const s = get(id);
    if (!(s.node || s.dask)) continue;
    const n = s.node?.summary;
    const d = s.dask?.summary;
    const r = ratio(d?.seconds, n?.seconds);
    const tasks = (n ?? d).tasks;
    const nodeText = n
      ? `${num(n.seconds)} s (${num(n.tasksPerSecond)}/s); scheduler ${num(n.schedulerCpuUsPerTask)} µs CPU and ${num(n.schedulerBytesPerTask / 1024)} KiB per task, peak RSS ${num(n.schedulerPeakRssMiB)} MiB`
      : '-';
    const daskText = d
      ? d.timedOut
        ? `> ${num(d.seconds)} s (stopped)`
        : `${num(d.seconds)} s (${num(d.tasksPerSecond)}/s); scheduler + client peak RSS ${num(d.schedulerPeakRssMiB)} MiB`
      : '-';
    const target = id === 'S5' ? '≥ 20×; ≤ 20 µs, ≤ 2 KiB a task' : 'completes; time, memory';
    const ok = id === 'S5' ? (r === null ? null : r >= 20 && n.schedulerCpuUsPerTask <= 20 && n.schedulerBytesPerTask <= 2048) : n ? true : null;
    rows.push([
      id,
      `${tasks.toLocaleString('en')}-task graph (sum tree, fan-in ${sizes[id].fanin})`,
      nodeText,
      daskText,
      d?.timedOut ? `> ${times(r)}` : times(r),
      target,
      met(ok),
    ]);
  }
  const s7 = get('S7');
  if (s7.node || s7.dask) {
    const n = s7.node?.summary;
    const d = s7.dask?.summary;
    const text = (s) => (s ? `noticed in ${num(s.noticedMs)} ms; +${num(s.addedSeconds)} s on a ${num(s.cleanSeconds)} s run` : '-');
    const ok = n && d ? n.noticedMs !== null && n.noticedMs <= 25 && n.addedSeconds <= d.addedSeconds : null;
    rows.push([
      'S7',
      `worker SIGKILLed ${sizes.S7.killAt} s into ${sizes.S7.tasks} × ${sizes.S7.ms} ms tasks`,
      text(n),
      text(d),
      n && d ? `added ${num(d.addedSeconds - n.addedSeconds)} s less` : '-',
      "≤ 25 ms; added ≤ Dask's",
      met(ok),
    ]);
  }
  const s8 = get('S8');
  if (s8.node || s8.dask) {
    const text = (s) =>
      s
        ? Object.entries(s.percent)
            .map(([name, p]) => `${name.replace(/ \d+$/, '')} ${fixed(p, 1)} %`)
            .join(', ')
        : '-';
    const n = s8.node?.summary;
    rows.push([
      'S8',
      `idle cluster, CPU per process (${sizes.S8.window} s)`,
      text(n),
      text(s8.dask?.summary),
      '',
      '≤ 1 % each',
      met(n ? n.maxPercent <= 1 : null),
    ]);
  }
  return rows;
}

const HEADER = ['id', 'workload', 'node-ucx', 'Dask distributed', 'Dask / node-ucx', 'target', 'met'];

/** The rows as a Markdown table. */
export function markdownTable(rows) {
  const escape = (cell) => String(cell).replace(/\|/g, '\\|');
  return [`| ${HEADER.join(' | ')} |`, '| :-- | :-- | :-- | :-- | --: | :-- | :-- |', ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`)].join('\n');
}

/** The rows for a terminal: one block per row (they are too wide for columns). */
export function textTable(rows) {
  return rows
    .map(([id, workload, node, dask, r, target, ok]) =>
      [`${id}  ${workload}`, `    node-ucx  ${node}`, `    Dask      ${dask}`, `    ${r ? `${r}  ` : ''}target ${target}: ${ok}`].join('\n'),
    )
    .join('\n');
}

/** The generated block (without the markers). */
export function renderBlock(rows, meta) {
  return [
    `Generated by \`${meta.command}\` on ${meta.date}: node-ucx ${meta.version} against Dask distributed ${meta.dask ?? '(not run)'}, ` +
      `${meta.cpus} CPUs (${meta.cpuModel}), load average ${meta.loadStart} at the start and ${meta.loadEnd} at the end. ` +
      `Both on a LocalCluster of 2 worker processes × 1 thread (node-ucx over ucx://, Dask over tcp://), medians of ` +
      `${meta.repsText}; the ratio is how many times less time node-ucx took. This block is rewritten by that command; ` +
      'everything outside it is written by hand.',
    '',
    markdownTable(rows),
    '',
    `Raw results: ${meta.rawNote}`,
  ].join('\n');
}

/** Where a marker stands alone on its line: offsets of each. */
function markerLines(doc, marker) {
  const offsets = [];
  const re = new RegExp(`^[ \\t]*${marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[ \\t]*$`, 'gm');
  for (let match = re.exec(doc); match !== null; match = re.exec(doc)) offsets.push(match.index + match[0].indexOf(marker));
  return offsets;
}

/**
 * The document with the text between the markers replaced by `block`; without markers, the block is
 * appended between new ones; a lone, repeated or misordered marker is an error.
 */
export function replaceBlock(doc, block) {
  const starts = markerLines(doc, BLOCK_START);
  const ends = markerLines(doc, BLOCK_END);
  const body = `\n${block.trim()}\n`;
  if (starts.length === 0 && ends.length === 0) return `${doc.replace(/\n*$/, '\n')}\n${BLOCK_START}${body}${BLOCK_END}\n`;
  if (starts.length !== 1 || ends.length !== 1 || ends[0] < starts[0]) {
    throw new Error(`the document needs exactly one ${BLOCK_START} line followed by one ${BLOCK_END} line`);
  }
  return doc.slice(0, starts[0] + BLOCK_START.length) + body + doc.slice(ends[0]);
}
