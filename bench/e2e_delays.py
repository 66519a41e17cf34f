#!/usr/bin/python3
"""Delays for bench/e2e.sh, printed as name=value words on one line.

  e2e_delays.py pigeon ACKS SINKDIR WATCHLOG
      ACKS: "message_id unix_seconds" per 200 (bench/e2e_send.lua).
      SINKDIR: smtp-sink's -d dumps, one file per message; WATCHLOG:
      "name unix_seconds" per file, when smtp-sink closed it at the end
      of its transaction (bench/e2e_watch.py). Each 200 is matched with
      the dump holding its Message-ID header; the delay is the file's
      time - the time of the 200. Without a line in WATCHLOG the file's
      mtime is used (counted as mtime=).

  e2e_delays.py postfix MAILLOG PORT
      Postfix's smtp delivery lines to 127.0.0.1:PORT (the sink), with
      delay_logging_resolution_limit = 6. The delay from Postfix's 250
      to the sink is approximated by delays= b+c+d: time in the queue
      manager, connection setup, transmission, i.e. from the message
      entering the active queue to the sink's reply to "." (a, before
      the queue manager, holds the SMTP receipt, the milter and the 250).
"""
import os
import re
import sys


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[i]


def summary(delays_s, extra):
    ms = [d * 1000.0 for d in delays_s]
    words = ["n=%d" % len(ms), "p50_ms=%.1f" % pct(ms, 50),
             "p99_ms=%.1f" % pct(ms, 99),
             "max_ms=%.1f" % (max(ms) if ms else float("nan"))]
    words += ["%s=%s" % kv for kv in extra]
    print(" ".join(words))


MID = re.compile(rb"^message-id:\s*(<[^>\r\n]*>)", re.I | re.M)


def pigeon(acks, sinkdir, watchlog):
    closed = {}
    with open(watchlog) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                closed[parts[0]] = float(parts[1])
    by_mtime = 0
    sent = {}
    with open(acks) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                sent[parts[0]] = float(parts[1])
    arrived = {}
    for root, _, files in os.walk(sinkdir):
        for name in files:
            p = os.path.join(root, name)
            with open(p, "rb") as f:
                m = MID.search(f.read(16384))
            if m:
                t = closed.get(name)
                if t is None:
                    by_mtime += 1
                    t = os.stat(p).st_mtime
                arrived[m.group(1).decode()] = t
    delays, missing = [], 0
    for mid, t in sent.items():
        a = arrived.get(mid)
        if a is None:
            missing += 1
        else:
            delays.append(a - t)
    first = min(sent.values()) if sent else 0
    last = max(arrived.values()) if arrived else 0
    summary(delays, [("acked", len(sent)), ("arrived", len(arrived)),
                     ("missing", missing),
                     ("not_acked", len(set(arrived) - set(sent))),
                     ("first_200", "%.6f" % first),
                     ("last_arrival", "%.6f" % last),
                     ("negative", sum(1 for d in delays if d < 0)),
                     ("mtime", by_mtime)])


DEL = re.compile(r"postfix/smtp\[\d+\]: [0-9A-F]+: .*relay=[^ ]*:(\d+), "
                 r".*delays=([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+), .*status=sent")


def postfix(maillog, port):
    delays = []
    with open(maillog, errors="replace") as f:
        for line in f:
            m = DEL.search(line)
            if m and m.group(1) == port:
                delays.append(sum(float(m.group(i)) for i in (3, 4, 5)))
    summary(delays, [])


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "pigeon":
        pigeon(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "postfix":
        postfix(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
