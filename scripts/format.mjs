#!/usr/bin/env node
// npm run format: prettier over the TypeScript and JavaScript (.prettierrc.json, .prettierignore) and
// clang-format over csrc/ (.clang-format). `--check` changes nothing and exits 1 if anything would change.
// clang-format is Debian's `clang-format` package; without it, csrc/ is skipped with a note.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
let failed = false;

const prettier = spawnSync(
  process.execPath,
  [path.join(ROOT, 'node_modules', 'prettier', 'bin', 'prettier.cjs'), check ? '--check' : '--write', '--log-level', 'warn', '.'],
  { cwd: ROOT, stdio: 'inherit' },
);
if (prettier.status !== 0) failed = true;

const sources = spawnSync('git', ['ls-files', 'csrc/*.cc', 'csrc/*.h', 'csrc/**/*.cc', 'csrc/**/*.h'], { cwd: ROOT, encoding: 'utf8' })
  .stdout.split('\n')
  .filter(Boolean);
const clang = spawnSync('clang-format', [check ? '--dry-run' : '-i', ...(check ? ['--Werror'] : []), ...sources], { cwd: ROOT, stdio: 'inherit' });
if (clang.error !== undefined) process.stderr.write('[format] clang-format is not installed (apt-get install clang-format): csrc/ not checked\n');
else if (clang.status !== 0) failed = true;

process.exit(failed ? 1 : 0);
