#!/usr/bin/env node
// The ucx-bench executable. UCX writes its log to stdout unless told otherwise, which would
// corrupt --json and --csv output: send it to stderr (unless the user chose). UCX reads this when
// the addon loads, so the rest comes in by dynamic import, after it is set.
process.env.UCX_LOG_FILE ??= 'stderr';
const { run } = await import('./bench-cli.js');
await run(process.argv.slice(2));
