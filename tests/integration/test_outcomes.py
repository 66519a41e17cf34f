import pytest
"""
SPEC §3.4 (the send response), §6.3 capture test addresses, §6.4 automatic
suppression, §8.3 status / tokens verify / healthz, §2.4 Idempotency-Key,
and the routes with and without /client/v4.
"""
import json
import secrets
import time

from conftest import (assert_error, assert_ok, assert_send_result, simple)

FINAL = {"delivered", "bounced", "failed", "suppressed"}
STATES = FINAL | {"queued", "deferred"}


def uniq(prefix, dom="example.net"):
    return "%s-%s@%s" % (prefix, secrets.token_hex(4), dom)


def status_of(server, mid):
    r = server.status(mid)
    res = assert_ok(r)
    assert set(res) >= {"message_id", "created", "recipients"}, res
    assert res["message_id"] == mid
    for rc in res["recipients"]:
        assert set(rc) >= {"address", "status", "attempts", "last_attempt",
                           "next_attempt", "smtp_response"}, rc
        assert rc["status"] in STATES, rc
        assert isinstance(rc["attempts"], int)
    return {rc["address"].lower(): rc for rc in res["recipients"]}


def wait_status(server, mid, addr, want, timeout=15):
    deadline = time.time() + timeout
    while True:
        st = status_of(server, mid)
        if st[addr.lower()]["status"] == want or time.time() > deadline:
            return st[addr.lower()]
        time.sleep(0.2)


def test_normal_is_delivered(server):
    a = uniq("ok")
    res = assert_send_result(server.send(simple(to=a)), [a])
    assert res["delivered"] == [a], res
    st = status_of(server, res["message_id"])
    assert st[a]["status"] == "delivered" and st[a]["attempts"] == 1, st


def test_bounce_is_permanent(server):
    a = uniq("bounce")
    res = assert_send_result(server.send(simple(to=a)), [a])
    assert res["permanent_bounces"] == [a], res
    st = status_of(server, res["message_id"])[a]
    assert st["status"] == "bounced", st
    assert "550" in (st["smtp_response"] or ""), st


def test_bounce_suppresses_address(server):
    """§6.4: a 5.1.x bounce adds a hard_bounce suppression; §8.1: the next
    send to it is refused with 10202 naming the recipient."""
    a = uniq("bounce")
    assert_send_result(server.send(simple(to=a)), [a])
    r = server.wait_for(lambda: (lambda r: r if r.status == 400 else None)(
        server.send(simple(to=a))), timeout=5)
    assert r, "bounced address not suppressed"
    assert_error(r, 10202)
    assert a in json.dumps(r.json["messages"]) or \
        a in json.dumps(r.json["errors"]), r


def test_defer_queued_then_delivered(server):
    a = uniq("defer")
    res = assert_send_result(server.send(simple(to=a)), [a])
    assert res["queued"] == [a], res
    st = status_of(server, res["message_id"])[a]
    assert st["status"] in ("queued", "deferred"), st
    st = wait_status(server, res["message_id"], a, "delivered")
    assert st["status"] == "delivered", st
    assert st["attempts"] >= 3, st   # capture_defer_attempts 2, then ok


def test_slow_is_queued_then_delivered(server):
    a = uniq("slow")
    t0 = time.time()
    res = assert_send_result(server.send(simple(to=a)), [a])
    took = time.time() - t0
    assert res["queued"] == [a], res
    assert 1.5 < took < 3.9, "send_wait_ms is 2000, took %.2f s" % took
    st = wait_status(server, res["message_id"], a, "delivered", timeout=12)
    assert st["status"] == "delivered", st


def test_fail_stays_deferred(server):
    a = uniq("fail")
    res = assert_send_result(server.send(simple(to=a)), [a])
    assert res["queued"] == [a], res
    time.sleep(0.8)
    st = status_of(server, res["message_id"])[a]
    assert st["status"] in ("queued", "deferred"), st
    assert "451" in (st["smtp_response"] or ""), st


def test_mixed_partition(server):
    ok, bo, de = uniq("ok"), uniq("bounce"), uniq("defer")
    res = assert_send_result(server.send(simple(to=[ok, bo], cc=de)),
                             [ok, bo, de])
    assert res["delivered"] == [ok]
    assert res["permanent_bounces"] == [bo]
    assert res["queued"] == [de]
    assert res["suppressed_recipients"] == []
    st = status_of(server, res["message_id"])
    assert set(st) == {ok, bo, de}


def test_send_raw_outcomes(server):
    ok, bo = uniq("ok"), uniq("bounce")
    r = server.send_raw({"from": "sender@example.com", "recipients": [ok, bo],
                         "mime_message": "From: sender@example.com\r\n"
                                         "Subject: x\r\n\r\nhi"})
    res = assert_send_result(r, [ok, bo])
    assert res["delivered"] == [ok] and res["permanent_bounces"] == [bo]


def test_status_unknown_message(server):
    r = server.status("<" + "Q" * 36 + "@example.com>")
    assert_error(r, 10000)


def test_send_wait_zero_queues_everything(make_server):
    s = make_server("wait0", send_wait_ms=0).start()
    a, b = uniq("ok"), uniq("bounce")
    res = assert_send_result(s.send(simple(to=[a, b])), [a, b])
    assert sorted(res["queued"]) == sorted([a, b]), res
    st = wait_status(s, res["message_id"], a, "delivered", timeout=5)
    assert st["status"] == "delivered"
    st = wait_status(s, res["message_id"], b, "bounced", timeout=5)
    assert st["status"] == "bounced"


# -- tokens verify, healthz, prefixes ----------------------------------------
def test_tokens_verify(server):
    for prefix in (True, False):
        r = server.request("GET", "/user/tokens/verify", prefix=prefix)
        res = assert_ok(r)
        assert res.get("status") == "active", res
        assert isinstance(res.get("id"), str) and res["id"], res
    r = server.request("GET", "/user/tokens/verify", token="z" * 40,
                       prefix=True)
    assert r.status == 401 and r.json["success"] is False, r
    assert r.json["result"] is None


def test_healthz_no_auth(server):
    r = server.request("GET", "/healthz", auth=False)
    assert r.status == 200, r


def test_routes_without_prefix(server):
    res = assert_send_result(server.send(simple(), prefix=False))
    r = server.request("GET", server.apath(
        "messages/" + res["message_id"].strip("<>")))
    assert r.status == 200 and r.raw.startswith(b"DKIM-Signature"), r
    r = server.request("POST", server.apath("send_raw"), {
        "from": "sender@example.com", "recipients": ["a@example.net"],
        "mime_message": "From: sender@example.com\r\n\r\nx"})
    assert_send_result(r)


def test_dev_env(server):
    env = server.env
    assert env["CLOUDFLARE_BASE_URL"] == \
        "http://127.0.0.1:%d/client/v4" % server.port, env
    assert len(env["CLOUDFLARE_ACCOUNT_ID"]) == 32
    assert len(env["CLOUDFLARE_API_TOKEN"]) == 40


# -- Idempotency-Key ------------------------------------------------------------
def test_idempotency_key(server):
    key = secrets.token_hex(8)
    body = simple(to=uniq("ok"))
    r1 = server.send(body, headers={"Idempotency-Key": key})
    res1 = assert_send_result(r1)
    r2 = server.send(body, headers={"Idempotency-Key": key})
    res2 = assert_send_result(r2)
    assert res1["message_id"] == res2["message_id"]
    r3 = server.send(simple(to=uniq("ok")), headers={"Idempotency-Key": key})
    assert r3.status == 409, r3
    assert r3.json["success"] is False and \
        r3.json["errors"][0]["code"] == 10001, r3


# -- one transaction per (message, destination), expiry, replays ---------------
def test_slow_destination_does_not_hold_up_others(server):
    """SPEC §6.3: one transaction per (message, destination): a slow
    domain answers late, the others at once."""
    ok, defer = uniq("ok", "example.net"), uniq("defer", "example.net")
    slow = uniq("slow", "example.org")
    t0 = time.time()
    res = assert_send_result(server.send(simple(to=[ok, defer], cc=slow)),
                             [ok, defer, slow])
    assert res["delivered"] == [ok], res
    assert sorted(res["queued"]) == sorted([defer, slow]), res
    # defer's retries go on while slow is still answering (4 s)
    st = wait_status(server, res["message_id"], defer, "delivered",
                     timeout=3)
    assert st["status"] == "delivered", st
    assert time.time() - t0 < 3.5
    assert status_of(server, res["message_id"])[slow]["status"] != \
        "delivered"
    st = wait_status(server, res["message_id"], slow, "delivered")
    assert st["status"] == "delivered", st


def test_expiry_is_an_attempt_not_a_late_one(make_server):
    """SPEC §6.3: retried until max_queue_age, then failed: the last
    attempt is at the expiry, not a whole backoff after it; a final
    recipient is a permanent failure in a replayed response."""
    s = make_server("expiry", send_wait_ms=0, retry_base_ms=3000,
                    retry_max_ms=3000, max_queue_age="2s").start()
    a = uniq("fail")
    t0 = time.time()
    res = assert_send_result(s.send(simple(to=a),
                                    headers={"Idempotency-Key": a}), [a])
    # the first attempt is deferred; the next one comes at the expiry
    for _ in range(20):
        st = status_of(s, res["message_id"])[a]
        if st["status"] == "deferred":
            break
        time.sleep(0.05)
    assert st["status"] == "deferred", st
    assert st["next_attempt"] is not None
    st = wait_status(s, res["message_id"], a, "failed", timeout=6)
    assert st["status"] == "failed", st
    assert time.time() - t0 < 2.9, "failed %.1f s after the send" % \
        (time.time() - t0)
    assert st["next_attempt"] is None
    assert "expired=max_queue_age" in s.stderr()
    r = s.send(simple(to=a), headers={"Idempotency-Key": a})
    again = assert_send_result(r, [a])
    assert again["permanent_bounces"] == [a] and again["queued"] == [], again


def test_restart_keeps_one_job_per_destination(make_server):
    """After a restart the pending recipients of one message and domain
    are still tried together."""
    s = make_server("regroup", send_wait_ms=0, retry_base_ms=20000,
                    retry_max_ms=20000).start()
    rc = [uniq("fail", "example.net") for _ in range(3)] + \
        [uniq("fail", "example.org")]
    res = assert_send_result(s.send(simple(to=rc)), rc)
    for a in rc:
        assert wait_status(s, res["message_id"], a, "deferred")["status"] \
            == "deferred"
    s.stop()
    s.start()
    assert "claimed 4 recipients in 2 jobs from the store" in s.stderr()
