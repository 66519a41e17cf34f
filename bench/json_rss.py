#!/usr/bin/env python3
"""
Measures what JSON amplification bodies cost a pigeon process: VmRSS and
VmHWM (/proc/PID/status) before and after a 1 MiB and a 7 MiB body of
empty objects, then after large valid sends. Not part of the test run:

    /usr/bin/python3 bench/json_rss.py BIN [BIN...]

Each binary gets a fresh dev server of its own.
"""
import base64
import concurrent.futures
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
import conftest  # noqa: E402

MIB = 1024 * 1024


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) // 1024
    return out


def amp(size, wrap):
    n = (size - len(wrap) - 2) // 3
    return wrap.replace("@", "[" + ",".join(["{}"] * n) + "]").encode()


def large_send(i):
    data = os.urandom(int(3.6 * MIB))
    return {"from": conftest.SENDER, "to": "r%d@example.net" % i,
            "subject": "big", "text": "see attachment",
            "attachments": [{"content": base64.b64encode(data).decode(),
                             "filename": "a.bin",
                             "type": "application/octet-stream",
                             "disposition": "attachment"}]}


def measure(binary):
    conftest.PIGEON_BIN = os.path.abspath(binary)
    with tempfile.TemporaryDirectory() as d:
        s = conftest.Server(d, send_wait_ms=0).start()
        pid = s.proc.pid
        try:
            print("== %s (pid %d)" % (binary, pid))
            print("%-34s %8s %8s %8s" % ("step", "RSS MiB", "HWM MiB",
                                         "secs"))
            print("%-34s %8d %8d" % ("start", status(pid)["VmRSS"],
                                     status(pid)["VmHWM"]))
            for name, body in [
                    ("1 MiB [{},{},...]", amp(MIB, "@")),
                    ("1 MiB {\"to\":[{},...]}", amp(MIB, '{"to":@}')),
                    ("7 MiB [{},{},...]", amp(7 * MIB - 64, "@")),
                    ("7 MiB {\"to\":[{},...]}",
                     amp(7 * MIB - 64, '{"to":@}'))]:
                t0 = time.time()
                r = s.send(body, timeout=120)
                dt = time.time() - t0
                st = status(pid)
                print("%-34s %8d %8d %8.2f  -> %d %s" % (
                    name, st["VmRSS"], st["VmHWM"], dt, r.status,
                    (r.json or {}).get("messages", [{}])[0].get(
                        "message", "")[:60]))
            bodies = [large_send(i) for i in range(8)]
            t0 = time.time()
            with concurrent.futures.ThreadPoolExecutor(4) as ex:
                codes = list(ex.map(lambda b: s.send(b, timeout=120).status,
                                    bodies))
            st = status(pid)
            print("%-34s %8d %8d %8.2f  -> %s" % (
                "8 valid sends of 4.8 MiB, 4 at once", st["VmRSS"],
                st["VmHWM"], time.time() - t0, sorted(set(codes))))
            time.sleep(2)
            st = status(pid)
            print("%-34s %8d %8d" % ("2 s later", st["VmRSS"], st["VmHWM"]))
            r = s.send({"from": conftest.SENDER, "to": "x@example.net",
                        "subject": "s", "text": "t"})
            print("%-34s %8d %8d           -> %d" % (
                "a normal send", status(pid)["VmRSS"], status(pid)["VmHWM"],
                r.status))
        finally:
            s.stop()


if __name__ == "__main__":
    for b in sys.argv[1:] or [conftest.PIGEON_BIN]:
        measure(b)
