// MPI groups, as mpi4py's MPI.Group: an ordered set of processes. A group is plain data (the
// processes' world ranks in group order); only Comm.create() turns one into a communicator.
import { UNDEFINED } from './constants.js';
import { MPIError } from './errors.js';

/** Group.compare(): the same members in the same order (MPI_IDENT). */
export const IDENT = 0;
/** Group.compare(): the same members in another order. */
export const SIMILAR = 2;
/** Group.compare(): different members. */
export const UNEQUAL = 3;

/** An ordered set of processes (mpi4py's Group), from comm.Get_group(): plain data, turned into a communicator by comm.Create(). */
export class Group {
  /** The members' world ranks, in group order. */
  readonly #members: readonly number[];
  /** This process's world rank. */
  readonly #self: number;

  /** @internal Made by Comm.group and the set operations here. */
  constructor(members: readonly number[], self: number) {
    this.#members = Object.freeze([...members]);
    this.#self = self;
  }

  /** MPI.GROUP_EMPTY's size is 0. */
  get size(): number {
    return this.#members.length;
  }
  /** This process's rank in the group, or UNDEFINED when it is not a member. */
  get rank(): number {
    const index = this.#members.indexOf(this.#self);
    return index < 0 ? UNDEFINED : index;
  }

  /** @internal The members' world ranks, in group order. */
  get worldRanks(): readonly number[] {
    return this.#members;
  }

  /** The members at these group ranks, in this order. */
  incl(ranks: readonly number[]): Group {
    return new Group(
      this.#checkRanks(ranks, 'incl').map((r) => this.#members[r]!),
      this.#self,
    );
  }

  /** The members except those at these group ranks, in group order. */
  excl(ranks: readonly number[]): Group {
    const dropped = new Set(this.#checkRanks(ranks, 'excl'));
    return new Group(
      this.#members.filter((_, r) => !dropped.has(r)),
      this.#self,
    );
  }

  /** The ranks in `other` of this group's `ranks` (UNDEFINED for those not in `other`). */
  translateRanks(ranks: readonly number[], other: Group): number[] {
    checkGroup(other, 'translateRanks');
    return this.#checkRanks(ranks, 'translateRanks', true).map((r) => {
      const index = other.#members.indexOf(this.#members[r]!);
      return index < 0 ? UNDEFINED : index;
    });
  }

  /** This group's members, then `other`'s that are not in it. */
  union(other: Group): Group {
    checkGroup(other, 'union');
    return new Group([...this.#members, ...other.#members.filter((m) => !this.#members.includes(m))], this.#self);
  }

  /** This group's members that are also in `other`, in this group's order. */
  intersection(other: Group): Group {
    checkGroup(other, 'intersection');
    return new Group(
      this.#members.filter((m) => other.#members.includes(m)),
      this.#self,
    );
  }

  /** This group's members that are not in `other`, in this group's order. */
  difference(other: Group): Group {
    checkGroup(other, 'difference');
    return new Group(
      this.#members.filter((m) => !other.#members.includes(m)),
      this.#self,
    );
  }

  /** IDENT (same members, same order), SIMILAR (same members) or UNEQUAL. */
  compare(other: Group): number {
    checkGroup(other, 'compare');
    if (this.#members.length !== other.#members.length) return UNEQUAL;
    if (this.#members.every((m, i) => other.#members[i] === m)) return IDENT;
    return this.#members.every((m) => other.#members.includes(m)) ? SIMILAR : UNEQUAL;
  }

  /** Groups hold no resources; kept for mpi4py's API. */
  free(): void {}

  // mpi4py spellings
  /** mpi4py's name for size. */
  Get_size(): number {
    return this.size;
  }
  /** mpi4py's name for rank. */
  Get_rank(): number {
    return this.rank;
  }
  /** mpi4py's name for incl(). */
  Incl(ranks: readonly number[]): Group {
    return this.incl(ranks);
  }
  /** mpi4py's name for excl(). */
  Excl(ranks: readonly number[]): Group {
    return this.excl(ranks);
  }
  /** mpi4py's name for free(). */
  Free(): void {
    this.free();
  }
  /** mpi4py's Group.Translate_ranks(group1, ranks1, group2): group1.translateRanks(ranks1, group2). */
  static Translate_ranks(group1: Group, ranks1: readonly number[], group2: Group): number[] {
    checkGroup(group1, 'Translate_ranks');
    return group1.translateRanks(ranks1, group2);
  }
  /** mpi4py's Group.Union(group1, group2): group1.union(group2). */
  static Union(group1: Group, group2: Group): Group {
    checkGroup(group1, 'Union');
    return group1.union(group2);
  }
  /** mpi4py's Group.Intersection(group1, group2): group1.intersection(group2). */
  static Intersection(group1: Group, group2: Group): Group {
    checkGroup(group1, 'Intersection');
    return group1.intersection(group2);
  }
  /** mpi4py's Group.Difference(group1, group2): group1.difference(group2). */
  static Difference(group1: Group, group2: Group): Group {
    checkGroup(group1, 'Difference');
    return group1.difference(group2);
  }
  /** mpi4py's Group.Compare(group1, group2): group1.compare(group2). */
  static Compare(group1: Group, group2: Group): number {
    checkGroup(group1, 'Compare');
    return group1.compare(group2);
  }

  /** Distinct (unless `repeats`) integer group ranks within the group. */
  #checkRanks(ranks: readonly number[], what: string, repeats = false): number[] {
    if (!Array.isArray(ranks)) throw new MPIError('ERR_MPI_ARG', `${what}: ranks must be an array of group ranks`);
    const seen = new Set<number>();
    for (const r of ranks) {
      if (!Number.isInteger(r) || r < 0 || r >= this.#members.length) {
        throw new MPIError('ERR_MPI_RANK', `${what}: ${String(r)} is not a rank of this group of ${this.#members.length}`);
      }
      if (!repeats && seen.has(r)) throw new MPIError('ERR_MPI_RANK', `${what}: rank ${r} is given twice`);
      seen.add(r);
    }
    return [...ranks];
  }
}

function checkGroup(group: unknown, what: string): asserts group is Group {
  if (!(group instanceof Group)) throw new MPIError('ERR_MPI_ARG', `${what}: expected an MPI Group`);
}
