"""
GET /metrics (SPEC §8.3): the Prometheus text format 0.0.4, read with
prometheus_client's own parser, and counters that equal what each test
did to a server of its own: sends accepted, recipients by outcome,
requests by route and status, the delivery histogram, the queue depth;
and metrics_listen, which moves /metrics to an address of its own.
"""
import http.client
import smtplib
import socket
import ssl
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (PIGEON_BIN, SMTP_OFF, assert_error, assert_human,
                      assert_send_result, free_port, simple, start_server)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SEND = "/accounts/:account/email/sending/send"
FAMILIES = {
    "pigeon_build_info": "gauge",
    "pigeon_process_start_time_seconds": "gauge",
    "pigeon_messages_accepted": "counter",
    "pigeon_recipients": "counter",
    "pigeon_queue_depth": "gauge",
    "pigeon_delivery_duration_seconds": "histogram",
    "pigeon_store_commit_duration_seconds": "histogram",
    "pigeon_smtp_sessions": "counter",
    "pigeon_smtp_sessions_open": "gauge",
    "pigeon_http_requests": "counter",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """A server of this file's own, so that its counters are ours."""
    s = start_server(tmp_path_factory, "metrics")
    yield s
    s.stop()


def get(port, method="GET", path="/metrics"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


class Scrape:
    """One exposition, parsed: families by name and samples by (name,
    labels)."""

    def __init__(self, port):
        status, headers, body = get(port)
        assert status == 200, body
        assert headers["Content-Type"] == CONTENT_TYPE, headers
        self.text = body.decode()
        self.families = {f.name: f for f in
                         text_string_to_metric_families(self.text)}
        self.samples = {}
        for f in self.families.values():
            for s in f.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                assert key not in self.samples, "sample twice: %r" % (key,)
                self.samples[key] = s.value

    def get(self, name, **labels):
        """The value of a sample; 0 for a labelled one not written yet
        (a route and status never answered)."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0)

    def requests(self, route, status):
        return self.get("pigeon_http_requests_total", route=route,
                        status=str(status))


def scrape(server, port=None):
    return Scrape(port or server.port)


def settle(server, want, timeout=10.0):
    """Scrapes until want(scrape) holds (outcomes are committed by the
    writer after the send's answer when it did not wait for them), then
    returns the last scrape."""
    deadline = time.time() + timeout
    while True:
        s = scrape(server)
        if want(s) or time.time() > deadline:
            return s
        time.sleep(0.1)


def test_format_content_type_and_families(srv):
    status, headers, body = get(srv.port)
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE
    s = scrape(srv)
    for name, typ in FAMILIES.items():
        assert name in s.families, "no family %s in:\n%s" % (name, s.text)
        assert s.families[name].type == typ, name
        assert s.families[name].documentation, name
    # every name carries pigeon_ and a unit or _total as the format says
    for line in s.text.splitlines():
        if not line.startswith("#"):
            assert line.startswith("pigeon_"), line
    info = [x for x in s.families["pigeon_build_info"].samples]
    assert len(info) == 1 and info[0].value == 1
    assert info[0].labels["version"]
    started = s.get("pigeon_process_start_time_seconds")
    assert 0 < started <= time.time() + 1


def test_no_credentials_and_prefix(srv):
    # no Authorization at all, and under /client/v4 like every route
    r = srv.request("GET", "/metrics", auth=False, prefix=True)
    assert r.status == 200
    assert r.raw.startswith(b"# HELP pigeon_")
    # a token that is not valid changes nothing: no auth on this route
    r = srv.request("GET", "/metrics", token="nope")
    assert r.status == 200


def test_sends_counted(srv):
    before = scrape(srv)
    n, per = 3, 2
    for i in range(n):
        r = srv.send(simple(to=["a%d@example.net" % i, "b%d@example.net" % i]))
        res = assert_send_result(r)
        assert len(res["delivered"]) == per, r
    r = srv.send(simple(to="bounce-me@example.net"))
    assert assert_send_result(r)["permanent_bounces"] == \
        ["bounce-me@example.net"]
    want_delivered = n * per

    def done(s):
        return (s.get("pigeon_recipients_total", outcome="delivered") -
                before.get("pigeon_recipients_total", outcome="delivered")
                >= want_delivered)

    after = settle(srv, done)

    def delta(name, **labels):
        return after.get(name, **labels) - before.get(name, **labels)

    assert delta("pigeon_messages_accepted_total", front="rest") == n + 1
    assert delta("pigeon_messages_accepted_total", front="smtp") == 0
    assert delta("pigeon_recipients_total", outcome="delivered") == \
        want_delivered
    assert delta("pigeon_recipients_total", outcome="bounced") == 1
    assert delta("pigeon_recipients_total", outcome="failed") == 0
    # one observation per recipient delivered
    assert delta("pigeon_delivery_duration_seconds_count") == want_delivered
    assert delta("pigeon_delivery_duration_seconds_bucket", le="+Inf") == \
        want_delivered
    assert after.get("pigeon_delivery_duration_seconds_sum") >= \
        before.get("pigeon_delivery_duration_seconds_sum")
    assert after.requests(SEND, 200) - before.requests(SEND, 200) == n + 1
    # the message commits (and more: outcome batches) were timed
    assert delta("pigeon_store_commit_duration_seconds_count") >= n + 1


def test_requests_by_route_and_status(srv):
    before = scrape(srv)
    # 400: a send without a subject
    r = srv.send(simple(subject=None))
    assert_error(r, 10001)
    # 401: no credentials
    r = srv.send(simple(), auth=False)
    assert_error(r, 10101)
    r = srv.send(simple(), auth=False)
    assert_error(r, 10101)
    # 404 on a path no route has: route="other", never the raw path
    r = srv.request("GET", "/no/such/thing-%d" % time.time_ns())
    assert_error(r, 10000)
    # /healthz, twice
    for _ in range(2):
        assert srv.request("GET", "/healthz", auth=False).status == 200
    after = scrape(srv)
    assert after.requests(SEND, 400) - before.requests(SEND, 400) == 1
    assert after.requests(SEND, 401) - before.requests(SEND, 401) == 2
    assert after.requests("other", 404) - before.requests("other", 404) == 1
    assert after.requests("/healthz", 200) - \
        before.requests("/healthz", 200) == 2
    # the scrape before this one is counted once its answer was written
    assert after.requests("/metrics", 200) - \
        before.requests("/metrics", 200) >= 1
    routes = {dict(k[1])["route"] for k in after.samples
              if k[0] == "pigeon_http_requests_total"}
    assert not any("thing" in r or r.startswith("/accounts/" + srv.account)
                   for r in routes), routes


def test_deferred_and_queue_depth(srv):
    before = scrape(srv)
    # fail…: 451 on every attempt, so it stays deferred (in the queue)
    r = srv.send(simple(to="fail-always@example.net"))
    assert assert_send_result(r)["queued"] == ["fail-always@example.net"]

    def deferred(s):
        return s.get("pigeon_recipients_total", outcome="deferred") > \
            before.get("pigeon_recipients_total", outcome="deferred")

    after = settle(srv, deferred)
    assert deferred(after), after.text
    assert after.get("pigeon_queue_depth") == \
        before.get("pigeon_queue_depth") + 1
    assert after.get("pigeon_recipients_total", outcome="failed") == \
        before.get("pigeon_recipients_total", outcome="failed")


def test_histograms_are_cumulative(srv):
    srv.send(simple())
    s = scrape(srv)
    for name in ("pigeon_delivery_duration_seconds",
                 "pigeon_store_commit_duration_seconds"):
        buckets = sorted(((float(dict(k[1])["le"]), v)
                          for k, v in s.samples.items()
                          if k[0] == name + "_bucket"))
        assert len(buckets) >= 10, name
        assert buckets[-1][0] == float("inf"), name
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), "%s not cumulative: %r" % (
            name, buckets)
        assert counts[-1] == s.get(name + "_count") > 0, name
        assert s.get(name + "_sum") >= 0


def test_methods(srv):
    status, headers, body = get(srv.port, "POST")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    status, headers, body = get(srv.port, "DELETE")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    # HEAD is GET without the body (RFC 9110 §9.3.2), as on every route
    status, headers, body = get(srv.port, "HEAD")
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE
    assert body == b""
    assert int(headers["Content-Length"]) > 0


def test_smtp_submission_counted(srv):
    before = scrape(srv)
    ctx = ssl.create_default_context(cafile=srv.env["PIGEON_SMTP_CA"])
    port = srv.smtp_ports["smtps_listen"]
    with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=10) as c:
        c.login("api_token", srv.token)
        c.sendmail("dev@example.com", ["smtp-rcpt@example.net"],
                   "From: dev@example.com\r\nTo: smtp-rcpt@example.net\r\n"
                   "Subject: Hi\r\n\r\nHi.\r\n")
    after = settle(srv, lambda s: s.get("pigeon_smtp_sessions_open") == 0)
    assert after.get("pigeon_messages_accepted_total", front="smtp") - \
        before.get("pigeon_messages_accepted_total", front="smtp") == 1
    assert after.get("pigeon_messages_accepted_total", front="rest") == \
        before.get("pigeon_messages_accepted_total", front="rest")
    assert after.get("pigeon_smtp_sessions_total") - \
        before.get("pigeon_smtp_sessions_total") == 1
    # the session is over: none open
    assert after.get("pigeon_smtp_sessions_open") == 0


def test_metrics_listen(make_server):
    mport = free_port()
    s = make_server("metrics-listen",
                    metrics_listen="127.0.0.1:%d" % mport).start()
    # the API's port has no /metrics any more
    r = s.request("GET", "/metrics", auth=False)
    assert_error(r, 10000)
    assert_human(r, "metrics_listen")
    # the metrics port has it, and nothing else
    status, headers, body = get(mport)
    assert status == 200 and headers["Content-Type"] == CONTENT_TYPE
    assert get(mport, path="/healthz")[0] == 404
    assert get(mport, path="/client/v4/metrics")[0] == 200
    status, headers, _ = get(mport, "POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    before = scrape(s, mport)
    assert_send_result(s.send(simple()))
    after = scrape(s, mport)
    assert after.get("pigeon_messages_accepted_total", front="rest") - \
        before.get("pigeon_messages_accepted_total", front="rest") == 1
    assert after.requests(SEND, 200) - before.requests(SEND, 200) == 1
    # the 404 on the API's port is counted under its route
    assert after.requests("/metrics", 404) >= 1


def test_metrics_listen_taken(make_server):
    # a port already held: serve refuses to start and says which
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        s = make_server("metrics-taken",
                        metrics_listen="127.0.0.1:%d" % taken)
        with pytest.raises(AssertionError) as e:
            s.start(timeout=10)
        s.proc = None  # it exited at start, as it should
        assert "metrics_listen" in str(e.value)
        assert "cannot listen" in str(e.value)


@pytest.mark.parametrize("value", ["127.0.0.1", "localhost:9100",
                                   "127.0.0.1:0", "127.0.0.1:99999",
                                   "[::1]"])
def test_metrics_listen_refused(tmp_path, value):
    conf = tmp_path / "pigeon.conf"
    conf.write_text("state_dir %s\n%smetrics_listen %s\n" %
                    (tmp_path / "var", SMTP_OFF, value))
    p = subprocess.run([PIGEON_BIN, "check", "-c", str(conf)],
                       capture_output=True, timeout=30)
    assert p.returncode != 0
    err = p.stderr.decode()
    assert "metrics_listen" in err and "address:port" in err, err


def test_check_prints_metrics_listen(tmp_path):
    conf = tmp_path / "pigeon.conf"
    conf.write_text("state_dir %s\n%smetrics_listen [::1]:9587\n" %
                    (tmp_path / "var", SMTP_OFF))
    p = subprocess.run([PIGEON_BIN, "check", "-c", str(conf)],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    assert "metrics [::1]:9587" in p.stdout.decode()
    p = subprocess.run([PIGEON_BIN, "check", "-c", str(conf), "-v"],
                       capture_output=True, timeout=30)
    assert "metrics_listen [::1]:9587" in p.stdout.decode()


def test_reports_counted(tmp_path, request):
    """A DSN's failed recipient counts bounced and an ARF report
    complained (SPEC §7.1), both received on the inbound listener for
    messages delivered over SMTP to a peer of the test's own."""
    from test_inbound import Net, arf, delivered, dsn, inbound
    net = Net(tmp_path, request)
    s = net.pigeon()
    _, verp1 = delivered(net, ["gone@mail.test"])
    _, verp2 = delivered(net, ["angry@mail.test"])
    before = scrape(s)
    assert before.get("pigeon_recipients_total", outcome="delivered") == 2
    inbound(s, verp1, dsn(verp1, "gone@mail.test"))
    inbound(s, verp2, arf(verp2, "angry@mail.test"))

    def counted(sc):
        return sc.get("pigeon_recipients_total", outcome="complained") == 1 \
            and sc.get("pigeon_recipients_total", outcome="bounced") == 1

    after = settle(s, counted)
    assert counted(after), after.text
    # the same DSN again changes nothing, so counts nothing
    inbound(s, verp1, dsn(verp1, "gone@mail.test"))
    after = scrape(s)
    assert after.get("pigeon_recipients_total", outcome="bounced") == 1
    assert after.get("pigeon_recipients_total", outcome="delivered") == 2


def test_queue_depth_read_from_the_store_at_start(make_server):
    """The depth of a new process is the store's, not 0: recipients left
    deferred by the last run count at once."""
    s = make_server("metrics-depth").start()
    for i in range(2):
        r = s.send(simple(to="fail-%d@example.net" % i))
        assert assert_send_result(r)["queued"] == ["fail-%d@example.net" % i]
    r = s.send(simple(to="ok@example.net"))
    assert assert_send_result(r)["delivered"] == ["ok@example.net"]
    got = settle(s, lambda sc: sc.get("pigeon_queue_depth") == 2)
    assert got.get("pigeon_queue_depth") == 2, got.text
    assert s.stop() == 0
    s.start()
    got = settle(s, lambda sc: sc.get("pigeon_queue_depth") == 2)
    assert got.get("pigeon_queue_depth") == 2, got.text
    # counters start again from 0 in a new process
    assert got.get("pigeon_messages_accepted_total", front="rest") == 0
