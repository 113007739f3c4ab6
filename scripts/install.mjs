#!/usr/bin/env node
// npm's install hook for node-ucx as a dependency (and for a linked clone). It never installs
// system packages: when UCX or a compiler is missing it says what to install and fails.
//
//   1. The prebuilt binary for this platform and Node ABI (prebuilds/, see addon.mjs) is loaded in
//      a child process; when it loads, nothing else is needed (no compiler, no UCX headers).
//   2. Otherwise (no prebuilt fits, it does not load, UCX_HOME is set, or --build-from-source /
//      npm_config_build_from_source) the addon is built with node-gyp (npm's own) against UCX from
//      UCX_HOME or pkg-config; node-gyp's output is shown only when the build fails.
//   3. A checkout (a `file:` link to a clone) also gets its dependencies and dist/ when missing.
//
// NODE_UCX_ADDON=/path/to/node_ucx.node skips all of this (src/native.ts loads that file).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  root,
  prebuiltPath,
  shippedPrebuilts,
  builtPath,
  isCheckout,
  findUcx,
  probe,
  findNodeAddonApi,
  missingBuildTools,
  buildAddon,
  buildIsFresh,
  ucxHelp,
  ensureCheckoutDependencies,
} from './addon.mjs';

const argv = new Set(process.argv.slice(2));
const verbose = argv.has('--verbose') || ['verbose', 'silly'].includes(process.env.npm_config_loglevel ?? '') || process.env.NODE_UCX_VERBOSE === '1';

function log(message) {
  process.stderr.write(`[node-ucx] ${message}\n`);
}

import { InstallError } from './addon.mjs';

function fromSourceAsked() {
  const flag = process.env.npm_config_build_from_source;
  return argv.has('--build-from-source') || flag === 'true' || flag === 'node-ucx';
}

/** A checkout's dist/ (npm ran `prepare` before this hook, so this is normally already done). */
function ensureCheckoutDist() {
  const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'prepare.mjs')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new InstallError('building dist/ failed');
}

function install() {
  if (process.env.NODE_UCX_ADDON) {
    log(`NODE_UCX_ADDON=${process.env.NODE_UCX_ADDON}: using that addon, nothing to build`);
    return;
  }
  const checkout = isCheckout();
  if (checkout) ensureCheckoutDependencies(log);
  const why = [];
  if (process.env.UCX_HOME) why.push(`UCX_HOME is set (${process.env.UCX_HOME}): building against that UCX`);
  else if (fromSourceAsked()) why.push('building from source was asked for');
  else {
    const prebuilt = prebuiltPath();
    const relative = path.relative(root, prebuilt);
    if (fs.existsSync(prebuilt)) {
      const result = probe(prebuilt);
      if (result.ok) {
        log(`using the prebuilt ${relative} (UCX ${result.ucx})`);
        if (checkout) ensureCheckoutDist();
        return;
      }
      if (result.missingUcx) {
        throw new InstallError(`the prebuilt ${relative} needs the UCX libraries, which were not found (${result.error}).\n${ucxHelp()}`);
      }
      why.push(`the prebuilt ${relative} did not load (${result.error})`);
    } else {
      const shipped = shippedPrebuilts();
      why.push(
        `no prebuilt binary for ${process.platform}-${process.arch} and Node ABI ${process.versions.modules}` +
          ` (Node ${process.versions.node}); this package ships ${shipped.length ? shipped.join(', ') : 'none'}`,
      );
    }
  }
  for (const line of why) log(line);

  if (buildIsFresh() && probe(builtPath()).ok) {
    log('build/Release is up to date for this Node and these sources');
    if (checkout) ensureCheckoutDist();
    return;
  }
  const ucx = findUcx();
  if (!ucx.found) throw new InstallError(`cannot build the addon: the UCX headers were not found (${ucx.why}).\n${ucxHelp()}`);
  const tools = missingBuildTools();
  if (tools.length > 0) {
    throw new InstallError(
      `cannot build the addon: ${tools.join(', ')} missing.\n` +
        '  Debian/Ubuntu: sudo apt-get install build-essential python3\n' +
        '  (a prebuilt binary needs none of these: it exists for linux-x64 glibc and the Node versions in prebuilds/)',
    );
  }
  if (findNodeAddonApi() === undefined) {
    throw new InstallError('cannot build the addon: node-addon-api (a dependency of node-ucx) is not installed; reinstall node-ucx');
  }
  log(`building against UCX ${ucx.version ?? ''} (${ucx.via})`);
  buildAddon({ verbose, log });
  const built = probe(builtPath());
  if (!built.ok) {
    throw new InstallError(`the addon was built but does not load: ${built.error}` + (built.missingUcx ? `\n${ucxHelp()}` : ''));
  }
  if (checkout) ensureCheckoutDist();
}

try {
  install();
} catch (error) {
  process.stderr.write(`[node-ucx] install failed: ${error.message}\n`);
  if (!(error instanceof InstallError) && !error.buildOutput) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}
