#!/usr/bin/env python3
"""The Dask distributed side of `npm run bench:scheduler` (bench/scheduler/run.mjs).

One workload (S1-S8) on LocalCluster(n_workers=2, threads_per_worker=1, processes=True), the same
workloads, sizes and checks as node-bench.mjs. Prints one JSON line:
{ system, workload, config, runs, summary }.

    python3 bench/scheduler/dask_bench.py S1 '{"tasks": 10000, "reps": 3}'

Debian's python3-distributed (2022.12) and python3-numpy; the driver installs them when missing.
"""
import json
import logging
import os
import signal
import statistics
import sys
import threading
import time

import dask
import numpy as np
import psutil
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin


# ---- the task functions (tasks.mjs has the same in JavaScript) ----

def noop(x):
    return x


def inc(x):
    return x + 1


def add_all(*xs):
    return sum(xs)


def fill(i, n):
    return np.full(n, float(i))


def add(a, b):
    return a + b


def first(a):
    return float(a[0])


def sleep_task(ms, i):
    time.sleep(ms / 1000)
    return i


# ---- helpers ----

def median(xs):
    return statistics.median(xs)


def now():
    return time.perf_counter()


def cluster(saturation=None):
    settings = {"distributed.scheduler.worker-saturation": saturation} if saturation is not None else {}
    with dask.config.set(settings):
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None, silence_logs=logging.ERROR)
    return c, Client(c)


def close(c, client):
    client.close()
    c.close()


def tree_shape(total, fanin):
    """The same tree as workloads.mjs's treeShape()."""
    leaves = max(1, (total * (fanin - 1)) // fanin)
    levels = [[(f"leaf-{i}", i) for i in range(leaves)]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        depth = len(levels)
        level = []
        j = 0
        while j * fanin < len(below):
            level.append((f"sum-{depth}-{j}", [k for k, _ in below[j * fanin:(j + 1) * fanin]]))
            j += 1
        levels.append(level)
    tasks = sum(len(level) for level in levels)
    return levels, leaves, tasks, levels[-1][0][0], leaves * (leaves + 1) // 2


# ---- workloads ----

def s1(config):
    variants = {}
    for name, saturation in (("default", None), ("queuing-off", float("inf"))):
        c, client = cluster(saturation)
        try:
            client.gather(client.map(noop, [-1, -2]))
            runs = []
            for rep in range(config["reps"]):
                inputs = list(range(rep * config["tasks"], (rep + 1) * config["tasks"]))
                t0 = now()
                futures = client.map(noop, inputs)
                values = client.gather(futures)
                runs.append(now() - t0)
                del futures
                assert len(values) == config["tasks"] and values[7] == inputs[7]
            variants[name] = runs
        finally:
            close(c, client)
    t = median(variants["default"])
    off = median(variants["queuing-off"])
    return variants, {"seconds": t, "tasksPerSecond": config["tasks"] / t,
                      "queuingOffSeconds": off, "queuingOffTasksPerSecond": config["tasks"] / off}


def s2(config):
    c, client = cluster()
    try:
        client.gather(client.map(inc, [-5]))
        runs = []
        for rep in range(config["reps"]):
            t0 = now()
            future = client.submit(inc, rep * 1_000_000)
            chain = [future]
            for _ in range(1, config["steps"]):
                future = client.submit(inc, future)
                chain.append(future)
            value = future.result()
            runs.append(now() - t0)
            assert value == rep * 1_000_000 + config["steps"], value
            del chain, future
        t = median(runs)
        return runs, {"seconds": t, "msPerStep": t / config["steps"] * 1000}
    finally:
        close(c, client)


def s3(config):
    c, client = cluster()
    try:
        client.submit(inc, -7).result()
        runs = []
        for rep in range(config["reps"]):
            trips = []
            for i in range(config["trips"]):
                t0 = now()
                future = client.submit(inc, rep * 1_000_000 + i)
                future.result()
                trips.append(now() - t0)
                del future
            runs.append(median(trips))
        return runs, {"msPerRoundTrip": median(runs) * 1000}
    finally:
        close(c, client)


def incoming_bytes(client):
    """Bytes the workers have fetched from each other so far (their transfer logs)."""
    per_worker = client.run(lambda dask_worker: sum(e.get("total", 0) for e in dask_worker.transfer_incoming_log))
    return sum(per_worker.values())


def s4(config):
    c, client = cluster()
    try:
        runs, moved = [], []
        for rep in range(config["reps"]):
            dsk = {}
            level = []
            for i in range(config["leaves"]):
                key = f"fill-{rep}-{i}"
                dsk[key] = (fill, i + rep, config["elements"])
                level.append(key)
            depth = 1
            while len(level) > 1:
                nxt = []
                for j in range(0, len(level), 2):
                    if j + 1 >= len(level):
                        nxt.append(level[j])
                        continue
                    key = f"add-{rep}-{depth}-{j // 2}"
                    dsk[key] = (add, level[j], level[j + 1])
                    nxt.append(key)
                level = nxt
                depth += 1
            root = f"first-{rep}"
            dsk[root] = (first, level[0])
            before = incoming_bytes(client)
            t0 = now()
            value = client.get(dsk, root)
            runs.append(now() - t0)
            moved.append(incoming_bytes(client) - before)
            expected = config["leaves"] * (config["leaves"] - 1) / 2 + rep * config["leaves"]
            assert value == expected, (value, expected)
        t = median(runs)
        b = median(moved)
        return runs, {"seconds": t, "bytesMoved": b, "movedMiBps": b / 2 ** 20 / t, "bytesMovedPerRun": moved}
    finally:
        close(c, client)


class RssPeak:
    """Samples this process's RSS (the scheduler and the client) every 50 ms."""

    def __init__(self):
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self):
        while self.running:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.thread.join()
        return self.base, self.peak


def big_graph(config):
    levels, leaves, tasks, root, expected = tree_shape(config["tasks"], config["fanin"])
    c, client = cluster()
    try:
        client.submit(inc, -1).result()
        runs = []
        for rep in range(config["reps"]):
            prefix = f"r{rep}-"
            dsk = {prefix + key: (inc, i) for key, i in levels[0]}
            for level in levels[1:]:
                for key, children in level:
                    dsk[prefix + key] = (add_all, *[prefix + ch for ch in children])
            sampler = RssPeak()
            t0 = now()
            value = client.get(dsk, prefix + root)
            seconds = now() - t0
            base, peak = sampler.stop()
            assert value == expected, (value, expected)
            runs.append({"seconds": seconds, "peakRss": peak, "rssGrowth": peak - base})
            del dsk
        t = median([r["seconds"] for r in runs])
        return runs, {"tasks": tasks, "seconds": t, "tasksPerSecond": tasks / t,
                      "schedulerPeakRssMiB": median([r["peakRss"] for r in runs]) / 2 ** 20,
                      "schedulerRssGrowthMiB": median([r["rssGrowth"] for r in runs]) / 2 ** 20}
    finally:
        close(c, client)


class Removals(SchedulerPlugin):
    def __init__(self):
        self.times = []

    def remove_worker(self, scheduler=None, worker=None, **kwargs):
        self.times.append(now())


def s7(config):
    c, client = cluster()
    try:
        watch = Removals()
        c.scheduler.add_plugin(watch, name="bench-removals")
        client.gather(client.map(sleep_task, [1, 1], [-1, -2]))
        runs = []

        def once(offset, kill):
            killed_at = [None]
            timer = None
            if kill:
                pid = next(iter(client.run(os.getpid).values()))

                def do_kill():
                    killed_at[0] = now()
                    os.kill(pid, signal.SIGKILL)
                timer = threading.Timer(config["killAt"], do_kill)
            t0 = now()
            if timer is not None:
                timer.start()
            inputs = list(range(offset, offset + config["tasks"]))
            futures = client.map(sleep_task, [config["ms"]] * len(inputs), inputs)
            client.gather(futures)
            seconds = now() - t0
            if timer is not None:
                timer.cancel()
            del futures
            return seconds, killed_at[0]

        for rep in range(config["reps"]):
            clean, _ = once(rep * 2 * config["tasks"], False)
            watch.times.clear()
            killed, killed_at = once((rep * 2 + 1) * config["tasks"], True)
            noticed = [t for t in watch.times if killed_at is not None and t >= killed_at]
            runs.append({"clean": clean, "killed": killed,
                         "noticedMs": (noticed[0] - killed_at) * 1000 if noticed else None})
            client.wait_for_workers(2, timeout=30)
        clean = median([r["clean"] for r in runs])
        killed = median([r["killed"] for r in runs])
        noticed = [r["noticedMs"] for r in runs if r["noticedMs"] is not None]
        return runs, {"cleanSeconds": clean, "killedSeconds": killed, "addedSeconds": killed - clean,
                      "noticedMs": median(noticed) if noticed else None}
    finally:
        close(c, client)


def s8(config):
    c, client = cluster()
    try:
        client.submit(inc, 1).result()
        time.sleep(config["settle"])
        me = psutil.Process()
        processes = {"scheduler + client": me}
        worker_pids = set(client.run(os.getpid).values())
        for child in me.children(recursive=True):
            try:
                if "resource_tracker" in " ".join(child.cmdline()):
                    continue
            except psutil.Error:
                continue
            role = "worker" if child.pid in worker_pids else "nanny"
            processes[f"{role} {child.pid}"] = child
        before = {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}
        t0 = now()
        time.sleep(config["window"])
        elapsed = now() - t0
        percent = {name: (sum(p.cpu_times()[:2]) - before[name]) / elapsed * 100 for name, p in processes.items()}
        return [percent], {"maxPercent": max(percent.values()), "percent": percent}
    finally:
        close(c, client)


WORKLOADS = {"S1": s1, "S2": s2, "S3": s3, "S4": s4, "S5": big_graph, "S6": big_graph, "S7": s7, "S8": s8}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in WORKLOADS:
        print("usage: dask_bench.py S1..S8 '{config json}'", file=sys.stderr)
        sys.exit(2)
    workload = sys.argv[1]
    config = json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    runs, summary = WORKLOADS[workload](config)
    print(json.dumps({"system": "dask", "workload": workload, "config": config, "runs": runs, "summary": summary,
                      "version": __import__("distributed").__version__}), flush=True)


if __name__ == "__main__":
    main()
