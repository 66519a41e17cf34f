"""
A small mail network on 127.0.0.0/8 for delivery tests: a DNS server
(tests/peers/dns_peer.py) holding MX/A records, and scripted SMTP peers
(tests/peers/smtp_peer.py), each on its own 127.0.0.x and all on one
port, the `mx_port` pigeon is given. Every process is started by the
test and stopped at its end.
"""
import base64
import json
import os
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PEERS = os.path.join(ROOT, "tests", "peers")
PY = "/usr/bin/python3"  # Debian's: python3-dnslib, python3-aiosmtpd


def _wait_file(path, proc, what, timeout=15):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise AssertionError("%s exited with %d" % (what, proc.returncode))
        if time.time() > deadline:
            raise AssertionError("%s did not start" % what)
        time.sleep(0.05)
    with open(path) as f:
        return int(f.read().strip())


def port_free_on(addrs):
    """A TCP port free on every address of addrs."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind((addrs[0], 0))
            port = s.getsockname()[1]
        ok = True
        for a in addrs[1:]:
            with socket.socket() as t:
                try:
                    t.bind((a, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise AssertionError("no port free on %s" % (addrs,))


class Dns:
    def __init__(self, d, records, servfail=(), drop=()):
        os.makedirs(d, exist_ok=True)
        self.log = os.path.join(d, "dns.log")
        pf = os.path.join(d, "dns.port")
        args = [PY, os.path.join(PEERS, "dns_peer.py"), "--port-file", pf,
                "--log", self.log]
        for rr in records:
            args += ["--rr", rr]
        for n in servfail:
            args += ["--servfail", n]
        for n in drop:
            args += ["--drop", n]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        self.port = _wait_file(pf, self.proc, "dns_peer")

    def queries(self):
        with open(self.log) as f:
            return f.read().splitlines()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Smtp:
    """One smtp_peer on addr:port; args are its options."""

    def __init__(self, d, addr, port, *args):
        os.makedirs(d, exist_ok=True)
        self.dir = d
        self.addr = addr
        self.logpath = os.path.join(d, "smtp-%s.jsonl" % addr)
        self.msgpath = os.path.join(d, "smtp-%s.messages.jsonl" % addr)
        ready = os.path.join(d, "smtp-%s.port" % addr)
        self.certs = os.path.join(d, "certs-%s" % addr)
        cmd = [PY, os.path.join(PEERS, "smtp_peer.py"), "--addr", addr,
               "--port", str(port), "--ready", ready, "--log", self.logpath,
               "--messages", self.msgpath,
               "--cert-dir", self.certs] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(
                                         d, "smtp-%s.err" % addr), "ab"))
        self.port = _wait_file(ready, self.proc, "smtp_peer " + addr)

    def sessions(self):
        if not os.path.exists(self.logpath):
            return []
        with open(self.logpath) as f:
            return [json.loads(line) for line in f if line.strip()]

    def messages(self):
        """Every message accepted so far, as the peer logged it when it
        took it (session: the session's facts at that time)."""
        if not os.path.exists(self.msgpath):
            return []
        out = []
        with open(self.msgpath) as f:
            for line in f:
                if line.strip():
                    m = json.loads(line)
                    m["data"] = base64.b64decode(m["data_b64"])
                    out.append(m)
        return out

    def wait_messages(self, n, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.messages()
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError("peer %s got %d of %d messages: %r" % (
            self.addr, len(self.messages()), n, self.sessions()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
