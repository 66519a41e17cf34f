"""
SPEC §8.2: the sending domains of a zone over REST,
/zones/{zone_id}/email/sending/subdomains: create (with DKIM keys), list,
get, PATCH of the three switches, DELETE, and the DNS records — the same
rules and the same records as `pigeon domain`.  Auth as §2.3: GET needs
`read`, writes `manage`; a zone that is unknown or another account's is
403/10102.  A write is seen by the next send at once (§6.1: 10203 once
disabled, 10204 once deleted).  A deleted domain's queued mail still goes
out, signed as it was queued (docs/design.md, "Auth and domains").
"""
import json
import os
import re
import secrets
import sqlite3
import time
import urllib.parse

import pytest

from conftest import (SETTLE, assert_error, assert_human, assert_ok,
                      assert_send_result, parse, simple)

ID_RE = re.compile(r"^[0-9a-f]{32}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FIELDS = {"id", "tag", "name", "enabled", "dkim_selector",
          "return_path_domain", "drop_suppressed_recipients",
          "preview_enabled", "created", "modified"}


def zpath(zone, tail=""):
    return "/zones/%s/email/sending/subdomains%s" % (zone, tail)


def new_zone(server, perms="send,read,manage"):
    """A fresh account with one zone and a token; no sending domain."""
    t = server.new_account(perms=perms)
    t["zone_name"] = "z%s.test" % secrets.token_hex(4)
    t["zone"] = server.cli("zone", "create", t["account"],
                           t["zone_name"])["id"]
    return t


def create(server, t, name, **kw):
    return server.request("POST", zpath(t["zone"]), {"name": name},
                          token=t["token"], prefix=True, **kw)


def send_from(server, t, sender, **kw):
    return server.send(simple(**{"from": sender}), account=t["account"],
                       token=t["token"], **kw)


def msg_get(server, t, message_id, tail=""):
    mid = urllib.parse.quote(message_id, safe="")
    return server.request("GET", server.apath("messages/" + mid + tail,
                                              t["account"]),
                          token=t["token"], prefix=True)


def assert_domain(d, name):
    assert FIELDS <= set(d), d
    assert ID_RE.match(d["id"]) and d["tag"] == d["id"], d
    assert d["name"] == name, d
    assert d["dkim_selector"] == "pigeon", d
    assert d["return_path_domain"] == "bounces." + name, d
    for k in ("enabled", "drop_suppressed_recipients", "preview_enabled"):
        assert type(d[k]) is bool, d
    assert TIME_RE.match(d["created"]) and TIME_RE.match(d["modified"]), d


@pytest.fixture(scope="module")
def zone(server):
    return new_zone(server)


def test_create_get_list_dns(server, zone):
    name = "mail." + zone["zone_name"]
    d = assert_ok(create(server, zone, name))
    assert_domain(d, name)
    assert d["enabled"] is True and d["preview_enabled"] is True, d
    assert d["drop_suppressed_recipients"] is False, d
    got = assert_ok(server.request("GET", zpath(zone["zone"], "/" + d["id"]),
                                   token=zone["token"], prefix=True))
    assert got == d
    # the same route without the /client/v4 prefix
    lst = assert_ok(server.request("GET", zpath(zone["zone"]),
                                   token=zone["token"]))
    assert [x["id"] for x in lst] == [d["id"]], lst
    assert lst[0] == d
    # the records `pigeon domain dns` prints, in the same order
    dns = assert_ok(server.request(
        "GET", zpath(zone["zone"], "/%s/dns" % d["id"]),
        token=zone["token"], prefix=True))
    assert dns == server.cli("domain", "dns", name)
    kinds = {(r["type"], r["name"]) for r in dns}
    assert ("TXT", "pigeon._domainkey." + name) in kinds, dns
    assert ("TXT", "_dmarc." + name) in kinds, dns


def test_dns_records_with_a_full_hostname(make_server):
    """With a hostname that can be an MX target, the SPF and MX records
    of the return-path domain are there too (SPEC §6.2)."""
    s = make_server("subdom-dns", hostname="mx.pigeon.test").start()
    t = new_zone(s)
    name = "mail." + t["zone_name"]
    d = assert_ok(create(s, t, name))
    dns = assert_ok(s.request("GET", zpath(t["zone"], "/%s/dns" % d["id"]),
                              token=t["token"], prefix=True))
    assert dns == s.cli("domain", "dns", name)
    by = {(r["type"], r["name"]): r for r in dns}
    assert set(by) == {("TXT", "pigeon._domainkey." + name),
                       ("TXT", "bounces." + name), ("MX", "bounces." + name),
                       ("TXT", "_dmarc." + name)}, dns
    assert by[("MX", "bounces." + name)]["content"] == "mx.pigeon.test"
    assert by[("MX", "bounces." + name)]["priority"] == 10
    assert "a:mx.pigeon.test" in by[("TXT", "bounces." + name)]["content"]
    for r in dns:
        assert type(r["ttl"]) is int and r["ttl"] > 0, r
        assert ("priority" in r) == (r["type"] == "MX"), r


def test_a_new_domain_sends_at_once_and_signs(server):
    t = new_zone(server)
    name = t["zone_name"]       # the zone apex
    d = assert_ok(create(server, t, name))
    assert_domain(d, name)
    # no wait: the write refreshed the server's snapshot
    res = assert_send_result(send_from(server, t, "news@" + name))
    assert res["message_id"].endswith("@%s>" % name), res
    raw = msg_get(server, t, res["message_id"]).raw
    sig = parse(raw)["DKIM-Signature"]
    assert "d=%s" % name in sig.replace(" ", ""), sig


def test_create_again_returns_it_and_reenables(server):
    t = new_zone(server)
    name = "again." + t["zone_name"]
    d = assert_ok(create(server, t, name))
    assert assert_ok(create(server, t, name))["id"] == d["id"]
    off = assert_ok(server.request(
        "PATCH", zpath(t["zone"], "/" + d["id"]), {"enabled": False},
        token=t["token"], prefix=True))
    assert off["enabled"] is False
    again = assert_ok(create(server, t, name))
    assert again["id"] == d["id"] and again["enabled"] is True, again
    assert_send_result(send_from(server, t, "a@" + name))


@pytest.mark.parametrize("body,pointer,needle", [
    ({}, "/name", "required"),
    ({"name": None}, "/name", "required"),
    ({"name": 7}, "/name", "string"),
    ({"name": ["a.test"]}, "/name", "string"),
    ({"name": "not a domain"}, "/name", "not a domain name"),
    ({"name": "nodot"}, "/name", "not a domain name"),
    ({"name": "a.example.com\u0000.x"}, "/name", "not a domain name"),
    ({"name": "a" * 300 + ".test"}, "/name", "not a domain name"),
    ({"name": "mail.elsewhere.test"}, "/name", "not in zone"),
])
def test_create_bad_name(server, zone, body, pointer, needle):
    r = server.request("POST", zpath(zone["zone"]), body,
                       token=zone["token"], prefix=True)
    assert_error(r, 10001, pointer)
    assert_human(r, needle)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'"name"', b"\xff"])
def test_create_body_not_an_object(server, zone, raw):
    r = server.request("POST", zpath(zone["zone"]), raw,
                       token=zone["token"], prefix=True,
                       headers={"Content-Type": "application/json"})
    assert_error(r, 10001)


def test_create_without_content_length(server, zone):
    r = server.request("POST", zpath(zone["zone"]), None,
                       token=zone["token"], prefix=True,
                       headers={"Transfer-Encoding": "chunked"})
    assert r.status == 400 and r.json["errors"][0]["code"] in (10001,
                                                               10201), r


def test_name_of_another_zone_is_a_conflict(server):
    # zone b.<x> of one account, and the name c.b.<x> taken under zone <x>
    a = new_zone(server)
    inner = "b." + a["zone_name"]
    b = server.new_account()
    b["zone"] = server.cli("zone", "create", b["account"], inner)["id"]
    assert_ok(create(server, a, "c." + inner))
    r = create(server, b, "c." + inner)
    assert r.status == 409 and r.json["errors"][0]["code"] == 10001, r
    assert r.json["errors"][0]["source"]["pointer"] == "/name", r
    assert_human(r, "another zone")


def test_patch_each_switch(server, zone):
    d = assert_ok(create(server, zone, "patch." + zone["zone_name"]))
    p = zpath(zone["zone"], "/" + d["id"])
    for field in ("preview_enabled", "drop_suppressed_recipients",
                  "enabled"):
        was = d[field]
        e = assert_ok(server.request("PATCH", p, {field: not was},
                                     token=zone["token"], prefix=True))
        assert e[field] is (not was), e
        for k in FIELDS - {field, "modified"}:
            assert e[k] == d[k], (k, e, d)
        assert assert_ok(server.request("GET", p, token=zone["token"],
                                        prefix=True)) == e
        d = e
    # all three at once, and {} changes nothing
    e = assert_ok(server.request(
        "PATCH", p, {"preview_enabled": True, "enabled": True,
                     "drop_suppressed_recipients": False},
        token=zone["token"], prefix=True))
    assert (e["preview_enabled"], e["enabled"],
            e["drop_suppressed_recipients"]) == (True, True, False)
    same = assert_ok(server.request("PATCH", p, {}, token=zone["token"],
                                    prefix=True))
    assert {k: v for k, v in same.items() if k != "modified"} == \
        {k: v for k, v in e.items() if k != "modified"}


@pytest.mark.parametrize("body,pointer,needle", [
    ({"name": "x.test"}, "/name", "'name' cannot be changed"),
    ({"dkim_selector": "s2"}, "/dkim_selector", "dkim_selector"),
    ({"enabled": True, "tag": "x"}, "/tag", "'tag'"),
    ({"a/b~c": 1}, "/a~1b~0c", "a/b~c"),
    ({"enabled": "false"}, "/enabled", "true or false"),
    ({"enabled": 0}, "/enabled", "true or false"),
    ({"preview_enabled": None}, "/preview_enabled", "true or false"),
    ({"drop_suppressed_recipients": []}, "/drop_suppressed_recipients",
     "true or false"),
])
def test_patch_bad_fields(server, zone, body, pointer, needle):
    d = assert_ok(create(server, zone, "bad." + zone["zone_name"]))
    p = zpath(zone["zone"], "/" + d["id"])
    r = server.request("PATCH", p, body, token=zone["token"], prefix=True)
    assert_error(r, 10001, pointer)
    assert_human(r, needle)
    # nothing changed
    assert assert_ok(server.request("GET", p, token=zone["token"],
                                    prefix=True)) == d


def test_disable_then_send_is_refused_at_once(server):
    t = new_zone(server)
    name = "off." + t["zone_name"]
    d = assert_ok(create(server, t, name))
    p = zpath(t["zone"], "/" + d["id"])
    assert_send_result(send_from(server, t, "a@" + name))
    assert_ok(server.request("PATCH", p, {"enabled": False},
                             token=t["token"], prefix=True))
    assert_error(send_from(server, t, "a@" + name), 10203)
    assert_ok(server.request("PATCH", p, {"enabled": True},
                             token=t["token"], prefix=True))
    assert_send_result(send_from(server, t, "a@" + name))


def test_delete_then_send_is_refused_at_once(server):
    t = new_zone(server)
    name = "gone." + t["zone_name"]
    d = assert_ok(create(server, t, name))
    p = zpath(t["zone"], "/" + d["id"])
    assert_send_result(send_from(server, t, "a@" + name))
    r = assert_ok(server.request("DELETE", p, token=t["token"],
                                 prefix=True))
    assert r == {"id": d["id"], "tag": d["id"]}
    assert_error(send_from(server, t, "a@" + name), 10204)
    for path in (p, p + "/dns"):
        r = server.request("GET", path, token=t["token"], prefix=True)
        assert_error(r, 10000)
    for method, body in (("PATCH", {"enabled": True}), ("DELETE", None)):
        assert_error(server.request(method, p, body, token=t["token"],
                                    prefix=True), 10000)
    assert assert_ok(server.request("GET", zpath(t["zone"]),
                                    token=t["token"], prefix=True)) == []
    # the CLI no longer knows the name, and the name can be onboarded
    # again: a new domain with new keys
    p2 = server.cli("domain", "dns", name, json_out=False, check=False)
    assert p2.returncode == 1 and b"no sending domain" in p2.stderr
    d2 = assert_ok(create(server, t, name))
    assert d2["id"] != d["id"] and d2["enabled"] is True
    assert_send_result(send_from(server, t, "a@" + name))


def test_delete_keeps_queued_mail_going(make_server):
    """A recipient still deferred when its domain is deleted is delivered
    by its next attempt, with the message as it was signed; its status
    and raw form stay readable."""
    s = make_server("subdom-queued", retry_base_ms=3000, retry_max_ms=3000,
                    capture_defer_attempts=1, send_wait_ms=2000).start()
    t = new_zone(s)
    name = "q." + t["zone_name"]
    d = assert_ok(create(s, t, name))
    rcpt = "defer-%s@example.net" % secrets.token_hex(3)
    res = assert_send_result(s.send(
        simple(**{"from": "a@" + name, "to": rcpt}),
        account=t["account"], token=t["token"]), [rcpt])
    assert res["queued"] == [rcpt], res
    assert_ok(s.request("DELETE", zpath(t["zone"], "/" + d["id"]),
                        token=t["token"], prefix=True))
    # deleted while its next attempt is ahead (retry_base_ms 3 s)
    st = msg_get(s, t, res["message_id"], "/status").json["result"]
    assert [(r["status"], r["attempts"]) for r in st["recipients"]] == \
        [("deferred", 1)], st
    assert_error(s.send(simple(**{"from": "a@" + name}),
                        account=t["account"], token=t["token"]), 10204)

    def delivered():
        r = msg_get(s, t, res["message_id"], "/status")
        st = r.json["result"]["recipients"][0]
        return st if st["status"] == "delivered" else None
    st = s.wait_for(delivered, timeout=20)
    assert st, msg_get(s, t, res["message_id"], "/status")
    assert st["attempts"] == 2, st
    raw = msg_get(s, t, res["message_id"]).raw
    assert raw.startswith(b"DKIM-Signature:"), raw[:200]
    sig = parse(raw)["DKIM-Signature"].replace(" ", "")
    assert "d=%s;" % name in sig and "s=pigeon;" in sig, sig
    # its delivery event (SPEC §6.5) still names the deleted domain
    db = sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"), timeout=10)
    try:
        rows = db.execute("SELECT type, payload FROM events WHERE "
                          "message_id = ? ORDER BY id",
                          (res["message_id"],)).fetchall()
    finally:
        db.close()
    assert [r[0].rsplit(".", 1)[1] for r in rows] == \
        ["deferred", "delivered"], rows
    for r in rows:
        assert json.loads(r[1])["source"]["domain"] == name, r


def test_cli_domain_delete(server):
    t = new_zone(server)
    name = "cli." + t["zone_name"]
    d = assert_ok(create(server, t, name))
    out = server.cli("domain", "delete", name)
    assert out == {"id": d["id"], "name": name}
    time.sleep(SETTLE)  # the server's auth cache (auth_cache_ms)
    assert_error(server.request("GET", zpath(t["zone"], "/" + d["id"]),
                                token=t["token"], prefix=True), 10000)
    assert_error(send_from(server, t, "a@" + name), 10204)
    p = server.cli("domain", "delete", name, json_out=False, check=False)
    assert p.returncode == 1, p
    assert p.stderr.startswith(b"pigeon: ") and b"no sending domain" in \
        p.stderr, p.stderr
    p = server.cli("domain", "delete", "not a name", json_out=False,
                   check=False)
    assert p.returncode == 2 and p.stderr.startswith(b"pigeon: "), p
    # human form
    name2 = "cli2." + t["zone_name"]
    assert_ok(create(server, t, name2))
    p = server.cli("domain", "delete", name2, json_out=False)
    assert b"deleted sending domain" in p.stdout and name2.encode() in \
        p.stdout, p.stdout


def test_permissions(server, zone):
    d = assert_ok(create(server, zone, "perm." + zone["zone_name"]))
    base = zpath(zone["zone"])
    one = base + "/" + d["id"]
    acct = zone["account"]
    ro = server.cli("token", "create", acct, "--perm", "read")["token"]
    so = server.cli("token", "create", acct, "--perm", "send")["token"]
    mo = server.cli("token", "create", acct, "--perm", "manage")["token"]
    other = server.new_account()["token"]
    reads = [("GET", base, None), ("GET", one, None),
             ("GET", one + "/dns", None)]
    writes = [("POST", base, {"name": "perm2." + zone["zone_name"]}),
              ("PATCH", one, {"enabled": True}), ("DELETE", one, None)]
    for m, p, b in reads:
        assert_ok(server.request(m, p, b, token=ro, prefix=True))
        for tok in (so, mo, other):
            assert_error(server.request(m, p, b, token=tok, prefix=True),
                         10102)
    for m, p, b in writes:
        for tok in (ro, so, other, server.token):
            r = server.request(m, p, b, token=tok, prefix=True)
            assert_error(r, 10102)
    # nothing was written by the refused requests
    lst = assert_ok(server.request("GET", base, token=ro, prefix=True))
    assert [x["id"] for x in lst if x["id"] == d["id"]] == [d["id"]]
    assert "perm2." + zone["zone_name"] not in [x["name"] for x in lst]
    assert_error(server.request("GET", one, auth=False, prefix=True), 10101)


def test_unknown_zone_is_forbidden_like_another_accounts(server, zone):
    for z in ("0" * 32, "not-hex", secrets.token_hex(16)):
        for m, tail, b in (("GET", "", None), ("POST", "", {"name": "x.y"}),
                           ("GET", "/" + "a" * 32, None)):
            r = server.request(m, zpath(z, tail), b, token=zone["token"],
                               prefix=True)
            assert_error(r, 10102)
    # the dev account's zone, seen by another account's token
    dev_zone = server.cli("zone", "list", server.account)[0]["id"]
    r = server.request("GET", zpath(dev_zone), token=zone["token"],
                       prefix=True)
    assert_error(r, 10102)


def test_unknown_or_foreign_subdomain_is_404(server):
    t = new_zone(server)
    z2 = server.cli("zone", "create", t["account"],
                    "y%s.test" % secrets.token_hex(4))["id"]
    d = assert_ok(create(server, t, t["zone_name"]))
    for zone_id, sid in ((t["zone"], "0" * 32), (t["zone"], "nothex"),
                         (t["zone"], d["id"] + "0"), (z2, d["id"])):
        for m, tail, b in (("GET", "", None), ("GET", "/dns", None),
                           ("PATCH", "", {"enabled": False}),
                           ("DELETE", "", None)):
            r = server.request(m, zpath(zone_id, "/%s%s" % (sid, tail)), b,
                               token=t["token"], prefix=True)
            assert_error(r, 10000)
            assert_human(r, "no such sending subdomain")
    assert assert_ok(server.request(
        "GET", zpath(t["zone"], "/" + d["id"]), token=t["token"],
        prefix=True))["enabled"] is True


def test_other_methods_are_405(server, zone):
    r = server.request("PUT", zpath(zone["zone"]), {}, token=zone["token"],
                       prefix=True)
    assert_error_405 = r.status == 405 and r.json["errors"][0]["code"] == \
        10003
    assert assert_error_405, r
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= \
        {"GET", "POST"}, r.headers


@pytest.fixture
def locked_server(make_server):
    s = make_server("subdom-down")
    s.start()
    return s


def test_store_down_writes_are_503_and_nothing_written(locked_server):
    s = locked_server
    t = new_zone(s)
    d = assert_ok(create(s, t, "x." + t["zone_name"]))
    one = zpath(t["zone"], "/" + d["id"])
    db = sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"), timeout=10,
                         isolation_level=None)
    try:
        db.execute("BEGIN EXCLUSIVE")
        for m, p, b in (("POST", zpath(t["zone"]),
                         {"name": "y." + t["zone_name"]}),
                        ("PATCH", one, {"enabled": False}),
                        ("DELETE", one, None)):
            r = s.request(m, p, b, token=t["token"], prefix=True,
                          timeout=20)
            assert r.status == 503, r
            assert r.json["errors"][0]["code"] == 10002, r
            assert r.headers.get("Retry-After", "").isdigit(), r.headers
        db.execute("ROLLBACK")
    finally:
        db.close()
    lst = assert_ok(s.request("GET", zpath(t["zone"]), token=t["token"],
                              prefix=True))
    assert lst == [d], lst
