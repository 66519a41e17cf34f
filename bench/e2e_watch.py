#!/usr/bin/python3
"""The arrival time of each message smtp-sink dumps (bench/e2e.sh).

  e2e_watch.py DIR LOG

smtp-sink -d writes each message to its own file in DIR and closes it at
the end of the transaction (the "." of DATA). This watches DIR with
inotify (IN_CLOSE_WRITE) and appends "name unix_seconds" to LOG for each
file closed, the time read from CLOCK_REALTIME when the event is read:
file times on tmpfs come from a coarse clock (a few ms behind), too
coarse for a delay of a few ms. Runs until killed.
"""
import ctypes
import os
import struct
import sys
import time

IN_CLOSE_WRITE = 0x8
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def main(d, log):
    fd = libc.inotify_init1(0)
    if fd < 0 or libc.inotify_add_watch(fd, d.encode(), IN_CLOSE_WRITE) < 0:
        sys.exit("e2e_watch: inotify: errno %d" % ctypes.get_errno())
    out = open(log, "a")
    print("ready", flush=True)
    while True:
        buf = os.read(fd, 65536)
        t = time.time()
        i = 0
        while i < len(buf):
            _, _, _, n = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode()
            out.write("%s %.6f\n" % (name, t))
            i += 16 + n
        out.flush()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
