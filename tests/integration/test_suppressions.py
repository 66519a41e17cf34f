"""
The suppression list managed over REST and the CLI (SPEC §8.1, §9):
create (idempotent), list with each filter and cursor pages, get, edit,
delete, bulk; read_only (policy) entries; what a created entry does to a
send (refused 400/10202, or dropped and listed when the domain drops
suppressed recipients) and what an expired one does (nothing); the
permissions, bad input and the store down.
"""
import datetime
import os
import sqlite3
import time
import urllib.parse

import pytest

import conftest
from conftest import (assert_error, assert_human, assert_ok,
                      assert_send_result, simple, start_server)
from test_outcomes import uniq
from test_store_down import store_locked

ENTRY_KEYS = {"id", "email", "reason", "created_at", "expires_at",
              "read_only", "note", "scope"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_server(tmp_path_factory, "suppressions")
    conftest._live.append(s)
    yield s
    conftest._finish(s)


def spath(s, tail="", account=None):
    return s.apath("suppressions" + tail, account)


def create(s, body, **kw):
    return s.request("POST", spath(s), body, prefix=True, **kw)


def listing(s, token=None, account=None, **q):
    qs = "?" + urllib.parse.urlencode(q) if q else ""
    return s.request("GET", spath(s, qs, account), prefix=True, token=token)


def entries(s, **q):
    """Every entry matching q, through the pages."""
    out, cursor = [], None
    for _ in range(100):
        if cursor:
            q["cursor"] = cursor
        r = listing(s, **q)
        res = assert_ok(r)
        out += res
        cursor = r.json["result_info"]["cursor"]
        if not cursor:
            return out
    raise AssertionError("more than 100 pages")


def rfc3339(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def db(s):
    return sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"))


def check_entry(e):
    assert set(e) == ENTRY_KEYS, e
    assert isinstance(e["id"], str) and len(e["id"]) == 32, e
    assert e["created_at"].endswith("Z") and "T" in e["created_at"], e
    assert e["scope"]["type"] in ("account", "sending_domain"), e
    return e


def test_create_is_idempotent_and_get_shows_it(srv):
    a = uniq("make")
    r = create(srv, {"email": a, "note": "asked by phone"})
    res = assert_ok(r)
    assert set(res) == {"id", "scope"}, res
    assert res["scope"] == {"type": "account"}, res
    again = assert_ok(create(srv, {"email": a, "note": "other note"}))
    assert again == res, (again, res)
    e = check_entry(assert_ok(srv.request("GET", spath(srv, "/" + res["id"]),
                                          prefix=True)))
    assert e["email"] == a and e["reason"] == "manual", e
    assert e["note"] == "asked by phone", e  # the first one, as is
    assert e["expires_at"] is None and e["read_only"] is False, e
    # the same address for one sending domain is another entry
    d = assert_ok(create(srv, {"email": a, "scope": {
        "type": "sending_domain", "value": "Example.COM."}}))
    assert d["id"] != res["id"], d
    assert d["scope"] == {"type": "sending_domain",
                          "value": "example.com"}, d


def test_address_stored_as_a_send_looks_it_up(srv):
    # the domain is folded and IDNs become A-labels; the local part stays
    r = create(srv, {"email": "Ann.Lee@B\u00fccher.Example"})
    e = assert_ok(srv.request("GET", spath(srv, "/" + assert_ok(r)["id"]),
                              prefix=True))
    assert e["email"] == "Ann.Lee@xn--bcher-kva.example", e
    assert_error(srv.send(simple(to="Ann.Lee@b\u00fccher.example")), 10202)


def test_created_entry_refuses_a_send(srv):
    a = uniq("refuse")
    ok = uniq("fine")
    assert_send_result(srv.send(simple(to=[a])), [a])
    assert_ok(create(srv, {"email": a}))
    r = srv.send(simple(to=[ok, a]))
    assert_error(r, 10202)
    assert_human(r, a, "suppression list", "manual")
    # a sending_domain entry: sends from that domain only
    b = uniq("one-domain")
    zone = srv.cli("zone", "create", srv.account, "supp-second.example")
    srv.cli("domain", "create", zone["id"], "supp-second.example")
    assert_ok(create(srv, {"email": b, "scope": {
        "type": "sending_domain", "value": "supp-second.example"}}))
    assert_send_result(srv.send(simple(to=[b])), [b])
    r = srv.send(simple(to=[b], **{"from": "news@supp-second.example"}))
    assert_error(r, 10202)
    assert_human(r, b)


def test_delete_lets_the_send_through(srv):
    a = uniq("gone")
    res = assert_ok(create(srv, {"email": a}))
    assert_error(srv.send(simple(to=a)), 10202)
    r = srv.request("DELETE", spath(srv, "/" + res["id"]), prefix=True)
    assert assert_ok(r) == {"id": res["id"], "scope": {"type": "account"}}
    assert_send_result(srv.send(simple(to=a)), [a])
    r = srv.request("GET", spath(srv, "/" + res["id"]), prefix=True)
    assert_error(r, 10000)
    r = srv.request("DELETE", spath(srv, "/" + res["id"]), prefix=True)
    assert_error(r, 10000)


def test_patch_expiry_and_note(srv):
    a = uniq("patch")
    res = assert_ok(create(srv, {"email": a, "note": "x"}))
    when = rfc3339(86400)
    r = srv.request("PATCH", spath(srv, "/" + res["id"]),
                    {"expires_at": when, "note": "changed"}, prefix=True)
    e = check_entry(assert_ok(r))
    assert e["expires_at"] == when and e["note"] == "changed", e
    # null: never expires; "": no note; an absent field stays
    r = srv.request("PATCH", spath(srv, "/" + res["id"]),
                    {"expires_at": None}, prefix=True)
    e = assert_ok(r)
    assert e["expires_at"] is None and e["note"] == "changed", e
    e = assert_ok(srv.request("PATCH", spath(srv, "/" + res["id"]),
                              {"note": ""}, prefix=True))
    assert e["note"] is None, e


@pytest.mark.parametrize("body,pointer,needle", [
    ({"scope": {"type": "account"}}, "/scope", "immutable"),
    ({"email": "x@example.net"}, "/email", "immutable"),
    ({"reason": "policy"}, "/reason", "only expires_at and note"),
    ({"expires_at": 5}, "/expires_at", "RFC 3339"),
    ({"expires_at": "tomorrow"}, "/expires_at", "RFC 3339"),
    ({"expires_at": "2001-01-01T00:00:00Z"}, "/expires_at", "past"),
    ({"note": ["x"]}, "/note", "string"),
])
def test_patch_refuses(srv, body, pointer, needle):
    res = assert_ok(create(srv, {"email": uniq("patch-bad")}))
    r = srv.request("PATCH", spath(srv, "/" + res["id"]), body, prefix=True)
    assert_error(r, 10001, pointer)
    assert_human(r, needle)


def test_unknown_ids_are_not_found(srv):
    for tail in ("/" + "0" * 32, "/not-an-id", "/bulk"):
        for m in ("GET", "DELETE"):
            r = srv.request(m, spath(srv, tail), prefix=True)
            assert_error(r, 10000)
        r = srv.request("PATCH", spath(srv, tail), {"note": "n"},
                        prefix=True)
        assert_error(r, 10000)


def test_list_filters(srv):
    tag = "flt" + os.urandom(3).hex()
    a = "%s-a@example.net" % tag
    b = "%s-b@example.org" % tag
    c = "%s-c@example.net" % tag
    for body in ({"email": a},
                 {"email": b, "scope": {"type": "sending_domain",
                                        "value": "example.com"}},
                 {"email": c}):
        assert_ok(create(srv, body))
    # a hard bounce, as the delivery path writes it
    h = "%s-h@example.net" % tag
    con = db(srv)
    con.execute("INSERT INTO suppressions (id, account_id, email, reason, "
                "scope_type, scope_value, created, expires_at) VALUES "
                "(?, ?, ?, 'hard_bounce', 'sending_domain', 'example.com', "
                "?, ?)", (os.urandom(16).hex(), srv.account, h,
                          int(time.time() * 1000),
                          int(time.time() * 1000) + 86400000))
    con.commit()
    con.close()

    def emails(**q):
        q.setdefault("search", tag)
        return sorted(e["email"] for e in entries(srv, **q))

    assert emails() == sorted([a, b, c, h])
    assert [check_entry(e)["email"] for e in entries(srv, email=a)] == [a]
    # search is a substring, in any case
    assert emails(search=tag.upper()) == sorted([a, b, c, h])
    assert [e["email"] for e in entries(srv, search=tag + "-B@")] == [b]
    assert emails(reason="hard_bounce") == [h]
    assert emails(reason="manual") == sorted([a, b, c])
    assert emails(scope_type="account") == sorted([a, c])
    assert emails(scope_type="sending_domain") == sorted([b, h])
    assert emails(scope_type="sending_domain",
                  scope_value="example.com") == sorted([b, h])
    assert emails(scope_value="other.example") == []
    e = entries(srv, email=h)[0]
    assert e["reason"] == "hard_bounce" and e["expires_at"], e
    assert e["scope"] == {"type": "sending_domain", "value": "example.com"}


@pytest.mark.parametrize("query,needle", [
    ({"per_page": "0"}, "per_page"),
    ({"per_page": "1001"}, "per_page"),
    ({"per_page": "ten"}, "per_page"),
    ({"cursor": "zzz"}, "cursor"),
    ({"reason": "bored"}, "reason"),
    ({"scope_type": "zone"}, "scope_type"),
    ({"scope_type": "account", "scope_value": "example.com"}, "scope_value"),
])
def test_list_refuses(srv, query, needle):
    r = listing(srv, **query)
    assert_error(r, 10001)
    assert_human(r, needle)


def test_list_pages(srv):
    tag = "pg" + os.urandom(3).hex()
    want = ["%s-%02d@example.net" % (tag, i) for i in range(25)]
    r = srv.request("POST", spath(srv, "/bulk"),
                    {"items": [{"email": a} for a in want]}, prefix=True)
    assert assert_ok(r)["processed"] == 25
    seen, cursor, pages = [], None, 0
    for _ in range(10):
        q = {"search": tag, "per_page": "10"}
        if cursor:
            q["cursor"] = cursor
        r = listing(srv, **q)
        res = assert_ok(r)
        info = r.json["result_info"]
        assert info["per_page"] == 10 and info["count"] == len(res), info
        pages += 1
        seen += [e["email"] for e in res]
        cursor = info["cursor"]
        if cursor is None:
            break
        assert len(res) == 10, info
    assert pages == 3, pages
    assert len(seen) == 25 and sorted(seen) == sorted(want), seen
    # the default page is 100
    assert listing(srv, search=tag).json["result_info"]["per_page"] == 100


def test_bulk(srv):
    have = uniq("bulk-have")
    assert_ok(create(srv, {"email": have}))
    a, b = uniq("bulk-a"), uniq("bulk-b")
    items = [
        {"email": a, "note": "n"},                    # 0 processed
        {"email": "not an address"},                  # 1 invalid
        {"email": a},                                 # 2 duplicate of 0
        {"email": have},                              # 3 skipped
        {"email": b, "scope": {"type": "sending_domain",
                               "value": "example.com"}},   # 4 processed
        {"email": b},                                 # 5 processed (account)
        5,                                            # 6 invalid
        {"email": b, "scope": {"type": "sending_domain",
                               "value": "nope.example"}},  # 7 invalid
        {"email": uniq("past"), "expires_at": "2000-01-01T00:00:00Z"},
        {"email": a.upper().replace("EXAMPLE.NET", "Example.net")},
    ]
    r = srv.request("POST", spath(srv, "/bulk"), {"items": items},
                    prefix=True)
    res = assert_ok(r)
    assert res["total"] == 10, res
    assert res["processed"] == 4 and res["invalid"] == 4, res
    assert res["skipped"] == 1 and res["deduplicated"] == 1, res
    assert res["errors"] == 0, res
    by = {it["index"]: it for it in res["items"]}
    assert sorted(by) == [0, 1, 3, 4, 5, 6, 7, 8, 9], by  # not the dup
    assert by[0]["status"] == "processed" and len(by[0]["id"]) == 32
    assert by[0]["email"] == a
    assert by[1]["status"] == "invalid", by[1]
    assert "'not an address'" in by[1]["error"], by[1]
    assert by[3]["status"] == "skipped" and by[3]["id"], by[3]
    assert by[4]["scope"] == {"type": "sending_domain",
                              "value": "example.com"}, by[4]
    assert by[5]["id"] != by[4]["id"], by
    assert by[6]["status"] == "invalid" and "object" in by[6]["error"]
    assert "not a sending domain" in by[7]["error"], by[7]
    assert "past" in by[8]["error"], by[8]
    assert by[9]["status"] == "processed", by[9]  # another local part
    got = entries(srv, email=a)
    assert len(got) == 1 and got[0]["note"] == "n", got
    assert_error(srv.send(simple(to=a)), 10202)


@pytest.mark.parametrize("body,needle", [
    ({"items": [{"email": "x%d@example.net" % i} for i in range(1001)]},
     "at most 1000"),
    ({"items": "a@b.example"}, "array"),
    ({"things": []}, "array"),
])
def test_bulk_refuses(srv, body, needle):
    r = srv.request("POST", spath(srv, "/bulk"), body, prefix=True)
    assert_error(r, 10001, "/items")
    assert_human(r, needle)


def test_bulk_far_too_many_items(srv):
    r = srv.request("POST", spath(srv, "/bulk"),
                    '{"items":[' + ",".join(["{}"] * 5000) + "]}",
                    prefix=True)
    assert_error(r, 10001)


@pytest.mark.parametrize("body,pointer,code", [
    ({}, "/email", 10001),
    ({"email": 5}, "/email", 10001),
    ({"email": "Bob <bob@example.net>"}, "/email", 10001),
    ({"email": "bob@@example.net"}, "/email", 10202),
    ({"email": "bob@example.net", "expires_at": 5}, "/expires_at", 10001),
    ({"email": "bob@example.net", "expires_at": "2001-01-01T00:00:00Z"},
     "/expires_at", 10001),
    ({"email": "bob@example.net", "note": 5}, "/note", 10001),
    ({"email": "bob@example.net", "note": "x" * 1025}, "/note", 10001),
    ({"email": "bob@example.net", "scope": "account"}, "/scope", 10001),
    ({"email": "bob@example.net", "scope": {"type": "zone"}},
     "/scope/type", 10001),
    ({"email": "bob@example.net", "scope": {"type": "sending_domain"}},
     "/scope/value", 10001),
    ({"email": "bob@example.net",
      "scope": {"type": "sending_domain", "value": "nope.example"}},
     "/scope/value", 10001),
    ({"email": "bob@example.net",
      "scope": {"type": "account", "value": "example.com"}},
     "/scope/value", 10001),
])
def test_create_refuses(srv, body, pointer, code):
    r = create(srv, body)
    assert_error(r, code, pointer)
    assert_human(r)


def test_create_refuses_a_domain_of_another_account(srv):
    other = srv.new_account(domain="supp-theirs.example")
    assert other
    r = create(srv, {"email": uniq("x"), "scope": {
        "type": "sending_domain", "value": "supp-theirs.example"}})
    assert_error(r, 10001, "/scope/value")
    assert_human(r, "not a sending domain of this account")


@pytest.mark.parametrize("raw", ["", "{", "[]", '"x"', "{} {}"])
def test_create_refuses_bad_json(srv, raw):
    r = create(srv, raw)
    assert_error(r, 10001)


def test_read_only_entries(srv):
    a = uniq("policy")
    sid = os.urandom(16).hex()
    con = db(srv)
    con.execute("INSERT INTO suppressions (id, account_id, email, reason, "
                "scope_type, created, read_only) VALUES "
                "(?, ?, ?, 'policy', 'account', ?, 1)",
                (sid, srv.account, a, int(time.time() * 1000)))
    con.commit()
    con.close()
    e = assert_ok(srv.request("GET", spath(srv, "/" + sid), prefix=True))
    assert e["read_only"] is True and e["reason"] == "policy", e
    for m, body in (("PATCH", {"note": "mine"}), ("DELETE", None)):
        r = srv.request(m, spath(srv, "/" + sid), body, prefix=True)
        assert r.status == 409, r
        assert r.json["errors"][0]["code"] == 10001, r
        assert_human(r, "read_only", "policy")
    # creating it again is answered with it, unchanged; bulk skips it
    assert assert_ok(create(srv, {"email": a}))["id"] == sid
    res = assert_ok(srv.request("POST", spath(srv, "/bulk"),
                                {"items": [{"email": a}]}, prefix=True))
    assert res["skipped"] == 1 and res["items"][0]["id"] == sid, res
    assert "read_only" in res["items"][0]["error"], res
    e = assert_ok(srv.request("GET", spath(srv, "/" + sid), prefix=True))
    assert e["note"] is None and e["read_only"] is True, e
    assert_error(srv.send(simple(to=a)), 10202)


def test_an_entry_that_expires_then_the_send_goes_through(srv):
    a = uniq("expiring")
    expiry = int(time.time()) + 4
    when = datetime.datetime.fromtimestamp(expiry, datetime.timezone.utc)
    assert_ok(create(srv, {"email": a,
                           "expires_at": when.strftime("%Y-%m-%dT%H:%M:%SZ")}))
    assert_error(srv.send(simple(to=a)), 10202)
    assert [e["email"] for e in entries(srv, email=a)] == [a]
    time.sleep(max(0.0, expiry - time.time()) + 0.5)  # past the expiry
    assert_send_result(srv.send(simple(to=a)), [a])
    assert entries(srv, email=a) == []  # the list shows live entries
    # created again, the expired entry is renewed in place
    res = assert_ok(create(srv, {"email": a}))
    assert_error(srv.send(simple(to=a)), 10202)
    assert entries(srv, email=a)[0]["id"] == res["id"]


def test_permissions(srv):
    a = uniq("perm")
    res = assert_ok(create(srv, {"email": a}))
    one = spath(srv, "/" + res["id"])
    ro = srv.cli("token", "create", srv.account, "--perm", "read")["token"]
    so = srv.cli("token", "create", srv.account, "--perm", "send")["token"]
    other = srv.new_account(domain="supp-perm.example")
    # read may read, not write
    assert_ok(listing(srv, token=ro, email=a))
    assert_ok(srv.request("GET", one, prefix=True, token=ro))
    for m, path, body in (("POST", spath(srv), {"email": uniq("ro")}),
                          ("POST", spath(srv, "/bulk"), {"items": []}),
                          ("PATCH", one, {"note": "x"}),
                          ("DELETE", one, None)):
        assert_error(srv.request(m, path, body, prefix=True, token=ro),
                     10102)
    # send alone may neither
    assert_error(listing(srv, token=so), 10102)
    assert_error(srv.request("GET", one, prefix=True, token=so), 10102)
    # another account's token, on this account's entries
    assert_error(listing(srv, token=other["token"]), 10102)
    assert_error(srv.request("GET", one, prefix=True,
                             token=other["token"]), 10102)
    assert_error(srv.request("DELETE", one, prefix=True,
                             token=other["token"]), 10102)
    # and on its own account, this account's entry is not there
    r = srv.request("GET", spath(srv, "/" + res["id"], other["account"]),
                    prefix=True, token=other["token"])
    assert_error(r, 10000)
    assert_ok(srv.request("GET", one, prefix=True))  # still there


def test_drop_mode_lists_a_created_entry(make_server):
    s = make_server("supp-drop-mode").start()
    a = uniq("dropped")
    ok = uniq("kept")
    assert_ok(create(s, {"email": a, "scope": {"type": "sending_domain",
                                               "value": "example.com"}}))
    s.cli("domain", "set", "example.com", "--drop-suppressed", "yes",
          json_out=False)
    res = assert_send_result(s.send(simple(to=[ok, a])), [ok, a])
    assert res["suppressed_recipients"] == [a], res


def test_store_down_answers_503(make_server):
    s = make_server("supp-store-down").start()
    with store_locked(s):
        r = create(s, {"email": uniq("locked")}, timeout=20)
    assert r.status == 503, r
    assert r.json["errors"][0]["code"] == 10002, r
    assert r.headers.get("Retry-After", "").isdigit(), r.headers
    assert_human(r, "try again")
    assert_ok(create(s, {"email": uniq("unlocked")}))


# -- the CLI (SPEC §9) ---------------------------------------------------------
def test_cli_add_list_remove(srv):
    a = uniq("cli")
    out = srv.cli("suppression", "add", srv.account, a, "--note", "phoned",
                  "--expires", "2099-01-01")
    assert out["added"] is True and out["email"] == a, out
    assert out["expires_at"] == "2099-01-01T00:00:00Z", out
    assert out["scope"] == {"type": "account"}, out
    assert_error(srv.send(simple(to=a)), 10202)
    again = srv.cli("suppression", "add", srv.account, a)
    assert again["added"] is False and again["id"] == out["id"], again
    d = srv.cli("suppression", "add", srv.account, a, "--domain",
                "example.com")
    assert d["scope"] == {"type": "sending_domain",
                          "value": "example.com"}, d
    rows = srv.cli("suppression", "list", srv.account, "--email", a)
    assert sorted(r["id"] for r in rows) == sorted([out["id"], d["id"]])
    p = srv.cli("suppression", "list", srv.account, "--email", a,
                json_out=False)
    lines = p.stdout.decode().splitlines()
    assert lines[0].split()[:4] == ["ID", "EMAIL", "REASON", "SCOPE"], lines
    assert any(out["id"] in ln and "phoned" in ln for ln in lines), lines
    assert any(d["id"] in ln and "example.com" in ln for ln in lines), lines
    assert srv.cli("suppression", "list", srv.account, "--email", a,
                   "--reason", "hard_bounce") == []
    assert len(srv.cli("suppression", "list", srv.account, "--email", a,
                       "--limit", "1")) == 1
    # by address (the account's), then by id (the domain's)
    gone = srv.cli("suppression", "remove", srv.account, a)
    assert gone["id"] == out["id"] and gone["removed"] is True, gone
    p = srv.cli("suppression", "remove", srv.account, d["id"],
                json_out=False)
    assert "removed suppression " + d["id"] in p.stdout.decode(), p
    assert srv.cli("suppression", "list", srv.account, "--email", a) == []
    assert_send_result(srv.send(simple(to=a)), [a])
    p = srv.cli("suppression", "remove", srv.account, a, json_out=False,
                check=False)
    assert p.returncode == 1, p
    assert p.stderr.decode().startswith("pigeon: no suppression"), p


@pytest.mark.parametrize("args,needle", [
    (("add", "ACCT"), "missing EMAIL"),
    (("add", "ACCT", "bob@@example.net"), "bob@@example.net"),
    (("add", "ACCT", "Bob <bob@example.net>"), "bare address"),
    (("add", "ACCT", "bob@example.net", "--expires", "soon"), "--expires"),
    (("add", "ACCT", "bob@example.net", "--expires", "2001-01-01"), "past"),
    (("add", "nothex", "bob@example.net"), "ACCOUNT_ID"),
    (("list", "ACCT", "--reason", "bored"), "--reason"),
    (("list", "ACCT", "--limit", "0"), "--limit"),
    (("list", "ACCT", "--bogus"), "--bogus"),
    (("remove", "ACCT"), "missing"),
    (("remove", "ACCT", "0" * 32, "--domain", "example.com"), "--domain"),
])
def test_cli_bad_usage_exits_2(srv, args, needle):
    argv = ["suppression"] + [srv.account if x == "ACCT" else x
                              for x in args]
    p = srv.cli(*argv, json_out=False, check=False)
    assert p.returncode == 2, p
    err = p.stderr.decode()
    assert err.startswith("pigeon: ") and needle in err, err


def test_cli_runtime_failures_exit_1(srv):
    for argv in (("add", srv.account, uniq("x"), "--domain", "nope.example"),
                 ("list", "0" * 32),
                 ("remove", srv.account, "0" * 32)):
        p = srv.cli("suppression", *argv, json_out=False, check=False)
        assert p.returncode == 1, p
        assert p.stderr.decode().startswith("pigeon: "), p


def test_method_not_supported(srv):
    r = srv.request("POST", spath(srv, "/" + "0" * 32), {"note": "x"},
                    prefix=True)
    assert r.status == 405, r
    assert r.json["errors"][0]["code"] == 10003, r
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert allow >= {"GET", "PATCH", "DELETE"}, allow
    r = srv.request("PUT", spath(srv), {"email": "a@b.example"}, prefix=True)
    assert r.status == 405, r
