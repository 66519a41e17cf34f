"""
SPEC §2.4 [ours] Idempotency-Key on POST send and send_raw.

A repeat of a key by the same account within 24 h answers 200 with the
first message_id (and Idempotent-Replayed: true) and sends nothing again;
a repeat with another body, or while the first is still in flight, is
409 / 10001. Only an accepted send (200) records its key: a request
refused by validation (4xx) or by the store (503) leaves the key free.
The record lives in the store with the message, so it survives a restart.
"""
import json
import os
import secrets
import sqlite3
import threading
import time

from conftest import (SENDER, assert_error, assert_human,
                      assert_send_result, simple)

LONG_KEY = 256


def uniq(prefix, dom="example.net"):
    return "%s-%s@%s" % (prefix, secrets.token_hex(4), dom)


def key():
    return "order-" + secrets.token_hex(8)


def db(s):
    return sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"),
                           timeout=10, isolation_level=None)


def copies(s, message_id):
    """Message rows holding message_id."""
    c = db(s)
    try:
        return c.execute("SELECT count(*) FROM messages WHERE message_id = ?",
                         (message_id,)).fetchone()[0]
    finally:
        c.close()


def assert_conflict(r, *needles):
    """409 with code 10001 and a human sentence (SPEC §2.4)."""
    assert r.status == 409, r
    j = r.json
    assert j is not None and j.get("success") is False, r
    assert j.get("result", 0) is None, r
    e = j["errors"][0]
    assert type(e.get("code")) is int and e["code"] == 10001, r
    assert e.get("message") == \
        "email.sending.error.invalid_request_schema", r
    assert_human(r, "Idempotency-Key", *needles)


def raw_body(to, subject="raw idem"):
    mime = ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nbody\r\n" %
            (SENDER, to, subject))
    return {"from": SENDER, "recipients": [to], "mime_message": mime}


def test_same_key_same_body_is_sent_once(server):
    k, body = key(), simple(to=uniq("ok"))
    r1 = server.send(body, headers={"Idempotency-Key": k})
    res1 = assert_send_result(r1)
    assert r1.headers.get("Idempotent-Replayed") is None, r1
    r2 = server.send(body, headers={"Idempotency-Key": k})
    res2 = assert_send_result(r2, recipients=[body["to"]])
    assert res2["message_id"] == res1["message_id"]
    assert r2.headers.get("Idempotent-Replayed") == "true", r2
    assert copies(server, res1["message_id"]) == 1
    # GET status knows the one message.
    assert server.status(res1["message_id"]).status == 200


def test_replay_reports_the_recipients_of_the_first(server):
    to, bcc = uniq("ok"), uniq("ok")
    body = simple(to=to, bcc=[bcc])
    k = key()
    res1 = assert_send_result(server.send(body,
                                          headers={"Idempotency-Key": k}))
    assert sorted(res1["delivered"]) == sorted([to, bcc]), res1
    res2 = assert_send_result(server.send(body,
                                          headers={"Idempotency-Key": k}))
    assert res2 == res1


def test_same_key_other_body_is_409(server):
    k = key()
    assert_send_result(server.send(simple(to=uniq("ok")),
                                   headers={"Idempotency-Key": k}))
    r = server.send(simple(to=uniq("ok")), headers={"Idempotency-Key": k})
    assert_conflict(r, k, "different request body")


def test_no_key_sends_every_time(server):
    body = simple(to=uniq("ok"))
    a = assert_send_result(server.send(body))
    b = assert_send_result(server.send(body))
    assert a["message_id"] != b["message_id"]


def test_repeat_while_in_flight_is_409(server):
    """The first waits send_wait_ms (2 s) on a slow recipient."""
    k, body = key(), simple(to=uniq("slow"))
    first = {}

    def run():
        first["r"] = server.send(body, headers={"Idempotency-Key": k})

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    try:
        r = server.send(body, headers={"Idempotency-Key": k})
        assert_conflict(r, k, "still being processed")
        r = server.send(simple(to=uniq("ok")),
                        headers={"Idempotency-Key": k})
        assert r.status == 409, r
    finally:
        t.join(30)
    res1 = assert_send_result(first["r"])
    res2 = assert_send_result(server.send(body,
                                          headers={"Idempotency-Key": k}))
    assert res2["message_id"] == res1["message_id"]
    assert copies(server, res1["message_id"]) == 1


def test_concurrent_repeats_send_once(server):
    k, body = key(), simple(to=uniq("ok"))
    out = []

    def run():
        out.append(server.send(body, headers={"Idempotency-Key": k}))

    ts = [threading.Thread(target=run) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    ok = [r for r in out if r.status == 200]
    assert ok and all(r.status in (200, 409) for r in out), out
    ids = {r.json["result"]["message_id"] for r in ok}
    assert len(ids) == 1, ids
    assert copies(server, ids.pop()) == 1


def test_key_length(server):
    r = server.send(simple(to=uniq("ok")),
                    headers={"Idempotency-Key": "k" * (LONG_KEY + 1)})
    assert_error(r, 10001)
    assert_human(r, "Idempotency-Key")
    r = server.send(simple(to=uniq("ok")), headers={"Idempotency-Key": ""})
    assert_error(r, 10001)
    k = secrets.token_hex(8) + "k" * (LONG_KEY - 16)
    assert len(k) == LONG_KEY
    body = simple(to=uniq("ok"))
    a = assert_send_result(server.send(body, headers={"Idempotency-Key": k}))
    b = assert_send_result(server.send(body, headers={"Idempotency-Key": k}))
    assert a["message_id"] == b["message_id"]


def test_keys_are_per_account(server):
    dom = "idem-%s.example" % secrets.token_hex(4)
    other = server.new_account(domain=dom)
    time.sleep(0.35)  # the auth cache
    k = key()
    mine = simple(to=uniq("ok"))
    theirs = simple(to=uniq("ok"), **{"from": "s@" + dom})
    a = assert_send_result(server.send(mine, headers={"Idempotency-Key": k}))
    r = server.send(theirs, headers={"Idempotency-Key": k},
                    account=other["account"], token=other["token"])
    b = assert_send_result(r)
    assert r.headers.get("Idempotent-Replayed") is None, r
    assert a["message_id"] != b["message_id"]
    # Each account's repeat gets its own first answer back.
    r = server.send(theirs, headers={"Idempotency-Key": k},
                    account=other["account"], token=other["token"])
    assert assert_send_result(r)["message_id"] == b["message_id"]
    r = server.send(mine, headers={"Idempotency-Key": k})
    assert assert_send_result(r)["message_id"] == a["message_id"]


def test_send_raw(server):
    k, body = key(), raw_body(uniq("ok"))
    a = assert_send_result(server.send_raw(body,
                                           headers={"Idempotency-Key": k}),
                           pigeon_id=False)
    r = server.send_raw(body, headers={"Idempotency-Key": k})
    b = assert_send_result(r, pigeon_id=False)
    assert r.headers.get("Idempotent-Replayed") == "true", r
    assert a["message_id"] == b["message_id"]
    assert copies(server, a["message_id"]) == 1
    r = server.send_raw(raw_body(uniq("ok")), headers={"Idempotency-Key": k})
    assert_conflict(r, "different request body")
    # The same key on send: another endpoint, so 409 too.
    r = server.send(simple(to=uniq("ok")), headers={"Idempotency-Key": k})
    assert_conflict(r, "another endpoint (send_raw)")


def both_body(to):
    """One body that send and send_raw both accept: the same bytes are
    a different message at each."""
    b = simple(to=to)
    b.update(raw_body(to))
    return b


def test_key_belongs_to_one_endpoint(server):
    """A key used on send is refused on send_raw with the same bytes (and
    the other way round), not replayed: the send's message is not the raw
    one. Each endpoint still replays its own."""
    for first, second in (("send", "send_raw"), ("send_raw", "send")):
        k, body = key(), both_body(uniq("ok"))
        hk = {"Idempotency-Key": k}
        a = assert_send_result(getattr(server, first)(body, headers=hk),
                               pigeon_id=False)
        r = getattr(server, second)(body, headers=hk)
        assert_conflict(r, "another endpoint (%s)" % first)
        assert r.headers.get("Idempotent-Replayed") is None, r
        r = getattr(server, first)(body, headers=hk)
        b = assert_send_result(r, pigeon_id=False)
        assert r.headers.get("Idempotent-Replayed") == "true", r
        assert b["message_id"] == a["message_id"]
        assert copies(server, a["message_id"]) == 1
        # without the key the body is good at the second endpoint
        assert_send_result(getattr(server, second)(body), pigeon_id=False)


def test_record_without_endpoint_replays_at_either(server):
    """A record written before endpoints were kept (migration 4 leaves
    its endpoint NULL) answers as it did: by the body alone."""
    k, body = key(), both_body(uniq("ok"))
    a = assert_send_result(server.send(body, headers={"Idempotency-Key": k}))
    c = db(server)
    try:
        c.execute("UPDATE idempotency SET endpoint = NULL WHERE key = ?",
                  (k,))
    finally:
        c.close()
    r = server.send_raw(body, headers={"Idempotency-Key": k})
    b = assert_send_result(r)
    assert r.headers.get("Idempotent-Replayed") == "true", r
    assert b["message_id"] == a["message_id"]


def test_failed_validation_does_not_reserve_the_key(server):
    k = key()
    bad = simple(to=uniq("ok"), subject=None)  # no subject: 10001
    assert_error(server.send(bad, headers={"Idempotency-Key": k}), 10001)
    bad2 = simple(to=uniq("ok"), **{"from": "x@not-ours.example"})
    assert_error(server.send(bad2, headers={"Idempotency-Key": k}), 10204)
    body = simple(to=uniq("ok"))
    a = assert_send_result(server.send(body, headers={"Idempotency-Key": k}))
    r = server.send(body, headers={"Idempotency-Key": k})
    assert assert_send_result(r)["message_id"] == a["message_id"]


def test_a_record_older_than_24h_is_ignored(server):
    k, body = key(), simple(to=uniq("ok"))
    a = assert_send_result(server.send(body, headers={"Idempotency-Key": k}))
    c = db(server)
    try:
        n = c.execute("UPDATE idempotency SET created = created - ? "
                      "WHERE key = ?", (25 * 3600 * 1000, k)).rowcount
    finally:
        c.close()
    assert n == 1
    other = simple(to=uniq("ok"))
    r = server.send(other, headers={"Idempotency-Key": k})
    b = assert_send_result(r)
    assert b["message_id"] != a["message_id"]
    # ... and the key now names the new message.
    r = server.send(other, headers={"Idempotency-Key": k})
    assert assert_send_result(r)["message_id"] == b["message_id"]


def test_record_survives_a_restart(make_server):
    s = make_server("idem-restart").start()
    k, body = key(), simple(to=uniq("ok"))
    a = assert_send_result(s.send(body, headers={"Idempotency-Key": k}))
    s.stop()
    s.start()
    r = s.send(body, headers={"Idempotency-Key": k})
    b = assert_send_result(r)
    assert r.headers.get("Idempotent-Replayed") == "true", r
    assert b["message_id"] == a["message_id"]
    assert copies(s, a["message_id"]) == 1
    r = s.send(simple(to=uniq("ok")), headers={"Idempotency-Key": k})
    assert_conflict(r, "different request body")


def test_expired_records_are_purged(make_server):
    """Records past 24 h are deleted (at start, then hourly); the message
    they named stays readable, a fresh key still replays."""
    s = make_server("idem-purge").start()
    old = [key() for _ in range(3)]
    sent = [assert_send_result(s.send(simple(to=uniq("ok")),
                                      headers={"Idempotency-Key": k}))
            for k in old]
    fk, fbody = key(), simple(to=uniq("ok"))
    fresh = assert_send_result(s.send(fbody, headers={"Idempotency-Key": fk}))
    c = db(s)
    try:
        n = c.execute("UPDATE idempotency SET created = created - ? "
                      "WHERE key IN (?, ?, ?)",
                      (25 * 3600 * 1000, *old)).rowcount
    finally:
        c.close()
    assert n == 3
    s.stop()
    s.start()

    def left():
        c = db(s)
        try:
            return [k for (k,) in c.execute("SELECT key FROM idempotency")]
        finally:
            c.close()
    assert s.wait_for(lambda: left() == [fk]), left()
    assert "purged 3 idempotency keys older than 24 h" in s.stderr()
    r = s.send(fbody, headers={"Idempotency-Key": fk})
    assert assert_send_result(r)["message_id"] == fresh["message_id"]
    assert r.headers.get("Idempotent-Replayed") == "true", r
    for a in sent:
        assert s.message(a["message_id"]).status == 200


def test_store_down_does_not_record_the_key(make_server):
    """A 503 (the queue cannot write) leaves the key free: the retry
    with the same key is sent, once."""
    s = make_server("idem-down").start()
    k, body = key(), simple(to=uniq("ok"))
    c = db(s)
    try:
        c.execute("BEGIN EXCLUSIVE")
        r = s.send(body, headers={"Idempotency-Key": k}, timeout=20)
        c.execute("ROLLBACK")
    finally:
        c.close()
    assert r.status == 503, r
    assert r.json["errors"][0]["code"] == 10002, r
    c = db(s)
    try:
        n = c.execute("SELECT count(*) FROM idempotency WHERE key = ?",
                      (k,)).fetchone()[0]
    finally:
        c.close()
    assert n == 0
    r = s.send(body, headers={"Idempotency-Key": k})
    a = assert_send_result(r)
    assert r.headers.get("Idempotent-Replayed") is None, r
    r = s.send(body, headers={"Idempotency-Key": k})
    assert assert_send_result(r)["message_id"] == a["message_id"]
    assert copies(s, a["message_id"]) == 1


def test_body_is_compared_byte_for_byte(server):
    """The key binds the exact bytes: the same JSON written otherwise is
    another body (as Stripe does)."""
    k, body = key(), simple(to=uniq("ok"))
    compact = json.dumps(body, separators=(",", ":"))
    spaced = json.dumps(body, indent=2)
    assert_send_result(server.send(compact, headers={"Idempotency-Key": k}))
    r = server.send(spaced, headers={"Idempotency-Key": k})
    assert_conflict(r, "different request body")
