// The graphs of the bag's file readers and writer. Files are listed, and sized, where the graph is
// built (as Dask's read_text does), so a missing file or a glob that matches nothing fails at once;
// the reading itself happens in the tasks (io-kernels.ts).
import fs from 'node:fs';
import path from 'node:path';
import { ref, type Graph } from '../../scheduler/graph.js';
import { invalidArgType, invalidArgValue, validateBoolean, validateInteger, validateOptionalObject, validateString } from '../../util/validate.js';
import { collectionName, partitionKey } from '../core/collection.js';
import { expandPaths } from '../core/glob.js';
import { ioKernels, type Block, type Compression, type TextFileTarget, type TextFormat } from './io-kernels.js';

/** How readText() and readJsonLines() split, decode and label the lines of their files. */
export interface ReadTextOptions {
  /**
   * Bytes per partition for uncompressed files, cut at line boundaries (Dask's blocksize). Default:
   * one partition per file. Compressed files cannot be cut: a blocksize with one is an error.
   */
  blocksize?: number;
  /** 'infer' (default): gzip for names ending in .gz; 'gzip'; null: none. */
  compression?: 'infer' | Compression;
  /** Default 'utf8'. */
  encoding?: BufferEncoding;
  /** What ends a line (kept at its end, as Dask's read_text keeps '\n'). Default '\n'. */
  linedelimiter?: string;
  /** Elements become [line, path] pairs (Dask's include_path). Default false. */
  includePath?: boolean;
  /** Files per partition, when not cutting blocks (Dask's files_per_partition). Default 1. */
  filesPerPartition?: number;
}

export interface FileLayer {
  name: string;
  layer: Graph;
  npartitions: number;
}

/** The layer of a text reader: one task per partition, each reading its blocks. */
export function readFilesLayer(kind: 'read-text' | 'read-json-lines', paths: string | readonly string[], opts: ReadTextOptions = {}): FileLayer {
  validateOptionalObject(opts, 'options');
  const { blocksize, compression = 'infer', encoding = 'utf8', linedelimiter = '\n', includePath = false, filesPerPartition = 1 } = opts;
  if (blocksize !== undefined) validateInteger(blocksize, 'options.blocksize', 1, Number.MAX_SAFE_INTEGER);
  validateInteger(filesPerPartition, 'options.filesPerPartition', 1, Number.MAX_SAFE_INTEGER);
  validateString(linedelimiter, 'options.linedelimiter');
  if (linedelimiter === '') throw invalidArgValue('options.linedelimiter', linedelimiter, 'must not be empty');
  validateBoolean(includePath, 'options.includePath');
  if (!Buffer.isEncoding(encoding)) throw invalidArgValue('options.encoding', encoding, 'is not an encoding Buffer knows');
  if (compression !== 'infer' && compression !== 'gzip' && compression !== null) {
    throw invalidArgValue('options.compression', compression, "must be 'infer', 'gzip' or null");
  }
  const files = expandPaths(paths);
  const formatOf = (file: string): TextFormat => ({ compression: compressionOf(file, compression), encoding, delimiter: linedelimiter, includePath });
  // Partitions: a list of blocks each, all of one compression (the format travels once per task).
  const partitions: { blocks: Block[]; format: TextFormat }[] = [];
  if (blocksize !== undefined) {
    for (const file of files) {
      const format = formatOf(file);
      if (format.compression !== null) throw invalidArgValue('options.blocksize', blocksize, `cannot cut the compressed file '${file}' into blocks`);
      const size = fs.statSync(file).size;
      for (let start = 0; start < Math.max(size, 1); start += blocksize) {
        partitions.push({ blocks: [{ path: file, start, end: Math.min(start + blocksize, size) }], format });
      }
    }
  } else {
    for (let i = 0; i < files.length; i += filesPerPartition) {
      const group = files.slice(i, i + filesPerPartition);
      // Files of another compression than the group's first start a partition of their own.
      for (const file of group) {
        const format = formatOf(file);
        const last = partitions[partitions.length - 1];
        if (last !== undefined && file !== group[0] && last.format.compression === format.compression) last.blocks.push({ path: file, start: 0, end: null });
        else partitions.push({ blocks: [{ path: file, start: 0, end: null }], format });
      }
    }
  }
  const stats = files.map((file) => {
    const s = fs.statSync(file);
    return [file, s.size, s.mtimeMs];
  });
  const name = collectionName(kind, stats, blocksize ?? null, filesPerPartition, compression, encoding, linedelimiter, includePath);
  const kernel = kind === 'read-text' ? ioKernels.readText : ioKernels.readJson;
  const layer: Graph = {};
  partitions.forEach(({ blocks, format }, i) => {
    layer[partitionKey(name, i)] = [kernel, blocks, format];
  });
  return { name, layer, npartitions: partitions.length };
}

function compressionOf(file: string, compression: 'infer' | Compression): Compression {
  if (compression !== 'infer') return compression;
  return file.endsWith('.gz') ? 'gzip' : null;
}

/** How Bag.toTextFiles() names, compresses and encodes its files (one per partition). */
export interface ToTextFilesOptions {
  /** The name of partition i's file where the path has a '*' or is a directory. Default String(i). */
  nameFunction?: (index: number) => string;
  /** 'infer' (default): gzip for names ending in .gz; 'gzip'; null: none. */
  compression?: 'infer' | Compression;
  /** The text encoding of the files (default 'utf8'). */
  encoding?: BufferEncoding;
  /** End the last line of each file with a newline too. Default false (Dask's last_endline). */
  lastEndline?: boolean;
}

/**
 * The files partitions go to (Dask's to_textfiles): `target` with its '*' replaced by each partition's
 * name, a directory (files `<name>.part` in it), or one path per partition.
 */
export function textFilePaths(target: string | readonly string[], npartitions: number, nameFunction: (index: number) => string = String): string[] {
  if (Array.isArray(target)) {
    if (target.length !== npartitions || target.some((p) => typeof p !== 'string' || p === '')) {
      throw invalidArgValue('path', target, `must name one file for each of the ${npartitions} partitions`);
    }
    return target.map((p) => path.resolve(p));
  }
  if (typeof target !== 'string' || target === '') throw invalidArgType('path', "a path with a '*', a directory, or an array of paths", target);
  const names = Array.from({ length: npartitions }, (_, i) => {
    const name = nameFunction(i);
    if (typeof name !== 'string' || name === '') throw invalidArgValue('options.nameFunction', name, `gave no name for partition ${i}`);
    return name;
  });
  if (target.includes('*')) return names.map((name) => path.resolve(target.replace('*', name)));
  return names.map((name) => path.resolve(target, `${name}.part`));
}

/** The layer that writes each partition of `inputName` to its file; its keys' results are the paths. */
export function writeTextLayer(inputName: string, paths: readonly string[], opts: ToTextFilesOptions = {}): { name: string; layer: Graph } {
  const { compression = 'infer', encoding = 'utf8', lastEndline = false } = opts;
  if (compression !== 'infer' && compression !== 'gzip' && compression !== null)
    throw invalidArgValue('options.compression', compression, "must be 'infer', 'gzip' or null");
  if (!Buffer.isEncoding(encoding)) throw invalidArgValue('options.encoding', encoding, 'is not an encoding Buffer knows');
  validateBoolean(lastEndline, 'options.lastEndline');
  // Writing is a side effect: a fresh name each time, so that a second call writes again.
  const name = collectionName('to-text-files', inputName, paths, compression, encoding, lastEndline, Symbol('write'));
  const layer: Graph = {};
  paths.forEach((file, i) => {
    const target: TextFileTarget = { path: file, compression: compressionOf(file, compression), encoding, lastEndline };
    layer[partitionKey(name, i)] = [ioKernels.writeText, ref(partitionKey(inputName, i)), target];
  });
  return { name, layer };
}
