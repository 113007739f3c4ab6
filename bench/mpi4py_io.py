# The mpi4py side of the MPI-IO benchmark: the same patterns and timing as bench/mpi-io-rank.mjs, with
# mpi4py on Open MPI (OMPIO). Rank 0 prints one JSON line of median seconds per pattern.
#   mpirun --allow-run-as-root --oversubscribe -n 4 --mca btl self,vader \
#          /usr/bin/python3 bench/mpi4py_io.py --dir DIR --size BYTES --int-size BYTES --iters N
import argparse
import json
import os
from mpi4py import MPI
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument('--dir', default='.')
parser.add_argument('--size', type=int, default=64 << 20)
parser.add_argument('--int-size', type=int, default=1 << 20)
parser.add_argument('--iters', type=int, default=5)
parser.add_argument('--patterns', default=None)
args = parser.parse_args()
only = args.patterns.split(',') if args.patterns else None

comm = MPI.COMM_WORLD
rank, ranks = comm.Get_rank(), comm.Get_size()
path = os.path.join(args.dir, 'mpi4py-mpi-io-%d.dat' % os.getppid())
share = args.size // ranks


def time(setup, body, truncate):
    fh = MPI.File.Open(comm, path, MPI.MODE_RDWR | MPI.MODE_CREATE)
    setup(fh)
    times = []
    for i in range(args.iters + 1):
        if truncate:
            fh.Set_size(0)
        comm.Barrier()
        t0 = MPI.Wtime()
        body(fh)
        comm.Barrier()
        if i > 0:
            times.append(MPI.Wtime() - t0)
    fh.Close()
    return sorted(times)[len(times) // 2]


def want(name):
    return not only or name in only


def none(fh):
    pass


results = {}
block = np.full(share, rank + 1, dtype=np.uint8)
doubles = block.view(np.float64)

if want('write-at'):
    results['write-at'] = time(none, lambda fh: fh.Write_at(rank * share, doubles), True)
if want('write-at-all'):
    results['write-at-all'] = time(none, lambda fh: fh.Write_at_all(rank * share, doubles), True)
if want('read-at-all'):
    into = np.empty_like(doubles)
    results['read-at-all'] = time(lambda fh: fh.Write_at_all(rank * share, doubles),
                                  lambda fh: fh.Read_at_all(rank * share, into), False)
    assert into[0] == doubles[0] and into[-1] == doubles[-1]


def strided(nbytes, total):
    count = total // ranks // nbytes
    elem = MPI.BYTE.Create_contiguous(nbytes).Commit()
    filetype = elem.Create_vector(count, 1, ranks).Commit()
    return lambda fh: fh.Set_view(rank * nbytes, MPI.BYTE, filetype)


view4k = strided(4096, args.size)
if want('write-strided'):
    results['write-strided'] = time(view4k, lambda fh: fh.Write(block), True)
if want('write-all-strided'):
    results['write-all-strided'] = time(view4k, lambda fh: fh.Write_all(block), True)
if want('read-all-strided'):
    into = np.empty_like(block)

    def setup(fh):
        view4k(fh)
        fh.Write_all(block)
        fh.Seek(0)

    def body(fh):
        fh.Read_all(into)
        fh.Seek(0)

    results['read-all-strided'] = time(setup, body, False)
    assert into[0] == rank + 1 and into[-1] == rank + 1
if want('write-all-strided-int'):
    ints = np.full(args.int_size // ranks, rank + 1, dtype=np.uint8)
    results['write-all-strided-int'] = time(strided(4, args.int_size), lambda fh: fh.Write_all(ints), True)

if rank == 0:
    print(json.dumps({'tool': 'mpi4py', 'ranks': ranks, 'size': args.size, 'intSize': args.int_size,
                      'iters': args.iters, 'results': results}))
    try:
        os.unlink(path)
    except OSError:
        pass
