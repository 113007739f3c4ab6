#!/usr/bin/env node
// Makes a checkout of this repository ready to run: UCX present (apt-get when root on
// Debian/Ubuntu, otherwise the exact command to run), npm dependencies installed, the native
// addon and the TypeScript built when missing or made from other sources. This is the
// repository's own script (the README's `npm test` / `npm run bench`); installing node-ucx as a
// dependency runs scripts/install.mjs instead, which never calls apt-get.
//
//   node scripts/setup.mjs               everything
//   node scripts/setup.mjs --build-only  only the addon and TS
//   node scripts/setup.mjs --check       report what is missing, change nothing
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon, buildIsFresh, nodedirArgs } from './addon.mjs';

export { nodedirArgs };

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const buildOnly = args.has('--build-only');
const checkOnly = args.has('--check');
const quiet = args.has('--quiet');
const APT_PACKAGES = ['libucx-dev', 'ucx-utils', 'pkg-config'];
const verbose = args.has('--verbose');

function log(message) {
  if (!quiet) process.stderr.write(`[node-ucx setup] ${message}\n`);
}

function run(command, argv, options = {}) {
  log(`$ ${command} ${argv.join(' ')}`);
  const result = spawnSync(command, argv, { stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', cwd: root, ...options });
  if (result.status !== 0) {
    throw new Error(`${command} ${argv.join(' ')} failed (exit ${result.status ?? result.signal})`);
  }
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function ucxFound() {
  if (process.env.UCX_HOME) return fs.existsSync(path.join(process.env.UCX_HOME, 'include', 'ucp', 'api', 'ucp.h'));
  return has('pkg-config') && spawnSync('pkg-config', ['--exists', 'ucx'], { stdio: 'ignore' }).status === 0;
}

function ensureUcx() {
  if (ucxFound()) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const command = `apt-get update && apt-get install -y ${APT_PACKAGES.join(' ')}`;
  if (checkOnly || !isRoot || !has('apt-get')) {
    throw new Error(
      'UCX was not found (pkg-config ucx, or UCX_HOME).\n' +
        `  Debian/Ubuntu: sudo sh -c '${command}'\n` +
        '  Other systems: install UCX >= 1.13 with its headers, then set UCX_HOME=/path/to/ucx or put ucx.pc on PKG_CONFIG_PATH.',
    );
  }
  log('UCX not found: installing it with apt-get');
  run('apt-get', ['update', '-qq'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  run('apt-get', ['install', '-y', '-qq', ...APT_PACKAGES], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!ucxFound()) throw new Error('UCX is still not visible to pkg-config after installing it');
}

function newest(dir, exts) {
  let latest = 0;
  if (!fs.existsSync(dir)) return latest;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(full, exts));
    else if (exts.some((ext) => entry.name.endsWith(ext))) latest = Math.max(latest, fs.statSync(full).mtimeMs);
  }
  return latest;
}

function mtime(file) {
  return fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0;
}

function ensureDependencies() {
  const needed = buildOnly ? ['node-addon-api', 'typescript'] : ['node-addon-api', 'node-gyp', 'typescript', 'vitest', 'typedoc', 'playwright-core'];
  const missing = needed.filter((name) => !fs.existsSync(path.join(root, 'node_modules', name, 'package.json')));
  if (missing.length === 0) return;
  if (buildOnly || checkOnly) throw new Error(`missing npm packages: ${missing.join(', ')} (run npm install)`);
  log(`installing npm dependencies (missing: ${missing.join(', ')})`);
  // --ignore-scripts: this script is the package's own install step; no need to recurse into it.
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund']);
}

function ensureAddon() {
  if (buildIsFresh()) return;
  if (checkOnly) throw new Error('the native addon needs building (npm run build:native)');
  // node-gyp's output is shown only when the build fails (or with --verbose).
  buildAddon({ verbose, log });
}

function ensureTypeScript() {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const built = mtime(path.join(root, 'dist', 'index.js'));
  const sources = Math.max(newest(path.join(root, 'src'), ['.ts']), mtime(path.join(root, 'tsconfig.json')));
  if (built >= sources) return;
  if (!fs.existsSync(tsc)) {
    if (built > 0) return; // an installed package ships dist/
    throw new Error('dist/ is missing and TypeScript is not installed (run npm install)');
  }
  if (checkOnly) throw new Error('the TypeScript needs building (npm run build:ts)');
  log('compiling TypeScript');
  run(process.execPath, [tsc, '-p', 'tsconfig.json']);
}

function main() {
  try {
    ensureUcx();
    ensureDependencies();
    ensureAddon();
    ensureTypeScript();
    if (checkOnly) log('everything is in place');
  } catch (error) {
    process.stderr.write(`[node-ucx setup] ${error.message}\n`);
    process.exit(1);
  }
}

if (path.resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) main();
