#!/usr/bin/env node
// Prints 1 when the optional PMIx addon (csrc/pmix/) can be built here: pkg-config finds pmix
// (Debian: libpmix-dev) and NODE_UCX_PMIX_BUILD is not 0. binding.gyp reads it; 0 skips the target,
// and node-ucx then bootstraps without PMIx (docs/mpi.md, "PMIx").
import { spawnSync } from 'node:child_process';

const wanted = process.env.NODE_UCX_PMIX_BUILD !== '0';
const found = wanted && spawnSync('pkg-config', ['--exists', 'pmix'], { stdio: 'ignore' }).status === 0;
process.stdout.write(found ? '1' : '0');
