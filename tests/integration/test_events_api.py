"""
SPEC §8.3 GET /accounts/{a}/email/sending/events (§6.5): the account's
events oldest first, each the stored event object; filters type (short
or full name), message_id (with or without <>), since; per_page (1-1000,
default 100) and an opaque cursor; result_info {cursor, per_page,
count}; permission read; bad values 400/10001 naming the parameter.
"""
import secrets
import time
import urllib.parse

import pytest

from conftest import assert_error, assert_human, assert_ok, \
    assert_send_result, simple

PREFIX = "cf.email.sending.message."


def uniq(prefix):
    return "%s-%s@example.net" % (prefix, secrets.token_hex(4))


def get(s, query="", **kw):
    return s.request("GET", s.apath("events" + query), prefix=True, **kw)


def page(s, query="", **kw):
    r = get(s, query, **kw)
    res = assert_ok(r)
    assert isinstance(res, list), r
    info = r.json["result_info"]
    assert set(info) == {"cursor", "per_page", "count"}, info
    assert info["count"] == len(res)
    assert isinstance(info["cursor"], str)
    return res, info


def q(**kw):
    return "?" + urllib.parse.urlencode(kw)


@pytest.fixture(scope="module")
def sent(server):
    """One message to a delivered and a bounced recipient, and the
    events of both read back."""
    ok, bad = uniq("ok"), uniq("bounce")
    res = assert_send_result(server.send(simple(to=[ok, bad])), [ok, bad])
    mid = res["message_id"]

    def mine():
        evs, _ = page(server, q(message_id=mid))
        return evs if len(evs) == 2 else None
    evs = server.wait_for(mine, timeout=10)
    assert evs, "no events for " + mid
    return {"mid": mid, "ok": ok, "bad": bad, "events": evs}


def test_shape(server, sent):
    evs = sent["events"]
    by = {e["payload"]["recipient"]: e for e in evs}
    assert by[sent["ok"]]["type"] == PREFIX + "delivered"
    assert by[sent["bad"]]["type"] == PREFIX + "bounced"
    for e in evs:
        assert set(e) >= {"type", "source", "payload", "metadata"}
        assert e["source"] == {"type": "email.sending",
                               "domain": "example.com"}
        assert e["payload"]["messageId"] == sent["mid"]
        assert e["metadata"]["accountId"] == server.account
        assert len(e["payload"]["eventId"]) == 32
    assert by[sent["bad"]]["payload"]["bounce"]["type"] == "hard"


def test_default_per_page_and_prefixless(server, sent):
    _, info = page(server)
    assert info["per_page"] == 100
    r = server.request("GET", server.apath("events"))
    assert_ok(r)


@pytest.mark.parametrize("t", ["bounced", PREFIX + "bounced"])
def test_type_filter(server, sent, t):
    evs, _ = page(server, q(type=t, message_id=sent["mid"]))
    assert [e["payload"]["recipient"] for e in evs] == [sent["bad"]]
    evs, _ = page(server, q(type="complained", message_id=sent["mid"]))
    assert evs == []


def test_message_id_filter(server, sent):
    bare = sent["mid"][1:-1]
    a, _ = page(server, q(message_id=sent["mid"]))
    b, _ = page(server, q(message_id=bare))
    assert a == b == sent["events"]
    c, _ = page(server, q(message_id="<nope@example.com>"))
    assert c == []


def test_since(server, sent):
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                           time.gmtime(time.time() + 3600))
    evs, info = page(server, q(since=future))
    assert evs == [] and info["count"] == 0
    # UTC wall time with +01:00: an hour ago
    past = time.strftime("%Y-%m-%dT%H:%M:%S.000+01:00", time.gmtime())
    evs, _ = page(server, q(since=past, message_id=sent["mid"]))
    assert len(evs) == 2
    evs, _ = page(server, q(since=str(int(time.time()) - 3600),
                            message_id=sent["mid"]))
    assert len(evs) == 2


def test_cursor_pages(server, sent):
    everything, info = page(server, q(per_page=1000))
    assert len(everything) >= 2
    walked, cursor = [], ""
    for _ in range(len(everything) + 2):
        evs, info = page(server, q(per_page=1, cursor=cursor))
        assert info["per_page"] == 1
        if not evs:
            # the end: the cursor stays, for the events still to come
            assert info["cursor"] == cursor
            break
        assert len(evs) == 1
        walked += evs
        assert info["cursor"] != cursor
        cursor = info["cursor"]
    assert walked == everything
    ids = [e["payload"]["eventId"] for e in walked]
    assert len(ids) == len(set(ids))
    # a new event comes after the last cursor
    ok = uniq("ok")
    assert_send_result(server.send(simple(to=ok)), [ok])
    assert server.wait_for(lambda: page(server, q(cursor=cursor))[0])
    evs, _ = page(server, q(cursor=cursor))
    assert [e["payload"]["recipient"] for e in evs] == [ok]


def test_other_account_sees_none(server, sent):
    other = server.new_account("evapi-%s.test" % secrets.token_hex(3))
    r = get(server, token=other["token"])
    assert_error(r, 10102)
    path = "/accounts/%s/email/sending/events" % other["account"]
    r = server.request("GET", path, token=other["token"])
    assert assert_ok(r) == []


def test_permissions(server):
    send_only = server.new_account(perms="send")
    path = "/accounts/%s/email/sending/events" % send_only["account"]
    r = server.request("GET", path, token=send_only["token"])
    assert_error(r, 10102)
    r = server.request("GET", server.apath("events"), auth=False)
    assert_error(r, 10101)
    r = server.request("POST", server.apath("events"), {})
    assert_error(r, 10003)


@pytest.mark.parametrize("query,name", [
    ("per_page=0", "per_page"), ("per_page=1001", "per_page"),
    ("per_page=abc", "per_page"), ("per_page=", "per_page"),
    ("per_page=-5", "per_page"), ("cursor=abc", "cursor"),
    ("cursor=ev1.zz", "cursor"), ("type=opened", "type"),
    ("type=Delivered", "type"), ("since=yesterday", "since"),
    ("since=2026-13-01T00:00:00Z", "since"), ("message_id=", "message_id"),
    ("message_id=%ZZ", "message_id"),
])
def test_bad_params(server, query, name):
    r = get(server, "?" + query)
    assert_error(r, 10001)
    assert_human(r, name)


def test_store_write_locked_read_never_500(make_server):
    """While the store is write-locked, reading events needs no write
    lock (WAL readers): 200 with what is there, or at worst the
    retryable 503, never 500 and never a hang."""
    import os
    import sqlite3
    s = make_server("events-locked").start()
    a = uniq("ok")
    mid = assert_send_result(s.send(simple(to=a)), [a])["message_id"]
    assert s.wait_for(lambda: page(s, q(message_id=mid))[0], timeout=10)
    s.stop()
    s.start()       # no read connection opened yet on any HTTP thread
    c = sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"), timeout=10,
                        isolation_level=None)
    try:
        c.execute("BEGIN EXCLUSIVE")
        r = get(s, q(message_id=mid), timeout=20)
        c.execute("ROLLBACK")
    finally:
        c.close()
    if r.status == 200:
        assert [e["payload"]["messageId"] for e in r.json["result"]] == \
            [mid], r
    else:
        assert r.status == 503 and r.json["errors"][0]["code"] == 10002, r
        assert r.headers.get("Retry-After", "").isdigit(), r.headers
