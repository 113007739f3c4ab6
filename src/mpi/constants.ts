// MPI's special values. A leaf module, so that every other MPI module (group, request, comm, ...)
// can name them without importing the Comm class.

export const ANY_SOURCE = -1;
export const ANY_TAG = -1;
export const PROC_NULL = -2;
export const UNDEFINED = -32766;
/** Pass as the send buffer of a collective to use the receive buffer in place (MPI_IN_PLACE). */
export const IN_PLACE: unique symbol = Symbol('MPI.IN_PLACE');
export type InPlace = typeof IN_PLACE;
