#!/usr/bin/env node
// `npm run prebuild` (and `prepack`): the prebuilt binaries shipped in the package.
//
//   node scripts/prebuild.mjs                      for this Node
//   node scripts/prebuild.mjs --node /path/to/node --node ...   for other Node majors as well
//                                                  (their headers: <prefix>/include/node)
//   --strict (prepack): refuse a UCX other than 1.13 instead of warning
//
// Each is built against the system UCX (pkg-config; UCX_HOME is refused: a prebuilt must link the
// libucp.so.0 users install from their distribution) and must be UCX 1.13, the oldest ABI node-ucx
// supports: UCX keeps ABI within 1.x going forward, so a 1.13 build loads on 1.13 and later.
// Output: prebuilds/<platform>-<arch>/node_ucx.abi<NODE_MODULE_VERSION>.node (stripped), and
// prebuilds/manifest.json (what each was built from and what it needs). Prebuilts made from other
// sources than the current csrc/ are removed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { root, prebuiltPath, builtPath, findUcx, buildAddon, buildIsFresh, probe, sourcesHash, has, InstallError, shippedPrebuilts } from './addon.mjs';

const { values } = parseArgs({
  options: {
    node: { type: 'string', multiple: true },
    'any-ucx': { type: 'boolean', default: process.env.NODE_UCX_PREBUILD_ANY_UCX === '1' },
    strict: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const log = (message) => process.stderr.write(`[node-ucx prebuild] ${message}\n`);
// This Node's last: build/Release is left built for it (the repository's own tests load it).
const nodes = [...(values.node ?? []).filter((node) => fs.realpathSync(node) !== fs.realpathSync(process.execPath)), process.execPath];
const manifestPath = path.join(root, 'prebuilds', 'manifest.json');

/** The newest GLIBC_/GLIBCXX_ symbol versions a binary needs (what it takes to load it). */
function needs(file) {
  if (!has('objdump')) return {};
  const dump = spawnSync('objdump', ['-T', '-p', file], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }).stdout ?? '';
  const newest = (prefix) =>
    [...dump.matchAll(new RegExp(`${prefix}_([0-9.]+)`, 'g'))]
      .map((m) => m[1])
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
      .pop() ?? null;
  const libraries = [...dump.matchAll(/NEEDED\s+(\S+)/g)].map((m) => m[1]);
  return { glibc: newest('GLIBC'), glibcxx: newest('GLIBCXX'), libraries };
}

function readManifest() {
  try {
    return JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch {
    return { prebuilds: [] };
  }
}

try {
  if (process.env.UCX_HOME) throw new InstallError('UCX_HOME is set: prebuilts link the system UCX (unset UCX_HOME)');
  const ucx = findUcx();
  if (!ucx.found) throw new InstallError(`UCX not found (${ucx.why}): install libucx-dev and pkg-config`);
  if (!/^1\.13\./.test(ucx.version) && !values['any-ucx']) {
    const problem =
      `the system UCX is ${ucx.version}: published prebuilts are built against UCX 1.13 (Debian 12) so that they ` +
      'load on 1.13 and later (--any-ucx or NODE_UCX_PREBUILD_ANY_UCX=1 builds against this one anyway)';
    if (values.strict) throw new InstallError(problem); // prepack: what would be published
    log(`warning: ${problem}`);
  }
  const sources = sourcesHash();
  const manifest = readManifest();
  manifest.prebuilds = manifest.prebuilds.filter((entry) => {
    const file = path.join(root, 'prebuilds', entry.file);
    if (entry.sources === sources && fs.existsSync(file)) return true;
    if (fs.existsSync(file)) {
      log(`removing ${entry.file}: built from other sources`);
      fs.rmSync(file);
    }
    return false;
  });
  // A binary the manifest does not list (a run that failed half way) is of unknown origin.
  for (const file of shippedPrebuilts()) {
    const name = path.relative('prebuilds', file);
    if (!manifest.prebuilds.some((entry) => entry.file === name)) {
      log(`removing ${name}: not in prebuilds/manifest.json`);
      fs.rmSync(path.join(root, file));
    }
  }
  const save = () => {
    manifest.prebuilds.sort((a, b) => a.file.localeCompare(b.file));
    fs.mkdirSync(path.dirname(manifestPath), { recursive: true });
    fs.writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  };
  for (const node of nodes) {
    const info = JSON.parse(
      spawnSync(node, ['-p', 'JSON.stringify({ abi: process.versions.modules, version: process.version, platform: process.platform, arch: process.arch })'], {
        encoding: 'utf8',
      }).stdout,
    );
    const target = prebuiltPath(root, info);
    if (buildIsFresh(info.abi)) log(`build/Release is up to date for Node ${info.version}: reusing it`);
    else buildAddon({ node, verbose: values.verbose, log });
    fs.mkdirSync(path.dirname(target), { recursive: true });
    // Written beside and renamed into place: processes that have the old file loaded keep their
    // mapping (overwriting a loaded shared object in place crashes them).
    const staged = `${target}.${process.pid}.tmp`;
    fs.copyFileSync(builtPath(), staged);
    if (has('strip')) spawnSync('strip', ['--strip-unneeded', staged]);
    if (fs.existsSync(target) && fs.readFileSync(target).equals(fs.readFileSync(staged))) fs.rmSync(staged);
    else fs.renameSync(staged, target);
    const check = probe(target, node);
    if (!check.ok) throw new InstallError(`${path.relative(root, target)} does not load in Node ${info.version}: ${check.error}`);
    const file = path.relative(path.join(root, 'prebuilds'), target);
    manifest.prebuilds = manifest.prebuilds.filter((entry) => entry.file !== file);
    manifest.prebuilds.push({ file, nodeAbi: info.abi, builtWith: info.version, ucx: ucx.version, sources, ...needs(target), bytes: fs.statSync(target).size });
    save();
    log(`${path.relative(root, target)}: Node ${info.version} (ABI ${info.abi}), UCX ${ucx.version}`);
  }
  save();
} catch (error) {
  process.stderr.write(`[node-ucx prebuild] failed: ${error.message}\n`);
  process.exit(1);
}
