"""
SPEC §4: POST …/send_raw.
"""
import email.utils
import os
import re
import secrets
import time
import urllib.parse

import pytest

from conftest import (MSGID_RE, SENDER, _finish, _live, assert_error,
                      assert_human, assert_send_result, b64, dkim_verify_all,
                      fetch, parse, raw_headers, start_server)


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """A server with `raw_headers cloudflare` (SPEC §5); the shared one
    has the default, relaxed."""
    s = start_server(tmp_path_factory, "cloudflare", raw_headers="cloudflare")
    _live.append(s)
    yield s
    _finish(s)


def mime(*headers, body="Hello"):
    hs = list(headers) or ["From: sender@example.com",
                           "To: rcpt@example.net", "Subject: Hi"]
    return "\r\n".join(hs) + "\r\n\r\n" + body


def raw_body(**kw):
    b = {"from": SENDER, "recipients": ["rcpt@example.net"],
         "mime_message": mime()}
    b.update(kw)
    return b


BASE = ["From: Sender <sender@example.com>", "To: rcpt@example.net",
        "Subject: Hi"]


def stored(server, res):
    raw = fetch(server, res["message_id"])
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF"
    return raw, raw_headers(raw), parse(raw)


def test_success_adds_date_and_message_id(server):
    r = server.send_raw(raw_body())
    res = assert_send_result(r, ["rcpt@example.net"])
    raw, hs, m = stored(server, res)
    names = [k.lower() for k, v in hs]
    assert names.count("message-id") == 1 and names.count("date") == 1
    mm = MSGID_RE.match(str(m["Message-ID"]).strip())
    assert mm and mm.group(2) == "example.com", m["Message-ID"]
    assert str(m["Message-ID"]).strip() == res["message_id"]
    assert email.utils.parsedate_to_datetime(str(m["Date"])) is not None
    assert names[0] == "dkim-signature"
    algos = dkim_verify_all(server, raw, strict=False)
    assert "rsa-sha256" in algos
    assert m["Subject"] == "Hi" and str(m["From"]) == "sender@example.com"
    assert raw.endswith(b"\r\n\r\nHello") or raw.endswith(b"\r\n\r\nHello\r\n")


def test_keeps_client_date_and_message_id(server):
    mid = "<client-%s@example.com>" % os.urandom(6).hex()
    date = "Mon, 01 Jan 2024 10:00:00 +0100"
    r = server.send_raw(raw_body(mime_message=mime(
        *BASE, "Date: " + date, "Message-ID: " + mid)))
    res = assert_send_result(r, pigeon_id=False)
    assert res["message_id"] == mid
    raw, hs, m = stored(server, res)
    d = dict((k.lower(), v) for k, v in hs)
    assert d["date"] == date and d["message-id"] == mid
    assert [k.lower() for k, v in hs].count("message-id") == 1
    dkim_verify_all(server, raw, strict=False)


def test_malformed_client_message_id_replaced(server):
    r = server.send_raw(raw_body(mime_message=mime(
        *BASE, "Message-ID: not an id")))
    if r.status == 400:   # refusing is also a reading of "well-formed"
        assert_error(r, 10202)
        return
    res = assert_send_result(r)
    raw, hs, m = stored(server, res)
    ids = [v for k, v in hs if k.lower() == "message-id"]
    assert len(ids) == 1 and MSGID_RE.match(ids[0]), ids
    assert ids[0] == res["message_id"]


def test_lf_only_converted(server):
    mm = "From: sender@example.com\nTo: rcpt@example.net\nSubject: LF\n\n" \
         "line one\nline two\n"
    res = assert_send_result(server.send_raw(raw_body(mime_message=mm)))
    raw, hs, m = stored(server, res)
    assert b"line one\r\nline two" in raw
    dkim_verify_all(server, raw, strict=False)


def test_missing_from_refused(server):
    r = server.send_raw(raw_body(mime_message=mime(
        "To: rcpt@example.net", "Subject: Hi")))
    assert_error(r, 10202)
    assert_human(r, "From")


def test_bcc_removed(server):
    r = server.send_raw(raw_body(
        recipients=["rcpt@example.net", "hidden@example.net"],
        mime_message=mime(*BASE, "Bcc: hidden@example.net")))
    res = assert_send_result(r, ["rcpt@example.net", "hidden@example.net"])
    raw, hs, m = stored(server, res)
    assert "bcc" not in [k.lower() for k, v in hs]
    assert b"hidden@example.net" not in raw
    # folded Bcc and lower-case name too
    r = server.send_raw(raw_body(mime_message=mime(
        *BASE, "bcc: a@example.net,\r\n b@example.net")))
    res = assert_send_result(r)
    raw, hs, m = stored(server, res)
    # the DKIM b= value is random base64, so look at header names, not bytes
    assert "bcc" not in [k.lower() for k, v in hs]
    assert b"a@example.net" not in raw and b"b@example.net" not in raw
    dkim_verify_all(server, raw, strict=False)


TRACE = ["DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=x; b=abc; "
         "bh=abc", "dkim-signature: v=1", "Return-Path: <a@b.c>",
         "ARC-Seal: i=1; a=rsa-sha256; cv=none", "ARC-Message-Signature: i=1",
         "ARC-Authentication-Results: i=1; x", "arc-seal: i=1"]


@pytest.mark.parametrize("hdr", TRACE)
def test_refused_trace_headers_cloudflare(strict, hdr):
    r = strict.send_raw(raw_body(mime_message=mime(*BASE, hdr)))
    assert_error(r, 10202, "/mime_message")
    assert_human(r, "Header '%s' is not allowed" % hdr.split(":")[0],
                 "set by the server")


@pytest.mark.parametrize("hdr", [h for h in TRACE if "eturn-" not in h] +
                         ["Received: from x by y"])
def test_trace_headers_kept_relaxed(server, hdr):
    """SPEC §5 relaxed: a client's own signatures and trace fields go
    through as written, after pigeon's signatures, which still verify."""
    res = assert_send_result(server.send_raw(raw_body(
        mime_message=mime(*BASE, hdr))))
    raw, hs, m = stored(server, res)
    assert ("\r\n%s\r\n" % hdr).encode() in raw
    assert "rsa-sha256" in dkim_verify_all(server, raw, strict=False,
                                           ours=True)


@pytest.mark.parametrize("srv", ["server", "strict"])
def test_received_allowed(request, srv):
    """SPEC §5: Received is allowed under both policies."""
    s = request.getfixturevalue(srv)
    rcv = "Received: from app.example.com by relay.example.com; Wed, 26 Nov " \
          "2025 06:13:40 +0000"
    res = assert_send_result(s.send_raw(raw_body(
        mime_message=mime(rcv, *BASE))))
    raw, hs, m = stored(s, res)
    assert ("\r\n%s\r\n" % rcv).encode() in raw
    dkim_verify_all(s, raw, strict=False)


def test_return_path_removed(server):
    """SPEC §4: Return-Path goes, folded or in any case."""
    r = server.send_raw(raw_body(mime_message=mime(
        "Return-Path: <bounce@elsewhere.example>", *BASE,
        "return-path:\r\n <other@elsewhere.example>")))
    res = assert_send_result(r)
    raw, hs, m = stored(server, res)
    assert "return-path" not in [k.lower() for k, v in hs]
    assert b"elsewhere.example" not in raw
    dkim_verify_all(server, raw, strict=False)


POLICY = ["Foo: bar", "Sender: a@example.com", "Precedence: first-class",
          "List-Unsubscribe: <http://x.example/u>", "Feedback-ID: a:b:c",
          "TLS-Required: No", "User-Agent: x", "Thread-Topic: Hi",
          "X-Dotted.Name: v"]


@pytest.mark.parametrize("hdr", POLICY)
def test_header_policy_applies_cloudflare(strict, hdr):
    r = strict.send_raw(raw_body(mime_message=mime(*BASE, hdr)))
    assert_error(r, 10202, "/mime_message")
    assert_human(r, "Header '%s'" % hdr.split(":")[0])


@pytest.mark.parametrize("hdr", POLICY)
def test_header_policy_relaxed_keeps(server, hdr):
    """SPEC §5 relaxed: any well-formed field passes through as written,
    values the allowlist's rules would refuse too."""
    res = assert_send_result(server.send_raw(raw_body(
        mime_message=mime(*BASE, hdr))))
    raw, hs, m = stored(server, res)
    assert ("\r\n%s\r\n" % hdr).encode() in raw


def test_bcc_refused_cloudflare(strict):
    """SPEC §5 cloudflare: Bcc is not one of the fields allowed there."""
    r = strict.send_raw(raw_body(
        recipients=["rcpt@example.net", "hidden@example.net"],
        mime_message=mime(*BASE, "Bcc: hidden@example.net")))
    assert_error(r, 10202, "/mime_message")
    assert_human(r, "Header 'Bcc' is not allowed",
                 "envelope recipients")


def test_allowlisted_cap_cloudflare(strict, server):
    """SPEC §5: at most 20 allowlisted headers under cloudflare; relaxed
    has no cap."""
    kw = ["Keywords: k%d" % i for i in range(21)]
    r = strict.send_raw(raw_body(mime_message=mime(*BASE, *kw)))
    assert_error(r, 10202, "/mime_message")
    assert_human(r, "Header 'Keywords'", "At most 20 allowlisted")
    assert_send_result(strict.send_raw(raw_body(
        mime_message=mime(*BASE, *kw[:20]))))
    assert_send_result(server.send_raw(raw_body(
        mime_message=mime(*BASE, *kw))))


@pytest.mark.parametrize("srv", ["server", "strict"])
def test_allowed_client_headers_kept(request, srv):
    server = request.getfixturevalue(srv)
    extra = ["Cc: cc@example.net", "Reply-To: r@example.net",
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
             "Content-Transfer-Encoding: 8bit", "X-Mailer: test 1.0",
             "List-Unsubscribe: <https://example.com/u>",
             "Precedence: bulk"]
    r = server.send_raw(raw_body(mime_message=mime(*BASE, *extra,
                                                   body="Grüße\r\n")))
    res = assert_send_result(r)
    raw, hs, m = stored(server, res)
    d = dict((k.lower(), v) for k, v in hs)
    for h in extra:
        k, v = h.split(": ", 1)
        assert d[k.lower()] == v, h
    assert "Grüße".encode() in raw
    dkim_verify_all(server, raw, strict=False)


def test_header_line_over_998(server):
    r = server.send_raw(raw_body(mime_message=mime(
        *BASE, "X-Long: " + "a" * 991)))  # 999 octets
    assert_error(r, 10202)
    r = server.send_raw(raw_body(mime_message=mime(
        *BASE, "X-Long: " + "a" * 990)))  # 998 octets
    assert_send_result(r)
    # folded: each line <= 998 though the field is longer
    r = server.send_raw(raw_body(mime_message=mime(
        *BASE, "X-Long: " + "a" * 900 + "\r\n " + "b" * 900)))
    assert_send_result(r)


@pytest.mark.parametrize("mm", ["", "just some text without headers",
                                "\r\n\r\nbody only", ": no name\r\n\r\nx",
                                "From sender@example.com\r\n\r\nx"])
def test_unparseable(server, mm):
    r = server.send_raw(raw_body(mime_message=mm))
    assert_error(r, 10202)


def test_recipients_rules(server):
    r = server.send_raw(raw_body(recipients=[]))
    assert r.status == 400 and r.json["errors"][0]["code"] in (10001, 10202)
    assert_error(r, r.json["errors"][0]["code"])
    r = server.send_raw(raw_body(recipients=["r%d@example.net" % i
                                             for i in range(51)]))
    assert_error(r, 10202)
    r = server.send_raw(raw_body(recipients=["r%d@example.net" % i
                                             for i in range(50)]))
    res = assert_send_result(r)
    r = server.send_raw(raw_body(recipients=["ok@example.net", "bad@@x.net"]))
    assert_error(r, 10202, "/recipients/1")
    r = server.send_raw(raw_body(recipients=["Bob <bob@example.net>"]))
    assert_error(r, 10001)
    r = server.send_raw(raw_body(recipients=["a@example.net\r\nRCPT TO:<x@e"
                                             "vil.com>"]))
    # refused; with its <...> it may read as the "Name <a@b>" form (10001)
    assert r.status == 400 and r.json["errors"][0]["code"] in (10001, 10202)
    assert_error(r, r.json["errors"][0]["code"])
    r = server.send_raw(raw_body(recipients=["a@example.net\r\nDATA"]))
    assert_error(r, 10202)
    r = server.send_raw(raw_body(recipients=["dup@example.net"] * 51))
    res = assert_send_result(r, ["dup@example.net"])
    assert res


def test_envelope_from_rules(server):
    assert_error(server.send_raw(raw_body(**{"from": "x@elsewhere.test"})),
                 10204)
    assert_error(server.send_raw(raw_body(**{"from": "bad@@example.com"})),
                 10202)
    assert_error(server.send_raw(raw_body(**{"from": "S <s@example.com>"})),
                 10001)


def test_size_limit(server):
    limit = 5 * 1024 * 1024
    body = "a" * 76 + "\r\n"
    big = body * ((limit + 200) // len(body))
    r = server.send_raw(raw_body(mime_message=mime(*BASE, body=big)))
    assert_error(r, 10200)
    ok = body * ((limit - 4000) // len(body))
    r = server.send_raw(raw_body(mime_message=mime(*BASE, body=ok)))
    res = assert_send_result(r)
    raw, hs, m = stored(server, res)
    assert len(raw) <= limit


def test_multipart_round_trip(server):
    data = os.urandom(3000)
    enc = b64(data)
    lines = [enc[i:i + 76] for i in range(0, len(enc), 76)]
    body = ("--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            "--b1\r\nContent-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"d.bin\"\r\n\r\n" +
            "\r\n".join(lines) + "\r\n--b1--\r\n")
    r = server.send_raw(raw_body(mime_message=mime(
        *BASE, "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b1"', body=body)))
    res = assert_send_result(r)
    raw, hs, m = stored(server, res)
    assert raw.split(b"\r\n\r\n", 1)[1] == body.encode()
    att = [p for p in m.iter_attachments()][0]
    assert att.get_content() == data
    dkim_verify_all(server, raw, strict=False)


def test_bare_cr_not_passed_through(server):
    r = server.send_raw(raw_body(mime_message=mime(*BASE,
                                                   body="a\rb\r\nc")))
    if r.status == 400:
        assert_error(r, 10202)
        return
    res = assert_send_result(r)
    raw, hs, m = stored(server, res)
    assert b"\r" not in raw.replace(b"\r\n", b"")


def test_x_header_name_limit(strict, server):
    """SPEC §5: X- names are ≤ 100 characters in raw messages too under
    cloudflare; relaxed takes any well-formed name."""
    ok = "X-" + "a" * 98
    res = assert_send_result(strict.send_raw(raw_body(
        mime_message=mime(*BASE, ok + ": v"))))
    raw, hs, m = stored(strict, res)
    assert ok in [k for k, v in hs]
    r = strict.send_raw(raw_body(mime_message=mime(*BASE, ok + "a: v")))
    assert_error(r, 10202)
    assert_human(r, "100 characters")
    res = assert_send_result(server.send_raw(raw_body(
        mime_message=mime(*BASE, ok + "a: v"))))
    raw, hs, m = stored(server, res)
    assert ok + "a" in [k for k, v in hs]


def test_body_line_over_998_refused(server):
    """RFC 5322 §2.1.1: a relay would rewrap such a line and break the
    signature, so the client hears it now."""
    res = assert_send_result(server.send_raw(raw_body(
        mime_message=mime(*BASE, body="first\r\n" + "x" * 998))))
    raw, hs, m = stored(server, res)
    dkim_verify_all(server, raw, strict=False)
    r = server.send_raw(raw_body(
        mime_message=mime(*BASE, body="first\n" + "x" * 5000 + "\nlast")))
    assert_error(r, 10202)
    assert_human(r, "Line 2 of the body", "5000 octets", "quoted-printable")


@pytest.mark.parametrize("date", ["Mon, 01 Jan 2024 25:00:00 +0100",
                                  "Sat, 31 Feb 2024 10:00:00 +0100",
                                  "Tue, 01 Jan 2024 10:00:00 +0100"])
def test_impossible_date_replaced(server, date):
    res = assert_send_result(server.send_raw(raw_body(
        mime_message=mime(*BASE, "Date: " + date))))
    raw, hs, m = stored(server, res)
    dates = [v for k, v in hs if k.lower() == "date"]
    assert len(dates) == 1 and dates[0] != date, dates
    assert email.utils.parsedate_to_datetime(dates[0]) is not None


def test_size_limit_exact(server):
    """SPEC §4: ≤ 5 MiB after pigeon's changes, DKIM-Signature included:
    a message that comes out at exactly 5,242,880 bytes is sent, one
    byte more is 10200."""
    limit = 5 * 1024 * 1024

    def message(n, tag):
        """A message of n bytes in lines of 78 (Date and Message-ID given,
        so only the signatures are added)."""
        m = mime(*BASE, "Date: Thu, 26 Nov 2026 10:00:00 +0000",
                 "Message-ID: <size-%s@example.com>" % tag, body="")
        full, rest = divmod(n - len(m), 78)
        return m + ("x" * 76 + "\r\n") * full + "y" * rest

    def send(msg):
        return server.send_raw(raw_body(mime_message=msg))

    probe = message(10000, "probe")
    res = assert_send_result(send(probe), pigeon_id=False)
    overhead = len(fetch(server, res["message_id"])) - len(probe)
    exact = message(limit - overhead, "exact")
    res = assert_send_result(send(exact), pigeon_id=False)
    assert len(fetch(server, res["message_id"])) == limit
    assert_error(send(message(limit - overhead + 1, "over")), 10200)


@pytest.mark.parametrize("hdr", [
    "From: ", "From: undisclosed", "From: (x@y) nobody",
    "From: nobody (sender@example.com)", "From: undisclosed:@;",
    "From: Team: sender@example.com;", 'From: "sender@example.com"',
    "From: sender@example.com <sender@example.com>"])
def test_from_without_address_refused(server, hdr):
    """RFC 5322 §3.6.2: From is a mailbox-list; an '@' in a comment or a
    quoted name is not an address, and a group is not a mailbox."""
    r = server.send_raw(raw_body(mime_message=mime(
        hdr, "To: rcpt@example.net", "Subject: Hi")))
    assert_error(r, 10202, "/mime_message")
    assert_human(r, "'From' has no address", "needs a mailbox")


@pytest.mark.parametrize("hdr", [
    'From: "sender@example.com" <sender@example.com>',
    "From: (x@y) sender@example.com",
    "From: Sender (the (real) one) <sender@example.com> (office)",
    "From: =?UTF-8?Q?S=C3=A9nder?= <sender@example.com>"])
def test_from_forms_accepted(server, hdr):
    r = server.send_raw(raw_body(mime_message=mime(
        hdr, "To: rcpt@example.net", "Subject: Hi")))
    res = assert_send_result(r)
    raw, hs, m = stored(server, res)
    assert [v for k, v in hs if k.lower() == "from"] == [hdr[6:]]
    dkim_verify_all(server, raw, strict=False)


@pytest.mark.parametrize("dup", [("To: a@example.net", "To: b@example.net"),
                                 ("Subject: a", "subject: b"),
                                 ("MIME-Version: 1.0", "MIME-Version: 1.0")])
def test_header_allowed_once_given_twice_refused(server, dup):
    """RFC 5322 §3.6: a receiver would pick one of the two."""
    r = server.send_raw(raw_body(mime_message=mime(
        "From: sender@example.com", *dup)))
    assert_error(r, 10202, "/mime_message")
    assert_human(r, "appears more than once")


def test_header_section_needs_its_empty_line(server):
    """SPEC §4: the header section, then an empty line, even when the
    body is empty."""
    r = server.send_raw(raw_body(
        mime_message="From: sender@example.com\r\nSubject: Hi\r\n"))
    assert_error(r, 10202, "/mime_message")
    assert_human(r, "empty line")
    res = assert_send_result(server.send_raw(raw_body(
        mime_message="From: sender@example.com\r\nSubject: Hi\r\n\r\n")))
    raw, hs, m = stored(server, res)
    assert raw.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("body", ["Hello", "line 1\r\nline 2", "line 1\nend",
                                  "trailing space  "])
def test_last_line_gets_its_crlf(server, body):
    """RFC 5322 §2.1: lines end in CRLF, the last one too; the stored
    bytes are the signed bytes."""
    r = server.send_raw(raw_body(mime_message=mime(*BASE, body=body)))
    res = assert_send_result(r)
    raw, hs, m = stored(server, res)
    want = body.replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n"
    assert raw.endswith(b"\r\n\r\n" + want.encode()), repr(raw[-60:])
    dkim_verify_all(server, raw, strict=False)


@pytest.mark.parametrize("n", [93, 150])
def test_many_signed_headers(server, n):
    """RFC 6376 §5.4.2: h= names every List-Unsubscribe, and with both
    signatures 93 of them pass the room kept in front of the message:
    the message is still signed (it moves to make room) and verifies;
    never a 500."""
    lu = ["List-Unsubscribe: <https://example.com/u/%d>" % i
          for i in range(n)]
    r = server.send_raw(raw_body(mime_message=mime(*BASE, *lu)))
    res = assert_send_result(r)
    raw, hs, m = stored(server, res)
    assert [k for k, v in hs].count("List-Unsubscribe") == n
    sigs = [v for k, v in hs if k.lower() == "dkim-signature"]
    for s in sigs:
        h = re.sub(r"\s+", "", re.search(r"h=([^;]*);", s).group(1))
        assert h.split(":").count("list-unsubscribe") == n, h
    algos = dkim_verify_all(server, raw, strict=False)
    assert "rsa-sha256" in algos


def test_signed_headers_over_the_size_limit(server):
    """Signatures that do not fit in 5 MiB with the message: 10200, not
    a 500."""
    lu = ["List-Unsubscribe: <https://example.com/u/%07d>" % i
          for i in range(3 * 1024 * 1024 // 48)]
    r = server.send_raw(raw_body(mime_message=mime(*BASE, *lu)))
    assert_error(r, 10200)


# -- SPEC §4: the From: header's one address, on a sending domain ------------
@pytest.fixture(scope="module")
def brand(server):
    """A fresh account with the sending domains Z (its zone's apex) and
    mail.Z, off.Z switched off, and the IDN zone U = bücher-….test with
    its apex; dict(account, token, z, u, u_ace)."""
    z = "brand-%s.test" % secrets.token_hex(3)
    a = server.new_account(domain=z)
    server.cli("domain", "create", a["zone"], "mail." + z)
    server.cli("domain", "create", a["zone"], "off." + z)
    server.cli("domain", "set", "off." + z, "--enabled", "false",
               json_out=False)
    u = "b\u00fccher-%s.test" % secrets.token_hex(3)
    zid = server.cli("zone", "create", a["account"], u)["id"]
    server.cli("domain", "create", zid, u)
    a.update(z=z, u=u, u_ace=u.encode("idna").decode())
    return a


def brand_send(server, a, env, from_hdr, rcpt=None, mid=None):
    """send_raw as account a from envelope env, with the header line
    'From: <from_hdr>', to rcpt, with Message-ID mid when given."""
    hs = ["From: " + from_hdr, "To: " + (rcpt or "rcpt@example.net"),
          "Subject: brand"]
    if mid:
        hs.append("Message-ID: " + mid)
    return server.send_raw({"from": env,
                            "recipients": [rcpt or "rcpt@example.net"],
                            "mime_message": mime(*hs)},
                           token=a["token"], account=a["account"])


def brand_refused(server, a, env, from_hdr, code):
    """Sends from_hdr, which must be refused with code, about the
    message; checks that nothing was stored or delivered: its
    Message-ID is unknown and no log line names its recipient."""
    tag = secrets.token_hex(6)
    rcpt = "refused-%s@example.net" % tag
    mid = "<refused-%s@%s>" % (tag, a["z"])
    r = brand_send(server, a, env, from_hdr, rcpt, mid)
    assert_error(r, code, "/mime_message")
    got = server.request("GET", server.apath(
        "messages/" + urllib.parse.quote(mid, safe=""), a["account"]),
        token=a["token"], prefix=True)
    assert_error(got, 10000)
    time.sleep(0.3)
    assert rcpt not in server.stderr(), "the refused message was sent"
    return r


@pytest.mark.parametrize("n,hdr", [
    (2, "a@{z}, b@{z}"),
    (2, "Sender <sender@{z}>, ceo@bank.example"),
    (2, "ceo@bank.example, a@{z}"),
    (3, "a@{z},, b@mail.{z}, c@{z},"),
])
def test_from_header_holds_one_address(server, brand, n, hdr):
    """SPEC §4: exactly one address, even where RFC 5322 would take a
    list with a Sender: beside it."""
    r = brand_refused(server, brand, "app@" + brand["z"],
                      hdr.format(z=brand["z"]), 10204)
    assert_human(r, "the From: header holds %d addresses" % n,
                 "exactly one")


@pytest.mark.parametrize("hdr", [
    "ceo@bank.example", "CEO <ceo@bank.example>",
    '"app@{z}" <ceo@bank.example>', "(app@{z}) ceo@bank.example",
    "ceo@{z}.bank.example", "ceo@other.{z}", "ceo@example.com"])
def test_from_header_foreign_domain(server, brand, hdr):
    """SPEC §4: the header's domain is a sending domain of this account
    (example.com is one of another account)."""
    hdr = hdr.format(z=brand["z"])
    dom = hdr.rsplit("@", 1)[1].rstrip(">")
    r = brand_refused(server, brand, "app@" + brand["z"], hdr, 10204)
    assert_human(r, "the From: header's domain '%s' is not a sending "
                 "domain of this account" % dom)


def test_from_header_domain_disabled(server, brand):
    """A From: domain switched off: 10203, as for the envelope, naming
    the header; 10204 of either domain comes first (SPEC §2.2)."""
    z = brand["z"]
    r = brand_refused(server, brand, "app@" + z, "News <news@off.%s>" % z,
                      10203)
    assert_human(r, "sending is disabled for 'off.%s', the From: header's "
                 "domain" % z, "domain set off.%s --enabled yes" % z)
    r = brand_refused(server, brand, "app@off." + z, "ceo@bank.example",
                      10204)
    assert_human(r, "From: header's domain 'bank.example'")
    # the envelope's own refusal is unchanged
    r = brand_send(server, brand, "app@off." + z, "app@" + z)
    assert_error(r, 10203, "/from")
    assert_human(r, "sending is disabled for 'off.%s' (pigeon domain set"
                 % z)


@pytest.mark.parametrize("env,hdr,signer", [
    ("app@{z}", "App <APP@{Z}>", "{z}"),
    ("app@{z}", "a@{Z} (work)", "{z}"),
    ("app@{z}", "A < a @ {z} >", "{z}"),
    ("app@{Z}", "app@{z}", "{z}"),
    ("app@{z}", "News <news@mail.{z}>", "{z}"),
    ("app@mail.{z}", "app@{z}", "mail.{z}"),
    ("app@{u}", "app@{u_ace}", "{u_ace}"),
    ("app@{u_ace}", "B\u00fccher <app@{U}>", "{u_ace}"),
])
def test_from_header_accepted(server, brand, env, hdr, signer):
    """The envelope's domain in any case or IDN form, or another sending
    domain of the account: sent, From: as written, signed by the
    envelope's domain."""
    f = dict(z=brand["z"], Z=brand["z"].upper(), u=brand["u"],
             U=brand["u"].upper(), u_ace=brand["u_ace"])
    rcpt = "ok-%s@example.net" % secrets.token_hex(6)
    r = brand_send(server, brand, env.format(**f), hdr.format(**f), rcpt)
    res = assert_send_result(r, [rcpt])
    assert res["delivered"] == [rcpt], res
    # what brand_refused looks for when it says nothing was sent
    assert server.wait_for(lambda: rcpt in server.stderr())
    got = server.request("GET", server.apath(
        "messages/" + urllib.parse.quote(res["message_id"], safe=""),
        brand["account"]), token=brand["token"], prefix=True)
    assert got.status == 200, got
    hs = raw_headers(got.raw)
    assert [v for k, v in hs if k == "From"] == [hdr.format(**f)]
    sig = [v for k, v in hs if k.lower() == "dkim-signature"][0]
    assert re.search(r"\bd=%s;" % re.escape(signer.format(**f)), sig), sig
    dkim_verify_all(server, got.raw, strict=False,
                    domain=signer.format(**f))


# -- SPEC §5 raw_headers: messages as real clients write them ---------------
def client_message(client, tag):
    """(the message as client would write it, the first field the
    cloudflare policy refuses). Each ends with CRLF and carries its own
    Date and Message-ID, so relaxed keeps it byte for byte."""
    if client == "outlook":
        hs = ["From: Sender Example <sender@example.com>",
              "To: Recipient <rcpt@example.net>",
              "Subject: Quarterly numbers",
              "Thread-Topic: Quarterly numbers",
              "Thread-Index: AdxeTmXhGk3bq0ZkT8a3QXJ5dJ0w3Q==",
              "Date: Wed, 26 Nov 2025 06:13:41 +0000",
              "Message-ID:\r\n <DB9PR01MB%s@DB9PR01MB1234.eurprd01.prod."
              "exchangelabs.com>" % tag,
              "Accept-Language: en-US",
              "Content-Language: en-US",
              "X-MS-Has-Attach:",
              "X-MS-TNEF-Correlator:",
              'Content-Type: text/plain; charset="us-ascii"',
              "Content-Transfer-Encoding: quoted-printable",
              "MIME-Version: 1.0"]
        body = "Hi,\r\n\r\nthe numbers are attached=2E\r\n"
        return mime(*hs, body=body), "Thread-Topic"
    if client == "thunderbird":
        hs = ["Message-ID: <%s@example.com>" % tag,
              "Date: Wed, 26 Nov 2025 07:13:41 +0100",
              "MIME-Version: 1.0",
              "User-Agent: Mozilla Thunderbird",
              "Content-Language: en-US",
              "To: rcpt@example.net",
              "From: Sender <sender@example.com>",
              "Subject: Hello from Thunderbird",
              "Content-Type: text/plain; charset=UTF-8; format=flowed",
              "Content-Transfer-Encoding: 7bit"]
        return mime(*hs, body="Hello,\r\n\r\n-- \r\nSender\r\n"), "User-Agent"
    # a relaying Postfix with a DKIM milter in front of pigeon
    hs = ["DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; "
          "d=example.com;\r\n\ts=relay; t=1764137620;\r\n"
          "\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
          "\th=From:To:Subject:Date;\r\n"
          "\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==",
          "Received: from app.example.com (app.example.com [192.0.2.10])\r\n"
          "\tby relay.example.com (Postfix) with ESMTPSA id 4B2C91234\r\n"
          "\tfor <rcpt@example.net>; Wed, 26 Nov 2025 06:13:40 +0000 (UTC)",
          "Received: by app.example.com (Postfix, from userid 1000)\r\n"
          "\tid 0123456789; Wed, 26 Nov 2025 06:13:39 +0000 (UTC)",
          "From: App <sender@example.com>",
          "To: rcpt@example.net",
          "Subject: cron report",
          "Message-Id: <20251126061339.%s@app.example.com>" % tag,
          "Date: Wed, 26 Nov 2025 06:13:39 +0000 (UTC)"]
    return mime(*hs, body="all done\r\n"), "DKIM-Signature"


CLIENTS = ["outlook", "thunderbird", "postfix"]


@pytest.mark.parametrize("client", CLIENTS)
def test_real_client_message_relaxed(server, client):
    """SPEC §5 relaxed (the default): the message goes through as the
    client wrote it, byte for byte after pigeon's DKIM-Signature fields,
    which verify over it."""
    msg, _ = client_message(client, secrets.token_hex(8))
    res = assert_send_result(server.send_raw(raw_body(mime_message=msg)),
                             pigeon_id=False)
    raw = fetch(server, res["message_id"])
    assert raw.endswith(msg.encode()), raw[-200:]
    ours = raw[:len(raw) - len(msg)]
    names = [k.lower() for k, v in raw_headers(ours + b"\r\n")]
    assert names and set(names) == {"dkim-signature"}, names
    algos = dkim_verify_all(server, raw, strict=False, ours=True)
    assert "rsa-sha256" in algos


@pytest.mark.parametrize("client", CLIENTS)
def test_real_client_message_cloudflare(strict, client):
    """SPEC §5 cloudflare: the same message is refused, naming its first
    field the lists refuse; nothing is stored."""
    msg, bad = client_message(client, secrets.token_hex(8))
    r = strict.send_raw(raw_body(mime_message=msg))
    assert_error(r, 10202, "/mime_message")
    assert_human(r, "mime_message: Header '%s' is not allowed." % bad)
    mid = re.search(r"(?im)^message-id:\s*(<[^>]+>)", msg).group(1)
    assert_error(strict.message(mid), 10000)
