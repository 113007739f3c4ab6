// The repository's test config for the GPU machine: no globalSetup (the addon, dist/ and the C peer
// arrive prebuilt in .gpu/app.tar.xz and that machine cannot install anything), more forks for
// 16 cores, and a JSON report in $OUT.
import { defineConfig } from 'vitest/config';
import base from '../../vitest.config.js';

export default defineConfig({
  test: {
    ...base.test,
    globalSetup: [],
    poolOptions: { forks: { maxForks: 6, minForks: 1 } },
    reporters: ['default', ['json', { outputFile: `${process.env.OUT ?? '/tmp'}/vitest.json` }]],
  },
});
