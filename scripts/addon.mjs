// Finding, building and checking the native addon: shared by the install hook (install.mjs), the
// repository's own setup (setup.mjs) and `npm run prebuild` (prebuild.mjs). Plain Node, no
// dependencies: it runs before anything is installed.
//
// Where the addon comes from, in order (src/native.ts loads the same files at run time):
//   1. prebuilds/<platform>-<arch>/node_ucx.abi<NODE_MODULE_VERSION>.node, shipped in the package
//      (built on Debian 12 against UCX 1.13, linked to the system's libucp.so.0);
//   2. build/Release/node_ucx.node, built from csrc/ by node-gyp at install time.
// The ABI number is in the prebuilt's name because csrc/request.cc calls V8's C++ API
// (v8::BackingStore), which has no stable ABI across Node majors: a binary built for Node 20
// (ABI 115) is not used on Node 22 (ABI 127) even though it would load.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ADDON = 'node_ucx';

/** The prebuilt this Node would use: prebuilds/linux-x64/node_ucx.abi115.node for Node 20 on linux-x64. */
export function prebuiltPath(dir = root, { platform = process.platform, arch = process.arch, abi = process.versions.modules } = {}) {
  return path.join(dir, 'prebuilds', `${platform}-${arch}`, `${ADDON}.abi${abi}.node`);
}

/** The prebuilts a package ships, as paths relative to it. */
export function shippedPrebuilts(dir = root) {
  const base = path.join(dir, 'prebuilds');
  if (!fs.existsSync(base)) return [];
  return fs
    .readdirSync(base, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) =>
      fs
        .readdirSync(path.join(base, entry.name))
        .filter((name) => name.endsWith('.node'))
        .map((name) => path.join('prebuilds', entry.name, name)),
    )
    .sort();
}

export const builtPath = (dir = root) => path.join(dir, 'build', 'Release', `${ADDON}.node`);
const stampPath = (dir = root) => path.join(dir, 'build', 'node-ucx-build.json');

/** A package under node_modules came from a tarball; anywhere else (a linked clone) it is a checkout. */
export function isCheckout(dir = root) {
  return !fs.realpathSync(dir).split(path.sep).includes('node_modules') && fs.existsSync(path.join(dir, 'src'));
}

/** A failure whose message says all there is to say (no stack trace). */
export class InstallError extends Error {}

/** npm's settings for the outer install (--omit=dev, the app's prefix, ...) must not steer an npm run in a clone. */
function npmChildEnv() {
  const keep =
    /^npm_config_(cache|registry|userconfig|globalconfig|offline|prefer_offline|prefer_online|proxy|https_proxy|noproxy|cafile|strict_ssl|loglevel)$/;
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) || keep.test(key)));
}

/**
 * A clone linked with `npm install file:../node-ucx` has no node_modules (npm installs nothing for
 * a link): install its dependencies, dev ones included (TypeScript builds its dist/), in the clone.
 */
export function ensureCheckoutDependencies(log = () => {}) {
  const needed = ['node-addon-api', 'typescript'];
  if (needed.every((name) => fs.existsSync(path.join(root, 'node_modules', name, 'package.json')))) return;
  log(`${root} is a checkout without its dependencies: npm install --ignore-scripts --include=dev there`);
  const npmCli = process.env.npm_execpath;
  const [command, args] = npmCli && /\.c?js$/.test(npmCli) ? [process.execPath, [npmCli]] : ['npm', []];
  const result = spawnSync(command, [...args, 'install', '--ignore-scripts', '--include=dev', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: npmChildEnv(),
  });
  if (result.status !== 0) throw new InstallError(`npm install in ${root} failed (exit ${result.status ?? result.signal})`);
}

export function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Where the UCX headers are: UCX_HOME, or pkg-config. */
export function findUcx(env = process.env) {
  if (env.UCX_HOME) {
    const header = path.join(env.UCX_HOME, 'include', 'ucp', 'api', 'ucp.h');
    return fs.existsSync(header)
      ? { found: true, via: `UCX_HOME=${env.UCX_HOME}`, home: env.UCX_HOME }
      : { found: false, why: `UCX_HOME=${env.UCX_HOME} has no include/ucp/api/ucp.h` };
  }
  if (!has('pkg-config')) return { found: false, why: 'pkg-config is not installed' };
  const probe = spawnSync('pkg-config', ['--modversion', 'ucx'], { encoding: 'utf8', env });
  if (probe.status !== 0) return { found: false, why: 'pkg-config finds no ucx.pc' };
  return { found: true, via: 'pkg-config', version: probe.stdout.trim() };
}

/** A hash of what the addon is built from: a build or prebuilt is stale when it differs. */
export function sourcesHash(dir = root) {
  const hash = crypto.createHash('sha256');
  const walk = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(cc|h)$/.test(entry.name)) hash.update(path.relative(dir, full)).update('\0').update(fs.readFileSync(full));
    }
  };
  walk(path.join(dir, 'csrc'));
  hash.update(fs.readFileSync(path.join(dir, 'binding.gyp')));
  return hash.digest('hex').slice(0, 16);
}

export function readStamp(dir = root) {
  try {
    return JSON.parse(fs.readFileSync(stampPath(dir), 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Loads an addon in a child process (a binary that does not fit must not take the installer
 * down, and a loaded one cannot be unloaded) and reports what it says.
 */
export function probe(file, node = process.execPath) {
  const script = `
    process.env.UCX_MEM_EVENTS ??= 'no';
    const addon = require(process.argv[1]);
    const abi = String(addon.nodeAbi);
    if (addon.nodeAbi !== undefined && abi !== process.versions.modules) {
      throw new Error('built for Node ABI ' + abi + ', this Node has ' + process.versions.modules);
    }
    process.stdout.write(addon.version());`;
  const result = spawnSync(node, ['-e', script, file], { encoding: 'utf8', env: { ...process.env, NODE_UCX_ADDON: '' } });
  if (result.status === 0) return { ok: true, ucx: result.stdout.trim() };
  const lines = (result.stderr || result.error?.message || `exit ${result.status ?? result.signal}`).split('\n');
  const line = lines.find((l) => /^\w*Error: /.test(l)) ?? lines.find((l) => l.trim()) ?? 'it did not load';
  return { ok: false, error: line.replace(/^\w*Error: /, '').trim(), missingUcx: /lib(ucp|uct|ucs|ucm)\.so/.test(line) };
}

/** node-gyp: npm's own (npm sets npm_config_node_gyp for scripts), the repository's, or npm's beside this node. */
export function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    resolveFrom(root, 'node-gyp/bin/node-gyp.js'),
    path.join(path.dirname(path.dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((p) => p && fs.existsSync(p));
}

/** Node's resolution from `dir` upwards: finds packages npm hoisted into the app's node_modules. */
function resolveFrom(dir, id) {
  try {
    return createRequire(path.join(dir, 'package.json')).resolve(id);
  } catch {
    return undefined;
  }
}

/** node-addon-api's headers, resolved the way binding.gyp does (from the package up: hoisting). */
export const findNodeAddonApi = (dir = root) => resolveFrom(dir, 'node-addon-api/package.json');

/** The Node major of the headers under `dir` (<dir>/include/node/node_version.h), or null. */
function headersMajor(dir) {
  for (const file of [path.join(dir, 'include', 'node', 'node_version.h'), path.join(dir, 'src', 'node_version.h')]) {
    try {
      return /#define NODE_MAJOR_VERSION (\d+)/.exec(fs.readFileSync(file, 'utf8'))?.[1] ?? null;
    } catch {
      // the next place
    }
  }
  return null;
}

/**
 * Which Node headers node-gyp compiles against, as its arguments. Offline machines cannot
 * download them, so the ones installed with the node binary (<prefix>/include/node) are used.
 * npm's nodedir setting (Debian's npm sets nodedir=/usr: the system Node's headers) is kept only
 * when it holds headers of the same Node major as `node`: a build for another Node with them
 * would get that Node's ABI wrong.
 */
export function nodedirArgs(
  node = process.execPath,
  major = spawnSync(node, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).stdout.trim(),
) {
  const configured = process.env.npm_config_nodedir;
  if (configured && headersMajor(configured) === major) return [];
  const prefix = path.dirname(path.dirname(node));
  return headersMajor(prefix) === major ? [`--nodedir=${prefix}`] : [];
}

/** What a build needs besides UCX: a C++ compiler, make and Python (node-gyp's gyp). */
export function missingBuildTools(env = process.env) {
  const missing = [];
  const cxx = (env.CXX || 'c++').split(/\s+/)[0];
  if (!has(cxx) || cxx === 'false') missing.push(`a C++ compiler (${cxx})`);
  if (!has('make')) missing.push('make');
  if (!has('python3') && !has('python')) missing.push('python3');
  return missing;
}

/**
 * Builds build/Release/node_ucx.node with node-gyp for `node` (default: this one). node-gyp's
 * output is kept unless the build fails (then all of it is printed), or `verbose` is set.
 * Returns nothing; throws with the build's output on failure.
 */
export function buildAddon({ node = process.execPath, verbose = false, log = () => {} } = {}) {
  const nodeGyp = findNodeGyp();
  if (nodeGyp === undefined) throw new Error('node-gyp was not found (it comes with npm: run this through npm, or npm install node-gyp)');
  const [abi, major] = spawnSync(node, ['-p', 'process.versions.modules + " " + process.versions.node.split(".")[0]'], { encoding: 'utf8' })
    .stdout.trim()
    .split(' ');
  const started = Date.now();
  const argv = [nodeGyp, 'rebuild', '--release', '-j', 'max', ...nodedirArgs(node, major)];
  log(`building the native addon (node-gyp rebuild, Node ABI ${abi})`);
  const result = spawnSync(node, argv, {
    cwd: root,
    stdio: verbose ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: buildEnv(node, argv, major),
  });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
    const error = new Error(
      `node-gyp rebuild failed (exit ${result.status ?? result.signal ?? result.error?.message})` + (output ? `; its output:\n${output}` : ''),
    );
    error.buildOutput = output;
    throw error;
  }
  const ucx = findUcx();
  fs.writeFileSync(
    stampPath(),
    `${JSON.stringify(
      {
        nodeAbi: abi,
        node: spawnSync(node, ['-p', 'process.version'], { encoding: 'utf8' }).stdout.trim(),
        ucx: ucx.version ?? null,
        ucxHome: process.env.UCX_HOME || null,
        sources: sourcesHash(),
        at: new Date().toISOString(),
      },
      null,
      2,
    )}\n`,
  );
  log(`built build/Release/${ADDON}.node in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function buildEnv(node, argv, major) {
  // gyp's <!(node ...) expansions run `node` from PATH: make it this one.
  const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ''}` };
  // An npm nodedir for another Node major (see nodedirArgs) must not reach node-gyp either.
  const configured = env.npm_config_nodedir ? headersMajor(env.npm_config_nodedir) : null;
  if (argv.some((arg) => arg.startsWith('--nodedir=')) || (configured !== null && configured !== major)) {
    delete env.npm_config_nodedir;
  }
  return env;
}

/** build/Release is there, made from these sources, for this Node ABI and this UCX_HOME. */
export function buildIsFresh(abi = process.versions.modules) {
  const stamp = readStamp();
  return (
    fs.existsSync(builtPath()) &&
    stamp !== null &&
    stamp.nodeAbi === abi &&
    stamp.sources === sourcesHash() &&
    (stamp.ucxHome ?? '') === (process.env.UCX_HOME ?? '')
  );
}

const NODE_MAJOR_OF_ABI = { 108: 18, 115: 20, 120: 21, 127: 22, 131: 23, 137: 24, 141: 25 };

/** 'Node 20, 22' for the prebuilts a package ships. */
export function prebuiltNodes(dir = root) {
  const abis = shippedPrebuilts(dir)
    .map((file) => /abi(\d+)\.node$/.exec(file)?.[1])
    .filter(Boolean);
  return abis.map((abi) => (NODE_MAJOR_OF_ABI[abi] ? `Node ${NODE_MAJOR_OF_ABI[abi]}` : `Node ABI ${abi}`)).join(', ');
}

/** What to install, said once for every way of failing for want of UCX. */
export function ucxHelp(dir = root) {
  const nodes = prebuiltNodes(dir);
  return [
    'Install UCX (>= 1.13), then run `npm rebuild node-ucx`:',
    ...(nodes ? [`  Debian/Ubuntu, to use the prebuilt binary (linux-x64 glibc, ${nodes}): sudo apt-get install libucx0`] : []),
    '  Debian/Ubuntu, to build from source (any other platform or Node):',
    '                 sudo apt-get install libucx-dev pkg-config build-essential python3',
    '  A UCX of your own (a custom or CUDA-enabled build): set UCX_HOME=/path/to/ucx',
    '                 (the prefix holding include/ucp/api/ucp.h and lib/libucp.so); node-ucx is then built against it.',
  ].join('\n');
}
