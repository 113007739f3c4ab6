// MPI errors: one class, with a code per MPI error class.
export type MPIErrorCode =
  | 'ERR_MPI_RANK'        // a rank outside the communicator
  | 'ERR_MPI_ROOT'        // a bad root
  | 'ERR_MPI_TAG'         // a tag outside 0 ... TAG_UB (or ANY_TAG where a concrete tag is needed)
  | 'ERR_MPI_COUNT'       // buffer sizes that do not fit (too small, mismatched between ranks)
  | 'ERR_MPI_TRUNCATE'    // a message longer than the receive buffer
  | 'ERR_MPI_TYPE'        // a buffer of the wrong kind for the operation
  | 'ERR_MPI_OP'          // an operation that cannot combine these values
  | 'ERR_MPI_ARG'         // another bad argument
  | 'ERR_MPI_COMM'        // a freed communicator, or MPI not initialized / already finalized
  | 'ERR_MPI_WIN'         // a bad window operation (freed window, displacement out of range, wrong epoch)
  | 'ERR_MPI_PROC_FAILED' // a peer process failed or the job is being aborted
  | 'ERR_MPI_BOOTSTRAP'   // the job could not be set up (launcher environment, rendezvous, secret)
  | 'ERR_MPI_SPAWN'       // spawned processes could not be started or did not connect
  | 'ERR_MPI_PORT'        // a port that cannot be reached, refused the token, or spoke garbage
  | 'ERR_MPI_NAME';       // a service name that is not published

export class MPIError extends Error {
  readonly code: MPIErrorCode;
  constructor(code: MPIErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MPIError';
    this.code = code;
  }
}
