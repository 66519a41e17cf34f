"""
SPEC §3.1-§3.2 (fields, addresses, limits, attachments) and §5 (custom
header policy) for POST …/send.
"""
import os

import pytest

from conftest import (SENDER, assert_error, assert_human, assert_send_result,
                      b64, dkim_verify_all, fetch, parse, raw_headers, simple)

LIMIT = 5 * 1024 * 1024


def refused(r, *needles):
    """400 with 10202 (content rule) and a human message naming the
    field/header."""
    assert_error(r, 10202)
    assert_human(r, *needles)


def headers_of(server, res):
    return raw_headers(fetch(server, res["message_id"]))


# -- address forms ------------------------------------------------------------
def test_address_forms(server):
    r = server.send(simple(
        to=["a@example.net", {"address": "b@example.net", "name": "Bee"},
            {"email": "c@example.net", "name": "Sea"},
            {"address": "d@example.net", "name": None},
            {"address": "e@example.net"}],
        cc={"address": "f@example.net", "name": "Eff"},
        bcc="g@example.net",
        reply_to={"email": "h@example.net", "name": "Aitch"},
        **{"from": {"address": SENDER, "name": "The Sender"}}))
    res = assert_send_result(r, ["a@example.net", "b@example.net",
                                 "c@example.net", "d@example.net",
                                 "e@example.net", "f@example.net",
                                 "g@example.net"])
    m = parse(fetch(server, res["message_id"]))
    to = [(a.display_name, a.addr_spec) for a in m["To"].addresses]
    assert to == [("", "a@example.net"), ("Bee", "b@example.net"),
                  ("Sea", "c@example.net"), ("", "d@example.net"),
                  ("", "e@example.net")]
    assert [(a.display_name, a.addr_spec) for a in m["Cc"].addresses] == \
        [("Eff", "f@example.net")]
    assert m["Bcc"] is None
    assert [(a.display_name, a.addr_spec) for a in
            m["Reply-To"].addresses] == [("Aitch", "h@example.net")]
    assert [(a.display_name, a.addr_spec) for a in m["From"].addresses] == \
        [("The Sender", SENDER)]


def test_single_object_to(server):
    r = server.send(simple(to={"address": "solo@example.net"}))
    assert_send_result(r, ["solo@example.net"])


@pytest.mark.parametrize("addr", [
    "plainaddress", "@example.net", "a@", "a b@example.net",
    "a@exa mple.net", "a..b@example.net", ".a@example.net",
    "a.@example.net", "a@-example.net", "a@example..net",
    "a@example.net.", "a@@example.net", "a@exa_mple.net",
    "x" * 65 + "@example.net",
    "a@" + ".".join(["b" * 60] * 5) + ".net",  # > 254 octets
    "a@example.net\r\nBcc: x@evil.com", "a\r\n@example.net",
    "a\x00b@example.net", "<a@example.net>", " a@example.net",
    "a@example.net ", "a@" + "b" * 64 + ".net",
    "a@[192.0.2.1]", "a@[IPv6:2001:db8::1]",  # SPEC §3.1: domain names
    "a\u00a0b@example.net", "a@example.net\u200b",  # shown as another
])
def test_bad_address_syntax(server, addr):
    r = server.send(simple(to=["ok@example.net", addr]))
    assert r.status == 400, r
    # a "Name <a@b>"-like string may be schema (10001); all else 10202
    if "<" in addr and r.json["errors"][0]["code"] == 10001:
        assert_error(r, 10001)
    else:
        assert_error(r, 10202, "/to/1")
        assert_human(r)


@pytest.mark.parametrize("addr", [
    '"john doe"@example.net', "x" * 64 + "@example.net",
    "a+tag@example.net", "o'neil@example.net", "a@bücher.example",
    "jösé@example.net", "a@sub-1.example.net", "A.B-c_d@Example.NET",
])
def test_good_address_syntax(server, addr):
    r = server.send(simple(to=addr))
    assert_send_result(r)


def test_bad_address_in_object_and_cc(server):
    r = server.send(simple(cc=[{"address": "nope"}]))
    assert_error(r, 10202)
    r = server.send(simple(reply_to="not-an-address"))
    assert_error(r, 10202)
    r = server.send(simple(**{"from": "bad@@example.com"}))
    assert_error(r, 10202)


def test_no_recipient(server):
    for body in (simple(to=None), simple(to=[]), simple(to=[], cc=[],
                                                        bcc=[])):
        r = server.send(body)
        assert r.status == 400 and r.json["errors"][0]["code"] in (
            10001, 10202), r
        assert_error(r, r.json["errors"][0]["code"])


def test_only_bcc_is_enough(server):
    r = server.send(simple(to=None, bcc="hidden@example.net"))
    res = assert_send_result(r, ["hidden@example.net"])
    m = fetch(server, res["message_id"])
    assert b"hidden@example.net" not in m.split(b"\r\n\r\n")[0]


# -- recipient count ----------------------------------------------------------
def rcpts(n, dom="example.net"):
    return ["r%02d@%s" % (i, dom) for i in range(n)]


def test_50_recipients_ok(server):
    r = server.send(simple(to=rcpts(20), cc=rcpts(20, "example.org"),
                           bcc=rcpts(10, "example.edu")))
    res = assert_send_result(r)
    total = sum(len(res[k]) for k in ("delivered", "queued",
                                      "permanent_bounces",
                                      "suppressed_recipients"))
    assert total == 50


def test_51_recipients_refused(server):
    r = server.send(simple(to=rcpts(51)))
    refused(r)
    r = server.send(simple(to=rcpts(20), cc=rcpts(20, "example.org"),
                           bcc=rcpts(11, "example.edu")))
    assert_error(r, 10202)


def test_duplicates_count_once(server):
    r = server.send(simple(to=["same@example.net"] * 51))
    assert_send_result(r, ["same@example.net"])
    r = server.send(simple(to=rcpts(50), cc=["r00@EXAMPLE.NET"],
                           bcc=["r01@Example.Net"]))
    assert_send_result(r)
    # the local part is exact: R00 and r00 are two recipients
    r = server.send(simple(to=["r00@example.net", "R00@example.net"]))
    res = assert_send_result(r)
    assert sum(len(res[k]) for k in ("delivered", "queued",
                                     "permanent_bounces")) == 2


# -- subject ------------------------------------------------------------------
@pytest.mark.parametrize("ch", ["a", "é", "日"])
def test_subject_998_vs_999(server, ch):
    r = server.send(simple(subject=ch * 998))
    res = assert_send_result(r)
    m = parse(fetch(server, res["message_id"]))
    assert m["Subject"] == ch * 998
    for line in fetch(server, res["message_id"]).split(b"\r\n"):
        assert len(line) <= 998
    r = server.send(simple(subject=ch * 999))
    refused(r, "subject")


def test_subject_may_be_empty_string(server):
    # required, but no rule says non-empty: must not crash; 200 or 10202
    r = server.send(simple(subject=""))
    assert r.status in (200, 400), r
    if r.status == 400:
        assert_error(r, r.json["errors"][0]["code"])


# -- text / html --------------------------------------------------------------
def test_no_text_no_html(server):
    refused(server.send(simple(text=None)))
    refused(server.send(simple(text="", html="")))


def test_html_only_ok(server):
    assert_send_result(server.send(simple(text=None, html="<p>hi</p>")))


def test_unknown_top_level_fields_ignored(server):
    r = server.send(simple(account_id="ignored", foo={"bar": [1, 2]},
                           tracking=True))
    assert_send_result(r)


# -- size limits --------------------------------------------------------------
def enc_len(n):
    """base64 with 76-column CRLF lines."""
    b = 4 * ((n + 2) // 3)
    return b + 2 * ((b + 75) // 76)


def att(data, name="blob.bin", typ="application/octet-stream"):
    return {"content": b64(data), "filename": name, "type": typ,
            "disposition": "attachment"}


def test_5mib_boundary(server):
    # Calibrate: the built message minus its attachment is ~constant.
    n0 = 3_000_000
    r = server.send(simple(attachments=[att(os.urandom(n0))]))
    res = assert_send_result(r)
    s0 = len(fetch(server, res["message_id"]))
    overhead = s0 - enc_len(n0)
    # Largest n with overhead + enc_len(n) <= LIMIT - 64 (slack for
    # Date/DKIM length jitter).
    n = int((LIMIT - 64 - overhead) * 57 / 78)
    while overhead + enc_len(n + 3) <= LIMIT - 64:
        n += 3
    while overhead + enc_len(n) > LIMIT - 64:
        n -= 3
    r = server.send(simple(attachments=[att(os.urandom(n))]))
    res = assert_send_result(r)
    s1 = len(fetch(server, res["message_id"]))
    assert LIMIT - 400 < s1 <= LIMIT, s1
    # Now just over: grow the attachment so the message passes the limit
    # by about 100 bytes.
    n2 = n + int((LIMIT - s1 + 100) * 57 / 76) + 3
    assert overhead + enc_len(n2) > LIMIT
    r = server.send(simple(attachments=[att(os.urandom(n2))]))
    assert_error(r, 10200)


# -- attachments --------------------------------------------------------------
@pytest.mark.parametrize("content", ["not base64!!", "a", "aGVs*G8=",
                                     "aGVsbG8=aGVsbG8=x", "====", "a===",
                                     "aGVs\x00bG8="])
def test_invalid_base64(server, content):
    a = dict(att(b""), content=content)
    r = server.send(simple(attachments=[a]))
    assert_error(r, 10202)


@pytest.mark.parametrize("content", ["aGVsbG8", "aGVsbG8=",
                                     "aGVs\nbG8=", " aGVs bG8=\r\n"])
def test_lenient_base64(server, content):
    a = dict(att(b""), content=content)
    r = server.send(simple(attachments=[a]))
    res = assert_send_result(r)
    m = parse(fetch(server, res["message_id"]))
    parts = [p for p in m.iter_attachments()]
    assert len(parts) == 1
    assert parts[0].get_content() == b"hello"


@pytest.mark.parametrize("missing", ["content", "filename", "type",
                                     "disposition"])
def test_attachment_missing_field(server, missing):
    a = att(b"hello")
    del a[missing]
    assert_error(server.send(simple(attachments=[a])), 10001)


def test_inline_needs_content_id(server):
    a = dict(att(b"\x89PNG", "logo.png", "image/png"), disposition="inline")
    assert_error(server.send(simple(attachments=[a])), 10001)
    a["contentId"] = "logo"
    assert_send_result(server.send(simple(html="<img src=cid:logo>",
                                          attachments=[a])))


@pytest.mark.parametrize("typ", ["pdf", "application/", "/pdf", "a b/c",
                                 "text/plain\r\nX-Evil: 1", ""])
def test_attachment_bad_type(server, typ):
    r = server.send(simple(attachments=[att(b"x", typ=typ)]))
    assert_error(r, 10202)


@pytest.mark.parametrize("name", ["a\r\nb.txt", "a\nb.txt", "a\rb.txt",
                                  "a\x00b.txt"])
def test_attachment_bad_filename(server, name):
    r = server.send(simple(attachments=[att(b"x", name=name)]))
    assert_error(r, 10202)


def test_100_vs_101_attachments(server):
    r = server.send(simple(attachments=[att(b"x", "f%d.txt" % i, "text/plain")
                                        for i in range(100)]))
    assert_send_result(r)
    r = server.send(simple(attachments=[att(b"x", "f%d.txt" % i, "text/plain")
                                        for i in range(101)]))
    assert r.status == 400, r
    assert_error(r, r.json["errors"][0]["code"])
    assert r.json["errors"][0]["code"] in (10001, 10202)


# -- CRLF injection -----------------------------------------------------------
EVIL = "\r\nBcc: x@evil.com\r\nX-Injected: yes"


def assert_not_injected(server, r):
    """Refused (400) or accepted with nothing injected as a header."""
    if r.status == 400:
        assert r.json["errors"][0]["code"] in (10001, 10202), r
        assert_error(r, r.json["errors"][0]["code"])
        return
    res = assert_send_result(r)
    raw = fetch(server, res["message_id"])
    names = [k.lower() for k, v in raw_headers(raw)]
    assert "bcc" not in names, raw[:2000]
    assert "x-injected" not in names, raw[:2000]
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        assert not line.lower().startswith(b"bcc:"), line
    assert b"\n" not in head.replace(b"\r\n", b""), "bare LF in header"
    assert b"\r" not in head.replace(b"\r\n", b""), "bare CR in header"
    parse(raw)


def test_crlf_in_to_refused(server):
    r = server.send(simple(to="a@example.com" + EVIL))
    assert r.status == 400, r


def test_crlf_in_display_name(server):
    assert_not_injected(server, server.send(simple(
        to={"address": "a@example.net", "name": "Bob" + EVIL})))
    assert_not_injected(server, server.send(simple(
        **{"from": {"address": SENDER, "name": "S" + EVIL}})))
    assert_not_injected(server, server.send(simple(
        reply_to={"address": "a@example.net", "name": "R\nBcc: x@evil.com"})))


def test_crlf_in_subject(server):
    assert_not_injected(server, server.send(simple(subject="Hi" + EVIL)))
    assert_not_injected(server, server.send(simple(subject="Hi\nX-Injected: "
                                                   "yes")))
    assert_not_injected(server, server.send(simple(subject="Hi\rX-Injected: "
                                                   "yes")))


def test_crlf_in_filename_and_header_values(server):
    r = server.send(simple(headers={"X-Custom": "v" + EVIL}))
    refused(r, "X-Custom")
    r = server.send(simple(headers={"X-Custom\r\nBcc": "x@evil.com"}))
    assert_error(r, 10202)


# -- §5 header policy ---------------------------------------------------------
ALLOWLISTED = {
    "In-Reply-To": "<a1@example.net>",
    "References": "<a0@example.net> <a1@example.net>",
    "List-Unsubscribe": "<https://example.com/u?x=1>, <mailto:u@example.com>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    "List-Id": "News <news.example.com>",
    "List-Archive": "<https://example.com/archive>",
    "List-Help": "<mailto:help@example.com>",
    "List-Owner": "<mailto:owner@example.com>",
    "List-Post": "NO",
    "List-Subscribe": "<https://example.com/sub>",
    "Precedence": "bulk",
    "Auto-Submitted": "auto-generated",
    "Content-Language": "en",
    "Keywords": "a, b",
    "Comments": "just a comment",
    "Importance": "high",
    "Priority": "urgent",
    "Sensitivity": "personal",
    "Organization": "Example Org",
    "Require-Recipient-Valid-Since": "a@example.net; Mon, 1 Jan 2024 "
                                     "00:00:00 +0000",
    "Expires": "Mon, 1 Jan 2035 00:00:00 +0000",
    "Reply-By": "Mon, 1 Jan 2035 00:00:00 +0000",
    "Archived-At": "<https://example.com/archive/1>",
}
assert len(ALLOWLISTED) == 23

SET_BY_SERVER = ["Date", "Message-ID", "MIME-Version", "Content-Type",
                 "Content-Transfer-Encoding", "DKIM-Signature", "Return-Path",
                 "Received", "Feedback-ID", "ARC-Seal",
                 "ARC-Message-Signature", "ARC-Authentication-Results",
                 "TLS-Required", "TLS-Report-Domain", "TLS-Report-Submitter",
                 "CFBL-Address", "CFBL-Feedback-ID"]
USE_FIELD = ["From", "To", "Cc", "Bcc", "Subject", "Reply-To"]
OTHER = ["Sender", "Resent-From", "Foo", "Content-Disposition",
         "Content-ID", "Authentication-Results", "XX-Foo", "X", "X-"]


@pytest.mark.parametrize("name", list(ALLOWLISTED))
def test_allowlisted_header_ok(server, name):
    h = {name: ALLOWLISTED[name]}
    if name == "List-Unsubscribe-Post":
        h["List-Unsubscribe"] = ALLOWLISTED["List-Unsubscribe"]
    res = assert_send_result(server.send(simple(headers=h)))
    got = dict((k, v) for k, v in headers_of(server, res))
    assert got.get(name) == ALLOWLISTED[name], (name, got)


def test_allowlisted_header_canonical_casing(server):
    res = assert_send_result(server.send(simple(
        headers={"list-unsubscribe": "<https://example.com/u>",
                 "PRECEDENCE": "list", "x-Tag": "t"})))
    names = [k for k, v in headers_of(server, res)]
    assert "List-Unsubscribe" in names and "Precedence" in names, names


@pytest.mark.parametrize("name", SET_BY_SERVER + [n.lower() for n in
                                                  SET_BY_SERVER[:3]])
def test_set_by_server_refused(server, name):
    refused(server.send(simple(headers={name: "x"})), name)


@pytest.mark.parametrize("name", USE_FIELD + ["subject", "BCC"])
def test_use_api_field_refused(server, name):
    refused(server.send(simple(headers={name: "a@example.net"})), name)


@pytest.mark.parametrize("name", OTHER)
def test_other_names_refused(server, name):
    assert_error(server.send(simple(headers={name: "x"})), 10202)


def test_x_headers(server):
    n100 = "X-" + "a" * 98
    res = assert_send_result(server.send(simple(
        headers={"X-Campaign": "c1", "X-a_b-9": "v", n100: "long name"})))
    got = dict((k.lower(), v) for k, v in headers_of(server, res))
    assert got["x-campaign"] == "c1" and got[n100.lower()] == "long name"
    assert_error(server.send(simple(headers={"X-" + "a" * 99: "v"})), 10202)
    assert_error(server.send(simple(headers={"X-Bad Name": "v"})), 10202)
    assert_error(server.send(simple(headers={"X-Bad:Name": "v"})), 10202)
    assert_error(server.send(simple(headers={"X-Bäd": "v"})), 10202)


def test_20_vs_21_allowlisted(server):
    names = [n for n in ALLOWLISTED if n != "List-Unsubscribe-Post"]
    h20 = {n: ALLOWLISTED[n] for n in names[:20]}
    assert_send_result(server.send(simple(headers=h20)))
    h21 = {n: ALLOWLISTED[n] for n in names[:21]}
    refused(server.send(simple(headers=h21)))
    # X- headers do not count towards the 20
    h20x = dict(h20, **{"X-%d" % i: "v" for i in range(10)})
    assert_send_result(server.send(simple(headers=h20x)))


@pytest.mark.parametrize("name,value", [
    ("List-Unsubscribe", "<http://example.com/u>"),
    ("List-Unsubscribe", "https://example.com/u"),
    ("List-Unsubscribe", "<https://example.com/u>, <http://example.com/v>"),
    ("List-Unsubscribe", "<ftp://example.com/u>"),
    ("Precedence", "first-class"),
    ("Precedence", "bulkx"),
    ("Auto-Submitted", "no"),
    ("Auto-Submitted", "yes"),
    ("Importance", "urgent"),
    ("Priority", "high"),
    ("Sensitivity", "secret"),
])
def test_value_rules_refused(server, name, value):
    refused(server.send(simple(headers={name: value})), name)


@pytest.mark.parametrize("name,value", [
    ("Precedence", "list"), ("Precedence", "junk"),
    ("Auto-Submitted", "auto-replied"), ("Auto-Submitted", "auto-notified"),
    ("Importance", "normal"), ("Importance", "low"),
    ("Priority", "normal"), ("Priority", "non-urgent"),
    ("Sensitivity", "private"), ("Sensitivity", "company-confidential"),
    ("List-Unsubscribe", "<mailto:u@example.com>"),
])
def test_value_rules_ok(server, name, value):
    assert_send_result(server.send(simple(headers={name: value})))


def test_list_unsubscribe_post_rules(server):
    post = "List-Unsubscribe=One-Click"
    refused(server.send(simple(headers={"List-Unsubscribe-Post": post})),
            "List-Unsubscribe-Post")
    refused(server.send(simple(headers={
        "List-Unsubscribe-Post": post,
        "List-Unsubscribe": "<mailto:u@example.com>"})),
        "List-Unsubscribe-Post")
    refused(server.send(simple(headers={
        "List-Unsubscribe-Post": "List-Unsubscribe=Yes",
        "List-Unsubscribe": "<https://example.com/u>"})))
    assert_send_result(server.send(simple(headers={
        "List-Unsubscribe-Post": post,
        "List-Unsubscribe": "<mailto:u@example.com>, "
                            "<https://example.com/u>"})))


@pytest.mark.parametrize("value", ["", "a\rb", "a\nb", "a\r\nb", "a\x00b",
                                   "v" * 2049])
def test_header_value_rules(server, value):
    refused(server.send(simple(headers={"X-Val": value})), "X-Val")


def test_header_value_2048_and_utf8(server):
    res = assert_send_result(server.send(simple(headers={
        "X-Long": "v" * 2048, "X-Utf": "héllo wörld"})))
    raw = fetch(server, res["message_id"])
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998, "header line over 998 octets"
    m = parse(raw)
    assert str(m["X-Long"]).replace(" ", "") == "v" * 2048
    assert str(m["X-Utf"]) == "héllo wörld"


def test_16k_total(server):
    # each X-Hnn entry costs 5 + 2 + len(value) + 2
    h = {"X-H%02d" % i: "v" * 2039 for i in range(8)}
    assert sum(len(k) + 2 + len(v) + 2 for k, v in h.items()) == 16384
    assert_send_result(server.send(simple(headers=h)))
    h["X-H07"] += "v"
    refused(server.send(simple(headers=h)))


def test_refusal_message_names_rule(server):
    r = server.send(simple(headers={"Date": "Mon, 1 Jan 2024 00:00:00 +0000"}))
    text = assert_human(r, "Date")
    assert "not allowed" in text.lower() or "set by" in text.lower(), text


# -- what is written is what was checked --------------------------------------
@pytest.mark.parametrize("name,value,written", [
    ("Precedence", " bulk ", "bulk"),
    ("List-Unsubscribe-Post", " List-Unsubscribe=One-Click",
     "List-Unsubscribe=One-Click"),
    ("In-Reply-To", " <a@example.com>", "<a@example.com>"),
    ("List-Id", "Shop news <news.example.com>", "Shop news <news.example.com>"),
])
def test_structured_headers_written_as_checked(server, name, value, written):
    """Structured headers are never RFC 2047-encoded: outer white space is
    dropped and the value goes out as the rule saw it."""
    h = {name: value}
    if name == "List-Unsubscribe-Post":
        h["List-Unsubscribe"] = "<https://example.com/u>"
    res = assert_send_result(server.send(simple(headers=h)))
    got = [v for k, v in headers_of(server, res) if k.lower() == name.lower()]
    assert got == [written], got


def test_long_references_fold_at_spaces(server):
    ids = " ".join("<thread-%03d@example.com>" % i for i in range(80))
    res = assert_send_result(server.send(simple(headers={"References": ids})))
    raw = fetch(server, res["message_id"])
    assert max(len(x) for x in raw.split(b"\r\n")) <= 78
    got = [v for k, v in raw_headers(raw) if k.lower() == "references"]
    assert " ".join(got[0].split()) == ids


@pytest.mark.parametrize("name,value", [
    ("In-Reply-To", "<é@example.com>"),
    ("List-Id", "Zoë list <list.example.com>"),
    ("List-Unsubscribe", "<https://example.com/é>"),
])
def test_structured_header_non_ascii_refused(server, name, value):
    refused(server.send(simple(headers={name: value})), name, "non-ASCII")


def test_structured_header_unfoldable_word_refused(server):
    r = server.send(simple(headers={"References": "<" + "a" * 899 + ">"}))
    refused(r, "References", "900")


@pytest.mark.parametrize("pair", [("References", "references"),
                                  ("X-A", "x-a")])
def test_header_given_twice_refused(server, pair):
    r = server.send(simple(headers={pair[0]: "<a@b.example>",
                                    pair[1]: "<c@d.example>"}))
    refused(r, "more than once")


def test_content_id_limits(server):
    def inline(cid):
        return simple(html='<img src="cid:x">', attachments=[{
            "content": b64(b"png"), "filename": "x.png", "type": "image/png",
            "disposition": "inline", "content_id": cid}])
    res = assert_send_result(server.send(inline("a" * 250)))
    raw = fetch(server, res["message_id"])
    assert max(len(x) for x in raw.split(b"\r\n")) <= 998
    for cid in ["a" * 251, "lögo", 'a"b', "a;b", "a b", ""]:
        r = server.send(inline(cid))
        assert_error(r, 10202, "/attachments/0/content_id")
        assert_human(r, "content_id")


def test_type_name_limits(server):
    ok = "application/" + "x" * 127
    assert_send_result(server.send(simple(attachments=[att(b"x", typ=ok)])))
    for typ in ["application/" + "x" * 128, "x" * 128 + "/y"]:
        r = server.send(simple(attachments=[att(b"x", typ=typ)]))
        assert_error(r, 10202, "/attachments/0/type")
        assert_human(r, "127")


def test_content_id_unique(server):
    def inline(cid):
        return {"content": b64(b"png"), "filename": "x.png",
                "type": "image/png", "disposition": "inline",
                "content_id": cid}
    r = server.send(simple(html="<p>x</p>", attachments=[
        inline("logo"), inline("other"), inline("<logo>")]))
    assert_error(r, 10202, "/attachments/2/content_id")
    assert_human(r, "'logo' is already used by attachments[0]")
    assert_send_result(server.send(simple(html="<p>x</p>", attachments=[
        inline("logo"), inline("Logo")])))


def test_attached_message_is_7bit(server):
    """RFC 2046 §5.2.1: message/rfc822 is never base64; a 7-bit one goes
    as is, with CRLF line ends."""
    inner = (b"From: a@example.org\nTo: b@example.org\nSubject: fwd\n\n"
             b"the forwarded text\n")
    res = assert_send_result(server.send(simple(attachments=[
        att(inner, "fwd.eml", "message/rfc822")])))
    raw = fetch(server, res["message_id"])
    m = parse(raw)
    part = [p for p in m.walk() if p.get_content_type() == "message/rfc822"]
    assert len(part) == 1
    assert part[0]["Content-Transfer-Encoding"] == "7bit"
    assert part[0].get_payload()[0]["Subject"] == "fwd"
    assert inner.replace(b"\n", b"\r\n") in raw
    dkim_verify_all(server, raw)


@pytest.mark.parametrize("typ,data,needle", [
    ("message/rfc822", "From: a@example.org\n\nh\u00e9".encode(), "7-bit"),
    ("message/rfc822", b"From: a@example.org\n\n" + b"x" * 999, "7-bit"),
    ("multipart/mixed", b"--b\r\n\r\nx\r\n--b--\r\n", "cannot be"),
])
def test_attachment_composite_types_refused(server, typ, data, needle):
    r = server.send(simple(attachments=[att(data, "x.eml", typ)]))
    assert_error(r, 10202, "/attachments/0/type")
    assert_human(r, needle)
