"""
SPEC §6.5 (an event per recipient state change, Cloudflare's payload) and
§6.4 (automatic suppressions), written by a real `pigeon serve --dev`
through the capture route of §6.3: bounce…@ is answered 550 5.1.1,
defer…@ 451 4.3.0 for the first capture_defer_attempts attempts, fail…@
451 until max_queue_age.

There is no REST endpoint for events or suppressions yet (issue 9 builds
GET …/events and …/suppressions on these tables): the test reads the
server's store read-only with Python's sqlite3, beside the running
server, as an outside reader would.
"""
import datetime
import json
import os
import re
import secrets
import sqlite3
import time

from conftest import DOMAIN, SENDER, assert_send_result, simple

PREFIX = "cf.email.sending.message."
DAY_MS = 24 * 60 * 60 * 1000
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def uniq(prefix, dom="example.net"):
    return "%s-%s@%s" % (prefix, secrets.token_hex(4), dom)


def query(s, sql, args=()):
    """Rows of sql on the server's store, opened read-only."""
    path = os.path.join(s.state_dir, "pigeon.db")
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(sql, args)]
    finally:
        db.close()


def events(s, rcpt):
    """The events of one recipient, oldest first, payloads parsed."""
    rows = query(s, "SELECT * FROM events WHERE recipient = ? ORDER BY id",
                 (rcpt,))
    for r in rows:
        r["json"] = json.loads(r["payload"])
    return rows


def types(evs):
    return [e["type"][len(PREFIX):] for e in evs]


def suppressions(s, email):
    return query(s, "SELECT * FROM suppressions WHERE email = ?", (email,))


def attempts(s, rcpt):
    return query(s, "SELECT attempts FROM recipients WHERE address = ?",
                 (rcpt,))[0]["attempts"]


def wait_types(s, rcpt, want, timeout=10):
    """Waits until rcpt's events end with the type want."""
    assert s.wait_for(lambda: types(events(s, rcpt))[-1:] == [want],
                      timeout=timeout), \
        "%s: events %r, want a last %r" % (rcpt, types(events(s, rcpt)), want)
    return events(s, rcpt)


def ms(iso):
    """unix ms of an eventTimestamp, "2026-11-26T06:13:41.123Z"."""
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", iso), iso
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def assert_event(s, ev, res, rcpt, kind, code, enhanced, bounce=None,
                 subject="Hello"):
    """Every field of SPEC §6.5's payload and of the row that holds it.
    bounce: (type, classification) or None."""
    p = ev["json"]
    assert set(p) == {"type", "source", "payload", "metadata"}, p
    assert p["type"] == PREFIX + kind
    assert p["source"] == {"type": "email.sending", "domain": DOMAIN}, p
    pl = p["payload"]
    assert set(pl) == {"eventId", "messageId", "sender", "recipient",
                       "subject", "terminal", "delivery", "bounce"}, pl
    assert HEX32.match(pl["eventId"]), pl
    assert pl["messageId"] == res["message_id"]
    assert pl["sender"] == SENDER
    assert pl["recipient"] == rcpt
    assert pl["subject"] == subject
    assert pl["terminal"] is (kind != "deferred"), pl
    d = pl["delivery"]
    assert set(d) == {"status", "provider", "deliveryTimeMs",
                      "smtpStatusCode", "smtpEnhancedStatusCode",
                      "smtpResponse"}, d
    assert d["status"] == kind
    assert d["provider"] == "capture"
    assert isinstance(d["deliveryTimeMs"], int) and \
        0 <= d["deliveryTimeMs"] < 60000, d
    assert d["smtpStatusCode"] == code
    assert d["smtpEnhancedStatusCode"] == enhanced
    assert d["smtpResponse"].startswith("%d %s " % (code, enhanced)), d
    if bounce is None:
        assert pl["bounce"] is None, pl
    else:
        assert pl["bounce"] == {"type": bounce[0],
                                "classification": bounce[1],
                                "reason": d["smtpResponse"]}, pl
    m = p["metadata"]
    assert set(m) == {"accountId", "eventTimestamp"}, m
    assert m["accountId"] == s.account
    at = ms(m["eventTimestamp"])
    assert abs(at - time.time() * 1000) < 120000, m
    # the row's own columns say the same
    assert ev["event_id"] == pl["eventId"]
    assert ev["account_id"] == s.account
    assert ev["message_id"] == res["message_id"]
    assert ev["recipient"] == rcpt
    assert ev["type"] == p["type"]
    assert ev["created"] == at
    msg = query(s, "SELECT id, created FROM messages WHERE message_id = ?",
                (res["message_id"],))[0]
    assert ev["msg_id"] == msg["id"]
    assert d["deliveryTimeMs"] == at - msg["created"], (d, msg)
    assert query(s, "SELECT address FROM recipients WHERE id = ?",
                 (ev["rcpt_id"],))[0]["address"] == rcpt


def assert_suppression(s, rcpt, reason, ttl_ms, created):
    rows = suppressions(s, rcpt)
    assert len(rows) == 1, rows
    sp = rows[0]
    assert HEX32.match(sp["id"]), sp
    assert sp["account_id"] == s.account
    assert sp["reason"] == reason
    assert sp["scope_type"] == "sending_domain"
    assert sp["scope_value"] == DOMAIN
    assert sp["note"] is None and sp["read_only"] == 0, sp
    assert sp["created"] == created, (sp, created)
    assert sp["expires_at"] == created + ttl_ms, sp


def test_delivered_only(server):
    a = uniq("ok")
    res = assert_send_result(server.send(simple(to=a)), [a])
    assert res["delivered"] == [a], res
    evs = wait_types(server, a, "delivered")
    assert types(evs) == ["delivered"], evs
    assert_event(server, evs[0], res, a, "delivered", 250, "2.0.0")
    assert suppressions(server, a) == []


def test_bounce_event_and_hard_bounce(server):
    a = uniq("bounce")
    res = assert_send_result(server.send(simple(to=a)), [a])
    assert res["permanent_bounces"] == [a], res
    evs = wait_types(server, a, "bounced")
    assert types(evs) == ["bounced"], evs
    assert_event(server, evs[0], res, a, "bounced", 550, "5.1.1",
                 bounce=("hard", "invalid_recipient"))
    # §6.4: on the sending domain, for 7 days from the bounce
    assert_suppression(server, a, "hard_bounce", 7 * DAY_MS,
                       evs[0]["created"])


def test_defer_events_then_delivered(server):
    a = uniq("defer")
    res = assert_send_result(server.send(simple(to=a)), [a])
    evs = wait_types(server, a, "delivered")
    # capture_defer_attempts 2: each deferral is an event, then delivery
    assert types(evs) == ["deferred", "deferred", "delivered"], evs
    for ev in evs[:2]:
        assert_event(server, ev, res, a, "deferred", 451, "4.3.0")
    assert_event(server, evs[2], res, a, "delivered", 250, "2.0.0")
    assert len({e["event_id"] for e in evs}) == 3
    assert evs[0]["id"] < evs[1]["id"] < evs[2]["id"]
    assert attempts(server, a) == 3
    assert suppressions(server, a) == []


def test_fail_event_and_soft_bounce(make_server):
    s = make_server("events-fail", send_wait_ms=0, max_queue_age="2s").start()
    a = uniq("fail")
    res = assert_send_result(s.send(simple(to=a, subject="Bye")), [a])
    evs = wait_types(s, a, "failed", timeout=8)
    assert types(evs)[:-1] == ["deferred"] * (len(evs) - 1), evs
    assert len(evs) == attempts(s, a) >= 2
    for ev in evs[:-1]:
        assert_event(s, ev, res, a, "deferred", 451, "4.3.0", subject="Bye")
    assert_event(s, evs[-1], res, a, "failed", 451, "4.3.0",
                 bounce=("soft", "mail_system"), subject="Bye")
    assert_suppression(s, a, "soft_bounce", DAY_MS, evs[-1]["created"])


def test_kill9_between_attempts_loses_no_event(make_server):
    """Each committed outcome has its event, across kill -9: the events
    of a recipient are as many as its attempts when the process dies
    between attempts and after the restart finishes the work."""
    s = make_server("events-kill", send_wait_ms=0, retry_base_ms=400,
                    retry_max_ms=400, capture_defer_attempts=4).start()
    rcpts = [uniq("defer") for _ in range(4)] + [uniq("ok")]
    for a in rcpts:
        assert_send_result(s.send(simple(to=a)), [a])
    assert s.wait_for(lambda: all(attempts(s, a) >= 2 for a in rcpts[:4]),
                      timeout=10)
    s.kill()
    for a in rcpts:
        evs = events(s, a)
        assert len(evs) == attempts(s, a) >= 1, (a, types(evs))
    s.start()
    for a in rcpts:
        evs = wait_types(s, a, "delivered")
        assert len(evs) == attempts(s, a), (a, types(evs))
    for a in rcpts[:4]:
        assert types(events(s, a)) == ["deferred"] * 4 + ["delivered"]
    assert types(events(s, rcpts[4])) == ["delivered"]
    # the cursor grew in commit order across the restart
    ids = [r["id"] for r in query(s, "SELECT id FROM events ORDER BY rowid")]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
