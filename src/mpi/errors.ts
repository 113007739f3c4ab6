// MPI errors: one class, MPIError (mpi4py's MPI.Exception), with a string code per MPI error class
// ('ERR_MPI_RANK') and the class's number (error.errorClass: MPI.ERR_RANK, 6). The numbers are Open MPI's,
// so they equal mpi4py's MPI.ERR_* on Open MPI. Error handlers (what happens when an operation fails)
// are in errhandler.ts. Pure: no I/O.

/** The error classes: the string code node-ucx puts on MPIError.code, MPI's name, its number, what it means. */
const CLASSES = [
  ['SUCCESS', 'MPI_SUCCESS', 0, 'no errors'],
  ['ERR_MPI_BUFFER', 'MPI_ERR_BUFFER', 1, 'invalid buffer pointer'],
  ['ERR_MPI_COUNT', 'MPI_ERR_COUNT', 2, 'invalid count argument'],
  ['ERR_MPI_TYPE', 'MPI_ERR_TYPE', 3, 'invalid datatype'],
  ['ERR_MPI_TAG', 'MPI_ERR_TAG', 4, 'invalid tag'],
  ['ERR_MPI_COMM', 'MPI_ERR_COMM', 5, 'invalid communicator'],
  ['ERR_MPI_RANK', 'MPI_ERR_RANK', 6, 'invalid rank'],
  ['ERR_MPI_REQUEST', 'MPI_ERR_REQUEST', 7, 'invalid request'],
  ['ERR_MPI_ROOT', 'MPI_ERR_ROOT', 8, 'invalid root'],
  ['ERR_MPI_GROUP', 'MPI_ERR_GROUP', 9, 'invalid group'],
  ['ERR_MPI_OP', 'MPI_ERR_OP', 10, 'invalid reduce operation'],
  ['ERR_MPI_TOPOLOGY', 'MPI_ERR_TOPOLOGY', 11, 'invalid communicator topology'],
  ['ERR_MPI_DIMS', 'MPI_ERR_DIMS', 12, 'invalid topology dimension'],
  ['ERR_MPI_ARG', 'MPI_ERR_ARG', 13, 'invalid argument of some other kind'],
  ['ERR_MPI_UNKNOWN', 'MPI_ERR_UNKNOWN', 14, 'unknown error'],
  ['ERR_MPI_TRUNCATE', 'MPI_ERR_TRUNCATE', 15, 'message truncated'],
  ['ERR_MPI_OTHER', 'MPI_ERR_OTHER', 16, 'known error not in this list'],
  ['ERR_MPI_INTERN', 'MPI_ERR_INTERN', 17, 'internal error'],
  ['ERR_MPI_IN_STATUS', 'MPI_ERR_IN_STATUS', 18, 'error code is in status'],
  ['ERR_MPI_PENDING', 'MPI_ERR_PENDING', 19, 'pending request'],
  ['ERR_MPI_ACCESS', 'MPI_ERR_ACCESS', 20, 'invalid access mode (permission denied)'],
  ['ERR_MPI_AMODE', 'MPI_ERR_AMODE', 21, 'invalid amode argument'],
  ['ERR_MPI_ASSERT', 'MPI_ERR_ASSERT', 22, 'invalid assert argument'],
  ['ERR_MPI_BAD_FILE', 'MPI_ERR_BAD_FILE', 23, 'bad file'],
  ['ERR_MPI_BASE', 'MPI_ERR_BASE', 24, 'invalid base'],
  ['ERR_MPI_CONVERSION', 'MPI_ERR_CONVERSION', 25, 'error in data conversion'],
  ['ERR_MPI_DISP', 'MPI_ERR_DISP', 26, 'invalid displacement'],
  [
    'ERR_MPI_DUP_DATAREP',
    'MPI_ERR_DUP_DATAREP',
    27,
    'conversion functions could not be registered because the data representation identifier was already defined',
  ],
  ['ERR_MPI_FILE_EXISTS', 'MPI_ERR_FILE_EXISTS', 28, 'file exists'],
  ['ERR_MPI_FILE_IN_USE', 'MPI_ERR_FILE_IN_USE', 29, 'file operation could not be completed, the file is in use'],
  ['ERR_MPI_FILE', 'MPI_ERR_FILE', 30, 'invalid file'],
  ['ERR_MPI_INFO_KEY', 'MPI_ERR_INFO_KEY', 31, 'illegal info key'],
  ['ERR_MPI_INFO_NOKEY', 'MPI_ERR_INFO_NOKEY', 32, 'no such key'],
  ['ERR_MPI_INFO_VALUE', 'MPI_ERR_INFO_VALUE', 33, 'illegal info value'],
  ['ERR_MPI_INFO', 'MPI_ERR_INFO', 34, 'invalid info object'],
  ['ERR_MPI_IO', 'MPI_ERR_IO', 35, 'input/output error'],
  ['ERR_MPI_KEYVAL', 'MPI_ERR_KEYVAL', 36, 'invalid key value'],
  ['ERR_MPI_LOCKTYPE', 'MPI_ERR_LOCKTYPE', 37, 'invalid lock'],
  ['ERR_MPI_NAME', 'MPI_ERR_NAME', 38, 'name not found'],
  ['ERR_MPI_NO_MEM', 'MPI_ERR_NO_MEM', 39, 'out of memory'],
  ['ERR_MPI_NOT_SAME', 'MPI_ERR_NOT_SAME', 40, 'objects are not identical'],
  ['ERR_MPI_NO_SPACE', 'MPI_ERR_NO_SPACE', 41, 'no space left on device'],
  ['ERR_MPI_NO_SUCH_FILE', 'MPI_ERR_NO_SUCH_FILE', 42, 'no such file or directory'],
  ['ERR_MPI_PORT', 'MPI_ERR_PORT', 43, 'invalid port'],
  ['ERR_MPI_QUOTA', 'MPI_ERR_QUOTA', 44, 'out of quota'],
  ['ERR_MPI_READ_ONLY', 'MPI_ERR_READ_ONLY', 45, 'file is read only'],
  ['ERR_MPI_RMA_CONFLICT', 'MPI_ERR_RMA_CONFLICT', 46, 'rma conflict during operation'],
  ['ERR_MPI_RMA_SYNC', 'MPI_ERR_RMA_SYNC', 47, 'error executing rma sync'],
  ['ERR_MPI_SERVICE', 'MPI_ERR_SERVICE', 48, 'unknown service name'],
  ['ERR_MPI_SIZE', 'MPI_ERR_SIZE', 49, 'invalid size'],
  ['ERR_MPI_SPAWN', 'MPI_ERR_SPAWN', 50, 'could not spawn processes'],
  ['ERR_MPI_UNSUPPORTED_DATAREP', 'MPI_ERR_UNSUPPORTED_DATAREP', 51, 'requested file data representation is not supported'],
  ['ERR_MPI_UNSUPPORTED_OPERATION', 'MPI_ERR_UNSUPPORTED_OPERATION', 52, 'requested operation is not supported'],
  ['ERR_MPI_WIN', 'MPI_ERR_WIN', 53, 'invalid window'],
  ['ERR_MPI_RMA_RANGE', 'MPI_ERR_RMA_RANGE', 68, 'invalid RMA range (past the target window)'],
  ['ERR_MPI_RMA_ATTACH', 'MPI_ERR_RMA_ATTACH', 69, 'could not attach RMA segment'],
  ['ERR_MPI_RMA_FLAVOR', 'MPI_ERR_RMA_FLAVOR', 70, 'the window flavor does not support this operation'],
  ['ERR_MPI_RMA_SHARED', 'MPI_ERR_RMA_SHARED', 71, 'memory cannot be shared'],
  ['ERR_MPI_PROC_FAILED', 'MPI_ERR_PROC_FAILED', 75, 'a process in the operation has failed (or the job is being aborted)'],
  ['ERR_MPI_BOOTSTRAP', 'MPI_ERR_OTHER', 16, 'the job could not be set up (launcher environment, rendezvous, secret)'],
] as const;

type Row = (typeof CLASSES)[number];
/** MPIError.code: 'ERR_MPI_' and the MPI class's name ('ERR_MPI_RANK' is MPI_ERR_RANK, MPI.ERR_RANK). */
export type MPIErrorCode = Exclude<Row[0], 'SUCCESS'>;

/** The last built-in error class (Open MPI's MPI_ERR_LASTCODE): user classes and codes come after it. */
export const ERR_LASTCODE = 92;

const classOfCode = new Map<string, number>();
const codeOfClass = new Map<number, MPIErrorCode>();
/** Error code (classes are codes too) → [its class, its string]. */
const known = new Map<number, [errorClass: number, text: string]>();
for (const [code, name, number, text] of CLASSES) {
  classOfCode.set(code, number);
  if (code !== 'SUCCESS' && !codeOfClass.has(number)) codeOfClass.set(number, code);
  if (!known.has(number)) known.set(number, [number, `${name}: ${text}`]);
}
let nextUserCode = ERR_LASTCODE + 1;

/** The numeric error classes, by MPI's name without 'MPI_' (SUCCESS, ERR_BUFFER, ... ERR_PROC_FAILED). */
export const ERROR_CLASSES: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(CLASSES.filter(([code]) => code !== 'ERR_MPI_BOOTSTRAP').map(([, name, number]) => [name.slice(4), number])),
);

/** The class of an error code (MPI_Error_class); a class is its own. */
export function getErrorClass(errorCode: number): number {
  const entry = known.get(errorCode);
  if (entry === undefined) throw new MPIError('ERR_MPI_ARG', `${String(errorCode)} is not an MPI error code`);
  return entry[0];
}

/** The text of an error code (MPI_Error_string): 'MPI_ERR_RANK: invalid rank'. */
export function getErrorString(errorCode: number): string {
  const entry = known.get(errorCode);
  if (entry === undefined) throw new MPIError('ERR_MPI_ARG', `${String(errorCode)} is not an MPI error code`);
  return entry[1];
}

/** A new error class, after the built-in ones (MPI_Add_error_class). */
export function addErrorClass(): number {
  const errorClass = nextUserCode++;
  known.set(errorClass, [errorClass, `user error class ${errorClass}`]);
  return errorClass;
}

/** A new error code in `errorClass` (MPI_Add_error_code). */
export function addErrorCode(errorClass: number): number {
  // A class is a code that is its own class: a built-in one or one from addErrorClass().
  if (known.get(errorClass)?.[0] !== errorClass || errorClass === 0) {
    throw new MPIError('ERR_MPI_ARG', `addErrorCode: ${String(errorClass)} is not an error class`);
  }
  const code = nextUserCode++;
  known.set(code, [errorClass, `user error code ${code}`]);
  return code;
}

/** The text getErrorString gives for a user class or code (MPI_Add_error_string). */
export function addErrorString(errorCode: number, text: string): void {
  const entry = known.get(errorCode);
  if (entry === undefined || errorCode <= ERR_LASTCODE)
    throw new MPIError('ERR_MPI_ARG', `addErrorString: ${String(errorCode)} is not a user error class or code`);
  entry[1] = String(text);
}

/**
 * An MPI failure: `code` names its class ('ERR_MPI_RANK'), `errorClass` is the class's number (MPI.ERR_RANK).
 * Made as mpi4py's MPI.Exception(errorcode) too: `new MPIError(MPI.ERR_RANK)`, whose message is the error string.
 */
export class MPIError extends Error {
  /** The error class as a string ('ERR_MPI_RANK'): what to test in a catch. */
  readonly code: MPIErrorCode;
  /** The MPI error class (MPI.ERR_*); user classes from addErrorClass() have code 'ERR_MPI_OTHER'. */
  readonly errorClass: number;
  /** The MPI error code: the class, or a user code from addErrorCode(). */
  readonly errorCode: number;

  constructor(code: MPIErrorCode | number, message?: string, options?: { cause?: unknown }) {
    const number = typeof code === 'number' ? code : classOfCode.get(code);
    const entry = number === undefined ? undefined : known.get(number);
    super(message ?? entry?.[1] ?? `MPI error ${String(code)}`, options);
    this.name = 'MPIError';
    if (typeof code === 'number') {
      this.errorCode = entry === undefined ? classOfCode.get('ERR_MPI_UNKNOWN')! : code;
      this.errorClass = entry === undefined ? this.errorCode : entry[0];
      this.code = codeOfClass.get(this.errorClass) ?? 'ERR_MPI_OTHER';
    } else {
      this.code = code;
      this.errorClass = number ?? classOfCode.get('ERR_MPI_UNKNOWN')!;
      this.errorCode = this.errorClass;
    }
  }

  /** The error class's number (errorClass). */
  getErrorClass(): number {
    return this.errorClass;
  }
  /** The error code's number (errorCode). */
  getErrorCode(): number {
    return this.errorCode;
  }
  /** MPI's text for the error code ('MPI_ERR_RANK: invalid rank'); `message` says what happened. */
  getErrorString(): string {
    return getErrorString(this.errorCode);
  }
  // mpi4py spellings
  /** mpi4py's name for getErrorClass(). */
  Get_error_class(): number {
    return this.errorClass;
  }
  /** mpi4py's name for getErrorCode(). */
  Get_error_code(): number {
    return this.errorCode;
  }
  /** mpi4py's name for getErrorString(). */
  Get_error_string(): string {
    return this.getErrorString();
  }
}
