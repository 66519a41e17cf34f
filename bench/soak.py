#!/usr/bin/env python3
"""
The soak of issue 6: each attack it lists, in turn, against one
`pigeon serve --dev` with default settings on 127.0.0.1, while a normal
client sends one message (1 recipient) every 100 ms on a fresh connection
and the server's VmRSS is sampled every 200 ms; then sends from 4 threads,
a SIGKILL while they are in flight, a restart on the same directory, and a
check that every acknowledged message is in the store.

    python3 bench/soak.py [--bin build/pigeon] [--seconds 20]

It builds nothing, uses only what a client sees (HTTP on sockets, the dev
token in var/dev.env, /proc/PID of the server) and never leaves 127.0.0.x.
It takes about 5.5 x SECONDS + 55 s (164 s with the default 20 s).
Targets (issue 6): RSS <= 256 MiB under any attack, every send of the
normal client answered 200 within 100 ms, nothing acknowledged lost across
kill -9. The exit status is 1 when one is missed. Not part of `make test`.
"""
import argparse
import collections
import errno
import http.client
import json
import multiprocessing
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

KiB, MiB = 1024, 1024 * 1024
MAX_BODY = 7 * MiB              # pigeon's default max_body
RSS_TARGET_MIB = 256
LATENCY_TARGET_MS = 100
SENDER = "sender@example.com"   # the dev sending domain is example.com
SETTLE_BEFORE, SETTLE_AFTER = 2.0, 5.0


def send_body(**extra):
    b = {"from": SENDER, "to": "rcpt@example.net", "subject": "soak",
         "text": "soak"}
    b.update(extra)
    return json.dumps(b).encode()


# -- the server, seen from outside ----------------------------------------
class Server:
    def __init__(self, binary, workdir):
        self.bin, self.dir = binary, workdir
        with socket.socket() as s:          # a free port, as conftest does
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.conf = os.path.join(workdir, "pigeon.conf")
        with open(self.conf, "w") as f:     # nothing else: the defaults
            f.write("http_listen 127.0.0.1\nhttp_port %d\nstate_dir %s\n" %
                    (self.port, os.path.join(workdir, "var")))
        self.proc = None

    def start(self):
        log = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--dev", "-c", self.conf], cwd=self.dir,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                sys.exit("pigeon exited with %d; see %s/stderr.log" %
                         (self.proc.returncode, self.dir))
            try:
                if self.request("GET", "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                sys.exit("pigeon did not answer /healthz in 30 s")
            time.sleep(0.05)
        env = {}
        with open(os.path.join(self.dir, "var", "dev.env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if v and not k.startswith("#"):
                    env[k.strip()] = v.strip().strip("'\"")
        self.token = env["CLOUDFLARE_API_TOKEN"]
        self.account = env["CLOUDFLARE_ACCOUNT_ID"]

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait()

    def status_kib(self, field):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def rss_kib(self):
        return self.status_kib("VmRSS")

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def path(self, tail):
        return "/client/v4/accounts/%s/email/sending/%s" % (self.account,
                                                            tail)

    def head(self, method, path, length=None, extra=b""):
        h = (b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s"
             b"\r\nContent-Type: application/json\r\n" %
             (method.encode(), path.encode(), self.token.encode())) + extra
        if length is not None:
            h += b"Content-Length: %d\r\n" % length
        return h + b"\r\n"

    def request(self, method, path, body=None, timeout=10):
        """(status, body bytes) of one request on a fresh connection."""
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        try:
            h = {"Connection": "close"}
            if path != "/healthz":
                h["Authorization"] = "Bearer " + self.token
                h["Content-Type"] = "application/json"
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()


def busy_seconds():
    """CPU time the whole machine has spent outside idle and iowait."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def own_seconds():
    """CPU time of this script and of its children waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Sampler(threading.Thread):
    """The server's VmRSS every 200 ms, with the time it was read."""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv, self.samples, self.stop = srv, [], threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            try:
                self.samples.append((time.monotonic(), self.srv.rss_kib()))
            except OSError:
                return

    def peak(self, t0, t1):
        return max([k for t, k in self.samples if t0 <= t <= t1] or [0])


# -- the normal client (a process of its own, so the attackers' threads
# -- do not hold it up in this interpreter) --------------------------------
def normal_client(port, token, account, source, start_at, seconds, q):
    body = send_body(subject="normal client")
    path = "/client/v4/accounts/%s/email/sending/send" % account
    hdr = {"Authorization": "Bearer " + token, "Connection": "close",
           "Content-Type": "application/json"}
    out, end, slot = [], start_at + seconds, start_at
    for _ in range(int(seconds * 10) + 1):
        if time.time() < slot:
            time.sleep(max(0, slot - time.time()))
        if time.time() >= end:
            break
        t = time.monotonic()
        err = None
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                       source_address=(source, 0))
        try:
            c.request("POST", path, body=body, headers=hdr)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                err = "HTTP %d" % r.status
        except (OSError, http.client.HTTPException) as e:
            err = type(e).__name__
        finally:
            c.close()
        out.append((slot - start_at, (time.monotonic() - t) * 1000, err))
        # the next 100 ms slot; the ones a slow answer overran are skipped
        slot += 0.1 * max(1, int((time.time() - slot) / 0.1) + 1)
    q.put(out)


# -- connections an attack holds --------------------------------------------
class Pool:
    """Sockets an attack keeps open. The server may close any of them;
    top_up() opens others in their place, at most `limit` in all."""

    def __init__(self, opener, want, limit):
        self.opener, self.want, self.limit = opener, want, limit
        self.ep = select.epoll()
        self.live = {}                  # fd -> [socket, opened at, progress]
        self.opened = self.failed = 0
        self.ends = collections.Counter()   # how the server ended them
        self.held = []                  # seconds each one lasted

    def top_up(self, burst):
        n = min(self.want - len(self.live), burst, self.limit - self.opened)
        for _ in range(max(0, n)):
            try:
                s = self.opener()
            except OSError:
                self.failed += 1
                continue
            self.opened += 1
            self.live[s.fileno()] = [s, time.monotonic(), 0]
            self.ep.register(s.fileno(), select.EPOLLRDHUP)

    def reap(self, timeout):
        """Forgets (and closes) the ones the server has closed."""
        for fd, _ in self.ep.poll(timeout):
            ent = self.live.pop(fd, None)
            if ent is None:
                continue
            try:
                first = ent[0].recv(12, socket.MSG_DONTWAIT)
            except OSError:
                first = b""
            self.ends["HTTP " + first[9:12].decode()
                      if first.startswith(b"HTTP/1.1 ") else "closed"] += 1
            self.held.append(time.monotonic() - ent[1])
            self.ep.unregister(fd)
            ent[0].close()

    def close(self):
        for ent in self.live.values():
            ent[0].close()
        self.live.clear()
        self.ep.close()

    def summary(self):
        ends = ", ".join("%s %d" % kv for kv in sorted(self.ends.items()))
        return "opened %d (%d failed to open), ended by the server: %s" % (
            self.opened, self.failed, ends or "none")


def read_all(s, overall=2.0, quiet=0.2):
    """What the server writes until it closes, goes quiet for `quiet` s
    after an answer began, or `overall` s pass."""
    out, deadline = b"", time.monotonic() + overall
    try:
        while time.monotonic() < deadline:
            s.settimeout(quiet if out else deadline - time.monotonic())
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, ConnectionError):
        pass
    return out


def status_of(out):
    return int(out[9:12]) if out[:9] in (b"HTTP/1.1 ", b"HTTP/1.0 ") \
        else ("no answer" if not out else "garbage")


# -- the attacks (each runs until `until`, bounded in count too) ------------
def json_bodies():
    """~1 MiB bodies that json-c would turn into trees hundreds of times
    their size (issue 6 item 1), one near max_body, and one within the
    bounds of the one-pass scan, which is a valid send."""
    fill = send_body()[:-1] + b',"x":'         # the send, open for "x"
    n = MiB // 3
    return [
        fill + b"[" + b"{}," * n + b"{}]}",                      # wide array
        b"[" + b"{}," * n + b"{}]",                              # bare array
        fill + b"[" * (MiB // 2) + b"]" * (MiB // 2) + b"}",     # deep
        fill + b"{" + b",".join(b'"k%d":0' % i
                                for i in range(MiB // 11)) + b"}}",  # wide obj
        fill + b"[" + b",".join([b"[" + b",".join([b"{}"] * 400) + b"]"]
                                * 13) + b"]}",                   # in bounds
        b"[" + b"{}," * ((MAX_BODY - 64) // 3) + b"{}]",         # ~7 MiB
    ]


def attack_json(srv, until, clients=8):
    bodies = json_bodies()
    answers, lock = collections.Counter(), threading.Lock()

    def client(k):
        for i in range(100000):
            if time.monotonic() >= until:
                return
            body = bodies[(i + k) % len(bodies)]
            out = b""
            try:
                with socket.create_connection(("127.0.0.1", srv.port),
                                              timeout=10) as s:
                    try:
                        s.sendall(srv.head("POST", srv.path("send"),
                                           len(body),
                                           b"Connection: close\r\n") + body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass        # refused before the body: read why
                    out = read_all(s, overall=30, quiet=5)
            except OSError:
                pass
            with lock:
                answers[status_of(out)] += 1

    ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return "%d clients, %d bodies of 15 KiB-7 MiB; answers: %s" % (
        clients, len(bodies), dict(answers))


def attack_pinned(srv, until, conns=300, total=2 * MiB, chunk=32 * KiB):
    head = srv.head("POST", srv.path("send"), MAX_BODY - 1)

    def opener():
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
        s.sendall(head)
        s.setblocking(False)
        return s

    pool, pad, top = Pool(opener, conns, conns * 40), b" " * chunk, 0
    while time.monotonic() < until:
        if time.monotonic() >= top:      # refused ones come back each second
            pool.top_up(conns)
            top = time.monotonic() + 1
        for ent in list(pool.live.values()):
            if ent[2] < total:           # 32 KiB a tick: 2 MiB in ~7 s
                try:
                    ent[2] += ent[0].send(pad[:total - ent[2]])
                except OSError:
                    pass                 # full, or closed: reap sees it
        pool.reap(0.1)
    stalled = sum(1 for e in pool.live.values() if e[2] >= total)
    msg = ("%d connections announcing %d bytes, 2 MiB sent then silence; "
           "%d stalled with 2 MiB sent at the end; %s" %
           (conns, MAX_BODY - 1, stalled, pool.summary()))
    pool.close()
    return msg


def big_message():
    """A send_raw body whose message is just under 5 MiB once signed."""
    line = bytes(range(0x21, 0x7f)) + b"\r\n"
    size = 5 * MiB - 64 * KiB
    text = (line * (size // len(line) + 1))[:size]
    mime = (b"From: " + SENDER.encode() + b"\r\nTo: rcpt@example.net\r\n"
            b"Subject: big\r\n\r\n" + text).decode()
    return json.dumps({"from": SENDER, "recipients": ["rcpt@example.net"],
                       "mime_message": mime}).encode()


def prepare_slow(srv):
    st, body = srv.request("POST", srv.path("send_raw"), big_message(), 60)
    assert st == 200, (st, body[:300])
    mid = json.loads(body)["result"]["message_id"]
    path = srv.path("messages/" + urllib.parse.quote(mid, safe=""))
    st, raw = srv.request("GET", path, timeout=60)
    assert st == 200, (st, raw[:300])
    return {"path": path, "size": len(raw)}


def attack_slow(srv, until, ctx, clients=200):
    head = srv.head("GET", ctx["path"])

    def opener():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(2)
        s.connect(("127.0.0.1", srv.port))
        s.sendall(head)
        return s

    pool, top = Pool(opener, clients, clients * 20), 0
    while time.monotonic() < until:
        if time.monotonic() >= top:
            pool.top_up(clients)
            top = time.monotonic() + 1
        pool.reap(0.2)
    msg = ("%d clients GET a %.2f MiB message and never read (4 KiB "
           "receive buffer); %s" % (clients, ctx["size"] / MiB,
                                    pool.summary()))
    pool.close()
    return msg


def attack_idle(srv, until, loris=20):
    """Idle sockets from 127.0.0.1, as many as this process's descriptor
    limit allows, and a slowloris: one header byte every 3 s."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = hard - len(os.listdir("/proc/self/fd")) - loris - 200

    def idle():
        s = socket.socket()
        s.setblocking(False)
        rc = s.connect_ex(("127.0.0.1", srv.port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            raise OSError(rc, os.strerror(rc))
        return s

    loris_head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000

    def slow():
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
        s.sendall(loris_head[:1])
        s.setblocking(False)
        return s

    lp = Pool(slow, loris, loris * 20)
    lp.top_up(loris)                      # first, while the cap has room
    ip = Pool(idle, want, want + 2000 * int(until - time.monotonic() + 1))
    t0 = time.monotonic()
    ip.top_up(want)
    opening = time.monotonic() - t0
    top = time.monotonic() + 1
    while time.monotonic() < until:
        if time.monotonic() >= top:       # refill: at most 2,000 a second
            ip.top_up(2000)
            lp.top_up(loris)
            top = time.monotonic() + 1
        for ent in list(lp.live.values()):
            if time.monotonic() >= ent[1] + 3 * (ent[2] + 1):
                try:
                    ent[2] += ent[0].send(loris_head[ent[2] + 1:ent[2] + 2])
                except OSError:
                    pass
        ip.reap(0.05)
        lp.reap(0.05)
    for _ in range(50):                   # what the server closed, till now
        ip.reap(0)
    fds = srv.fds()
    longest = max(lp.held + [time.monotonic() - e[1]
                             for e in lp.live.values()] or [0])
    msg = ("%d idle sockets wanted (descriptor limit %d), opened in %.1f s; "
           "%d still open at the end, when the server had %d descriptors "
           "open; idle: longest held %.1f s, %s. Slowloris (%d): longest "
           "held %.1f s; %s" % (want, hard, opening, len(ip.live), fds,
                                max(ip.held or [0]), ip.summary(), loris,
                                longest, lp.summary()))
    ip.close()
    lp.close()
    return msg


def smuggling_vectors(srv):
    """The requests of issue 6 item 2, each with a GET /healthz after it
    that must never be answered as a request of its own."""
    get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    body = send_body()
    n = len(body)

    def post(path, lines):
        return srv.head("POST", path, extra=b"".join(
            ln + b"\r\n" for ln in lines)) + body + get

    send = srv.path("send")
    v = [post(send, [b"Content-Length : %d" % n]),
         post(send, [b"Content-Length\t: %d" % n]),
         post(send, [b"X-Note: a", b" Content-Length: %d" % n]),
         post(send, [b"Content-Length:", b" %d" % n]),
         post(send, [b"Transfer-Encoding : chunked",
                     b"Content-Length: %d" % n]),
         post(send, [b"Content-Length : 3", b"Content-Length: %d" % n]),
         post(send + "%00.json", [b"Content-Length: %d" % n]),
         b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
         b"hello" + get,
         b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5 \r\n\r\n"
         b"hello" + get,
         b"GET /healthz HTTP/1.1\r\n\r\n",
         b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
         b"GET /healthz%00junk HTTP/1.1\r\nHost: x\r\n\r\n"]
    for te in (b"gzip", b"identity", b"chunked", b"chunked, identity",
               b'"chunked "'):
        v.append(b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                 + te + b"\r\n\r\n0\r\n\r\n" + get)
    return v


def past_answer(out):
    """The bytes after the first answer, as its Content-Length frames it
    (a header block written twice, or a second answer)."""
    head, _, rest = out.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    return rest[int(m.group(1)):] if m else b""


def attack_smuggling(srv, until, clients=4):
    vectors = smuggling_vectors(srv)
    seen, lock = collections.Counter(), threading.Lock()

    def client(k):
        for i in range(200000):
            if time.monotonic() >= until:
                return
            out = b""
            try:
                with socket.create_connection(("127.0.0.1", srv.port),
                                              timeout=2) as s:
                    s.sendall(vectors[(i + k) % len(vectors)])
                    out = read_all(s)
            except OSError:
                pass
            with lock:
                seen[status_of(out)] += 1
                if b'"status":"ok"' in out:
                    seen["/healthz answered (must be 0)"] += 1
                elif past_answer(out):
                    seen["bytes past the answer"] += 1

    ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return "%d clients, %d vectors on fresh connections; %s" % (
        clients, len(vectors), dict(seen))


ATTACKS = [  # name, prepare, attack, the normal client's source address
    ("none (baseline)", None, None, "127.0.0.1"),
    ("JSON amplification", None, attack_json, "127.0.0.1"),
    ("pinned bodies", None, attack_pinned, "127.0.0.1"),
    ("slow readers", prepare_slow, attack_slow, "127.0.0.1"),
    ("idle sockets + slowloris", None, attack_idle, "127.0.0.2"),
    ("smuggling / malformed heads", None, attack_smuggling, "127.0.0.1"),
]


def run_phase(srv, sampler, mp, name, prepare, attack, source, seconds):
    ctx = prepare(srv) if prepare else None
    time.sleep(SETTLE_BEFORE)
    before = srv.rss_kib()
    q = mp.Queue()
    start_at = time.time() + 1.0          # the client process starts first
    client = mp.Process(target=normal_client, args=(
        srv.port, srv.token, srv.account, source, start_at, seconds, q))
    client.start()
    time.sleep(max(0, start_at - time.time()))
    t0, until = time.monotonic(), time.monotonic() + seconds
    cpu0 = (srv.cpu_seconds(), own_seconds(), busy_seconds())
    if attack is None:
        note = "no attack"
        time.sleep(seconds)
    elif ctx is None:
        note = attack(srv, until)
    else:
        note = attack(srv, until, ctx)
    try:
        lat = q.get(timeout=seconds + 60)
    except Exception:                     # the client died: all failed
        lat = [(0.0, 0.0, "no result")]
    client.join(10)
    t1 = time.monotonic()
    if srv.proc.poll() is not None:
        return dict(name=name, died=True, note=note, before=before / 1024)
    cpu = [(b - a) / (t1 - t0) for a, b in zip(cpu0, (
        srv.cpu_seconds(), own_seconds(), busy_seconds()))]
    cores = (cpu[0], cpu[1], cpu[2] - cpu[0] - cpu[1])
    time.sleep(SETTLE_AFTER)
    ms = sorted(x for _, x, _ in lat)
    fails = collections.Counter(e for _, _, e in lat if e)
    worst = max(lat, key=lambda x: x[1])
    slow = sum(1 for _, x, _ in lat if x > LATENCY_TARGET_MS)
    note += ("; normal client: %d of %d over %d ms, the slowest sent at "
             "+%.1f s" % (slow, len(lat), LATENCY_TARGET_MS, worst[0]))
    return dict(name=name, died=False, note=note, before=before / 1024,
                peak=sampler.peak(t0, t1) / 1024, after=srv.rss_kib() / 1024,
                p50=ms[len(ms) // 2], p99=ms[min(len(ms) - 1,
                                                 int(len(ms) * 0.99))],
                max=ms[-1], n=len(ms), fails=fails, cores=cores,
                source=source)


def durability(srv, want=2000, threads=4, limit_s=60):
    """Sends from `threads` threads until `want` are acknowledged, kill -9
    while they are in flight, restart, look for every acknowledged id."""
    acked, lock, stop = [], threading.Lock(), threading.Event()
    body = send_body(subject="durability")

    def sender():
        for _ in range(want):
            if stop.is_set():
                return
            try:
                st, raw = srv.request("POST", srv.path("send"), body, 10)
            except (OSError, http.client.HTTPException):
                return                    # the server is gone
            if st == 200:
                with lock:
                    acked.append(json.loads(raw)["result"]["message_id"])

    ts = [threading.Thread(target=sender) for _ in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    while len(acked) < want and time.monotonic() < t0 + limit_s and \
            any(t.is_alive() for t in ts):
        time.sleep(0.01)
    busy = sum(t.is_alive() for t in ts)
    srv.kill()
    stop.set()
    for t in ts:
        t.join(30)
    rate = len(acked) / (time.monotonic() - t0)
    srv.start()
    found = 0
    for mid in acked:
        st, _ = srv.request("GET", srv.path(
            "messages/%s/status" % urllib.parse.quote(mid, safe="")))
        found += st == 200
    return dict(acked=len(acked), found=found, lost=len(acked) - found,
                busy=busy, threads=threads, rate=rate)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.
                                 RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/pigeon",
                    help="the pigeon binary (default build/pigeon)")
    ap.add_argument("--seconds", type=float, default=20,
                    help="length of each attack (default 20)")
    ap.add_argument("--sends", type=int, default=2000,
                    help="acknowledged sends before the kill -9 (2000)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (store, stderr.log)")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    if not os.access(binary, os.X_OK):
        sys.exit("no pigeon binary at %s (build it first)" % binary)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    mp = multiprocessing.get_context("spawn")
    work = tempfile.mkdtemp(prefix="pigeon-soak-")
    srv = Server(binary, work)
    srv.start()
    sampler = Sampler(srv)
    sampler.start()
    print("date %s UTC; %d cores; descriptor limit %d; binary %s; "
          "directory %s" % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                            os.cpu_count(), hard, binary, work), flush=True)
    rows, t_start = [], time.monotonic()
    for name, prepare, attack, source in ATTACKS:
        secs = a.seconds / 2 if attack is None else a.seconds
        print("-- %s (%g s)" % (name, secs), flush=True)
        row = run_phase(srv, sampler, mp, name, prepare, attack, source,
                        secs)
        rows.append(row)
        print("   " + row["note"], flush=True)
        if not row["died"]:
            print("   RSS %.0f -> peak %.0f -> %.0f MiB; normal client p50 %.1f"
                  " p99 %.1f max %.1f ms, %d failed" % (
                      row["before"], row["peak"], row["after"], row["p50"],
                      row["p99"], row["max"], sum(row["fails"].values())),
                  flush=True)
        if row["died"]:
            print("   pigeon DIED (exit %s)" % srv.proc.returncode)
            break
    dur = None
    if srv.proc.poll() is None:
        print("-- durability: %d sends acknowledged, then kill -9" % a.sends,
              flush=True)
        sampler.stop.set()
        print("   VmHWM (peak RSS of the whole run so far): %.0f MiB" %
              (srv.status_kib("VmHWM") / 1024), flush=True)
        dur = durability(srv, a.sends)
    srv.kill()
    missed = report(rows, dur)
    print("took %.0f s" % (time.monotonic() - t_start))
    if a.keep:
        print("kept " + work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if missed else 0


def report(rows, dur):
    """Prints the table; returns the list of targets missed."""
    missed = []
    print("\n| attack | RSS before MiB | RSS peak during MiB | RSS after MiB "
          "| normal client p50 / p99 / max ms | normal client failures "
          "| cores: server / soak / others |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r["died"]:
            print("| %s | %.0f | pigeon died | - | - | - | - |" %
                  (r["name"], r["before"]))
            missed.append(r["name"] + ": pigeon died")
            continue
        fails = sum(r["fails"].values())
        print("| %s | %.0f | %.0f | %.0f | %.1f / %.1f / %.1f | %d of %d%s "
              "| %.2f / %.2f / %.2f |" % (
                  r["name"], r["before"], r["peak"], r["after"], r["p50"],
                  r["p99"], r["max"], fails, r["n"],
                  " (%s)" % dict(r["fails"]) if fails else "", *r["cores"]))
        if r["peak"] > RSS_TARGET_MIB:
            missed.append("%s: RSS peak %.0f MiB" % (r["name"], r["peak"]))
        if r["max"] > LATENCY_TARGET_MS or fails:
            missed.append("%s: normal client max %.1f ms, %d failed" %
                          (r["name"], r["max"], fails))
    if dur:
        print("\ndurability: %d acknowledged (%.0f sends/s from %d threads, "
              "%d threads still sending at the kill -9), %d found after the restart, "
              "%d lost" % (dur["acked"], dur["rate"], dur["threads"],
                           dur["busy"], dur["found"], dur["lost"]))
        if dur["lost"] or not dur["acked"]:
            missed.append("durability: %d lost" % dur["lost"])
    print("\ntargets: RSS <= %d MiB, normal client <= %d ms and no failure, "
          "nothing lost: %s" % (RSS_TARGET_MIB, LATENCY_TARGET_MS,
                                "all met" if not missed else
                                "MISSED: " + "; ".join(missed)))
    return missed


if __name__ == "__main__":
    sys.exit(main())
