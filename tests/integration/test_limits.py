"""
Rate limits and daily quotas (SPEC §8.4, §2.2) on every send: REST send
and send_raw and SMTP submission. A request over the account's token
bucket, or whose recipients would pass the daily quota, is refused
429/10004 with Retry-After, nothing queued; every send answer after auth
carries RateLimit-Limit/Remaining/Reset (the token bucket); the day's
count survives a restart; GET …/limits (SPEC §8.3) tells the quota and
today's usage. The suppression checks themselves are in test_suppressed.
"""
import datetime
import os
import smtplib
import sqlite3
import ssl
import time

from conftest import (assert_error, assert_human, assert_ok,
                      assert_send_result, simple)
from test_outcomes import uniq
from test_suppressed import bounced

RL = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def limit(s, **opts):
    args = ["account", "set", s.account]
    for k, v in opts.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    s.cli(*args, json_out=False)


def limits_of(s, token=None, account=None):
    return s.request("GET", s.apath("limits", account), token=token,
                     prefix=True)


def messages_of(s):
    db = sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"))
    try:
        return db.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        db.close()


def assert_429(r, *needles):
    assert_error(r, 10004)
    ra = r.headers.get("Retry-After")
    assert ra is not None and ra.strip().isdigit() and int(ra) >= 1, \
        "429 without a Retry-After in seconds: %r" % ra
    if needles:
        assert_human(r, *needles)
    return int(ra)


def rl(r):
    for h in RL:
        v = r.headers.get(h)
        assert v is not None and v.isdigit(), "%s: %r in %r" % (h, v, r)
    return tuple(int(r.headers[h]) for h in RL)


def test_rate_limit_429_then_ok_after_retry_after(make_server):
    s = make_server("lim-rate").start()
    limit(s, rate=1, burst=3)
    # the bucket starts full: three sends pass whatever the clock does
    for i in range(3):
        r = s.send(simple(to=uniq("r%d" % i)))
        assert_send_result(r)
        lim, rem, reset = rl(r)
        assert lim == 3 and rem <= 2 - i and reset >= 1, r.headers
    # one token a second: quick sends soon find the bucket empty
    for _ in range(10):
        r = s.send(simple(to=uniq("r")))
        if r.status == 429:
            break
        assert_send_result(r)
    ra = assert_429(r, "rate limit", "a second")
    lim, rem, reset = rl(r)
    assert lim == 3 and rem == 0 and reset >= ra, r.headers
    # send_raw shares the bucket
    r2 = s.send_raw({"from": "dev@example.com", "recipients": [uniq("raw")],
                     "mime_message": "From: dev@example.com\r\n"
                                     "Subject: x\r\n\r\nx\r\n"})
    if r2.status == 429:
        assert_429(r2)
        ra = int(r2.headers["Retry-After"])
    else:
        assert_send_result(r2)
    time.sleep(ra)
    r = s.send(simple(to=uniq("after")))
    assert_send_result(r)
    rl(r)


def test_refused_before_the_limit_step_costs_nothing(make_server):
    s = make_server("lim-early").start()
    limit(s, rate=1, burst=2)
    for _ in range(4):
        r = s.request("POST", s.apath("send"), b"{not json",
                      headers={"Content-Type": "application/json"},
                      prefix=True)
        assert_error(r, 10001)
        assert rl(r)[0] == 2, r.headers  # the headers on an error too
        r = s.send(simple(**{"from": "x@not-ours.example"}))
        assert_error(r, 10204)
        rl(r)
    # the bucket is still full: two sends pass
    for i in range(2):
        assert_send_result(s.send(simple(to=uniq("e%d" % i))))


def test_no_ratelimit_headers_when_unlimited(server):
    r = server.send(simple(to=uniq("u")))
    assert_send_result(r)
    for h in RL:
        assert r.headers.get(h) is None, r.headers


def test_daily_quota(make_server):
    s = make_server("lim-quota").start()
    res = assert_ok(limits_of(s))
    assert res == {"quota": None, "usage": None}, res  # dev: unlimited
    limit(s, daily_quota=3)
    res = assert_ok(limits_of(s))
    assert res["quota"] == {"unit": "day", "value": 3}, res
    assert res["usage"]["sent"] == 0 and res["usage"]["over_quota"] is False
    assert_send_result(s.send(simple(to=[uniq("q1"), uniq("q2")])))
    before = messages_of(s)
    r = s.send(simple(to=[uniq("q3"), uniq("q4")]))
    ra = assert_429(r, "daily quota", "3 recipients", "2 sent today")
    assert ra <= 24 * 3600, ra
    assert messages_of(s) == before, "a refused send was queued"
    assert assert_ok(limits_of(s))["usage"]["sent"] == 2
    # the whole request was refused: one recipient still fits
    assert_send_result(s.send_raw({
        "from": "dev@example.com", "recipients": [uniq("q3")],
        "mime_message": "From: dev@example.com\r\nSubject: q\r\n\r\nq\r\n"}))
    assert_429(s.send(simple(to=uniq("q5"))), "quota")
    res = assert_ok(limits_of(s))
    assert res["quota"] == {"unit": "day", "value": 3}, res
    u = res["usage"]
    assert u["sent"] == 3 and u["over_quota"] is True, res
    at = datetime.datetime.strptime(u["resets_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert (at.hour, at.minute, at.second) == (0, 0, 0), u
    # a higher quota applies at once (the snapshot), the count stays
    limit(s, daily_quota=5)
    assert_send_result(s.send(simple(to=[uniq("q6"), uniq("q7")])))
    assert assert_ok(limits_of(s))["usage"]["sent"] == 5


def test_quota_survives_a_restart(make_server):
    s = make_server("lim-restart").start()
    limit(s, daily_quota=10)
    assert_send_result(s.send(simple(to=[uniq("a"), uniq("b"), uniq("c"),
                                         uniq("d")])))
    assert s.stop() == 0
    s.start()
    assert assert_ok(limits_of(s))["usage"]["sent"] == 4
    assert_429(s.send(simple(to=[uniq("x%d" % i) for i in range(7)])))
    assert_send_result(s.send(simple(to=[uniq("y%d" % i)
                                         for i in range(6)])))
    assert assert_ok(limits_of(s))["usage"]["sent"] == 10


def usage_row(s):
    db = sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"))
    try:
        row = db.execute("SELECT sent FROM send_usage WHERE account_id = ?",
                         (s.account,)).fetchone()
        return row[0] if row else None
    finally:
        db.close()


def test_quota_survives_a_crash_once_written(make_server):
    s = make_server("lim-crash").start()
    limit(s, daily_quota=10)
    assert_send_result(s.send(simple(to=[uniq("a"), uniq("b")])))
    # written within about a second; then a SIGKILL loses nothing
    assert s.wait_for(lambda: usage_row(s) == 2, timeout=10) is True
    s.kill()
    s.start()
    assert assert_ok(limits_of(s))["usage"]["sent"] == 2


def test_dropped_and_refused_recipients_do_not_count(make_server):
    s = make_server("lim-supp").start()
    a = bounced(s)
    limit(s, daily_quota=2)
    # refused 10202: nothing counts
    assert_error(s.send(simple(to=[uniq("ok"), a])), 10202)
    assert assert_ok(limits_of(s))["usage"]["sent"] == 0
    s.cli("domain", "set", "example.com", "--drop-suppressed", "yes",
          json_out=False)
    res = assert_send_result(s.send(simple(to=[uniq("ok"), a])))
    assert res["suppressed_recipients"] == [a], res
    assert assert_ok(limits_of(s))["usage"]["sent"] == 1
    # one left, and the dropped one still costs nothing
    assert_send_result(s.send(simple(to=[uniq("ok2"), a])))
    assert assert_ok(limits_of(s))["usage"]["sent"] == 2
    assert_429(s.send(simple(to=uniq("ok3"))), "quota")


def test_limits_permissions(server):
    other = server.new_account(domain="lim-perm-%s.test" % uniq("d")
                               .split("@")[0][-6:])
    send_only = server.cli("token", "create", server.account, "--perm",
                           "send")["token"]
    read_only = server.cli("token", "create", server.account, "--perm",
                           "read")["token"]
    assert_error(limits_of(server, token=send_only), 10102)
    assert_ok(limits_of(server, token=read_only))
    # another account's token on this account, and on an unknown one
    assert_error(limits_of(server, token=other["token"]), 10102)
    assert_error(limits_of(server, token=other["token"],
                           account="f" * 32), 10102)
    r = server.request("GET", server.apath("limits"), prefix=True,
                       auth=False)
    assert_error(r, 10101)
    r = server.request("POST", server.apath("limits"), {}, prefix=True)
    assert r.status == 405, r


def smtp_conn(s):
    ctx = ssl.create_default_context(cafile=s.env["PIGEON_SMTP_CA"])
    c = smtplib.SMTP_SSL("127.0.0.1", s.smtp_ports["smtps_listen"],
                         context=ctx, timeout=20)
    c.login("api_token", s.token)
    return c


def smtp_msg(to):
    return ("From: dev@example.com\r\nTo: %s\r\nSubject: lim\r\n\r\nhi\r\n"
            % ", ".join(to)).encode()


def test_smtp_over_the_quota(make_server):
    s = make_server("lim-smtp").start()
    limit(s, daily_quota=2)
    c = smtp_conn(s)
    try:
        # three recipients pass RCPT; the end of DATA counts them
        to = [uniq("s1"), uniq("s2"), uniq("s3")]
        assert c.mail("dev@example.com")[0] == 250
        for a in to:
            assert c.rcpt(a)[0] == 250
        code, text = c.data(smtp_msg(to))
        assert code == 451 and text.startswith(b"4.7.0"), (code, text)
        assert b"quota" in text, text
        c.rset()
        assert messages_of(s) == 0
        c.sendmail("dev@example.com", to[:2], smtp_msg(to[:2]))
        # used up: told at MAIL
        code, text = c.mail("dev@example.com")
        assert code == 451 and text.startswith(b"4.7.0"), (code, text)
        assert b"quota" in text.lower(), text
    finally:
        c.close()
    assert assert_ok(limits_of(s))["usage"]["sent"] == 2


def test_smtp_over_the_rate(make_server):
    s = make_server("lim-smtp-rate").start()
    limit(s, rate=1, burst=1)
    c = smtp_conn(s)
    try:
        c.sendmail("dev@example.com", [uniq("t0")], smtp_msg([uniq("t0")]))
        for _ in range(10):
            code, text = c.mail("dev@example.com")
            if code != 250:
                break
            assert c.rcpt(uniq("t"))[0] == 250
            code, text = c.data(smtp_msg(["x@example.net"]))
            if code != 250:
                break
        assert code == 451 and text.startswith(b"4.7.0"), (code, text)
        assert b"rate limit" in text.lower(), text
    finally:
        c.close()
