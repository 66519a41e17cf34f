#!/usr/bin/python3
"""dns_peer: a small authoritative DNS server for pigeon's tests.

It answers from records it is given, over UDP and TCP on one port of
127.0.0.1, and writes one line per query to a log, so a test can point
pigeon's `dns_servers` at it and see which queries reached it (and so
which were answered from pigeon's cache).

Usage (Debian's python3, for python3-dnslib):

    /usr/bin/python3 tests/peers/dns_peer.py --port-file DIR/port \\
        --log DIR/queries.log --zone DIR/zone \\
        --rr 'mail.test 300 MX 10 mx1.mail.test' \\
        --rr 'mx1.mail.test 300 A 127.0.0.2' --servfail broken.test

    --addr ADDR       address to listen on (127.0.0.1)
    --port N          port for both UDP and TCP (0, the default: a free one)
    --port-file F     once listening, the port is written to F (atomically:
                      wait for F to exist); it is also printed on stdout
    --log F           one line per query: "NAME TYPE PROTO RESULT", e.g.
                      "mail.test MX udp NOERROR", "gone.test A tcp NXDOMAIN",
                      "slow.test MX udp DROP" (default: stderr)
    --zone F          a file of records (repeatable), see below
    --rr 'RR'         one record in master-file form (repeatable)
    --servfail NAME   answer SERVFAIL for NAME, any type (repeatable)
    --refused NAME    answer REFUSED for NAME (repeatable)
    --drop NAME       never answer NAME: the client times out (repeatable)
    --tcp NAME        over UDP, answer NAME with an empty truncated reply
                      (TC=1), so the client must ask again over TCP
    --neg-ttl N       the SOA MINIMUM of negative answers (300) when no SOA
                      record at or above the name was given

Then, in pigeon's config, `dns_servers 127.0.0.1:PORT` (PORT read from
DIR/port) and `mx_port` set to the port the SMTP peers listen on, each on
its own 127.0.0.x named by an A record. From pytest:

    peer = subprocess.Popen(["/usr/bin/python3", "tests/peers/dns_peer.py",
                             "--port-file", pf, "--log", log,
                             "--rr", "mail.test MX 10 mx1.mail.test",
                             "--rr", "mx1.mail.test A 127.0.0.2"])
    # wait until pf exists; port = int(open(pf).read())
    ...
    peer.terminate(); peer.wait()

Records are master-file lines as dnslib reads them: `NAME [TTL] TYPE DATA`,
names absolute with or without the final dot, TTL 300 when left out, `;`
comments, `$TTL`. For example:

    mail.test        300 MX   10 mx1.mail.test
    mail.test        300 MX   20 mx2.mail.test
    mx1.mail.test    60  A    127.0.0.2
    mx1.mail.test    60  AAAA ::1
    nomail.test      300 MX   0 .              ; null MX (RFC 7505)
    alias.test       300 CNAME mail.test
    mail.test        300 SOA  ns.test. hostmaster.test. 1 3600 600 86400 60

A zone file may also hold the lines `servfail NAME`, `refused NAME`,
`drop NAME` and `tcp NAME`, as the options of those names.

Answers: the peer is authoritative for every name it holds and the names
above them. A CNAME is followed within its records (the CNAME and the
target's records are in the answer, as an authoritative server does for
targets in its zones). A name it holds without records of the type asked
is NOERROR with no answer (NODATA); any other name is NXDOMAIN. Negative
answers carry an SOA in the authority section: the nearest SOA record
given at or above the name, else one made up at the name's last two labels
with MINIMUM --neg-ttl. UDP answers longer than the client's EDNS size
(512 without EDNS) are truncated. SIGHUP reads the zone files again.
SIGTERM or SIGINT stops it, and so does the end of the process that
started it.
"""

import argparse
import os
import signal
import socketserver
import struct
import sys
import threading

from dnslib import DNSRecord, QTYPE, RCODE, RR, SOA


def norm(name):
    return str(name).rstrip(".").lower()


class Zone:
    """The records and per-name behaviours, read from files and options."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.load()

    def load(self):
        records = {}  # name -> [RR]
        flags = {"servfail": set(), "refused": set(), "drop": set(),
                 "tcp": set()}
        lines = []
        for path in self.args.zone:
            with open(path, encoding="utf-8") as f:
                lines.extend(f.read().splitlines())
        lines.extend(self.args.rr)
        text = []
        for line in lines:
            words = line.split(";", 1)[0].split()
            if len(words) == 2 and words[0].lower() in flags:
                flags[words[0].lower()].add(norm(words[1]))
            else:
                text.append(line)
        for rr in RR.fromZone("\n".join(text), ttl=300):
            records.setdefault(norm(rr.rname), []).append(rr)
        for k in flags:
            flags[k] |= {norm(n) for n in getattr(self.args, k)}
        with self.lock:
            self.records = records
            self.flags = flags
            # Names that exist: those held and every name above them.
            self.exists = set()
            for name in records:
                labels = name.split(".")
                for i in range(len(labels)):
                    self.exists.add(".".join(labels[i:]))

    def soa(self, name):
        labels = name.split(".")
        for i in range(len(labels)):
            for rr in self.records.get(".".join(labels[i:]), []):
                if rr.rtype == QTYPE.SOA:
                    return rr
        apex = ".".join(labels[-2:])
        n = self.args.neg_ttl
        return RR(apex + ".", QTYPE.SOA, ttl=n,
                  rdata=SOA("ns." + apex + ".", "hostmaster." + apex + ".",
                            (1, 3600, 600, 86400, n)))

    def answer(self, request, proto):
        """The reply to request, or None to stay silent; and its log word."""
        qname = norm(request.q.qname)
        qtype = request.q.qtype
        reply = request.reply()  # QR, AA and RD set, the question copied
        with self.lock:
            flags, records, exists = self.flags, self.records, self.exists
            if qname in flags["drop"]:
                return None, "DROP"
            if qname in flags["servfail"]:
                reply.header.rcode = RCODE.SERVFAIL
                return reply, "SERVFAIL"
            if qname in flags["refused"]:
                reply.header.rcode = RCODE.REFUSED
                return reply, "REFUSED"
            if qname in flags["tcp"] and proto == "udp":
                reply.header.tc = 1
                return reply, "TRUNCATED"
            name = qname
            for _ in range(16):  # a CNAME chain, within the records held
                cname = [r for r in records.get(name, [])
                         if r.rtype == QTYPE.CNAME]
                if not cname or qtype == QTYPE.CNAME:
                    break
                reply.add_answer(cname[0])
                name = norm(cname[0].rdata.label)
            found = [r for r in records.get(name, []) if r.rtype == qtype]
            for r in found:
                reply.add_answer(r)
            if found:
                return reply, "NOERROR"
            reply.add_auth(self.soa(name))
            if name not in exists:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply, "NXDOMAIN"
            return reply, "NODATA"


class Log:
    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8") if path else sys.stderr
        self.lock = threading.Lock()

    def line(self, s):
        with self.lock:
            self.f.write(s + "\n")
            self.f.flush()


def handle(server, data, proto):
    """Bytes of the reply to the query in data, or None."""
    try:
        request = DNSRecord.parse(data)
    except Exception:  # not DNS: no answer
        server.log.line("- - %s FORMERR" % proto)
        return None
    if not request.questions:
        return None
    reply, word = server.zone.answer(request, proto)
    server.log.line("%s %s %s %s" % (norm(request.q.qname) or ".",
                                     QTYPE.get(request.q.qtype,
                                               request.q.qtype),
                                     proto, word))
    if reply is None:
        return None
    out = reply.pack()
    if proto == "udp":
        size = 512
        for ar in request.ar:
            if ar.rtype == QTYPE.OPT:
                size = max(512, ar.rclass)
        if len(out) > size:
            reply = reply.truncate()
            out = reply.pack()
    return out


class UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        out = handle(self.server, data, "udp")
        if out is not None:
            sock.sendto(out, self.client_address)


class TCPHandler(socketserver.BaseRequestHandler):
    def recv(self, n):
        buf = b""
        while len(buf) < n:
            got = self.request.recv(n - len(buf))
            if not got:
                return None
            buf += got
        return buf

    def handle(self):
        while True:  # RFC 7766: several queries may share a connection
            head = self.recv(2)
            if head is None:
                return
            data = self.recv(struct.unpack("!H", head)[0])
            if data is None:
                return
            out = handle(self.server, data, "tcp")
            if out is not None:
                self.request.sendall(struct.pack("!H", len(out)) + out)


class UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True


class TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def listen(addr, port):
    """A UDP and a TCP server on the same port (a free one when 0)."""
    for _ in range(50):
        udp = UDPServer((addr, port), UDPHandler)
        try:
            tcp = TCPServer((addr, udp.server_address[1]), TCPHandler)
        except OSError:
            udp.server_close()
            if port:
                raise
            continue
        return udp, tcp
    raise OSError("no port free for both UDP and TCP")


def reload(zone):
    try:
        zone.load()
    except Exception as e:  # keep the records held
        print("dns_peer: reload: %s" % e, file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--zone", action="append", default=[])
    p.add_argument("--rr", action="append", default=[])
    p.add_argument("--servfail", action="append", default=[])
    p.add_argument("--refused", action="append", default=[])
    p.add_argument("--drop", action="append", default=[])
    p.add_argument("--tcp", action="append", default=[])
    p.add_argument("--neg-ttl", type=int, default=300)
    args = p.parse_args()

    zone = Zone(args)
    log = Log(args.log)
    udp, tcp = listen(args.addr, args.port)
    for s in (udp, tcp):
        s.zone, s.log = zone, log
        threading.Thread(target=s.serve_forever, daemon=True).start()
    port = udp.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print("port %d" % port, flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload(zone))
    parent = os.getppid()
    while not stop.wait(0.5):
        if os.getppid() != parent:  # the test died without stopping us
            break
    # The servers' threads are daemons: they end with the process.


if __name__ == "__main__":
    main()
