"""
SPEC §8.3 [ours]: GET /accounts/{a}/email/sending/messages?cursor=&per_page=&q=
lists an account's messages newest first, each {message_id, created, from,
subject, size, recipients:{total, delivered, queued, deferred, bounced,
failed, suppressed}}, with result_info {cursor, per_page, count}: the
cursor of the next page, "" after the last.  per_page is 1..1000 (default
100) and q matches a sender or recipient address, the subject or the
Message-ID, in any case.  Permission `read`.
"""
import os
import re
import secrets
import sqlite3
import time
import urllib.parse

import pytest

from conftest import (assert_error, assert_human, assert_ok,
                      assert_send_result, simple)

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
STATES = ("delivered", "queued", "deferred", "bounced", "failed",
          "suppressed")


def new_tenant(server, perms="send,read,manage"):
    t = server.new_account(domain="l%s.test" % secrets.token_hex(4),
                           perms=perms)
    t["domain"] = server.cli("zone", "list", t["account"])[0]["name"]
    # a "-": no random Message-ID (letters and digits) ends with it, so a
    # q of the sender matches senders only
    t["sender"] = "mail-from@" + t["domain"]
    return t


def lst(server, t, token=None, **query):
    qs = urllib.parse.urlencode(query)
    return server.request("GET", server.apath("messages" + (
        "?" + qs if qs else ""), t["account"]),
        token=token or t["token"], prefix=True)


def lst_raw(server, t, qs):
    return server.request("GET", server.apath("messages?" + qs, t["account"]),
                          token=t["token"], prefix=True)


def send(server, t, **kw):
    kw.setdefault("from", t["sender"])
    return assert_send_result(server.send(simple(**kw), account=t["account"],
                                          token=t["token"]))


def status(server, t, mid):
    q = urllib.parse.quote(mid, safe="")
    return server.request("GET", server.apath("messages/%s/status" % q,
                                              t["account"]),
                          token=t["token"], prefix=True)


def raw_of(server, t, mid):
    q = urllib.parse.quote(mid, safe="")
    r = server.request("GET", server.apath("messages/" + q, t["account"]),
                       token=t["token"], prefix=True)
    assert r.status == 200, r
    return r.raw


def page(r):
    """The result and result_info of a 200 list answer."""
    res = assert_ok(r)
    assert isinstance(res, list), r
    info = r.json["result_info"]
    assert set(info) == {"cursor", "per_page", "count"}, info
    assert isinstance(info["cursor"], str), info
    assert info["count"] == len(res), info
    return res, info


def all_pages(server, t, per_page, **query):
    ids, cursor, pages = [], "", 0
    while True:
        q = dict(query, per_page=per_page)
        if cursor:
            q["cursor"] = cursor
        res, info = page(lst(server, t, **q))
        assert info["per_page"] == per_page
        ids += [m["message_id"] for m in res]
        pages += 1
        assert pages < 50
        cursor = info["cursor"]
        if not cursor:
            return ids, pages
        assert len(res) == per_page, info


def settled(server, t, mid, final=("delivered", "bounced", "failed",
                                   "suppressed", "deferred")):
    def done():
        rs = status(server, t, mid).json["result"]["recipients"]
        return all(x["status"] in final and
                   (x["status"] != "deferred" or x["attempts"] >= 1)
                   for x in rs)
    assert server.wait_for(done, timeout=10), status(server, t, mid)


@pytest.fixture(scope="module")
def tenant(server):
    return new_tenant(server)


def test_every_field(server):
    t = new_tenant(server)
    bad = "bounce-%s@example.net" % secrets.token_hex(3)
    stuck = "fail-%s@example.net" % secrets.token_hex(3)
    m1 = send(server, t, to=["ok1@example.net", bad, stuck],
              subject="First one")["message_id"]
    settled(server, t, m1)
    # the bounce suppressed bad (SPEC §6.4); a domain that drops
    # suppressed recipients sends to the rest
    zone = server.cli("zone", "list", t["account"])[0]["id"]
    assert_ok(server.request(
        "PATCH", "/zones/%s/email/sending/subdomains/%s" % (zone,
                                                           t["domain_id"]),
        {"drop_suppressed_recipients": True}, token=t["token"], prefix=True))
    res2 = send(server, t, to=[bad, "ok2@example.net"], subject=u"Zw\u00f6lf")
    assert res2["suppressed_recipients"] == [bad], res2
    m2 = res2["message_id"]
    settled(server, t, m2)
    # send_raw without a Subject
    mime = "From: %s\r\nTo: r@example.net\r\n\r\nno subject\r\n" % t["sender"]
    m3 = assert_send_result(server.send_raw(
        {"from": t["sender"], "recipients": ["r@example.net"],
         "mime_message": mime}, account=t["account"],
        token=t["token"]))["message_id"]
    settled(server, t, m3)

    res, info = page(lst(server, t))
    assert info == {"cursor": "", "per_page": 100, "count": 3}, info
    assert [m["message_id"] for m in res] == [m3, m2, m1]
    for m in res:
        assert set(m) == {"message_id", "created", "from", "subject",
                          "size", "recipients"}, m
        assert set(m["recipients"]) == {"total"} | set(STATES), m
        assert TIME_RE.match(m["created"]), m
        assert m["from"] == t["sender"], m
        raw = raw_of(server, t, m["message_id"])
        assert type(m["size"]) is int and m["size"] == len(raw), \
            (m, len(raw))
        st = status(server, t, m["message_id"]).json["result"]
        assert m["created"] == st["created"], (m, st)
        want = {s: 0 for s in STATES}
        for r in st["recipients"]:
            want[r["status"]] += 1
        assert {s: m["recipients"][s] for s in STATES} == want, (m, st)
        assert m["recipients"]["total"] == len(st["recipients"]), m
    by = {m["message_id"]: m for m in res}
    assert by[m1]["subject"] == "First one"
    assert by[m1]["recipients"] == dict(
        total=3, delivered=1, queued=0, deferred=1, bounced=1, failed=0,
        suppressed=0), by[m1]
    assert by[m2]["subject"] == u"Zw\u00f6lf"
    assert by[m2]["recipients"] == dict(
        total=2, delivered=1, queued=0, deferred=0, bounced=0, failed=0,
        suppressed=1), by[m2]
    assert by[m3]["subject"] is None, by[m3]
    assert by[m3]["recipients"]["total"] == 1


def test_failed_is_counted(make_server):
    s = make_server("list-failed", max_queue_age="2s", send_wait_ms=0)
    s.start()
    t = new_tenant(s)
    gone = "fail-%s@example.net" % secrets.token_hex(3)
    mid = send(s, t, to=gone)["message_id"]
    settled(s, t, mid, final=("failed",))
    res, _ = page(lst(s, t))
    assert res[0]["message_id"] == mid
    assert res[0]["recipients"] == dict(
        total=1, delivered=0, queued=0, deferred=0, bounced=0, failed=1,
        suppressed=0), res[0]


def test_pages_newest_first(server):
    t = new_tenant(server)
    sent = [send(server, t, subject="page %d" % i)["message_id"]
            for i in range(7)]
    ids, pages = all_pages(server, t, 3)
    assert ids == sent[::-1] and pages == 3
    ids, pages = all_pages(server, t, 7)
    assert ids == sent[::-1] and pages == 1
    ids, pages = all_pages(server, t, 1)
    assert ids == sent[::-1] and pages == 7
    # the cursor of the first page of 3, taken again: the same next page
    first, info = page(lst(server, t, per_page=3))
    again, _ = page(lst(server, t, per_page=3, cursor=info["cursor"]))
    assert [m["message_id"] for m in again] == sent[3::-1][:3]
    # a message sent meanwhile does not shift a page already cursored
    newer = send(server, t, subject="newer")["message_id"]
    again2, _ = page(lst(server, t, per_page=3, cursor=info["cursor"]))
    assert again2 == again
    res, info = page(lst(server, t, per_page=1000))
    assert [m["message_id"] for m in res] == [newer] + sent[::-1]
    assert info["cursor"] == ""


def test_q(server):
    t = new_tenant(server)
    tag = secrets.token_hex(3)
    a = send(server, t, to="alice-%s@example.net" % tag,
             subject="Invoice March")["message_id"]
    b = send(server, t, to=["bob@example.net", "Carol-%s@Example.NET" % tag],
             subject="hello")["message_id"]
    c = send(server, t, **{"from": "billing@" + t["domain"],
                           "to": "dan@example.net",
                           "subject": "Receipt"})["message_id"]

    def q(v, **kw):
        res, info = page(lst(server, t, q=v, **kw))
        return [m["message_id"] for m in res], info

    assert q("alice-" + tag)[0] == [a]
    assert q("ALICE-" + tag.upper())[0] == [a]
    assert q("carol-%s@example.net" % tag)[0] == [b]  # any case
    assert q("invoice")[0] == [a]
    assert q("MARCH")[0] == [a]
    assert q("billing@")[0] == [c]                    # the sender
    assert q(t["sender"])[0] == [b, a]
    assert q(a)[0] == [a]                             # <id@domain>
    assert q(a.strip("<>"))[0] == [a]                 # without brackets
    assert q(a[1:12])[0] == [a]
    assert q("example.net")[0] == [c, b, a]
    ids, info = q("nothing-like-it")
    assert ids == [] and info == {"cursor": "", "per_page": 100,
                                  "count": 0}
    # q across pages
    ids, info = q("example.net", per_page=2)
    assert ids == [c, b] and info["cursor"]
    res, info = page(lst(server, t, q="example.net", per_page=2,
                         cursor=info["cursor"]))
    assert [m["message_id"] for m in res] == [a] and info["cursor"] == ""
    # '+' and %20 are spaces (application/x-www-form-urlencoded)
    for qs in ("q=Invoice+March", "q=invoice%20march"):
        res, _ = page(lst_raw(server, t, qs))
        assert [m["message_id"] for m in res] == [a], qs
    # an empty q lists everything
    res, _ = page(lst_raw(server, t, "q="))
    assert len(res) == 3


@pytest.mark.parametrize("qs", [
    "per_page=0", "per_page=1001", "per_page=-1", "per_page=abc",
    "per_page=1.5", "per_page=", "per_page=01", "per_page=1&per_page=2",
    "per_page=99999999999999999999",
])
def test_bad_per_page(server, tenant, qs):
    r = lst_raw(server, tenant, qs)
    assert_error(r, 10001)
    assert_human(r, "per_page")


@pytest.mark.parametrize("qs", [
    "cursor=abc", "cursor=0", "cursor=-5", "cursor=1e3",
    "cursor=99999999999999999999", "cursor=1&cursor=2", "cursor=%00",
])
def test_bad_cursor(server, tenant, qs):
    r = lst_raw(server, tenant, qs)
    assert_error(r, 10001)
    assert_human(r, "cursor")


def test_bad_q(server, tenant):
    for qs in ("q=" + "a" * 257, "q=a&q=b", "q=%zz"):
        r = lst_raw(server, tenant, qs)
        assert_error(r, 10001)
        assert_human(r, "q ")
    page(lst_raw(server, tenant, "q=" + "a" * 256))


def test_edges_that_work(server, tenant):
    page(lst_raw(server, tenant, "per_page=1000"))
    page(lst_raw(server, tenant, "per_page=1"))
    page(lst_raw(server, tenant, "cursor="))
    page(lst_raw(server, tenant, "cursor=1"))
    page(lst_raw(server, tenant, "unknown=1&per_page=5"))


def test_permissions(server):
    t = new_tenant(server)
    mine = send(server, t)["message_id"]
    acct = t["account"]
    ro = server.cli("token", "create", acct, "--perm", "read")["token"]
    res, _ = page(lst(server, t, token=ro))
    assert [m["message_id"] for m in res] == [mine]
    for perm in ("send", "manage", "send,manage"):
        tok = server.cli("token", "create", acct, "--perm", perm)["token"]
        assert_error(lst(server, t, token=tok), 10102)
    # another account's token on this account; the shared dev token too
    other = server.new_account()["token"]
    assert_error(lst(server, t, token=other), 10102)
    assert_error(lst(server, t, token=server.token), 10102)
    r = server.request("GET", server.apath("messages", acct), auth=False,
                       prefix=True)
    assert_error(r, 10101)
    # each account sees its own only
    other_t = new_tenant(server)
    theirs = send(server, other_t)["message_id"]
    res, _ = page(lst(server, other_t))
    assert [m["message_id"] for m in res] == [theirs]


def test_store_down_read_never_500(make_server):
    """While the store is write-locked, a list needs no write lock (WAL
    readers): 200, or at worst the retryable 503, never 500."""
    s = make_server("list-down").start()
    t = new_tenant(s)
    mid = send(s, t)["message_id"]
    settled(s, t, mid)
    s.stop()
    s.start()       # no read connection opened yet on any HTTP thread
    c = sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"), timeout=10,
                        isolation_level=None)
    try:
        c.execute("BEGIN EXCLUSIVE")
        r = lst(s, t)
        c.execute("ROLLBACK")
    finally:
        c.close()
    if r.status == 200:
        res, _ = page(r)
        assert [m["message_id"] for m in res] == [mid]
    else:
        assert r.status == 503 and r.json["errors"][0]["code"] == 10002, r
        assert r.headers.get("Retry-After", "").isdigit(), r.headers
