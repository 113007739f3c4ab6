#!/usr/bin/env node
// npm's `prepare` (and part of `prepack`): builds dist/ from src/ when it is missing or older than
// its sources. npm runs it in a clone for a git dependency (with the devDependencies installed)
// and in the clone a `file:` dependency links to (with nothing installed: then this installs the
// clone's dependencies first). A package from a tarball ships dist/ and never runs it.
//
// In npm's clone for a git dependency, the install hook has just built the addon (npm installs
// the clone with its scripts): that build is kept as the prebuilt of the package npm packs from
// the clone, so the install in the app does not build it a second time.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root, isCheckout, ensureCheckoutDependencies, InstallError, buildIsFresh, readStamp, prebuiltPath } from './addon.mjs';

function newest(dir) {
  let latest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : entry.name.endsWith('.ts') ? fs.statSync(full).mtimeMs : 0);
  }
  return latest;
}

const mtime = (file) => (fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0);

try {
  if (!fs.existsSync(path.join(root, 'src'))) process.exit(0); // an installed package: dist/ is shipped
  const sources = Math.max(newest(path.join(root, 'src')), mtime(path.join(root, 'tsconfig.json')));
  if (mtime(path.join(root, 'dist', 'index.js')) < sources) {
    if (isCheckout()) ensureCheckoutDependencies((m) => process.stderr.write(`[node-ucx] ${m}\n`));
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    if (!fs.existsSync(tsc)) throw new InstallError('TypeScript is not installed: run npm install in the node-ucx checkout');
    process.stderr.write('[node-ucx] compiling TypeScript (dist/)\n');
    const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) throw new InstallError(`tsc -p tsconfig.json failed (exit ${result.status ?? result.signal})`);
  }
  if (isCheckout() && buildIsFresh() && readStamp()?.ucxHome === null && !fs.existsSync(prebuiltPath())) {
    const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'prebuild.mjs')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) throw new InstallError('keeping the build as a prebuilt failed');
  }
} catch (error) {
  process.stderr.write(`[node-ucx] prepare failed: ${error.message}\n`);
  process.exit(1);
}
