// The API reference: `npm run docs` (typedoc) builds it from the TSDoc comments and fails on any
// public export without documentation (typedoc.json: validation.notDocumented, warnings as errors),
// and the published .d.ts files carry no internal symbols (tsconfig stripInternal).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
const TYPEDOC = path.join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');

function typedoc(args: string[]): { code: number | null; output: string } {
  const r = spawnSync(process.execPath, [TYPEDOC, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('npm run docs', () => {
  it('generates the reference with no undocumented export and no other warning', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-docs-'));
    try {
      const r = typedoc(['--out', out]);
      expect(r.code, r.output).toBe(0);
      expect(r.output).not.toMatch(/\[warning\]|\[error\]/);
      for (const page of ['index.html', 'classes/index.Endpoint.html', 'classes/index.Context.html', 'interfaces/transport.Connection.html']) {
        expect(fs.existsSync(path.join(out, page)), page).toBe(true);
      }
      const endpoint = fs.readFileSync(path.join(out, 'classes', 'index.Endpoint.html'), 'utf8');
      expect(endpoint).toContain('recvObject');
      expect(endpoint, 'internal members stay out').not.toMatch(/kNative|kRequireOpen/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('fails on an export without documentation', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-docs-'));
    try {
      // The project's options (validation and all), on a file with one undocumented export.
      const fixtures = path.join(__dirname, 'fixtures');
      const options = path.join(out, 'typedoc.json');
      fs.writeFileSync(
        options,
        JSON.stringify({
          extends: [path.join(ROOT, 'typedoc.json')],
          entryPoints: [path.join(fixtures, 'undocumented.ts')],
          tsconfig: path.join(fixtures, 'tsconfig.json'),
          out: path.join(out, 'html'),
        }),
      );
      const r = typedoc(['--options', options]);
      expect(r.code, r.output).not.toBe(0);
      expect(r.output).toMatch(/undocumented.*does not have any documentation/);
      expect(r.output).not.toMatch(/\bdocumented\b, defined/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('the published types hold no internal symbols', () => {
    const published = [
      'index.d.ts',
      'core/context.d.ts',
      'core/worker.d.ts',
      'core/endpoint.d.ts',
      'core/listener.d.ts',
      'core/memory.d.ts',
      'transport/index.d.ts',
      'transport/ucx.d.ts',
      'transport/tcp.d.ts',
      'transport/inproc.d.ts',
      'transport/connection.d.ts',
    ];
    for (const file of published) {
      const text = fs.readFileSync(path.join(ROOT, 'dist', file), 'utf8');
      expect(text, file).not.toMatch(/\[k[A-Z]\w*\]|Native(Context|Worker|Endpoint|Listener|MemoryHandle|RemoteKey)\b|@internal/);
    }
  });
});
