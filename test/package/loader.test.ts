// Which addon binary src/native.ts loads, and what the install hook does when the prebuilt does not
// load: on a copy of the package laid out as npm installs it (dist/, scripts/, prebuilds/, build/).
// NODE_DEBUG=ucx makes the loader say which file it loaded and why it passed over the others.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
const ABI = process.versions.modules;
let tmp = '';

/** A package directory with dist/ and scripts/, plus the given addon files (path in the package -> bytes). */
function layout(name: string, files: Record<string, Buffer | string>): string {
  const dir = path.join(tmp, name);
  fs.cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'scripts'), path.join(dir, 'scripts'), { recursive: true });
  for (const file of ['package.json', 'binding.gyp']) fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
  fs.cpSync(path.join(ROOT, 'csrc'), path.join(dir, 'csrc'), { recursive: true });
  for (const [file, bytes] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), bytes);
  }
  return dir;
}

function load(dir: string, env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const script = `import(${JSON.stringify(path.join(dir, 'dist', 'index.js'))}).then((m) => console.log('ucx', m.version.ucx))`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_DEBUG: 'ucx', NODE_UCX_ADDON: '', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const built = (): Buffer => fs.readFileSync(path.join(ROOT, 'build', 'Release', 'node_ucx.node'));
const prebuilt = `prebuilds/${process.platform}-${process.arch}/node_ucx.abi${ABI}.node`;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-loader-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the addon loader (src/native.ts)', () => {
  it('loads the prebuilt for this Node ABI when there is one', () => {
    const dir = layout('prebuilt-only', { [prebuilt]: built() });
    const r = load(dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`addon loaded from ${path.join(dir, prebuilt)}`);
  });

  it('falls back to build/Release when the prebuilt does not load', () => {
    const dir = layout('broken-prebuilt', { 'build/Release/node_ucx.node': built() });
    // Newer than the build, so it is tried first.
    fs.mkdirSync(path.dirname(path.join(dir, prebuilt)), { recursive: true });
    fs.writeFileSync(path.join(dir, prebuilt), 'not an ELF file');
    const r = load(dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`addon ${path.join(dir, prebuilt).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} did not load: .*(invalid ELF header|file too short)`),
    );
    expect(r.stderr).toContain(`addon loaded from ${path.join(dir, 'build', 'Release', 'node_ucx.node')}`);
  });

  it('prefers a build newer than the prebuilt (a checkout whose csrc/ changed after npm run prebuild)', () => {
    const dir = layout('newer-build', { [prebuilt]: built() });
    const older = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(dir, prebuilt), older, older);
    fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'build', 'Release', 'node_ucx.node'), built());
    const r = load(dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`addon loaded from ${path.join(dir, 'build', 'Release', 'node_ucx.node')}`);
  });

  it('with no binary at all, says what to run and what it needs', () => {
    const r = load(layout('nothing', {}));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('No prebuilt binary fits this platform and Node, and none was built');
    expect(r.stderr).toContain('npm rebuild node-ucx');
    expect(r.stderr).toContain('UCX_HOME=/path/to/ucx');
  });

  it('NODE_UCX_ADDON names the binary to load, and nothing else is tried', () => {
    const dir = layout('explicit', { [prebuilt]: 'broken' });
    const file = path.join(ROOT, 'build', 'Release', 'node_ucx.node');
    const r = load(dir, { NODE_UCX_ADDON: file });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`addon loaded from ${file}`);
  });
});

describe('the install hook (scripts/install.mjs)', () => {
  const hook = (dir: string, env: NodeJS.ProcessEnv = {}): { code: number | null; output: string } => {
    const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'install.mjs')], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NODE_UCX_ADDON: '', npm_config_build_from_source: '', ...env },
    });
    return { code: r.status, output: `${r.stdout}${r.stderr}` };
  };
  // The package sits under node_modules, as npm installs it (elsewhere it would count as a checkout).
  const installed = (name: string, files: Record<string, Buffer | string>): string => {
    const dir = layout(path.join(name, 'node_modules', 'node-ucx'), files);
    return dir;
  };

  it('uses a prebuilt that loads, and builds nothing', () => {
    const r = hook(installed('hook-ok', { [prebuilt]: built() }));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`using the prebuilt ${prebuilt}`);
  });

  it('goes on to build when the prebuilt does not load (here the build cannot run: CC=false CXX=false)', () => {
    const r = hook(installed('hook-broken', { [prebuilt]: 'not an ELF file' }), { CXX: 'false', CC: 'false' });
    expect(r.output).toMatch(new RegExp(`the prebuilt ${prebuilt.replace(/\./g, '\\.')} did not load \\(.*(invalid ELF header|file too short)`));
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('cannot build the addon: a C++ compiler (false) missing');
    expect(r.output).toContain('sudo apt-get install build-essential python3');
  });

  it("a build that fails shows all of node-gyp's output (quiet only when it works)", () => {
    const dir = installed('hook-build-fails', { [prebuilt]: 'not an ELF file' });
    // node-addon-api where npm would have hoisted it, and a "compiler" that fails.
    fs.symlinkSync(path.join(ROOT, 'node_modules', 'node-addon-api'), path.join(dir, '..', 'node-addon-api'));
    const cxx = path.join(tmp, 'failing-c++');
    fs.writeFileSync(cxx, '#!/bin/sh\necho "fake compiler: no" >&2\nexit 1\n', { mode: 0o755 });
    const r = hook(dir, { CXX: cxx, CC: cxx });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('node-gyp rebuild failed');
    expect(r.output).toContain('fake compiler: no');
    expect(r.output).toMatch(/gyp (info|ERR!)/);
  }, 120_000);

  it('builds against UCX_HOME when it is set, and says so when it holds no UCX', () => {
    const r = hook(installed('hook-ucx-home', { [prebuilt]: built() }), { UCX_HOME: path.join(tmp, 'no-ucx-here') });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('UCX_HOME is set');
    expect(r.output).toContain(`UCX_HOME=${path.join(tmp, 'no-ucx-here')} has no include/ucp/api/ucp.h`);
  });
});
