// progress(futures): a progress bar on a terminal (Dask's `progress`), drawn on stderr by
// default as the futures settle: redrawn in place with '\r' on a TTY, a line now and then
// on anything else (a log file, CI). It only uses the public Future API: each future's
// exception() resolves once it has settled (finished, erred or cancelled) without
// fetching its result.
import { Future } from './future.js';
import { invalidArgType, validateInteger } from '../util/validate.js';

/** Where progress() draws its bar, and how often. */
export interface ProgressOptions {
  /** Where to draw (default process.stderr). A stream whose `isTTY` is true gets a bar redrawn in place. */
  stream?: NodeJS.WritableStream & {
    /** True for a terminal: the bar is redrawn in place. */
    isTTY?: boolean;
    /** The terminal's width, which the bar fits (default 80). */
    columns?: number;
  };
  /** How often to redraw (ms; default 100 on a TTY, 1000 otherwise: a line at most this often, and only after a change). */
  intervalMs?: number;
  /** Text before the bar (default none). */
  label?: string;
}

/** What progress() resolves with once every future has settled: how they ended, and how long it took. */
export interface ProgressResult {
  /** The futures watched. */
  total: number;
  /** Those that finished with a result. */
  finished: number;
  /** Those whose task failed. */
  erred: number;
  /** Those cancelled (or released). */
  cancelled: number;
  /** From the call until the last one settled (ms). */
  elapsedMs: number;
}

/**
 * Draws a progress bar for `futures` (a Future, an iterable of them, or an object whose values are
 * Futures) until all have settled; resolves then with the counts. It never rejects for a failed task:
 * the bar counts it as erred (ask the future for its error).
 */
export async function progress(futures: Future | Iterable<Future> | Record<string, Future>, opts: ProgressOptions = {}): Promise<ProgressResult> {
  if (typeof opts !== 'object' || opts === null) throw invalidArgType('opts', 'of type object', opts);
  const list = futuresOf(futures);
  const stream = opts.stream ?? process.stderr;
  if (typeof stream?.write !== 'function') throw invalidArgType('opts.stream', 'a writable stream', stream);
  const tty = stream.isTTY === true;
  const intervalMs = opts.intervalMs ?? (tty ? 100 : 1000);
  validateInteger(intervalMs, 'opts.intervalMs', 1, 3_600_000);
  const label = opts.label === undefined ? '' : `${opts.label} `;
  const started = performance.now();
  const counts = { finished: 0, erred: 0, cancelled: 0 };
  let drawn = '';

  const line = (): string => {
    const done = counts.finished + counts.erred + counts.cancelled;
    const fraction = list.length === 0 ? 1 : done / list.length;
    let tail = ` ${String(Math.floor(fraction * 100)).padStart(3)}% | ${done}/${list.length}`;
    if (counts.erred > 0) tail += ` | ${counts.erred} erred`;
    if (counts.cancelled > 0) tail += ` | ${counts.cancelled} cancelled`;
    tail += ` | ${seconds(performance.now() - started)}`;
    const columns = tty && typeof stream.columns === 'number' && stream.columns > 0 ? stream.columns : 80;
    const width = Math.max(10, Math.min(40, columns - label.length - tail.length - 3));
    const filled = Math.round(fraction * width);
    return `${label}[${'#'.repeat(filled)}${' '.repeat(width - filled)}]${tail}`;
  };
  const draw = (final: boolean): void => {
    const text = line();
    if (tty) {
      // In place: back to the line's start, the new text, the rest of the old one cleared.
      stream.write(`\r${text}\x1b[K${final ? '\n' : ''}`);
    } else if (final || textWithoutTime(text) !== textWithoutTime(drawn)) {
      stream.write(`${text}\n`);
    }
    drawn = text;
  };

  draw(false);
  const timer = setInterval(() => draw(false), intervalMs);
  timer.unref();
  try {
    await Promise.all(
      list.map(async (future) => {
        await future.exception().catch(() => {});
        const status = future.status;
        if (status === 'finished') counts.finished++;
        else if (status === 'error') counts.erred++;
        else counts.cancelled++;
      }),
    );
  } finally {
    clearInterval(timer);
  }
  draw(true);
  return { total: list.length, ...counts, elapsedMs: performance.now() - started };
}

function futuresOf(value: unknown): Future[] {
  if (value instanceof Future) return [value];
  let items: unknown[];
  if (value !== null && typeof value === 'object' && typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function')
    items = [...(value as Iterable<unknown>)];
  else if (value !== null && typeof value === 'object') items = Object.values(value);
  else throw invalidArgType('futures', 'a Future, an iterable of Futures or an object of them', value);
  items.forEach((item, i) => {
    if (!(item instanceof Future)) throw invalidArgType(`futures[${i}]`, 'a Future', item);
  });
  return items as Future[];
}

function seconds(ms: number): string {
  return ms < 10_000
    ? `${(ms / 1000).toFixed(1)}s`
    : ms < 3_600_000
      ? `${Math.floor(ms / 60_000)}m${String(Math.floor(ms / 1000) % 60).padStart(2, '0')}s`
      : `${(ms / 3_600_000).toFixed(1)}h`;
}

/** A non-TTY stream gets a new line only when the counts change, not the clock. */
function textWithoutTime(text: string): string {
  return text.slice(0, text.lastIndexOf(' | '));
}
