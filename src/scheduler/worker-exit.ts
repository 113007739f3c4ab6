// How a worker process (worker-main.ts) ends, and what its Nanny makes of it.

/** The exit codes of a worker process. */
export const WorkerExit = {
  /** It was closed (by its nanny, a signal, the scheduler retiring it or closing): stays down. */
  closed: 0,
  /** Started without NODE_UCX_SCHEDULER / NODE_UCX_CLUSTER_SECRET: stays down. */
  usage: 2,
  /** Could not join the scheduler: stays down. */
  cannotJoin: 3,
  /**
   * The scheduler removed it (it timed out: no heartbeat within workerTimeoutMs, a frozen or stalled
   * process) and its tasks went elsewhere: a fresh process takes its place (its nanny restarts it).
   */
  removed: 4,
} as const;

/** Whether a worker that exited so should be started again by its nanny: removed, or died (a signal, an uncaught error). */
export function workerShouldRestart(code: number | null, signal: NodeJS.Signals | null): boolean {
  if (signal !== null) return true;
  return code !== WorkerExit.closed && code !== WorkerExit.usage && code !== WorkerExit.cannotJoin;
}
