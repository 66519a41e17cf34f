"""A private Postfix instance as a receiving MTA, for pigeon's tests.

Everything lives in one directory: config (etc/), queue (queue/), data
(data/), the log (maillog), an optional self-signed certificate (tls/) and
the delivered mail (the Maildir mail/inbox/, written by Postfix's
virtual(8) agent as "nobody", one file per recipient). The system-wide
Postfix (/etc/postfix, /var/spool/postfix) is not touched, and of
/etc/postfix only the package's own files are read (postfix-files, the
list of queue directories to make). Nothing leaves the machine: this
Postfix sends no mail (default_transport is error, so its own bounces fail
at once) and does not look up its clients' names.

Needs root (Postfix's master runs as root) and the package postfix
(scripts/deps.sh test). The directory and every directory above it must
be searchable by other users, as virtual(8) reaches the Maildir by
absolute path as "nobody": pytest's tmp_path (under a 0700 directory) is
not; leave tmpdir None to get a fresh directory under /tmp.

Use:
    pf = Postfix(None, None, domains=("example.net",), mailboxes=["alice"])
    pf.start()
    try:
        ... send to 127.0.0.1:pf.port ...
        pf.wait_messages(1)
    finally:
        pf.stop()
or `with Postfix(...) as pf:`, which also removes a directory it made.

Run by hand: python3 tests/peers/postfix.py --port 2525 --dir /tmp/pf
"""
import argparse
import atexit
import os
import pty
import pwd
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

# Postfix's own services, shared with bench/peer.sh
SERVICES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "postfix-master.cf")


class PostfixError(Exception):
    pass


# Started instances, stopped when the interpreter exits should a caller
# not have (its master is a daemon: nothing else would end it).
_running = set()


@atexit.register
def _stop_all():
    for pf in list(_running):
        try:
            pf.stop()
        except Exception:
            pass


def free_port(addr="127.0.0.1"):
    """A TCP port free on addr now (another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def _port_free(addr, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((addr, port))
        except OSError:
            return False
    return True


def alive(pid):
    """Whether pid runs: a zombie does not (daemons that exit are reaped by
    PID 1, which may take a while)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _searchable_by_others(path):
    p = os.path.abspath(path)
    while True:
        if not os.stat(p).st_mode & stat.S_IXOTH:
            return p
        if p == "/":
            return None
        p = os.path.dirname(p)


class Postfix:
    """A private Postfix receiving mail on addrs:port into a Maildir.

    tmpdir: the instance's directory (made if missing); None: a new one
      under /tmp, removed by close() / the end of a `with`.
    port: None picks a free one (self.port).
    domains: the domains it accepts mail for; any other is refused at RCPT
      with 554 5.7.1 (relay access denied).
    mailboxes: None accepts any local part at those domains; else only
      these ("alice" at every domain, or "alice@example.net"), any other
      recipient there is refused at RCPT with 550 5.1.1.
    tls: offer STARTTLS with a self-signed certificate for tls_name
      (self.cert, usable as a CA file); tls_name is also the host name in
      its greeting and Received headers.
    message_size_limit: bytes; advertised as SIZE; Postfix's default
      (10240000) when None.
    smtputf8: offer SMTPUTF8.
    extra_main_cf: dict of main.cf settings (they override the ones here)
      or text appended to main.cf.
    addrs: the addresses it listens on, e.g. ("127.0.0.1", "127.0.0.2").
    """

    def __init__(self, tmpdir=None, port=None, domains=("example.net",),
                 mailboxes=None, tls=False, tls_name="mx.example.net",
                 message_size_limit=None, smtputf8=True, extra_main_cf=None,
                 addrs=("127.0.0.1",)):
        self._own_dir = tmpdir is None
        if tmpdir is None:
            tmpdir = tempfile.mkdtemp(prefix="pigeon-postfix.")
        self.dir = os.path.abspath(str(tmpdir))
        os.makedirs(self.dir, exist_ok=True)
        self.addrs = tuple(addrs)
        self.port = port if port is not None else free_port(self.addrs[0])
        self.domains = tuple(d.lower() for d in domains)
        self.mailboxes = None if mailboxes is None else list(mailboxes)
        self.tls = tls
        self.tls_name = tls_name
        self.message_size_limit = message_size_limit
        self.smtputf8 = smtputf8
        self.extra_main_cf = extra_main_cf
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.mailbase = os.path.join(self.dir, "mail")
        self.maildir = os.path.join(self.mailbase, "inbox")
        self.logfile = os.path.join(self.dir, "maillog")
        self.cert = os.path.join(self.dir, "tls", "cert.pem") if tls else None
        self.key = os.path.join(self.dir, "tls", "key.pem") if tls else None
        self._start_out = ""

    # --- configuration

    def _main_cf(self):
        nobody = pwd.getpwnam("nobody")
        s = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": os.path.join(self.dir, "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": self.tls_name,
            "mydomain": "peer.invalid",
            "myorigin": "$myhostname",
            "mydestination": "",
            "relay_domains": "",
            # master.cf binds each of addrs (127.0.0.2 is no interface
            # address, which inet_interfaces wants)
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            # a peer that refuses relaying outright (not 4xx)
            "smtpd_relay_restrictions": "reject_unauth_destination",
            # mail kept as received: no header rewriting and no missing
            # header added; only smtpd's Received and delivery's headers
            "local_header_rewrite_clients": "",
            "smtpd_peername_lookup": "no",
            "smtpd_error_sleep_time": "0",
            "in_flow_delay": "0",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "notify_classes": "",
            # nothing leaves the machine
            "default_transport": "error:the test peer sends no mail",
            "relay_transport": "error:the test peer sends no mail",
            "smtp_dns_support_level": "disabled",
            "maillog_file": self.logfile,
            "maillog_file_prefixes": self.dir,
            "virtual_mailbox_domains": ", ".join(self.domains),
            "virtual_mailbox_base": self.mailbase,
            "virtual_mailbox_maps": self._mailbox_map(),
            "virtual_uid_maps": "static:%d" % nobody.pw_uid,
            "virtual_gid_maps": "static:%d" % nobody.pw_gid,
            "virtual_mailbox_limit": "0",
            "smtputf8_enable": "yes" if self.smtputf8 else "no",
        }
        if self.message_size_limit is not None:
            s["message_size_limit"] = str(self.message_size_limit)
        if self.tls:
            s.update({
                "smtpd_tls_security_level": "may",
                "smtpd_tls_cert_file": self.cert,
                "smtpd_tls_key_file": self.key,
                "smtpd_tls_received_header": "yes",
                "smtpd_tls_loglevel": "1",
            })
        extra = ""
        if isinstance(self.extra_main_cf, dict):
            s.update(self.extra_main_cf)
        elif self.extra_main_cf:
            extra = self.extra_main_cf.rstrip("\n") + "\n"
        return "".join("%s = %s\n" % kv for kv in s.items()) + extra

    def _mailbox_map(self):
        # Every accepted recipient's mail goes to one Maildir, "inbox/"
        # under virtual_mailbox_base (virtual(8) allows no $1 in a regexp
        # map's result, so no Maildir per local part).
        if self.mailboxes is None:
            path = os.path.join(self.conf, "mailboxes.regexp")
            with open(path, "w") as f:
                for d in self.domains:
                    f.write("/@%s$/ inbox/\n" % d.replace(".", "\\."))
            return "regexp:" + path
        path = os.path.join(self.conf, "mailboxes")
        with open(path, "w") as f:
            for m in self.mailboxes:
                for a in ([m] if "@" in m else
                          ["%s@%s" % (m, d) for d in self.domains]):
                    f.write("%s inbox/\n" % a.lower())
        return "texthash:" + path

    def _master_cf(self):
        listen = "".join("%s:%d inet n - n - - smtpd\n" % (a, self.port)
                         for a in self.addrs)
        with open(SERVICES) as f:
            return listen + f.read()

    def _make_cert(self):
        os.makedirs(os.path.dirname(self.cert), exist_ok=True)
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", self.key, "-out", self.cert, "-days", "2",
             "-subj", "/CN=" + self.tls_name,
             "-addext", "subjectAltName=DNS:" + self.tls_name],
            capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise PostfixError("openssl req failed: " + r.stderr)
        os.chmod(self.key, 0o600)

    def _write_config(self):
        os.chmod(self.dir, 0o755)
        closed = _searchable_by_others(self.dir)
        if closed:
            raise PostfixError(
                "%s is not searchable by other users, so Postfix's delivery "
                "agent cannot reach %s: use a directory outside it (tmpdir="
                "None makes one under /tmp)" % (closed, self.maildir))
        os.makedirs(self.conf, exist_ok=True)
        os.makedirs(self.queue, exist_ok=True)
        os.makedirs(self.mailbase, exist_ok=True)
        nobody = pwd.getpwnam("nobody")
        os.chown(self.mailbase, nobody.pw_uid, nobody.pw_gid)
        os.chmod(self.mailbase, 0o700)
        if self.tls and not os.path.exists(self.cert):
            self._make_cert()
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(self._main_cf())
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(self._master_cf())
        # Postfix waits until a config file it reads is a second old (an
        # editor may still be writing it): date them back, start at once.
        past = time.time() - 10
        for n in os.listdir(self.conf):
            os.utime(os.path.join(self.conf, n), (past, past))

    # --- processes

    def pids(self):
        """Every live process of this instance (by MAIL_CONFIG in its
        environment, which Postfix passes to each of its processes)."""
        mark = ("MAIL_CONFIG=" + self.conf).encode()
        found = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % p, "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if mark in env:
                found.append(int(p))
        return found

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def _postfix(self, *args, timeout=30):
        """Run `postfix -c CONF ARGS`; (exit code, what it said). Its errors
        go to maillog_file only through postlogd, which is not running
        before the start: on a terminal it also prints them, so it gets
        one (a pty)."""
        m, s = pty.openpty()
        try:
            p = subprocess.Popen(["postfix", "-c", self.conf] + list(args),
                                 stdin=subprocess.DEVNULL, stdout=s, stderr=s)
            os.close(s)
            s = None
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise
            out = b""
            while select.select([m], [], [], 0.1)[0]:
                try:
                    d = os.read(m, 65536)
                except OSError:
                    break
                if not d:
                    break
                out += d
        finally:
            os.close(m)
            if s is not None:
                os.close(s)
        return rc, out.decode("utf-8", "replace").replace("\r\n", "\n").strip()

    def start(self, timeout=20):
        """Start and wait until every address answers 220; on failure stop
        what started and raise PostfixError with the end of the log."""
        if os.geteuid() != 0:
            raise PostfixError("Postfix's master needs root")
        if shutil.which("postfix") is None:
            raise PostfixError("postfix is not installed: scripts/deps.sh test")
        for a in self.addrs:
            if not _port_free(a, self.port):
                raise PostfixError("%s:%d is in use" % (a, self.port))
        deadline = time.monotonic() + timeout
        _running.add(self)
        try:
            self._write_config()
            rc, self._start_out = self._postfix("start", timeout=timeout)
            if rc != 0:
                raise PostfixError("postfix start exited %d" % rc)
            for a in self.addrs:
                self._wait_greeting(a, deadline)
        except Exception as e:
            self.stop()
            if isinstance(e, subprocess.TimeoutExpired):
                e = "postfix start did not return in %ss" % timeout
            raise PostfixError("Postfix in %s did not start: %s\n%s"
                               % (self.dir, e, self._tail())) from None
        return self

    def _wait_greeting(self, addr, deadline):
        last = None
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((addr, self.port),
                                              timeout=2) as s:
                    s.settimeout(max(0.1, deadline - time.monotonic()))
                    line = s.makefile("rb").readline()
                    if line.startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return
                    last = line
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise PostfixError("no 220 from %s:%d (last: %r)"
                           % (addr, self.port, last))

    def stop(self, timeout=10):
        """Stop the instance; kill what is left. Safe to call at any time,
        also after a failed or no start."""
        deadline = time.monotonic() + timeout
        if self.master_pid() and os.path.exists(
                os.path.join(self.conf, "main.cf")):
            try:
                self._postfix("stop", timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 5
        while self.pids() and time.monotonic() < end:
            time.sleep(0.05)
        if self.pids():
            raise PostfixError("processes of %s left: %s"
                               % (self.conf, self.pids()))
        _running.discard(self)

    def close(self):
        """stop(), then remove the directory when this object made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --- what it received

    def message_files(self):
        """Paths of the delivered messages, oldest first."""
        files = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir, sub)
            for n in os.listdir(d) if os.path.isdir(d) else ():
                p = os.path.join(d, n)
                files.append((os.stat(p).st_mtime_ns, n, p))
        return [p for _, _, p in sorted(files)]

    def messages(self, rcpt=None, crlf=True):
        """Delivered messages (bytes), oldest first: one per recipient, so a
        message to two recipients is there twice; rcpt: only those whose
        Delivered-To is rcpt (any case). Each starts with the headers
        delivery adds (Return-Path, X-Original-To, Delivered-To, Received),
        then the bytes received. The Maildir files end lines with LF;
        crlf=True gives them back with CRLF, as on the wire."""
        out = []
        for p in self.message_files():
            with open(p, "rb") as f:
                data = f.read()
            # Delivered-To is among the first three lines delivery adds
            if rcpt is not None and ("delivered-to: " + rcpt).lower().encode() \
                    not in data.lower().split(b"\n", 3)[:3]:
                continue
            out.append(data.replace(b"\n", b"\r\n") if crlf else data)
        return out

    def wait_messages(self, n, timeout=10, rcpt=None, crlf=True):
        """Wait until at least n messages are delivered; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.messages(rcpt, crlf)
            if len(got) >= n:
                return got
            if time.monotonic() >= deadline:
                raise PostfixError("%d of %d messages after %ss\n%s"
                                   % (len(got), n, timeout, self._tail()))
            time.sleep(0.05)

    def log(self):
        """Postfix's log of this instance (maillog_file)."""
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _tail(self, lines=25):
        text = self.log().splitlines()[-lines:]
        out = ["-- end of %s:" % self.logfile] + text
        if self._start_out:
            out += ["-- postfix start said:", self._start_out]
        return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Run a private Postfix receiving mail until Ctrl-C.")
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--dir", default=None,
                    help="instance directory (default: a new one in /tmp)")
    ap.add_argument("--addr", action="append",
                    help="listen address (repeatable; default 127.0.0.1)")
    ap.add_argument("--domain", action="append",
                    help="accepted domain (repeatable; default example.net)")
    ap.add_argument("--mailbox", action="append",
                    help="only these recipients (repeatable; default any)")
    ap.add_argument("--tls", action="store_true", help="offer STARTTLS")
    ap.add_argument("--tls-name", default="mx.example.net")
    ap.add_argument("--size", type=int, default=None,
                    help="message_size_limit in bytes")
    ap.add_argument("--no-smtputf8", action="store_true")
    a = ap.parse_args(argv)
    pf = Postfix(a.dir, a.port, domains=a.domain or ("example.net",),
                 mailboxes=a.mailbox, tls=a.tls, tls_name=a.tls_name,
                 message_size_limit=a.size, smtputf8=not a.no_smtputf8,
                 addrs=a.addr or ("127.0.0.1",))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    t0 = time.monotonic()
    pf.start()
    print("postfix: listening on %s port %d (started in %.2fs)"
          % (", ".join(pf.addrs), pf.port, time.monotonic() - t0))
    print("postfix: mail in %s, log %s%s" % (
        pf.maildir, pf.logfile, ", cert " + pf.cert if pf.cert else ""))
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        pf.stop()
        print("postfix: stopped; %d message(s) were delivered"
              % len(pf.message_files()))


if __name__ == "__main__":
    main()
