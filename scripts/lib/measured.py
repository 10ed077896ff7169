"""Runs a command and prints what it cost as one JSON line: wall seconds,
the peak RSS of the process (MiB) and, when a CUDA device is in use and
nvidia-smi is there, the peak memory in use on the devices (MiB, sampled
every 0.2 s; null otherwise). Its stdout and stderr are kept in the files
given. Used by scripts/bench_cost.sh and scripts/gpu_check.sh.
Usage: python measured.py STDOUT STDERR CMD ARG...
"""
import json
import resource
import shutil
import subprocess
import sys
import threading
import time


def gpu_used_mib():
    q = subprocess.run(
        ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
    )
    if q.returncode != 0 or not q.stdout.strip():
        return None
    return sum(int(x) for x in q.stdout.split())


def main():
    out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    cuda = any("cuda" in a for a in cmd) and shutil.which("nvidia-smi")
    peak, done = [None], threading.Event()

    def sample():
        while not done.wait(0.2):
            used = gpu_used_mib()
            if used is not None:
                peak[0] = max(peak[0] or 0, used)

    if cuda:
        threading.Thread(target=sample, daemon=True).start()
    start = time.time()
    with open(out, "w") as o, open(err, "w") as e:
        code = subprocess.run(cmd, stdout=o, stderr=e).returncode
    wall = time.time() - start
    done.set()
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"code": code, "wall": wall, "rss_mib": rss, "gpu_mib": peak[0]}))
    sys.exit(code)


main()
