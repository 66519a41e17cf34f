"""
The remaining §2.2 rows a send can produce: 429/10004 (§8.4 rate limit and
daily quota) and 10202 for a suppressed recipient (§8.1), plus the
drop_suppressed_recipients variant that lists it in suppressed_recipients.
"""
import secrets

import pytest

from conftest import assert_error, assert_ok, assert_send_result, simple

# Rate limits, quotas and suppressions (SPEC §8.1, §8.4) come with the
# management endpoints; until then these tests document the contract.
pytestmark = pytest.mark.skip(reason="not built yet: SPEC §8.1/§8.4 management issue")


def fresh(server, **acct_opts):
    dom = "lim-%s.test" % secrets.token_hex(3)
    a = server.new_account(domain=dom)
    if acct_opts:
        args = ["account", "set", a["account"]]
        for k, v in acct_opts.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        server.cli(*args, json_out=False)
    a["from"] = "x@" + dom
    a["dom"] = dom
    return a


def send_as(server, a, **kw):
    return server.send(simple(**dict({"from": a["from"]}, **kw)),
                       token=a["token"], account=a["account"])


def assert_429(r):
    assert_error(r, 10004)
    ra = r.headers.get("Retry-After")
    assert ra is not None and ra.strip().isdigit() and int(ra) >= 1, \
        "429 without a Retry-After in seconds: %r" % ra
    for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert r.headers.get(h) is not None, "missing %s" % h


def test_rate_limit_10004(server):
    a = fresh(server, rate=1, burst=2)
    got = [send_as(server, a) for _ in range(4)]
    ok = [r for r in got if r.status == 200]
    limited = [r for r in got if r.status == 429]
    assert len(ok) == 2 and len(limited) == 2, [r.status for r in got]
    assert_429(limited[0])
    # send_raw shares the bucket
    r = server.send_raw({"from": a["from"], "recipients": ["a@example.net"],
                         "mime_message": "From: %s\r\n\r\nx" % a["from"]},
                        token=a["token"], account=a["account"])
    assert_429(r)


def test_daily_quota_counts_recipients(server):
    a = fresh(server, daily_quota=3)
    assert_send_result(send_as(server, a, to=["q1@example.net",
                                              "q2@example.net"]))
    r = send_as(server, a, to=["q3@example.net", "q4@example.net"])
    assert_429(r)
    assert_send_result(send_as(server, a, to="q3@example.net"))
    assert_429(send_as(server, a, to="q5@example.net"))
    lim = assert_ok(server.request(
        "GET", server.apath("limits", a["account"]), token=a["token"],
        prefix=True))
    assert lim["quota"] == {"unit": "day", "value": 3}, lim
    assert lim["usage"]["sent"] == 3, lim


def suppress(server, a, email, scope=None):
    body = {"email": email}
    if scope:
        body["scope"] = scope
    r = server.request("POST", server.apath("suppressions", a["account"]),
                       body, token=a["token"], prefix=True)
    res = assert_ok(r)
    assert "id" in res and "scope" in res, res
    return res


def test_suppressed_recipient_10202(server):
    a = fresh(server)
    bad = "gone-%s@example.net" % secrets.token_hex(3)
    suppress(server, a, bad)
    r = send_as(server, a, to=["ok@example.net", bad])
    assert_error(r, 10202)
    assert bad in str(r.json), r
    # the check is on the de-duplicated set: case of the domain ignored
    r = send_as(server, a, cc=bad.replace("example.net", "EXAMPLE.NET"))
    assert_error(r, 10202)


def test_suppression_scoped_to_other_domain_does_not_apply(server):
    a = fresh(server)
    bad = "scoped-%s@example.net" % secrets.token_hex(3)
    suppress(server, a, bad, {"type": "sending_domain",
                              "value": "other.example"})
    assert_send_result(send_as(server, a, to=bad))
    suppress(server, a, bad, {"type": "sending_domain", "value": a["dom"]})
    assert_error(send_as(server, a, to=bad), 10202)


def test_drop_suppressed_recipients(server):
    a = fresh(server)
    server.cli("domain", "set", a["dom"], "--drop-suppressed", "true",
               json_out=False)
    bad = "drop-%s@example.net" % secrets.token_hex(3)
    suppress(server, a, bad)
    r = send_as(server, a, to=["keep@example.net", bad])
    res = assert_send_result(r, ["keep@example.net", bad])
    assert res["suppressed_recipients"] == [bad], res
    assert res["delivered"] == ["keep@example.net"], res
    # all suppressed: still a 200, nothing to deliver
    r = send_as(server, a, to=bad)
    res = assert_send_result(r, [bad])
    assert res["suppressed_recipients"] == [bad]
