"""
SPEC §6.5 webhooks and `pigeon webhook add|list|remove|replay` (§9),
against a real `pigeon serve --dev` and a real HTTP receiver this test
runs on 127.0.0.1 (http.server in a thread). The receiver can answer 500,
be down (its socket closed: connection refused) or accept; it records
every POST it read, so the tests check what pigeon sent: each event
arrives, in order per message, signed (Pigeon-Signature checked here with
hmac), with Pigeon-Event-Id equal to the body's eventId.

The capture route decides outcomes (§6.3): defer…@ is answered 451 twice
then delivered (a deferred then a delivered event for one message),
bounce…@ 550 5.1.1, anything else delivered.
"""
import hashlib
import hmac
import http.server
import json
import re
import secrets
import socket
import threading
import time

import pytest

from conftest import assert_send_result, simple

PREFIX = "cf.email.sending.message."
HOOK_CONF = dict(webhook_retry_base="100ms", webhook_retry_max="400ms",
                 webhook_timeout="2s")


class Receiver:
    """An HTTP receiver on 127.0.0.1: mode "accept", "fail" (500) or
    "down" (no listening socket). posts: every POST read, in order, as
    (status answered, headers dict, raw body)."""

    def __init__(self, fail_first=0):
        self.port = self._free_port()
        self.posts = []
        self.lock = threading.Lock()
        self.fail_first = fail_first
        self.always_fail = False
        self.hold = None  # a threading.Event: POSTs wait for it
        self.held = 0
        self.httpd = None
        self.thread = None

    @staticmethod
    def _free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def up(self):
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                if rcv.hold is not None:
                    with rcv.lock:
                        rcv.held += 1
                    rcv.hold.wait(10)
                    return  # no answer: the connection just closes
                with rcv.lock:
                    fail = rcv.always_fail or rcv.fail_first > 0
                    if rcv.fail_first > 0:
                        rcv.fail_first -= 1
                    status = 500 if fail else 200
                    rcv.posts.append((status, dict(self.headers), body))
                out = b'{"ok":true}'
                # one POST a connection: "down" then means refused, not
                # answered on a connection kept alive
                self.close_connection = True
                self.send_response(status)
                self.send_header("Connection", "close")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def down(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(5)
            self.httpd = None

    def snapshot(self):
        with self.lock:
            return list(self.posts)

    def accepted(self):
        return [p for p in self.snapshot() if p[0] == 200]

    def accepted_ids(self):
        return {json.loads(p[2])["payload"]["eventId"]
                for p in self.accepted()}


@pytest.fixture
def receivers():
    made = []

    def make(**kw):
        r = Receiver(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.down()


def hook_server(make_server, name="hooks", **conf):
    c = dict(HOOK_CONF)
    c.update(conf)
    return make_server(name, **c).start()


def add_hook(s, url, *extra, account=None):
    h = s.cli("webhook", "add", account or s.account, url, *extra)
    assert re.match(r"^[0-9a-f]{32}$", h["id"]), h
    assert re.match(r"^[0-9a-f]{64}$", h["secret"]), h
    assert h["url"] == url
    return h


def all_events(s, **q):
    """Every event of the server's dev account, oldest first, through
    GET …/events (cursor pages)."""
    out, cursor = [], ""
    for _ in range(100):
        path = s.apath("events?per_page=1000&cursor=" + cursor)
        r = s.request("GET", path, prefix=True)
        assert r.status == 200, r
        page = r.json["result"]
        out += page
        if not page:
            return out
        cursor = r.json["result_info"]["cursor"]
    raise AssertionError("too many pages")


def event_ids(evs):
    return {e["payload"]["eventId"] for e in evs}


def verify(post, secret):
    """One POST as SPEC §6.5 says: JSON, signed, Pigeon-Event-Id."""
    status, h, body = post
    h = {k.lower(): v for k, v in h.items()}
    assert h["content-type"] == "application/json", h
    m = re.match(r"^t=(\d+),v1=([0-9a-f]{64})$", h["pigeon-signature"])
    assert m, h["pigeon-signature"]
    want = hmac.new(secret.encode(), m.group(1).encode() + b"." + body,
                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(want, m.group(2)), "bad signature"
    ev = json.loads(body)
    assert h["pigeon-event-id"] == ev["payload"]["eventId"], h
    assert ev["type"].startswith(PREFIX), ev
    return ev


def uniq(prefix):
    return "%s-%s@example.net" % (prefix, secrets.token_hex(4))


def send_ok(s, to):
    r = s.send(simple(to=to))
    return assert_send_result(r, to)


def hook_row(s, hook_id):
    rows = [w for w in s.cli("webhook", "list", s.account)
            if w["id"] == hook_id]
    assert len(rows) == 1, rows
    return rows[0]


def assert_in_order(posts, evs):
    """Per message, an event is first POSTed only after every earlier
    event of the message (store order) was accepted."""
    order = {e["payload"]["eventId"]: i for i, e in enumerate(evs)}
    by_msg = {}
    for e in evs:
        by_msg.setdefault(e["payload"]["messageId"], []).append(
            e["payload"]["eventId"])
    first_sent, first_ok = {}, {}
    for i, (status, _, body) in enumerate(posts):
        eid = json.loads(body)["payload"]["eventId"]
        first_sent.setdefault(eid, i)
        if status == 200:
            first_ok.setdefault(eid, i)
    for msg, ids in by_msg.items():
        ids.sort(key=order.get)
        for a, b in zip(ids, ids[1:]):
            assert first_ok[a] < first_sent[b], \
                "%s: event %s sent before %s was taken" % (msg, b, a)


def test_every_event_arrives_signed_in_order(make_server, receivers):
    """500s, then the receiver down, then up: every event arrives, in
    order per message, signed; sends go on normally meanwhile."""
    s = hook_server(make_server)
    rcv = receivers(fail_first=4).up()
    h = add_hook(s, rcv.url)
    before = {}
    for _ in range(3):
        res = send_ok(s, [uniq("defer"), uniq("ok")])
        before[res["message_id"]] = res
    assert s.wait_for(lambda: len(rcv.snapshot()) >= 4, timeout=15), \
        rcv.snapshot()
    rcv.down()
    # sends while the receiver is down answer as ever
    for _ in range(2):
        send_ok(s, [uniq("defer"), uniq("bounce")])
    assert s.wait_for(lambda: "result=failed error=" in s.stderr() and
                      re.search(r"webhook=%s .*status=0 .*result=failed"
                                % h["id"], s.stderr()), timeout=15), \
        s.stderr()[-3000:]
    rcv.up()

    # 3 x (deferred, deferred, delivered; delivered) + 2 x (deferred,
    # deferred, delivered; bounced)
    def done():
        evs = all_events(s)
        return len(evs) >= 20 and event_ids(evs) <= rcv.accepted_ids()
    assert s.wait_for(done, timeout=30), (len(all_events(s)),
                                          len(rcv.accepted_ids()))
    evs = all_events(s)
    posts = rcv.snapshot()
    assert any(p[0] == 500 for p in posts)
    seen = {}
    for p in posts:
        ev = verify(p, h["secret"])
        eid = ev["payload"]["eventId"]
        # one event id, one event: a repeat is the same body
        assert seen.setdefault(eid, p[2]) == p[2]
    assert set(seen) == event_ids(evs)
    types = {e["type"][len(PREFIX):] for e in evs}
    assert {"deferred", "delivered", "bounced"} <= types, types
    assert_in_order(posts, evs)
    row = hook_row(s, h["id"])
    assert s.wait_for(lambda: hook_row(s, h["id"])["pending"] == 0)
    assert row["given_up"] == 0
    assert row["last_error"] is not None


def test_at_least_once_across_restart(make_server, receivers):
    """Events pending when pigeon stops are POSTed after it starts."""
    s = hook_server(make_server, "restart")
    rcv = receivers()  # not up: connection refused
    h = add_hook(s, rcv.url)
    res = [send_ok(s, [uniq("ok"), uniq("bounce")]) for _ in range(2)]
    assert s.wait_for(lambda: s.stderr().count(
        "webhook=%s url=" % h["id"]) >= 4, timeout=15), s.stderr()[-2000:]
    assert s.stop() == 0
    row = hook_row(s, h["id"])
    assert row["pending"] == 4, row
    assert "onnect" in row["last_error"], row
    rcv.up()
    s.start()
    assert s.wait_for(lambda: len(rcv.accepted_ids()) >= 4, timeout=20), \
        rcv.snapshot()
    evs = all_events(s)
    assert event_ids(evs) == rcv.accepted_ids()
    assert {e["payload"]["messageId"] for e in evs} == \
        {r["message_id"] for r in res}
    for p in rcv.accepted():
        verify(p, h["secret"])
    assert s.wait_for(lambda: hook_row(s, h["id"])["pending"] == 0)


def test_given_up_after_max_age(make_server, receivers):
    s = hook_server(make_server, "giveup", webhook_max_age="2s")
    rcv = receivers().up()
    rcv.always_fail = True
    h = add_hook(s, rcv.url)
    send_ok(s, [uniq("ok")])

    def given_up():
        r = hook_row(s, h["id"])
        return r["given_up"] == 1 and r["pending"] == 0
    assert s.wait_for(given_up, timeout=20), hook_row(s, h["id"])
    row = hook_row(s, h["id"])
    assert row["last_error"] == "HTTP 500", row
    assert len(rcv.snapshot()) >= 2  # retried before giving up
    text = s.cli("webhook", "list", s.account, json_out=False).stdout
    assert b"given up 1" in text, text
    assert re.search(rb"webhook=%s .*given up" % h["id"].encode(),
                     s.stderr().encode())


def test_events_filter_and_replay(make_server, receivers):
    s = hook_server(make_server, "filter")
    all_rcv = receivers().up()
    b_rcv = receivers().up()
    a = add_hook(s, all_rcv.url)
    b = add_hook(s, b_rcv.url, "--events", "bounced,%scomplained" % PREFIX)
    assert b["events"] == [PREFIX + "bounced", PREFIX + "complained"]
    t0 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2))
    send_ok(s, [uniq("ok"), uniq("bounce")])
    send_ok(s, [uniq("bounce")])
    assert s.wait_for(lambda: len(all_rcv.accepted_ids()) == 3 and
                      len(b_rcv.accepted_ids()) == 2, timeout=15)
    time.sleep(0.5)
    evs = all_events(s)
    assert all_rcv.accepted_ids() == event_ids(evs)
    bounced = {e["payload"]["eventId"] for e in evs
               if e["type"] == PREFIX + "bounced"}
    assert len(bounced) == 2
    assert b_rcv.accepted_ids() == bounced
    assert all(verify(p, b["secret"])["type"] == PREFIX + "bounced"
               for p in b_rcv.snapshot())
    n_b = len(b_rcv.snapshot())

    # replay: the same events again, same Pigeon-Event-Id
    out = s.cli("webhook", "replay", a["id"], "--since", t0)
    assert out == {"id": a["id"], "queued": 3}
    assert s.wait_for(lambda: len(all_rcv.accepted()) >= 6, timeout=15)
    counts = {}
    for p in all_rcv.accepted():
        eid = verify(p, a["secret"])["payload"]["eventId"]
        counts[eid] = counts.get(eid, 0) + 1
    assert set(counts) == event_ids(evs)
    assert all(c == 2 for c in counts.values()), counts
    # --type, and the webhook's own types: nothing else for b
    out = s.cli("webhook", "replay", b["id"], "--since", t0, "--type",
                "delivered")
    assert out["queued"] == 0
    out = s.cli("webhook", "replay", b["id"], "--since", t0, "--type",
                PREFIX + "bounced")
    assert out["queued"] == 2
    assert s.wait_for(lambda: len(b_rcv.snapshot()) == n_b + 2, timeout=15)
    # --until before the sends: nothing
    out = s.cli("webhook", "replay", a["id"], "--since", "2020-01-01",
                "--until", "2020-01-02")
    assert out["queued"] == 0

    # removed: its events stop
    s.cli("webhook", "remove", b["id"])
    assert [w["id"] for w in s.cli("webhook", "list", s.account)] == \
        [a["id"]]


def test_cli_usage(make_server):
    s = hook_server(make_server, "cli")

    def bad(*args, rc=2, needle=None):
        p = s.cli("webhook", *args, json_out=False, check=False)
        err = p.stderr.decode()
        assert p.returncode == rc, (args, p.returncode, err)
        assert err.startswith("pigeon: "), err
        assert err.count("\n") == 1, err
        if needle:
            assert needle in err, err
        return err

    acct = s.account
    bad("add", acct, "ftp://example.net/hook", needle="http")
    bad("add", acct, "example.net/hook", needle="http")
    bad("add", acct, "http://", needle="http")
    bad("add", "nothex", "http://127.0.0.1:9/", needle="ACCOUNT_ID")
    bad("add", acct, "http://127.0.0.1:9/", "--events", "opened",
        needle="'opened'")
    bad("add", acct, "http://127.0.0.1:9/", "--events", "delivered,",
        needle="--events")
    bad("add", acct)
    bad("add", "f" * 32, "http://127.0.0.1:9/", rc=1, needle="no account")
    bad("list", "xyz", needle="ACCOUNT_ID")
    bad("remove", "f" * 32, rc=1, needle="no webhook")
    bad("replay", "f" * 32, needle="--since")
    bad("replay", "f" * 32, "--since", "yesterday", needle="--since")
    bad("replay", "f" * 32, "--since", "2026-01-02", "--until",
        "2026-01-01", needle="--until")
    bad("replay", "f" * 32, "--since", "2026-01-01", "--type", "opened",
        needle="'opened'")
    bad("replay", "f" * 32, "--since", "2026-01-01", rc=1,
        needle="no webhook")
    # nothing was added by any of those
    assert s.cli("webhook", "list", acct) == []
    # human output: the secret once, then never again
    p = s.cli("webhook", "add", acct, "https://hooks.example.net/x",
              "--events", "delivered", json_out=False)
    out = p.stdout.decode()
    secret = re.search(r"^([0-9a-f]{64})$", out, re.M).group(1)
    listed = s.cli("webhook", "list", acct, json_out=False).stdout.decode()
    assert secret not in listed
    assert "https://hooks.example.net/x" in listed
    assert PREFIX + "delivered" in listed


def test_url_credentials_not_logged(make_server, receivers):
    """A URL's user:password is sent (HTTP basic auth) but never logged."""
    s = hook_server(make_server, "creds")
    rcv = receivers().up()
    url = rcv.url.replace("http://", "http://hook:s3cr3t-pw@")
    h = add_hook(s, url)
    send_ok(s, [uniq("ok")])
    assert s.wait_for(lambda: len(rcv.accepted()) == 1, timeout=15)
    _, headers, _ = rcv.accepted()[0]
    assert headers.get("Authorization", "").startswith("Basic ")
    assert s.wait_for(lambda: "webhook=%s url=http://127.0.0.1:%d/hook "
                      % (h["id"], rcv.port) in s.stderr())
    assert "s3cr3t-pw" not in s.stderr()


def test_in_flight_at_stop_is_posted_after_restart(make_server, receivers):
    """A POST in flight when pigeon stops is abandoned (the stop does not
    wait for it) and made again after the next start."""
    s = hook_server(make_server, "inflight", webhook_timeout="30s")
    rcv = receivers().up()
    rcv.hold = threading.Event()
    h = add_hook(s, rcv.url)
    res = send_ok(s, [uniq("ok")])
    assert s.wait_for(lambda: rcv.held == 1, timeout=15)
    assert s.stop() == 0
    assert "abandoned at stop" in s.stderr()
    rcv.hold.set()
    rcv.hold = None
    assert hook_row(s, h["id"])["pending"] == 1
    s.start()
    assert s.wait_for(lambda: len(rcv.accepted()) == 1, timeout=15)
    ev = verify(rcv.accepted()[0], h["secret"])
    assert ev["payload"]["messageId"] == res["message_id"]
