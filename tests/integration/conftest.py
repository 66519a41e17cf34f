"""
Integration harness: runs the real pigeon binary (env PIGEON_BIN, default
<repo>/build/pigeon) in a temporary directory and talks to it the way
clients do (HTTP over 127.0.0.1, the admin CLI).  SPEC.md is the contract.

A server is `pigeon serve --dev -c CONF`; dev mode bootstraps an account,
the zone and sending domain example.com and a token (var/dev.env).  After
every test the harness scans each live server's stderr for sanitizer
reports, so a memory error fails the test that caused it.
"""
import base64
import email
import email.policy
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.parse

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Relative paths are taken from the directory pytest runs in (the repo).
PIGEON_BIN = os.path.abspath(os.environ.get(
    "PIGEON_BIN", os.path.join(REPO, "build", "pigeon")))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "ERROR: LeakSanitizer")

# SPEC §2.2: code -> (HTTP status, machine message).
ERRORS = {
    10000: (404, "email.sending.error.not_found"),
    10001: (400, "email.sending.error.invalid_request_schema"),
    10002: (500, "email.sending.error.internal_server"),
    10003: (405, "email.sending.error.not_implemented"),
    10004: (429, "email.sending.error.throttled"),
    10100: (503, "email.sending.error.authentication.upstream"),
    10101: (401, "email.sending.error.authentication.unauthorized"),
    10102: (403, "email.sending.error.authentication.forbidden"),
    10103: (401, "email.sending.error.authentication.bad_token_type"),
    10105: (403, "email.sending.error.authentication.not_entitled"),
    10200: (400, "email.sending.error.email.too_big"),
    10201: (400, "email.sending.error.email.no_content_length"),
    10202: (400, "email.sending.error.email.invalid"),
    10203: (403, "email.sending.error.email.sending_disabled"),
    10204: (403, "email.sending.error.email.sender_not_configured"),
}

DOMAIN = "example.com"
SENDER = "sender@example.com"
MSGID_RE = re.compile(r"^<([A-Za-z0-9]{36})@([^<>@\s]+)>$")
DEFAULT_CONF = {
    "http_listen": "127.0.0.1",
    "send_wait_ms": "2000",
    "retry_base_ms": "200",
    "retry_max_ms": "1000",
    "capture_defer_attempts": "2",
    "capture_slow_ms": "4000",
    "log_level": "info",
    "auth_cache_ms": "100",
}
# Admin changes reach the running server through its auth cache
# (auth_cache_ms); mutating CLI calls wait this long afterwards.
SETTLE = 0.35
MUTATING = {"create", "set", "revoke", "add", "remove", "retry", "drop"}


# The SMTP listeners (SPEC §7) off, for a config written by hand: the dev
# defaults (2465, 2587, 2025) would collide between servers.
SMTP_OFF = 'smtps_listen ""\nsubmission_listen ""\ninbound_listen ""\n'
SMTP_LISTENERS = ("smtps_listen", "submission_listen", "inbound_listen")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """n distinct free ports: each socket is held until all are chosen,
    else the kernel may hand out the same port twice in a row."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Resp:
    """An HTTP answer; unpacks as (status, headers, json)."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def __iter__(self):
        return iter((self.status, self.headers, self.json))

    def __repr__(self):
        return "Resp(%d, %r)" % (self.status, self.raw[:600])


class Server:
    def __init__(self, tmpdir, lines=(), **conf):
        """conf: directives, one each; lines: config lines written after
        them as they are (the repeated ones: `route …`)."""
        self.dir = str(tmpdir)
        ports = free_ports(1 + len(SMTP_LISTENERS))
        self.port = ports.pop()
        self.state_dir = os.path.join(self.dir, "var")
        self.conf_path = os.path.join(self.dir, "pigeon.conf")
        c = dict(DEFAULT_CONF)
        c.update({k: str(v) for k, v in conf.items()})
        c["state_dir"] = self.state_dir
        c["http_port"] = str(self.port)
        # Every server its own SMTP ports (two may run at once); a
        # listener given in conf ("" turns it off) is kept as given.
        self.smtp_ports = {}
        for d in SMTP_LISTENERS:
            if d not in conf:
                c[d] = "127.0.0.1:%d" % ports.pop()
            v = c[d].strip('"')
            self.smtp_ports[d] = int(v.rsplit(":", 1)[1]) if v else None
        with open(self.conf_path, "w") as f:
            for k, v in c.items():
                f.write("%s %s\n" % (k, v))
            for line in lines:
                f.write(line + "\n")
        self.proc = None
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.scanned = 0
        self._dns = None
        self.starts = 0

    # -- process -------------------------------------------------------
    def start(self, timeout=20):
        assert os.access(PIGEON_BIN, os.X_OK), "no binary at " + PIGEON_BIN
        self.scanned = 0 if self.starts == 0 else self.scanned
        self.proc = subprocess.Popen(
            [PIGEON_BIN, "serve", "--dev", "-c", self.conf_path],
            cwd=self.dir, stdin=subprocess.DEVNULL,
            stdout=open(self.stdout_path, "ab"),
            stderr=open(self.stderr_path, "ab"))
        self.starts += 1
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("pigeon exited with %d at start:\n%s" %
                                     (self.proc.returncode, self.stderr()))
            try:
                r = self.request("GET", "/healthz", auth=False, timeout=2)
                if r.status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                self.kill()
                raise AssertionError("pigeon did not answer /healthz:\n" +
                                     self.stderr())
            time.sleep(0.05)
        self.env = self.read_env()
        self.token = self.env["CLOUDFLARE_API_TOKEN"]
        self.account = self.env["CLOUDFLARE_ACCOUNT_ID"]
        return self

    def read_env(self):
        env = {}
        with open(os.path.join(self.state_dir, "dev.env")) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    env[k.strip()] = v.strip().strip('"\'')
        return env

    def stop(self):
        """SIGTERM, wait; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("pigeon ignored SIGTERM for 15 s")
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def sanitizer_report(self):
        """New sanitizer findings since the last call, or None."""
        text = self.stderr()
        new = text[self.scanned:]
        self.scanned = len(text)
        for m in SANITIZER_MARKS:
            i = new.find(m)
            if i >= 0:
                return new[max(0, i - 200):i + 4000]
        return None

    # -- HTTP ----------------------------------------------------------
    def request(self, method, path, body=None, headers=None, token=None,
                auth=True, prefix=False, timeout=30):
        """body: dict/list -> JSON; bytes/str sent as is."""
        h = {}
        if auth:
            h["Authorization"] = "Bearer " + (token or self.token)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        h = {k: v for k, v in h.items() if v is not None}
        if prefix:
            path = "/client/v4" + path
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            raw = r.read()
            return Resp(r.status, r.headers, raw)
        finally:
            conn.close()

    def apath(self, tail, account=None):
        return "/accounts/%s/email/sending/%s" % (account or self.account,
                                                  tail)

    def send(self, body, **kw):
        prefix = kw.pop("prefix", True)
        return self.request("POST", self.apath("send", kw.pop("account",
                                                              None)),
                            body, prefix=prefix, **kw)

    def send_raw(self, body, **kw):
        prefix = kw.pop("prefix", True)
        return self.request("POST", self.apath("send_raw",
                                               kw.pop("account", None)),
                            body, prefix=prefix, **kw)

    def message(self, message_id, quote=True, **kw):
        mid = urllib.parse.quote(message_id, safe="") if quote else message_id
        return self.request("GET", self.apath("messages/" + mid), prefix=True,
                            **kw)

    def status(self, message_id, **kw):
        mid = urllib.parse.quote(message_id, safe="")
        return self.request("GET", self.apath("messages/%s/status" % mid),
                            prefix=True, **kw)

    # -- admin CLI -----------------------------------------------------
    def cli(self, *args, json_out=True, check=True):
        argv = [PIGEON_BIN] + list(args) + ["--dev", "-c", self.conf_path]
        if json_out:
            argv.append("--json")
        p = subprocess.run(argv, cwd=self.dir, capture_output=True,
                           timeout=30)
        if check:
            assert p.returncode == 0, "%s -> %d\n%s%s" % (
                " ".join(args), p.returncode, p.stdout.decode(),
                p.stderr.decode())
        for m in SANITIZER_MARKS:
            assert m.encode() not in p.stderr, p.stderr.decode()
        if len(args) > 1 and args[1] in MUTATING and self.proc is not None:
            time.sleep(SETTLE)
        if not json_out or not check:
            return p
        return json.loads(p.stdout)

    def dns_records(self, domain=DOMAIN):
        if self._dns is None:
            self._dns = {}
        if domain not in self._dns:
            self._dns[domain] = self.cli("domain", "dns", domain)
        return self._dns[domain]

    # -- conveniences built on the CLI ---------------------------------
    def new_account(self, domain=None, perms="send,read,manage",
                    ed25519=False):
        """A fresh account (+ zone and sending domain when given) and a
        token; returns dict(account, token, token_id, domain_id)."""
        name = "acct-" + secrets.token_hex(4)
        acct = self.cli("account", "create", name)["id"]
        out = {"account": acct}
        if domain:
            zone = self.cli("zone", "create", acct, domain)["id"]
            args = ["domain", "create", zone, domain]
            if ed25519:
                args.append("--ed25519")
            out["zone"] = zone
            out["domain_id"] = self.cli(*args)["id"]
        t = self.cli("token", "create", acct, "--perm", perms)
        out["token"], out["token_id"] = t["token"], t["id"]
        return out

    def wait_for(self, fn, timeout=6.0, interval=0.1):
        """Poll fn() until it returns a truthy value (auth cache ~1 s)."""
        deadline = time.time() + timeout
        while True:
            v = fn()
            if v or time.time() > deadline:
                return v
            time.sleep(interval)


def start_server(tmp_path_factory, name, **conf):
    return Server(tmp_path_factory.mktemp(name), **conf).start()


_live = []


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared server: send_wait_ms 2000, short retries."""
    s = start_server(tmp_path_factory, "shared")
    _live.append(s)
    yield s
    _finish(s)


def _finish(s):
    if s in _live:
        _live.remove(s)
    rc = s.stop()
    rep = s.sanitizer_report()
    assert rep is None, "sanitizer report from pigeon:\n" + rep
    assert rc in (0, None, -signal.SIGTERM), \
        "pigeon exited with %r on SIGTERM:\n%s" % (rc, s.stderr()[-3000:])


@pytest.fixture
def make_server(tmp_path_factory):
    """Factory for private servers (reconfigured or killed by a test)."""
    made = []

    def make(name="private", **conf):
        s = Server(tmp_path_factory.mktemp(name), **conf)
        made.append(s)
        _live.append(s)
        return s

    yield make
    for s in made:
        if s.proc is not None:
            _finish(s)
        else:
            if s in _live:
                _live.remove(s)
            rep = s.sanitizer_report()
            assert rep is None, "sanitizer report from pigeon:\n" + rep


@pytest.fixture(autouse=True)
def _sanitizer_watch():
    yield
    for s in list(_live):
        rep = s.sanitizer_report()
        assert rep is None, "sanitizer report from pigeon:\n" + rep


# -- assertions shared by the test files --------------------------------------
def vm_kib(server, field="VmRSS"):
    """The server process's VmRSS (or another /proc status field), KiB."""
    with open("/proc/%d/status" % server.proc.pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (field, server.proc.pid))


def sanitized(server):
    """True when the server runs under AddressSanitizer, whose shadow
    memory and quarantine add to RSS what a release build never holds."""
    with open("/proc/%d/maps" % server.proc.pid) as f:
        return "libasan" in f.read()


def rss_bound(server, mib):
    """A bound on RSS growth, MiB, for a release build; twice as much
    under AddressSanitizer."""
    return 2 * mib if sanitized(server) else mib


def assert_error(r, code, pointer=None):
    """SPEC §2.1/§2.2: status and code from the table, envelope shape."""
    status, message = ERRORS[code]
    assert r.status != 200, "an error is never sent with HTTP 200: %r" % r
    assert r.json is not None, "error body is not JSON: %r" % r
    j = r.json
    assert r.status == status, "want %d/%d, got %r" % (status, code, r)
    assert j.get("success") is False, r
    assert j.get("result", "missing") is None, r
    assert isinstance(j.get("errors"), list) and j["errors"], r
    e = j["errors"][0]
    assert type(e.get("code")) is int, "code must be a JSON number: %r" % r
    assert e["code"] == code, "want code %d, got %r" % (code, r)
    assert e.get("message") == message, r
    assert isinstance(j.get("messages"), list), r
    if pointer is not None:
        assert e.get("source", {}).get("pointer") == pointer, \
            "want source.pointer %r: %r" % (pointer, r)
    return j


def assert_human(r, *needles):
    """[ours] messages[0] is a human sentence with the same code."""
    j = r.json
    assert j["messages"], "no human message: %r" % r
    m = j["messages"][0]
    assert m.get("code") == j["errors"][0]["code"], r
    text = m.get("message", "")
    assert isinstance(text, str) and " " in text, r
    for n in needles:
        assert n.lower() in text.lower(), "%r not in %r" % (n, text)
    return text


def assert_ok(r):
    assert r.status == 200, r
    j = r.json
    assert j is not None, r
    assert j.get("success") is True, r
    assert j.get("errors") == [], r
    assert isinstance(j.get("messages"), list), r
    assert j.get("result") is not None, r
    return j["result"]


def addr_key(a):
    """De-duplication key (SPEC §3.1): exact local part, domain folded."""
    local, _, dom = a.rpartition("@")
    return local + "@" + dom.lower()


def assert_send_result(r, recipients=None, pigeon_id=True):
    """SPEC §3.4: the five keys; the lists partition the recipients."""
    res = assert_ok(r)
    keys = ("delivered", "permanent_bounces", "queued", "message_id",
            "suppressed_recipients")
    for k in keys:
        assert k in res, "result lacks %r: %r" % (k, r)
    lists = [res[k] for k in keys if k != "message_id"]
    for lst in lists:
        assert isinstance(lst, list), r
    flat = [a for lst in lists for a in lst]
    assert len(flat) == len(set(addr_key(a) for a in flat)), \
        "a recipient appears twice: %r" % r
    if recipients is not None:
        assert sorted(addr_key(a) for a in flat) == \
            sorted(addr_key(a) for a in recipients), r
    if pigeon_id:
        assert MSGID_RE.match(res["message_id"]), res["message_id"]
    else:
        assert re.match(r"^<[^<>\s]+@[^<>\s]+>$", res["message_id"]), r
    return res


def simple(**kw):
    b = {"from": SENDER, "to": "rcpt@example.net", "subject": "Hello",
         "text": "Hello world"}
    b.update(kw)
    return {k: v for k, v in b.items() if v is not None}


def b64(data):
    return base64.b64encode(data).decode()


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def fetch(server, message_id):
    r = server.message(message_id)
    assert r.status == 200, r
    ct = r.headers.get("Content-Type", "")
    assert ct.split(";")[0].strip().lower() == "message/rfc822", ct
    return r.raw


# -- DKIM -------------------------------------------------------------------
def _txt_content(c):
    """A TXT content as printed (maybe "quoted" "chunks") -> bytes."""
    if '"' in c:
        c = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', c))
    return c.encode()


def dns_has_ed25519(server, domain=DOMAIN):
    return any(r["type"].upper() == "TXT" and "k=ed25519" in
               r["content"].replace(" ", "")
               for r in server.dns_records(domain))


def dkim_verify_all(server, raw, strict=True, domain=DOMAIN, ours=False):
    """Verify every DKIM-Signature with dkimpy against the records of
    `pigeon domain dns`; returns the list of a= algorithms verified.
    strict=False skips ed25519 signatures while `domain dns` publishes no
    ed25519 key (test_dev_domain_has_ed25519 reports that on its own).
    ours=True verifies only pigeon's: the signatures whose s= and d= name
    a key `domain dns` publishes (a client's own signature, kept under
    raw_headers relaxed, is not pigeon's to vouch for)."""
    import dkim
    recs = [r for r in server.dns_records(domain)
            if r["type"].upper() == "TXT"]
    keys = set(r["name"].rstrip(".").lower() for r in recs)
    skip_ed = not strict and not dns_has_ed25519(server, domain)
    sigs = [v for k, v in _raw_headers(raw) if k.lower() == "dkim-signature"]
    assert sigs, "message has no DKIM-Signature"
    algos = []
    for idx, sig in enumerate(sigs):
        tags = dict((t.split("=", 1)[0].strip(),
                     re.sub(r"\s+", "", t.split("=", 1)[1]))
                    for t in sig.split(";") if "=" in t)
        if ours and ("%s._domainkey.%s" % (tags.get("s"), tags.get("d"))
                     ).lower() not in keys:
            continue
        algo = tags["a"]
        if skip_ed and algo.startswith("ed25519"):
            continue
        want_k = "ed25519" if algo.startswith("ed25519") else "rsa"

        def dnsfunc(name, timeout=5, want_k=want_k):
            n = name.decode() if isinstance(name, bytes) else name
            n = n.rstrip(".").lower()
            for rec in recs:
                if rec["name"].rstrip(".").lower() != n:
                    continue
                c = _txt_content(rec["content"])
                k = re.search(rb"k=\s*([a-z0-9]+)", c)
                if (k.group(1).decode() if k else "rsa") == want_k:
                    return c
            return None

        d = dkim.DKIM(raw)
        ok = d.verify(idx=idx, dnsfunc=dnsfunc)
        assert ok, "DKIM signature %d (%s) does not verify" % (idx, algo)
        algos.append(algo)
    return algos


def _raw_headers(raw):
    """[(name, unfolded value)] of the header section, in order."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    out = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and out:
            out[-1][1] += line
        elif ":" in line:
            k, v = line.split(":", 1)
            out.append([k, v])
    return [(k, v.strip()) for k, v in out]


raw_headers = _raw_headers
