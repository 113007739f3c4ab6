// File globs for the collections' readers (Node 20 has no fs.glob): `*` and `?` within a path
// segment, `**` for any number of directories, `[abc]` / `[!abc]` classes and `{a,b}` alternatives.
// As in a shell and Python's glob, wildcards do not match a leading '.'. Matches are sorted (Dask
// sorts them too), so partitions come in a stable order. Runs where the graph is built (synchronous,
// like Dask's read_text), so a missing file fails at once, naming the file.
import fs from 'node:fs';
import path from 'node:path';
import { invalidArgType } from '../../util/validate.js';

const GLOB_CHARS = /[*?[{]/;

/** Whether `pattern` has wildcards. */
export function hasGlob(pattern: string): boolean {
  return GLOB_CHARS.test(pattern);
}

/**
 * The files `patterns` name: each path as it is (it must be a file), each glob by its sorted matches
 * (it must match one at least). Absolute paths, in the order of `patterns`. Throws an ENOENT error
 * naming the file (or the glob that matched nothing), EISDIR for a directory.
 */
export function expandPaths(patterns: string | readonly string[], name = 'paths'): string[] {
  const list = typeof patterns === 'string' ? [patterns] : patterns;
  if (!Array.isArray(list) || list.length === 0 || list.some((p) => typeof p !== 'string' || p === '')) {
    throw invalidArgType(name, 'a path, a glob, or a non-empty array of them', patterns);
  }
  const out: string[] = [];
  for (const pattern of list) {
    const absolute = path.resolve(pattern);
    if (!hasGlob(pattern)) {
      out.push(checkedFile(absolute));
      continue;
    }
    const matches = matchGlob(absolute);
    if (matches.length === 0) {
      throw Object.assign(new Error(`ENOENT: no files match '${pattern}'`), { code: 'ENOENT', path: absolute, syscall: 'glob' });
    }
    out.push(...matches);
  }
  return out;
}

function checkedFile(file: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'ENOENT';
    throw Object.assign(new Error(`${code}: no such file, '${file}'`, { cause: error }), { code, path: file, syscall: 'stat' });
  }
  if (stat.isDirectory()) throw Object.assign(new Error(`EISDIR: '${file}' is a directory, not a file`), { code: 'EISDIR', path: file, syscall: 'stat' });
  return file;
}

/** The files matching an absolute glob, sorted. */
export function matchGlob(absolutePattern: string): string[] {
  const { root } = path.parse(absolutePattern);
  const segments = absolutePattern
    .slice(root.length)
    .split(/[\\/]+/)
    .filter(Boolean);
  const first = segments.findIndex(hasGlob);
  const base = path.join(root, ...segments.slice(0, first));
  const matchers = segments.slice(first).map((segment) => (segment === '**' ? '**' : segmentRegExp(segment)));
  const found: string[] = [];
  walk(base, matchers, 0, found);
  return [...new Set(found)].sort();
}

function walk(dir: string, matchers: readonly (RegExp | '**')[], at: number, found: string[]): void {
  const matcher = matchers[at]!;
  const last = at === matchers.length - 1;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // not a directory, or unreadable: nothing matches under it
  }
  if (matcher === '**') {
    // Zero directories: the next segment here; or one more: '**' again in each subdirectory.
    if (last) {
      for (const entry of entries) collectAll(path.join(dir, entry.name), entry, found);
      return;
    }
    walk(dir, matchers, at + 1, found);
    for (const entry of entries) {
      if (!entry.name.startsWith('.') && isDirectory(dir, entry)) walk(path.join(dir, entry.name), matchers, at, found);
    }
    return;
  }
  for (const entry of entries) {
    if (!matcher.test(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (last) {
      if (isFile(dir, entry)) found.push(full);
    } else if (isDirectory(dir, entry)) {
      walk(full, matchers, at + 1, found);
    }
  }
}

/** Every file under `full` ('**' as the last segment), hidden ones aside. */
function collectAll(full: string, entry: fs.Dirent, found: string[]): void {
  if (entry.name.startsWith('.')) return;
  if (isFile(path.dirname(full), entry)) {
    found.push(full);
  } else if (isDirectory(path.dirname(full), entry)) {
    for (const child of fs.readdirSync(full, { withFileTypes: true })) collectAll(path.join(full, child.name), child, found);
  }
}

// Symbolic links are followed (stat), as a shell's glob does.
function isFile(dir: string, entry: fs.Dirent): boolean {
  if (entry.isFile()) return true;
  return entry.isSymbolicLink() && fs.statSync(path.join(dir, entry.name), { throwIfNoEntry: false })?.isFile() === true;
}

function isDirectory(dir: string, entry: fs.Dirent): boolean {
  if (entry.isDirectory()) return true;
  return entry.isSymbolicLink() && fs.statSync(path.join(dir, entry.name), { throwIfNoEntry: false })?.isDirectory() === true;
}

/** A RegExp for one path segment of a glob. */
export function segmentRegExp(segment: string): RegExp {
  let source = '';
  let depth = 0; // inside {...}
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') {
      source += '[^/]*';
    } else if (c === '?') {
      source += '[^/]';
    } else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) {
        source += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      source += `[${negated ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else if (c === '{') {
      depth++;
      source += '(?:';
    } else if (c === '}' && depth > 0) {
      depth--;
      source += ')';
    } else if (c === ',' && depth > 0) {
      source += '|';
    } else {
      source += c.replace(/[.+^$()|\\\]{}]/g, '\\$&');
    }
  }
  if (depth > 0) throw invalidArgType('pattern', 'a glob with balanced braces', segment);
  // A leading '.' is matched only by a pattern that starts with one.
  const hidden = segment.startsWith('.') ? '' : '(?!\\.)';
  return new RegExp(`^${hidden}${source}$`);
}
