// A strict reader of the Prometheus text exposition format (version 0.0.4), for the tests:
// it throws on anything a Prometheus server would refuse or misread (names, label syntax and
// escapes, values, HELP/TYPE placement, families split up, duplicate series, histograms whose
// buckets are not cumulative or lack +Inf). No dependency.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}
export interface Family {
  name: string;
  type: MetricType;
  help: string | undefined;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function fail(lineNo: number, line: string, why: string): never {
  throw new Error(`line ${lineNo}: ${why}: ${JSON.stringify(line)}`);
}

function parseValue(text: string, lineNo: number, line: string): number {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) fail(lineNo, line, `'${text}' is not a float`);
  return Number(text);
}

/** Unescapes a HELP docstring: only \\ and \n are escapes. */
function unescapeHelp(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === '\\' ? '\\' : `\\${c}`));
}

/** The label set of a sample line from `i` (just past '{'); returns the labels and the index past '}'. */
function parseLabels(line: string, i: number, lineNo: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  for (;;) {
    if (line[i] === '}') return [labels, i + 1];
    const nameMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
    if (nameMatch === null) fail(lineNo, line, `a label name expected at column ${i}`);
    const name = nameMatch[0];
    if (name.startsWith('__')) fail(lineNo, line, `label name ${name} is reserved`);
    if (Object.hasOwn(labels, name)) fail(lineNo, line, `label ${name} twice`);
    i += name.length;
    if (line[i] !== '=' || line[i + 1] !== '"') fail(lineNo, line, `=" expected after label ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) fail(lineNo, line, `label ${name}'s value is not closed`);
      if (c === '"') break;
      if (c === '\\') {
        const next = line[i + 1];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else fail(lineNo, line, `'\\${next ?? ''}' is not an escape of the format`);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    labels[name] = value;
    i++;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') fail(lineNo, line, `',' or '}' expected after label ${name}`);
  }
}

function seriesId(sample: Sample): string {
  return `${sample.name}{${Object.entries(sample.labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')}}`;
}

/** Parses (and checks) a whole exposition; the families in their order. */
export function parsePrometheus(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition must end with a line feed');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const series = new Set<string>();
  let current: Family | null = null;
  const lines = text.split('\n');
  lines.pop();
  const familyOf = (name: string): Family | undefined => {
    const direct = families.get(name);
    if (direct !== undefined) return direct;
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (!name.endsWith(suffix)) continue;
      const base = families.get(name.slice(0, -suffix.length));
      if (base !== undefined && (base.type === 'histogram' || (base.type === 'summary' && suffix !== '_bucket'))) return base;
    }
    return undefined;
  };
  const enter = (family: Family, lineNo: number, line: string): void => {
    if (current === family) return;
    if (closed.has(family.name)) fail(lineNo, line, `the lines of ${family.name} are not together`);
    if (current !== null) closed.add(current.name);
    current = family;
  };
  lines.forEach((line, index) => {
    const lineNo = index + 1;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (m === null) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
      if (!METRIC_NAME.test(name)) fail(lineNo, line, `'${name}' is not a metric name`);
      let family = families.get(name);
      if (family === undefined) {
        if (familyOf(name) !== undefined) fail(lineNo, line, `${name} is a sample of another family`);
        family = { name, type: 'untyped', help: undefined, samples: [] };
        families.set(name, family);
      }
      enter(family, lineNo, line);
      if (kind === 'HELP') {
        if (family.help !== undefined) fail(lineNo, line, `a second HELP for ${name}`);
        family.help = unescapeHelp(rest ?? '');
      } else {
        const type = (rest ?? '').trim() as MetricType;
        if (!TYPES.has(type)) fail(lineNo, line, `'${type}' is not a metric type`);
        if ((family as Family & { typed?: boolean }).typed) fail(lineNo, line, `a second TYPE for ${name}`);
        if (family.samples.length > 0) fail(lineNo, line, `TYPE of ${name} after its samples`);
        family.type = type;
        (family as Family & { typed?: boolean }).typed = true;
      }
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (nameMatch === null) fail(lineNo, line, 'a metric name expected');
    const name = nameMatch[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i + 1, lineNo);
    const rest = line.slice(i);
    const m = /^[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*$/.exec(rest);
    if (m === null) fail(lineNo, line, 'a value (and optional timestamp) expected after the name and labels');
    const sample: Sample = { name, labels, value: parseValue(m[1]!, lineNo, line) };
    if (m[2] !== undefined) sample.timestamp = Number(m[2]);
    let family = familyOf(name);
    if (family === undefined) {
      family = { name, type: 'untyped', help: undefined, samples: [] };
      families.set(name, family);
    }
    enter(family, lineNo, line);
    const id = seriesId(sample);
    if (series.has(id)) fail(lineNo, line, `series ${id} twice`);
    series.add(id);
    if (family.type === 'counter' && !(sample.value >= 0)) fail(lineNo, line, 'a counter below zero');
    if (family.type === 'histogram') {
      const suffix = name.slice(family.name.length);
      if (suffix === '') fail(lineNo, line, `a histogram sample must be ${family.name}_bucket, _sum or _count`);
      if (suffix === '_bucket' && labels.le === undefined) fail(lineNo, line, 'a bucket without le');
      if (suffix !== '_bucket' && labels.le !== undefined) fail(lineNo, line, 'le outside a bucket');
    }
    family.samples.push(sample);
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const id = JSON.stringify(Object.entries(rest).sort());
    let group = groups.get(id);
    if (group === undefined) groups.set(id, (group = { buckets: [] }));
    const suffix = sample.name.slice(family.name.length);
    if (suffix === '_bucket') group.buckets.push([parseValue(le!, 0, sample.name), sample.value]);
    else if (suffix === '_count') group.count = sample.value;
    else group.sum = sample.value;
  }
  for (const [id, group] of groups) {
    if (group.count === undefined || group.sum === undefined) throw new Error(`${family.name}${id}: _sum or _count missing`);
    let lastLe = -Infinity;
    let lastCount = 0;
    for (const [le, count] of group.buckets) {
      if (!(le > lastLe)) throw new Error(`${family.name}${id}: buckets not in increasing le`);
      if (count < lastCount) throw new Error(`${family.name}${id}: bucket counts are not cumulative`);
      lastLe = le;
      lastCount = count;
    }
    if (lastLe !== Infinity) throw new Error(`${family.name}${id}: no +Inf bucket`);
    if (lastCount !== group.count) throw new Error(`${family.name}${id}: the +Inf bucket (${lastCount}) is not _count (${group.count})`);
  }
}

/** The value of the one sample of `name` whose labels include `labels`; throws unless there is exactly one. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const all = [...families.values()].flatMap((f) => f.samples).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (all.length !== 1) throw new Error(`${all.length} samples of ${name}${JSON.stringify(labels)}`);
  return all[0]!.value;
}
