# Collective timings with mpi4py: ../shared/anchors/mpi4py_collectives.py (the first five rows, unchanged)
# plus Alltoall, Gather, Scatter and Reduce_scatter_block of 1 MiB, as bench/mpi-collectives.mjs times them.
# bench/mpi/run.mjs runs it as:
# mpirun --allow-run-as-root --oversubscribe -n 4 --mca pml ucx --mca opal_common_ucx_tls any \
#        --mca opal_common_ucx_devices any /usr/bin/python3 bench/mpi/mpi4py_collectives.py
import json, os
from mpi4py import MPI
import numpy as np
comm = MPI.COMM_WORLD; rank = comm.Get_rank(); size = comm.Get_size()
def timeit(fn, n):
    for _ in range(max(1, n // 10)): fn()
    comm.Barrier(); t0 = MPI.Wtime()
    for _ in range(n): fn()
    return (MPI.Wtime() - t0) / n * 1e6
x = np.full(1 << 17, rank, dtype='f8'); y = np.empty_like(x)   # 1 MiB of float64
block = x.size // size; part = x[:block]; into = y[:block]
obj = {"key1": [7, 2.72, 2 + 3j], "key2": ("abc", "xyz")}
only = os.environ.get("NODE_UCX_BENCH_ONLY")
only = only.split(",") if only else None
cases = [
    ("barrier_us", comm.Barrier, 2000),
    ("bcast_object_us", lambda: comm.bcast(obj, root=0), 2000),
    ("Allreduce_1MiB_f64_us", lambda: comm.Allreduce(x, y, op=MPI.SUM), 200),
    ("allreduce_scalar_object_us", lambda: comm.allreduce(rank, op=MPI.SUM), 2000),
    ("Bcast_1MiB_us", lambda: comm.Bcast(x, root=0), 200),
    ("Alltoall_1MiB_us", lambda: comm.Alltoall(x, y), 200),
    ("Gather_1MiB_us", lambda: comm.Gather(part, y if rank == 0 else None, root=0), 200),
    ("Scatter_1MiB_us", lambda: comm.Scatter(x if rank == 0 else None, into, root=0), 200),
    ("Reduce_scatter_block_1MiB_us", lambda: comm.Reduce_scatter_block(x, into, op=MPI.SUM), 200),
]
res = {name: timeit(fn, n) for name, fn, n in cases if only is None or name in only}
if rank == 0:
    print(json.dumps({"tool": "mpi4py", "ranks": size, **res}))
