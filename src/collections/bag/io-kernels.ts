// The bag's file kernels: read blocks of text files (plain or gzip) as lines, parse JSON lines,
// write partitions as text files. They run wherever the scheduler puts them; a file that vanished
// since the graph was built fails the task with fs's own error, which names the file.
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { moduleFunction } from '../../scheduler/code.js';

const gunzip = promisify(zlib.gunzip);
const gzip = promisify(zlib.gzip);

export type Compression = 'gzip' | null;

/** A piece of a file: [start, end) in bytes, moved to line boundaries when read (null: the whole file). */
export interface Block {
  path: string;
  start: number;
  end: number | null;
}

export interface TextFormat {
  compression: Compression;
  encoding: BufferEncoding;
  /** Lines end with it, and keep it (as Dask's read_text). */
  delimiter: string;
  /** Elements are [line, path] pairs. */
  includePath: boolean;
}

/** Each block's lines, one partition (Bag from readText). */
export async function readTextBlocks(blocks: Block[], format: TextFormat): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const block of blocks) {
    const text = (await readBlock(block, format)).toString(format.encoding);
    for (const line of splitLines(text, format.delimiter)) out.push(format.includePath ? [line, block.path] : line);
  }
  return out;
}

/**
 * Each block's lines parsed as JSON, blank lines skipped (readJsonLines). A line that does not parse
 * fails the task with ERR_COLLECTIONS_MALFORMED_JSON, naming the file and the line's number.
 */
export async function readJsonBlocks(blocks: Block[], format: TextFormat): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const block of blocks) {
    const text = (await readBlock(block, format)).toString(format.encoding);
    let lineIndex = 0;
    for (const line of splitLines(text, format.delimiter)) {
      lineIndex++;
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        const lineNumber = (await linesBefore(block, format)) + lineIndex;
        throw Object.assign(new SyntaxError(`${block.path}:${lineNumber}: not JSON: ${(error as Error).message}`), {
          code: 'ERR_COLLECTIONS_MALFORMED_JSON',
          path: block.path,
          line: lineNumber,
        });
      }
      out.push(format.includePath ? [value, block.path] : value);
    }
  }
  return out;
}

/** The lines of `text`, each with its delimiter (the last one without, if the text does not end with one). */
export function splitLines(text: string, delimiter: string): string[] {
  const lines: string[] = [];
  let from = 0;
  while (from < text.length) {
    const at = text.indexOf(delimiter, from);
    if (at < 0) {
      lines.push(text.slice(from));
      break;
    }
    lines.push(text.slice(from, at + delimiter.length));
    from = at + delimiter.length;
  }
  return lines;
}

async function readBlock(block: Block, format: TextFormat): Promise<Buffer> {
  if (format.compression === 'gzip') {
    const bytes = await fs.promises.readFile(block.path);
    try {
      return await gunzip(bytes);
    } catch (error) {
      throw Object.assign(new Error(`${block.path}: not gzip data: ${(error as Error).message}`, { cause: error }), {
        code: 'ERR_COLLECTIONS_MALFORMED_GZIP',
        path: block.path,
      });
    }
  }
  if (block.start === 0 && block.end === null) return fs.promises.readFile(block.path);
  const file = await fs.promises.open(block.path, 'r');
  try {
    const size = (await file.stat()).size;
    const delimiter = Buffer.from(format.delimiter, format.encoding);
    const start = await lineStartAtOrAfter(file, block.start, size, delimiter);
    const end = await lineStartAtOrAfter(file, block.end ?? size, size, delimiter);
    const bytes = Buffer.allocUnsafe(Math.max(0, end - start));
    let read = 0;
    while (read < bytes.length) {
      const { bytesRead } = await file.read(bytes, read, bytes.length - read, start + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return bytes.subarray(0, read);
  } finally {
    await file.close();
  }
}

const SCAN_BYTES = 64 * 1024;

/**
 * The first line start at or after byte `at`: 0, or just past a delimiter. A block owns the lines
 * that start inside it, so consecutive blocks read every line exactly once.
 */
async function lineStartAtOrAfter(file: fs.promises.FileHandle, at: number, size: number, delimiter: Buffer): Promise<number> {
  if (at <= 0) return 0;
  if (at >= size) return size;
  // A delimiter ending at `at` or later counts: start looking delimiter.length - 1 bytes before `at`.
  let from = Math.max(0, at - delimiter.length);
  const chunk = Buffer.allocUnsafe(SCAN_BYTES + delimiter.length);
  while (from < size) {
    const { bytesRead } = await file.read(chunk, 0, chunk.length, from);
    if (bytesRead === 0) break;
    const found = chunk.subarray(0, bytesRead).indexOf(delimiter);
    if (found >= 0 && from + found + delimiter.length >= at) return from + found + delimiter.length;
    if (found >= 0) {
      from += found + 1;
      continue;
    }
    if (from + bytesRead >= size) break;
    from += bytesRead - delimiter.length + 1;
  }
  return size;
}

/** How many lines come before the block in its file (for an error's line number; read only then). */
async function linesBefore(block: Block, format: TextFormat): Promise<number> {
  if (block.start === 0 || format.compression !== null) return 0;
  const file = await fs.promises.open(block.path, 'r');
  try {
    const delimiter = Buffer.from(format.delimiter, format.encoding);
    const size = (await file.stat()).size;
    const start = await lineStartAtOrAfter(file, block.start, size, delimiter);
    const prefix = Buffer.allocUnsafe(start);
    await file.read(prefix, 0, start, 0);
    let count = 0;
    for (let at = prefix.indexOf(delimiter); at >= 0; at = prefix.indexOf(delimiter, at + delimiter.length)) count++;
    return count;
  } finally {
    await file.close();
  }
}

export interface TextFileTarget {
  path: string;
  compression: Compression;
  encoding: BufferEncoding;
  /** End the last line with a newline too (Dask's last_endline; default false). */
  lastEndline: boolean;
}

/** Writes a partition of strings, one a line, to `target.path` (its directory made if missing); gives [path]. */
export async function writeTextPartition(partition: unknown[], target: TextFileTarget): Promise<[string]> {
  partition.forEach((item, i) => {
    if (typeof item !== 'string') {
      throw Object.assign(
        new TypeError(
          `toTextFiles: element ${i} of the partition for '${target.path}' is ${item === null ? 'null' : typeof item}, not a string (map it to one first)`,
        ),
        { code: 'ERR_INVALID_ARG_TYPE' },
      );
    }
  });
  let text = (partition as string[]).join('\n');
  if (target.lastEndline && partition.length > 0) text += '\n';
  const bytes = Buffer.from(text, target.encoding);
  await fs.promises.mkdir(path.dirname(target.path), { recursive: true });
  await fs.promises.writeFile(target.path, target.compression === 'gzip' ? await gzip(bytes) : bytes);
  return [target.path];
}

const here = import.meta.url;
export const ioKernels = Object.freeze({
  readText: moduleFunction(here, 'readTextBlocks'),
  readJson: moduleFunction(here, 'readJsonBlocks'),
  writeText: moduleFunction(here, 'writeTextPartition'),
});
