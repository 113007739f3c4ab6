// The messages between clients, the scheduler and task workers (op names and
// bodies), in one place: the state machines produce and consume them, the shells
// carry them over rpc/. docs/scheduler.md describes the protocol.

/** A task as a client submits it. `payload` is opaque to the scheduler: the worker decodes it. */
export interface TaskSpec {
  key: string;
  /** Keys whose results this task takes as arguments. */
  deps: string[];
  /** encodeFrames([fnRef, args]) of the client: forwarded as is. */
  payload: Buffer[];
  /** Higher runs first (Dask's `priority`); ties go by submission order. */
  priority?: number;
  /** How many times to re-run it when it fails. */
  retries?: number;
  /** Only these workers (addresses or names) may run it. */
  workers?: string[];
  /** Abstract resources it holds while it runs, e.g. { GPU: 1 }. */
  resources?: Record<string, number>;
}

/** What a worker registers with. */
export interface WorkerSpec {
  /** The worker's rpc address: its name on the wire. */
  address: string;
  /** A human name (ucx-worker --name); defaults to the address. */
  name: string;
  nthreads: number;
  /** Bytes (0: no limit). */
  memoryLimit: number;
  resources: Record<string, number>;
  pid: number;
}

/** A task error as it travels: what the user's code threw, with the worker's stack. */
export interface TaskError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

/** A worker's health, sent with each heartbeat. */
export interface WorkerMetrics {
  /** Bytes of results held in memory. */
  memory: number;
  /** Bytes of results spilled to disk. */
  spilled: number;
  /** Process resident set size. */
  rss: number;
  /** Tasks running in its threads (and pipelined behind them). */
  executing: number;
  /** Tasks whose dependencies are all there, waiting for a thread. */
  ready: number;
  /** Dependencies being fetched from peers. */
  inFlight: number;
  /** Bytes received from peers since the last heartbeat. */
  bytesIn: number;
  /** Bytes sent to peers since the last heartbeat. */
  bytesOut: number;
  /** CPU fraction of one core since the last heartbeat. */
  cpu: number;
  /** Whether it paused running tasks (memory past its pause threshold). */
  paused: boolean;
}

// ---- ops ----
// client -> scheduler: 'update-graph' { tasks, wanted }, 'release-keys' { keys }, 'cancel-keys' { keys },
//   'who-has' { keys } -> { [key]: addresses }, 'scatter-targets' { count, broadcast } -> addresses,
//   'scattered' { worker, keys: [[key, nbytes]] }, 'run' { payload } -> { [address]: result },
//   'info' -> SchedulerInfo, 'retire-workers' { workers } -> addresses
// scheduler -> client: 'key-in-memory' { key, type }, 'task-erred' { key, error }, 'cancelled' { key },
//   'lost' { key }
// worker -> scheduler: 'register' WorkerSpec, 'task-finished' { key, nbytes, type, duration },
//   'task-erred' { key, error, duration }, 'missing-data' { key, holder }, 'added-keys' { keys },
//   'steal-response' { key, stolen }, 'heartbeat' WorkerMetrics, 'status' { paused }, 'freed' { keys } (free-keys done)
// scheduler -> worker: 'compute-task' ComputeTask, 'free-keys' { keys }, 'steal-request' { key }, 'remove-peer' { address },
//   'acquire-replicas' { keys: { [key]: holders } }, 'run' { payload }, 'close' {}
// worker -> worker: 'get-data' { keys } -> { [key]: value }

/** What a worker is told to run. */
export interface ComputeTask {
  key: string;
  payload: Buffer[];
  /** Each dependency with the workers that hold it (empty: this worker does). */
  deps: Record<string, string[]>;
  priority: [number, number];
  resources?: Record<string, number>;
}

/** The scheduler's view of the cluster (Client.schedulerInfo(), Scheduler.info()): its workers and its tasks' counts. */
export interface SchedulerInfo {
  /** The scheduler's address. */
  address: string;
  /** Each worker, by address. */
  workers: Record<
    string,
    {
      /** Its name (ucx-worker --name, or its address). */
      name: string;
      /** Threads that run tasks. */
      nthreads: number;
      /** Its memory limit in bytes (0: none). */
      memoryLimit: number;
      /** The abstract resources it offers. */
      resources: Record<string, number>;
      /** Tasks assigned to it and not finished. */
      processing: number;
      /** Results it holds. */
      stored: number;
      /** The bytes of those results. */
      nbytes: number;
      /** 'running', 'paused', 'retiring' or 'closed'. */
      status: string;
      /** Its last heartbeat's metrics (null before the first). */
      metrics: WorkerMetrics | null;
    }
  >;
  /** How many tasks are in each state ('processing', 'memory', 'erred', ...); states with none are left out. */
  tasks: Record<string, number>;
  /** Bytes of results workers fetched from one another so far. */
  bytesMoved: number;
}
