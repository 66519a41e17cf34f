"""
pigeon queue (SPEC §9, §6.3): list, show, retry, drop, list
--destinations and resume, on a real server and its store, running and
stopped. `fail…@` capture addresses stay deferred; a long retry_base_ms
keeps them waiting, so a retry is seen as an attempt within a second.
"""
import json
import os
import re
import time

import pytest

from conftest import (PIGEON_BIN, Server, _live, assert_send_result,
                      simple)
from test_cli import assert_fails, run
from test_events import suppressions

SLOW = {"retry_base_ms": "60000", "retry_max_ms": "120000",
        "send_wait_ms": "1500"}


def q(s, *args, json_out=True):
    """pigeon queue ARGS on s (exit 0 asserted): JSON, or the process."""
    p = run("queue", *args, "--dev", "-c", s.conf_path,
            *(["--json"] if json_out else []), cwd=s.dir)
    assert p.returncode == 0, "%s -> %d: %s" % (args, p.returncode, p.err)
    return json.loads(p.out) if json_out else p


def qfail(s, *args):
    return run("queue", *args, "--dev", "-c", s.conf_path, cwd=s.dir)


def send(s, *to):
    r = s.send(simple(to=list(to)))
    return assert_send_result(r)["message_id"]


def rcpt(s, mid, addr):
    for r in q(s, "show", mid)["recipients"]:
        if r["recipient"] == addr:
            return r
    raise AssertionError(addr)


@pytest.fixture
def slow(make_server):
    return make_server("queue", **SLOW).start()


def test_list_default_state_json_limit(slow):
    m1 = send(slow, "fail1@example.net", "ok1@example.net")
    m2 = send(slow, "fail2@example.net")
    got = q(slow, "list")
    rows = got["recipients"]
    # delivered ones are final: not listed; newest message first
    assert [r["recipient"] for r in rows] == ["fail2@example.net",
                                              "fail1@example.net"]
    assert rows[0]["message_id"] == m2 and rows[1]["message_id"] == m1
    assert rows[0]["state"] == "deferred" and rows[0]["attempts"] == 1
    assert rows[0]["last_reply"].startswith("451")
    assert rows[0]["next_attempt"] is not None
    assert got["total"] == 2 and got["more"] == 0
    d = q(slow, "list", "--state", "delivered")["recipients"]
    assert [r["recipient"] for r in d] == ["ok1@example.net"]
    lim = q(slow, "list", "--limit", "1")
    assert len(lim["recipients"]) == 1 and lim["more"] == 1
    text = q(slow, "list", "--limit", "1", json_out=False).out
    assert "fail2@example.net" in text and "deferred" in text
    assert re.search(r"\+\d+[sm]", text), text
    assert "1 more" in text, text


def test_show_with_events(slow):
    mid = send(slow, "fail@example.net", "ok@example.net")
    got = q(slow, "show", mid.strip("<>"))
    assert got["message_id"] == mid and got["from"] == "sender@example.com"
    assert got["size"] > 0 and got["created"]
    by = {r["recipient"]: r for r in got["recipients"]}
    assert by["fail@example.net"]["state"] == "deferred"
    assert [e["type"] for e in by["fail@example.net"]["events"]] == [
        "cf.email.sending.message.deferred"]
    assert [e["type"] for e in by["ok@example.net"]["events"]] == [
        "cf.email.sending.message.delivered"]
    text = q(slow, "show", mid, json_out=False).out
    assert "recipient fail@example.net" in text and "deferred" in text
    assert "event" in text


def test_retry_attempts_again_at_once(slow):
    mid = send(slow, "fail@example.net")
    other = send(slow, "fail2@example.net")
    assert rcpt(slow, mid, "fail@example.net")["attempts"] == 1
    p = q(slow, "retry", mid, json_out=False)
    assert p.err == "" and "1 recipients due now" in p.out
    assert slow.wait_for(lambda: rcpt(slow, mid, "fail@example.net")
                         ["attempts"] == 2, timeout=1.5)
    # the other message was not touched
    assert rcpt(slow, other, "fail2@example.net")["attempts"] == 1
    assert q(slow, "retry", "--all")["retried"] == 2
    assert slow.wait_for(lambda: rcpt(slow, other, "fail2@example.net")
                         ["attempts"] == 2, timeout=1.5)


def test_drop_fails_without_suppression(slow):
    mid = send(slow, "fail@example.net", "ok@example.net")
    assert q(slow, "drop", mid)["dropped"] == 1
    r = rcpt(slow, mid, "fail@example.net")
    assert r["state"] == "failed"
    assert r["last_reply"] == "dropped by the operator (pigeon queue drop)"
    assert [e["type"] for e in r["events"]][-1] == \
        "cf.email.sending.message.failed"
    assert rcpt(slow, mid, "ok@example.net")["state"] == "delivered"
    assert suppressions(slow, "fail@example.net") == []
    # not attempted again, even when every message is retried
    q(slow, "retry", "--all")
    time.sleep(1.0)
    r = rcpt(slow, mid, "fail@example.net")
    assert r["state"] == "failed" and r["attempts"] == 1
    assert "drop requested" in slow.stderr()
    # the message is kept
    assert q(slow, "show", mid)["message_id"] == mid
    # nothing left to drop
    assert q(slow, "drop", mid)["dropped"] == 0


def test_drop_while_attempt_in_flight(make_server):
    """A slow…@ attempt takes capture_slow_ms; a drop meanwhile wins: the
    outcome that comes back is not stored and makes no event."""
    s = make_server("inflight", capture_slow_ms="1500", send_wait_ms="0",
                    **{k: v for k, v in SLOW.items()
                       if k != "send_wait_ms"}).start()
    mid = send(s, "slow@example.net")
    time.sleep(0.3)
    assert q(s, "drop", mid)["dropped"] == 1
    time.sleep(2.0)
    assert "route=capture attempt=1 status=delivered" in s.stderr()
    r = rcpt(s, mid, "slow@example.net")
    assert r["state"] == "failed" and r["last_reply"].startswith("dropped")
    assert [e["type"] for e in r["events"]] == [
        "cf.email.sending.message.failed"]


def test_stopped_server(make_server):
    s = make_server("stopped", **SLOW).start()
    mid = send(s, "fail@example.net")
    gone = send(s, "fail2@example.net")
    s.stop()
    p = q(s, "retry", mid, json_out=False)
    assert "pigeon serve is not running: the change takes effect at its " \
           "next start" in p.err
    assert p.err.startswith("note: ")
    p = q(s, "drop", gone, json_out=False)
    assert "not running" in p.err
    assert q(s, "list")["total"] == 1
    assert "not running" in q(s, "list", "--destinations",
                              json_out=False).out
    assert q(s, "list", "--destinations") == []
    s.start()
    assert s.wait_for(lambda: rcpt(s, mid, "fail@example.net")
                      ["attempts"] == 2, timeout=3)
    assert rcpt(s, gone, "fail2@example.net")["attempts"] == 1


def test_bad_input(slow):
    p = qfail(slow, "show", "<nope@example.com>")
    assert_fails(p, 1, "no message <nope@example.com> in the queue")
    assert_fails(qfail(slow, "drop", "nope@example.com"), 1,
                 "no message <nope@example.com> in the queue")
    assert_fails(qfail(slow, "list", "--state", "lost"), 2,
                 "--state 'lost'", "queued, deferred")
    assert_fails(qfail(slow, "list", "--limit", "0"), 2, "--limit")
    assert_fails(qfail(slow, "show"), 2, "missing MESSAGE_ID")
    assert_fails(qfail(slow, "drop"), 2, "missing MESSAGE_ID")
    assert_fails(qfail(slow, "retry"), 2, "MESSAGE_ID or --all")
    assert_fails(qfail(slow, "retry", "<a@b>", "--all"), 2,
                 "MESSAGE_ID or --all")
    assert_fails(qfail(slow, "resume"), 2, "missing DESTINATION")
    assert_fails(qfail(slow, "resume", "not a domain"), 2,
                 "is not a destination")
    assert_fails(qfail(slow, "frob"), 2, "unknown subcommand 'frob'")


# -- destinations: the mx route, a peer that throttles (test_mx.py) ------

from mxnet import Dns  # noqa: E402
from test_mx import RECORDS, Net, wait_status  # noqa: E402


@pytest.fixture
def net(tmp_path, request):
    return Net(tmp_path, request)


def test_destinations_and_resume(net):
    net.dns.stop()
    net.dns = Dns(os.path.join(net.tmp, "dns-t"), RECORDS + [
        "throttle.test 300 MX 10 mx.throttle.test",
        "mx.throttle.test 300 A 127.0.0.5"])
    net.peer("127.0.0.5", "--greeting-421", "--faults", "1")
    s = net.pigeon(max_connections_per_destination="4",
                   retry_base_ms="60000", retry_max_ms="120000",
                   send_wait_ms="1500")
    r = s.send(simple(to="t1@throttle.test"))
    mid = assert_send_result(r)["message_id"]
    wait_status(s, mid, {"t1@throttle.test": "deferred"})
    assert s.wait_for(lambda: q(s, "list", "--destinations"), timeout=3)
    d = q(s, "list", "--destinations")
    assert len(d) == 1, d
    d = d[0]
    assert d["route"] == "mx" and d["domain"] == "throttle.test"
    assert d["cap"] == 2 and d["full_cap"] == 4
    assert d["paused_until"] is not None and "421" in d["last_reply"]
    text = q(s, "list", "--destinations", json_out=False).out
    assert "mx:throttle.test" in text and "2/4" in text
    p = q(s, "resume", "throttle.test", json_out=False)
    assert p.err == "" and "1 recipients due now" in p.out
    wait_status(s, mid, {"t1@throttle.test": "delivered"}, timeout=3)
    assert "destination=mx:throttle.test resumed by the operator: cap 4" \
        in s.stderr()
    assert s.wait_for(lambda: q(s, "list", "--destinations") == [],
                      timeout=2)
    # stopped: nothing is throttled, and resume still makes the
    # recipients due for the next start
    r = s.send(simple(to="t2@throttle.test"))
    s.stop()
    assert q(s, "list", "--destinations") == []
    p = q(s, "resume", "mx:throttle.test", json_out=False)
    assert "not running" in p.err
