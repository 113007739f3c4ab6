// The workloads S1–S8 of docs/performance.md ("Scheduler"), with their sizes for a full run and for
// --quick (the suite's smoke test). dask_bench.py gets the same sizes from the driver (run.mjs).

export const SIZES = {
  full: {
    S1: { tasks: 10_000, reps: 3 },
    S2: { steps: 500, reps: 3 },
    S3: { trips: 200, reps: 3 },
    S4: { leaves: 4096, elements: 131_072, reps: 3 },
    S5: { tasks: 100_000, fanin: 8, reps: 1 },
    S6: { tasks: 1_000_000, fanin: 8, reps: 1 },
    S7: { tasks: 400, ms: 25, killAt: 2.0, reps: 2 },
    S8: { settle: 2.0, window: 5.0, reps: 1 },
  },
  quick: {
    S1: { tasks: 200, reps: 1 },
    S2: { steps: 20, reps: 1 },
    S3: { trips: 20, reps: 1 },
    S4: { leaves: 16, elements: 8192, reps: 1 },
    S5: { tasks: 2_000, fanin: 8, reps: 1 },
    S6: { tasks: 20_000, fanin: 8, reps: 1 },
    S7: { tasks: 40, ms: 10, killAt: 0.15, reps: 1 },
    S8: { settle: 0.5, window: 1.0, reps: 1 },
  },
};

/**
 * A sum tree of about `total` tasks: leaves inc(i) for i < L, then levels of sum() over `fanin` children.
 * Returns the levels as lists of [key, childKeys | leafIndex]; the same shape as dask_bench.py's tree().
 */
export function treeShape(total, fanin) {
  const leaves = Math.max(1, Math.floor((total * (fanin - 1)) / fanin));
  const levels = [Array.from({ length: leaves }, (_, i) => [`leaf-${i}`, i])];
  while (levels.at(-1).length > 1) {
    const below = levels.at(-1);
    const depth = levels.length;
    const level = [];
    for (let j = 0; j * fanin < below.length; j++) level.push([`sum-${depth}-${j}`, below.slice(j * fanin, (j + 1) * fanin).map(([key]) => key)]);
    levels.push(level);
  }
  const tasks = levels.reduce((n, level) => n + level.length, 0);
  return { levels, leaves, tasks, root: levels.at(-1)[0][0], expected: (leaves * (leaves + 1)) / 2 };
}
