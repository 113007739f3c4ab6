import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // 2-core machines: more parallel files than cores makes timing-based failure tests flaky.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // Loopback tests stay on the loopback device: UCX would otherwise add the host's other
    // interfaces (e.g. eth0) as extra rails. test/net gives its namespace peers their own devices.
    env: { UCX_NET_DEVICES: 'lo' },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
  },
});
