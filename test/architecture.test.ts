// The layering rules of docs/architecture.md, checked on the source text (no build, no new
// dependency): no runtime import cycles in src/, higher layers reach the core only through its
// public surface, and util/ never touches the addon.
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, expect } from 'vitest';

const SRC = path.resolve(__dirname, '..', 'src');
const CSRC = path.resolve(__dirname, '..', 'csrc');
const DOC = path.resolve(__dirname, '..', 'docs', 'architecture.md');

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string, extensions = ['.ts']): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full, extensions);
    return extensions.some((ext) => entry.name.endsWith(ext)) ? [full] : [];
  });
}

/** The text of docs/architecture.md's section whose `### ` heading starts with `heading`, up to the next `##`/`###` heading. */
function docSection(doc: string, heading: string): string {
  const start = doc.indexOf(`\n### ${heading}`);
  if (start < 0) return '';
  const next = doc.slice(start + 1).search(/\n##+ /);
  return next < 0 ? doc.slice(start) : doc.slice(start, start + 1 + next);
}

/** Relative imports and re-exports of one file (static and dynamic), resolved to src/-relative .ts paths. */
export function importsOf(file: string, text: string): Import[] {
  const found: Import[] = [];
  const from = path.relative(SRC, file);
  const add = (specifier: string, typeOnly: boolean): void => {
    if (!specifier.startsWith('.')) return;
    const target = path.relative(SRC, path.resolve(path.dirname(file), specifier)).replace(/\.js$/, '.ts');
    found.push({ from, to: target, typeOnly });
  };
  const statement = /^\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*['"]([^'"]+)['"]/gm;
  for (const match of text.matchAll(statement)) {
    const names = match[3]!;
    // `import { type A, type B }` is as type-only as `import type { A, B }`.
    const braces = /^\{([^}]*)\}$/.exec(names.trim());
    const allTypes =
      braces !== null &&
      braces[1]!
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean)
        .every((n) => n.startsWith('type '));
    add(match[4]!, match[2] !== undefined || allTypes);
  }
  for (const match of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) add(match[1]!, false);
  for (const match of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) add(match[1]!, false);
  return found;
}

const files = sourceFiles(SRC);
const imports = files.flatMap((file) => importsOf(file, fs.readFileSync(file, 'utf8')));
const runtime = imports.filter((i) => !i.typeOnly);

/** The first folder under src/ ('core', 'util', ...), or '' for the top-level files. */
function area(file: string): string {
  return file.includes(path.sep) ? file.split(path.sep)[0]! : '';
}

/**
 * What each area may import at run time (besides itself and node: builtins). Above core/, the core is
 * reached through its public surface (index.ts), never core/, native.ts or internal symbols.
 */
const ALLOWED: Record<string, (to: string) => boolean> = {
  util: (to) => area(to) === 'util',
  core: (to) => area(to) === 'util' || to === 'native.ts',
  transport: (to) => area(to) === 'util' || to === 'index.ts',
  rpc: (to) => ['util', 'transport'].includes(area(to)),
  mpi: (to) => ['util', 'transport'].includes(area(to)) || to === 'index.ts',
  // initialize() (scheduler/launch.ts) bootstraps a cluster from an MPI-style job: it needs the launcher
  // detection and the job's authenticated store, which live in mpi/bootstrap.ts and mpi/kvstore.ts. Those two
  // bring only transport/'s TCP, the store's thread and proofs (store-link, store-thread, auth), the optional
  // PMIx loader, mpi/errors.ts and mpi/tags.ts (no UCX, no communicators), so the scheduler may reach them
  // and nothing else of mpi/ (the MPI shim itself stays a sibling, not a dependency).
  scheduler: (to) =>
    ['util', 'transport', 'rpc'].includes(area(to)) || to === 'index.ts' || to === path.join('mpi', 'bootstrap.ts') || to === path.join('mpi', 'kvstore.ts'),
  collections: (to) => ['util', 'scheduler'].includes(area(to)),
  cli: (to) => ['util', 'transport', 'mpi', 'rpc', 'scheduler'].includes(area(to)) || to === 'index.ts' || to === 'cuda.ts',
};

describe('architecture', () => {
  it('the checker reads imports: static, re-exports, type-only and dynamic', () => {
    const sample = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "import { type C, type D } from './c.js';",
      "export { e } from './e.js';",
      "const f = await import('./f.js');",
      "import fs from 'node:fs';",
    ].join('\n');
    const got = importsOf(path.join(SRC, 'core', 'x.ts'), sample);
    expect(got.map((i) => [i.to, i.typeOnly])).toEqual([
      [path.join('core', 'a.ts'), false],
      ['b.ts', true],
      [path.join('core', 'c.ts'), true],
      [path.join('core', 'e.ts'), false],
      [path.join('core', 'f.ts'), false],
    ]);
  });

  it('every relative import in src/ names a file that exists', () => {
    const missing = imports.filter((i) => !fs.existsSync(path.join(SRC, i.to))).map((i) => `${i.from} -> ${i.to}`);
    expect(missing).toEqual([]);
  });

  it('src/ has no import cycles at run time (type-only imports aside)', () => {
    const graph = new Map<string, string[]>();
    for (const i of runtime) graph.set(i.from, [...(graph.get(i.from) ?? []), i.to]);
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (node: string): void => {
      state.set(node, 'open');
      stack.push(node);
      for (const next of graph.get(node) ?? []) {
        if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
        else if (state.get(next) === undefined) visit(next);
      }
      stack.pop();
      state.set(node, 'done');
    };
    for (const node of graph.keys()) if (!state.has(node)) visit(node);
    expect(cycles).toEqual([]);
  });

  it('each layer imports only the layers below it; above core/ only the public surface', () => {
    const broken = runtime
      .filter((i) => {
        const rule = ALLOWED[area(i.from)];
        return rule !== undefined && area(i.to) !== area(i.from) && !rule(i.to);
      })
      .map((i) => `${i.from} -> ${i.to}`);
    expect(broken).toEqual([]);
  });

  it('nothing above core/ imports native.ts or internal.ts, even for types', () => {
    const lower = new Set(['', 'core', 'util']);
    const broken = imports
      .filter((i) => !lower.has(area(i.from)) && (i.to === 'native.ts' || i.to === path.join('core', 'internal.ts')))
      .map((i) => `${i.from} -> ${i.to}`);
    expect(broken).toEqual([]);
  });

  it('util/ loads nothing of the addon, directly or through what it imports', () => {
    const reach = (start: string): Set<string> => {
      const seen = new Set<string>();
      const todo = [start];
      while (todo.length > 0) {
        const node = todo.pop()!;
        for (const i of runtime)
          if (i.from === node && !seen.has(i.to)) {
            seen.add(i.to);
            todo.push(i.to);
          }
      }
      return seen;
    };
    const utilFiles = files.map((f) => path.relative(SRC, f)).filter((f) => area(f) === 'util');
    expect(utilFiles.length).toBeGreaterThan(0);
    const loading = utilFiles.filter((f) => reach(f).has('native.ts'));
    expect(loading).toEqual([]);
  });

  // The page drifted through many merges once; this keeps it a picture of the tree. Each source file is
  // named, in backquotes, in its folder's section, by its path inside that folder ('state/heap.ts').
  it("docs/architecture.md names every source file of src/ and csrc/ in its folder's section", () => {
    const doc = fs.readFileSync(DOC, 'utf8');
    const unnamed: string[] = [];
    for (const file of files.map((f) => path.relative(SRC, f).split(path.sep).join('/'))) {
      const top = file.includes('/') ? file.slice(0, file.indexOf('/')) : '';
      const section = top === '' ? docSection(doc, '`src/` top level') : docSection(doc, `\`src/${top}/\``);
      const name = top === '' ? file : file.slice(top.length + 1);
      if (!section.includes(`\`${name}\``)) unnamed.push(`src/${file}`);
    }
    const csrc = docSection(doc, '`csrc/`');
    for (const file of sourceFiles(CSRC, ['.cc', '.h']).map((f) => path.relative(CSRC, f).split(path.sep).join('/'))) {
      if (!csrc.includes(`\`${file}\``)) unnamed.push(`csrc/${file}`);
    }
    expect(unnamed).toEqual([]);
  });
});
