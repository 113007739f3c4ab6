// MPI's special values. A leaf module, so that every other MPI module (group, request, comm, ...)
// can name them without importing the Comm class.

/** A receive's or probe's source that matches a message from any rank. */
export const ANY_SOURCE = -1;
/** A receive's or probe's tag that matches any tag. */
export const ANY_TAG = -1;
/** A rank that sends and receives nothing: the operation completes at once (the edges of a non-periodic Shift). */
export const PROC_NULL = -2;
/** Split's color for a rank that joins no communicator; what a rank outside a group translates to. */
export const UNDEFINED = -32766;
/** Pass as the send buffer of a collective to use the receive buffer in place (MPI_IN_PLACE). */
export const IN_PLACE: unique symbol = Symbol('MPI.IN_PLACE');
/** The type of IN_PLACE. */
export type InPlace = typeof IN_PLACE;
