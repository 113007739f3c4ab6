// Every code block in README.md and docs/*.md marked ```js runnable is a program that must run as
// printed: it is written out as an .mjs file inside this package (so `import ... from 'node-ucx'`
// resolves to it) and run with node, or with `ucx-run -n N node` when marked
// ```js runnable ucx-run -n N; it must exit 0 within 30 s with no unhandled rejection.
// Blocks marked plain ```js are fragments and are not run.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, expect, afterAll } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
const OUT = path.join(__dirname, '.snippets');
const docs = [
  'README.md',
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

interface Snippet {
  file: string;
  line: number;
  code: string;
  ranks: number | null;
}

function snippets(file: string): Snippet[] {
  const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const found: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(?:js|javascript|mjs) runnable(?: ucx-run -n (\d+))?\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    found.push({ file, line: i + 1, code: lines.slice(i + 1, end).join('\n'), ranks: open[1] ? Number(open[1]) : null });
    i = end;
  }
  return found;
}

const all = docs.flatMap(snippets);
afterAll(() => fs.rmSync(OUT, { recursive: true, force: true }));

describe('runnable doc snippets', () => {
  it('there are some, in the README and the docs', () => {
    expect(all.some((s) => s.file === 'README.md')).toBe(true);
    expect(all.filter((s) => s.file.startsWith('docs/')).length).toBeGreaterThanOrEqual(3);
  });

  for (const snippet of all) {
    it(`${snippet.file}:${snippet.line} runs${snippet.ranks ? ` under ucx-run -n ${snippet.ranks}` : ''}`, () => {
      fs.mkdirSync(OUT, { recursive: true });
      const script = path.join(OUT, `${snippet.file.replace(/[/.]/g, '_')}_${snippet.line}.mjs`);
      fs.writeFileSync(script, `${snippet.code}\n`);
      const argv = snippet.ranks
        ? [path.join(ROOT, 'dist', 'cli', 'ucx-run.js'), '-n', String(snippet.ranks), process.execPath, script]
        : ['--unhandled-rejections=strict', script];
      const r = spawnSync(process.execPath, argv, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
      const report = `${snippet.file}:${snippet.line} exited ${r.status ?? r.signal}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`;
      expect(r.status, report).toBe(0);
      expect(r.stderr, report).not.toMatch(/Unhandled|UnhandledPromiseRejection/);
    }, 40_000);
  }
});
