// Where bags come from: sequences in memory, integer ranges, other bags, text and JSON-lines files.
import { ref, type Graph } from '../../scheduler/graph.js';
import { invalidArgType, invalidArgValue, validateInteger, validateOptionalObject } from '../../util/validate.js';
import { asLiteral, collectionName, partitionKey, withLayer } from '../core/collection.js';
import { Bag } from './bag.js';
import { readFilesLayer, type ReadTextOptions } from './io.js';
import { bagKernels } from './kernels.js';

/** How fromSequence() partitions its elements: by count or by size (not both). */
export interface FromSequenceOptions {
  /** Exactly this many partitions (fewer only for a shorter sequence), sizes within one of each other. */
  npartitions?: number;
  /** Partitions of this many elements (the last may have fewer). */
  partitionSize?: number;
}

/**
 * A bag of `seq`'s elements (Dask's from_sequence). Without options, Dask's rule: one element a
 * partition up to 100 elements, else partitions of ceil(sqrt(n) / 10) elements. The partitions are
 * literals of the graph: each is copied to the thread or process that first uses it.
 */
export function fromSequence<T>(seq: Iterable<T>, opts: FromSequenceOptions = {}): Bag<T> {
  if (seq === null || seq === undefined || typeof (seq as Iterable<T>)[Symbol.iterator] !== 'function' || typeof seq === 'string') {
    throw invalidArgType('seq', 'an array or another iterable (not a string)', seq);
  }
  validateOptionalObject(opts, 'options');
  const { npartitions, partitionSize } = opts;
  if (npartitions !== undefined && partitionSize !== undefined) throw invalidArgValue('options', opts, 'may give npartitions or partitionSize, not both');
  const items = Array.from(seq);
  const n = items.length;
  let parts: T[][];
  if (npartitions !== undefined) {
    validateInteger(npartitions, 'options.npartitions', 1, Number.MAX_SAFE_INTEGER);
    const count = Math.max(1, Math.min(npartitions, n));
    const base = Math.floor(n / count);
    const extra = n % count;
    parts = [];
    for (let i = 0, at = 0; i < count; i++) {
      const size = base + (i < extra ? 1 : 0);
      parts.push(items.slice(at, (at += size)));
    }
  } else {
    if (partitionSize !== undefined) validateInteger(partitionSize, 'options.partitionSize', 1, Number.MAX_SAFE_INTEGER);
    const size = partitionSize ?? (n <= 100 ? 1 : Math.ceil(Math.sqrt(n) / 10));
    parts = [];
    for (let at = 0; at < n; at += size) parts.push(items.slice(at, at + size));
    if (parts.length === 0) parts.push([]);
  }
  const name = collectionName('from-sequence', parts);
  const layer: Graph = {};
  parts.forEach((part, i) => {
    layer[partitionKey(name, i)] = asLiteral(part);
  });
  return new Bag<T>(withLayer([], name, layer), name, parts.length);
}

/** The integers 0 .. n - 1 in `npartitions` partitions (Dask's range), each made by its task. */
export function range(n: number, opts: { npartitions: number }): Bag<number> {
  validateInteger(n, 'n', 0, Number.MAX_SAFE_INTEGER);
  validateOptionalObject(opts, 'options');
  validateInteger(opts?.npartitions, 'options.npartitions', 1, Number.MAX_SAFE_INTEGER);
  const count = Math.max(1, Math.min(opts.npartitions, n));
  const size = Math.ceil(n / count);
  const name = collectionName('range', n, count);
  const layer: Graph = {};
  for (let i = 0; i < count; i++) layer[partitionKey(name, i)] = [bagKernels.range, Math.min(n, i * size), Math.min(n, (i + 1) * size)];
  return new Bag<number>(withLayer([], name, layer), name, count);
}

/** The bags' partitions, one bag after the other (Dask's concat): no task, the partitions are reused. */
export function concat<T>(bags: readonly Bag<T>[]): Bag<T> {
  if (!Array.isArray(bags) || bags.length === 0 || bags.some((b) => !(b instanceof Bag))) throw invalidArgType('bags', 'a non-empty array of Bags', bags);
  const name = collectionName('concat', ...bags);
  const layer: Graph = {};
  let i = 0;
  for (const bag of bags) for (const key of bag.keys) layer[partitionKey(name, i++)] = ref(key);
  return new Bag<T>(withLayer(bags, name, layer), name, i);
}

/**
 * The lines of text files (Dask's read_text): `paths` is a file, a glob ('logs/*.txt.gz', 'data/**\/*.txt')
 * or an array of them. Lines keep their delimiter ('\n'), as Dask's do. Gzip by extension (.gz).
 * One partition per file, or per `blocksize` bytes of uncompressed files. A missing file, or a glob
 * matching none, throws ENOENT here, naming it.
 */
export function readText(paths: string | readonly string[], opts: ReadTextOptions = {}): Bag<string> {
  const { name, layer, npartitions } = readFilesLayer('read-text', paths, opts);
  return new Bag<string>(withLayer([], name, layer), name, npartitions);
}

/**
 * The values of JSON-lines files (one JSON value a line; blank lines skipped): readText's options.
 * A line that is not JSON fails the computation with ERR_COLLECTIONS_MALFORMED_JSON naming the file and line.
 */
export function readJsonLines<T = unknown>(paths: string | readonly string[], opts: ReadTextOptions = {}): Bag<T> {
  const { name, layer, npartitions } = readFilesLayer('read-json-lines', paths, opts);
  return new Bag<T>(withLayer([], name, layer), name, npartitions);
}
