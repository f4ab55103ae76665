#!/usr/bin/python3
"""Peers of bench/vec_query.c on the same raw float32 file (bench/vec.sh runs it).

  vec_peers.py faiss FILE N DIM QFILE NQ THREADS OUT   FAISS IndexFlatIP, single queries
  vec_peers.py hnsw  FILE N DIM QFILE NQ THREADS EXACT hnswlib M=16, recall@10 vs EXACT
  vec_peers.py agree A B                               share of top-10 ids A and B agree on
"""
import resource
import statistics
import sys
import time

import numpy as np


def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def load(path, n, dim, qpath, nq):
    x = np.fromfile(path, dtype="<f4", count=n * dim).reshape(n, dim)
    q = np.fromfile(qpath, dtype="<f4", count=nq * dim).reshape(nq, dim)
    return x, q


def read_ids(path):
    with open(path) as f:
        return [list(map(int, line.split())) for line in f]


def main():
    mode = sys.argv[1]
    if mode == "agree":
        a, b = read_ids(sys.argv[2]), read_ids(sys.argv[3])
        hit = sum(len(set(x) & set(y)) for x, y in zip(a, b))
        print("agree\t%.4f" % (hit / sum(len(y) for y in b)))
        return
    path, n, dim, qpath, nq, threads, out = sys.argv[2:9]
    n, dim, nq, threads = int(n), int(dim), int(nq), int(threads)
    x, q = load(path, n, dim, qpath, nq)
    if mode == "faiss":
        import faiss
        faiss.omp_set_num_threads(threads)
        t0 = time.perf_counter()
        index = faiss.IndexFlatIP(dim)
        index.add(x)
        del x
        tb = time.perf_counter() - t0
        index.search(q[:1], 10)  # warm
        lat, rows = [], []
        t0 = time.perf_counter()
        for i in range(nq):
            a = time.perf_counter()
            _, ids = index.search(q[i:i + 1], 10)
            lat.append(time.perf_counter() - a)
            rows.append(ids[0])
        tall = time.perf_counter() - t0
        with open(out, "w") as f:
            for r in rows:
                f.write(" ".join(str(int(v)) for v in r) + "\n")
        med = statistics.median(lat)
        print("faiss_flatip\tthreads=%d\tbuild_s=%.2f\tmedian_ms=%.2f\tqps=%.1f\tGBps=%.1f\tmaxrss_MB=%d"
              % (threads, tb, med * 1e3, nq / tall, n * dim * 4 / med / 1e9, maxrss_mb()))
    elif mode == "hnsw":
        import hnswlib
        exact = read_ids(out)
        t0 = time.perf_counter()
        index = hnswlib.Index(space="ip", dim=dim)
        index.init_index(max_elements=n, M=16, ef_construction=64, random_seed=1)
        index.set_num_threads(threads)
        index.add_items(x, np.arange(n))
        del x
        tb = time.perf_counter() - t0
        index.set_num_threads(1)  # single queries
        for ef in (64, 128):
            index.set_ef(ef)
            lat, hit = [], 0
            t0 = time.perf_counter()
            for i in range(nq):
                a = time.perf_counter()
                labels, _ = index.knn_query(q[i:i + 1], k=10)
                lat.append(time.perf_counter() - a)
                hit += len(set(int(v) for v in labels[0]) & set(exact[i]))
            tall = time.perf_counter() - t0
            med = statistics.median(lat)
            print("hnswlib\tM=16 efc=64 ef=%d\tbuild_s=%.1f\tmedian_ms=%.3f\tqps=%.1f\trecall@10=%.3f\tmaxrss_MB=%d"
                  % (ef, tb, med * 1e3, nq / tall, hit / (10 * nq), maxrss_mb()))


if __name__ == "__main__":
    main()
