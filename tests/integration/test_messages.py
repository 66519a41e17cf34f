"""
SPEC §3.3 (the built message), §6.2 (DKIM) and §8.3 GET messages/{id}:
every message shape is fetched back and read with Python's email package
and dkimpy, as a receiving MTA would.
"""
import email.utils
import os
import re
import time

import pytest

from conftest import (MSGID_RE, SENDER, assert_error, assert_send_result,
                      b64, dkim_verify_all, dns_has_ed25519, fetch, parse,
                      raw_headers, simple)

ORDER = ["from", "to", "cc", "reply-to", "subject", "date", "message-id",
         "mime-version"]
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + os.urandom(300)
PDF = b"%PDF-1.4\n" + os.urandom(5000) + b"\n%%EOF\n"


def norm(s):
    return s.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def check_message(server, res, body, custom=()):
    """The checks every built message must pass; returns the parsed
    message."""
    mid = res["message_id"]
    raw = fetch(server, mid)
    # fetch by the bare id too (without brackets) and unencoded brackets
    r = server.message(mid.strip("<>"))
    assert r.status == 200 and r.raw == raw, r
    # CRLF only, no line over 998 octets
    assert b"\r\n\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF in message"
    assert b"\r" not in raw.replace(b"\r\n", b""), "bare CR in message"
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998, "line over 998 octets: %r" % line[:80]
    hs = raw_headers(raw)
    names = [k.lower() for k, v in hs]
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        # §3.3 "Lines folded at 78 columns": a longer line is fine only
        # when it had no place to fold (one long word)
        if len(line) > 78:
            body_ = line.lstrip(b" \t")
            if b":" in body_ and line[:1] not in (b" ", b"\t"):
                body_ = body_.split(b":", 1)[1].lstrip(b" ")
            assert not re.search(rb"[ \t]", body_[:78 - (len(line) -
                                                       len(body_))]), \
                "header line not folded at 78: %r" % line[:120]
    # Date and DKIM t= are the acceptance time
    now = time.time()
    dt = email.utils.parsedate_to_datetime(dict(hs)["Date"]).timestamp()
    assert abs(dt - now) < 120, dict(hs)["Date"]
    # order (§3.3): DKIM-Signature first, then the fixed headers in order
    i = 0
    while names[i] == "dkim-signature":
        i += 1
    assert i >= 1, "message does not start with DKIM-Signature: %r" % names
    fixed = [n for n in names[i:] if n in ORDER]
    assert fixed == [n for n in ORDER if n in fixed], names
    assert names[i] == "from", names
    for n in ("from", "subject", "date", "message-id", "mime-version"):
        assert names.count(n) == 1, (n, names)
    assert "bcc" not in names
    assert "content-type" in names
    last_fixed = max(names.index(n) for n in fixed)
    content = [j for j, n in enumerate(names) if n.startswith("content-")]
    assert min(content) > last_fixed, names
    for c in custom:
        j = names.index(c.lower())
        assert last_fixed < j < min(content), (c, names)
    m = parse(raw)
    # Message-ID
    mm = MSGID_RE.match(str(m["Message-ID"]).strip())
    assert mm, m["Message-ID"]
    assert str(m["Message-ID"]).strip() == mid
    frm = body["from"] if isinstance(body["from"], str) else \
        body["from"].get("address", body["from"].get("email"))
    assert mm.group(2) == frm.split("@")[1]
    assert str(m["MIME-Version"]).strip() == "1.0"
    # Date: RFC 5322, +0000
    dv = dict(hs)["Date"]
    assert dv.endswith("+0000"), dv
    assert email.utils.parsedate_to_datetime(dv) is not None
    # DKIM
    algos = dkim_verify_all(server, raw, strict=False)
    assert "rsa-sha256" in algos, algos
    sig = [v for k, v in hs if k.lower() == "dkim-signature"][0]
    tags = dict((t.split("=", 1)[0].strip(),
                 re.sub(r"\s+", "", t.split("=", 1)[1]))
                for t in sig.split(";") if "=" in t)
    assert tags["c"] == "relaxed/relaxed", tags
    assert tags["d"] == frm.split("@")[1]
    assert tags.get("t", "").isdigit(), tags
    assert abs(int(tags["t"]) - now) < 120, tags
    signed = tags["h"].lower().split(":")
    assert signed.count("from") >= 2, "from must be oversigned: %r" % signed
    for n in ("subject", "date", "message-id", "mime-version",
              "content-type"):
        assert n in signed, (n, signed)
    for n in ("to", "cc", "reply-to"):
        if n in names:
            assert n in signed, (n, signed)
    return m, raw


def addrs(h):
    return [(a.display_name, a.addr_spec) for a in h.addresses]


def addrs_rfc2047(raw, name):
    """The addresses of header `name` decoded the RFC 2047 way (§6.2:
    white space between adjacent encoded-words is dropped).  Python's
    policy parser keeps that white space inside a display-name phrase,
    so the checks accept either reading."""
    import email.header
    v = [v for k, v in raw_headers(raw) if k.lower() == name.lower()][0]
    out = []
    for n, a in email.utils.getaddresses([v]):
        if "=?" in n:
            n = str(email.header.make_header(email.header.decode_header(n)))
        out.append((n, a))
    return out


def assert_addrs(m, raw, name, want):
    got = addrs(m[name])
    if got != want:
        got = addrs_rfc2047(raw, name)
    assert got == want, (name, str(m[name]))


def test_dev_domain_has_ed25519(server):
    res = assert_send_result(server.send(simple()))
    raw = fetch(server, res["message_id"])
    sigs = [v.replace(" ", "") for k, v in raw_headers(raw)
            if k.lower() == "dkim-signature"]
    assert any("a=ed25519-sha256" in s for s in sigs), sigs
    assert dns_has_ed25519(server), \
        "message has an ed25519-sha256 signature but `pigeon domain dns` " \
        "publishes no k=ed25519 key: %r" % server.dns_records()
    algos = dkim_verify_all(server, raw)
    assert sorted(algos) == ["ed25519-sha256", "rsa-sha256"], algos
    sigs = [v.replace(" ", "") for k, v in raw_headers(raw)
            if k.lower() == "dkim-signature"]
    rsa = [s for s in sigs if "a=rsa-sha256" in s][0]
    assert re.search(r"(^|;)s=pigeon(;|$)", rsa), "default selector: " + rsa


def test_text_only(server):
    body = simple(text="Hello\nworld\r\nthird line\rfourth")
    res = assert_send_result(server.send(body))
    m, raw = check_message(server, res, body)
    assert m.get_content_type() == "text/plain"
    assert m.get_content_charset() == "utf-8"
    assert str(m["Content-Transfer-Encoding"]).lower() == "7bit"
    assert norm(m.get_content()) == "Hello\nworld\nthird line\nfourth"
    assert b"Hello\r\nworld\r\nthird line\r\nfourth" in raw


def test_html_only(server):
    body = simple(text=None, html="<p>Hi <b>there</b></p>")
    res = assert_send_result(server.send(body))
    m, raw = check_message(server, res, body)
    assert m.get_content_type() == "text/html"
    assert norm(m.get_content()) == "<p>Hi <b>there</b></p>"


def test_text_and_html(server):
    body = simple(text="plain", html="<p>rich</p>")
    res = assert_send_result(server.send(body))
    m, raw = check_message(server, res, body)
    assert m.get_content_type() == "multipart/alternative"
    parts = list(m.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain",
                                                     "text/html"]
    assert norm(parts[0].get_content()) == "plain"
    assert norm(parts[1].get_content()) == "<p>rich</p>"
    assert m.get_body(("plain",)).get_content_charset() == "utf-8"


def test_non_ascii_and_long_lines_quoted_printable(server):
    text = "Grüße aus Köln — ünïcödé\n" + "x" * 1500 + "\nend"
    body = simple(text=text, html="<p>" + "y" * 1200 + "</p>")
    res = assert_send_result(server.send(body))
    m, raw = check_message(server, res, body)
    tp = m.get_body(("plain",))
    assert str(tp["Content-Transfer-Encoding"]).lower() == \
        "quoted-printable"
    assert norm(tp.get_content()) == norm(text)
    hp = m.get_body(("html",))
    assert str(hp["Content-Transfer-Encoding"]).lower() == \
        "quoted-printable"
    assert norm(hp.get_content()) == "<p>" + "y" * 1200 + "</p>"


def test_inline_image(server):
    body = simple(text="see logo", html='<img src="cid:logo">',
                  attachments=[{"content": b64(PNG), "filename": "logo.png",
                                "type": "image/png", "disposition": "inline",
                                "content_id": "logo"}])
    res = assert_send_result(server.send(body))
    m, raw = check_message(server, res, body)
    assert m.get_content_type() == "multipart/related"
    parts = list(m.iter_parts())
    assert parts[0].get_content_type() == "multipart/alternative"
    img = parts[1]
    assert img.get_content_type() == "image/png"
    assert str(img["Content-ID"]).strip() == "<logo>"
    assert img.get_content_disposition() == "inline"
    assert img.get_filename() == "logo.png"
    assert str(img["Content-Transfer-Encoding"]).lower() == "base64"
    assert img.get_content() == PNG
    for line in img.get_payload().strip().split("\n"):
        assert len(line.rstrip("\r")) <= 76


def test_attachments_mixed(server):
    body = simple(text="t", html="<p>h</p>", attachments=[
        {"content": b64(PDF), "filename": "invoice.pdf",
         "type": "application/pdf", "disposition": "attachment"},
        {"content": b64(PNG), "filename": "logo.png", "type": "image/png",
         "disposition": "inline", "content_id": "logo"},
        {"content": b64("naïve data\n".encode()), "filename": "Überweisung "
         "März 2024 — Ω.txt", "type": "text/plain",
         "disposition": "attachment"}])
    res = assert_send_result(server.send(body))
    m, raw = check_message(server, res, body)
    assert m.get_content_type() == "multipart/mixed"
    parts = list(m.iter_parts())
    assert parts[0].get_content_type() == "multipart/related"
    rel = list(parts[0].iter_parts())
    assert rel[0].get_content_type() == "multipart/alternative"
    assert rel[1].get_content() == PNG
    atts = parts[1:]
    assert [a.get_filename() for a in atts] == [
        "invoice.pdf", "Überweisung März 2024 — Ω.txt"]
    assert atts[0].get_content_type() == "application/pdf"
    assert atts[0].get_content_disposition() == "attachment"
    assert atts[0].get_content() == PDF
    payload = atts[1].get_payload(decode=True)
    assert payload == "naïve data\n".encode()
    # RFC 2231 for the non-ASCII filename: no raw 8-bit bytes anywhere
    assert all(b < 128 for b in raw), "8-bit bytes in the message"
    assert b"filename*" in raw


def test_text_with_attachment_only(server):
    body = simple(attachments=[{"content": b64(PDF), "filename": "a.pdf",
                                "type": "application/pdf",
                                "disposition": "attachment"}])
    res = assert_send_result(server.send(body))
    m, raw = check_message(server, res, body)
    assert m.get_content_type() == "multipart/mixed"
    parts = list(m.iter_parts())
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content() == PDF


@pytest.mark.parametrize("name", [
    "José Müller", "山田 太郎", "O'Brien, Pat", 'Say "hi"', "a.b",
    "Ωmega " + "long " * 30, "(comment)", "a\\b",
])
def test_display_names_and_subject_round_trip(server, name):
    subj = "Re: " + name + " — привет"
    body = simple(subject=subj,
                  to={"address": "to@example.net", "name": name},
                  cc=[{"address": "cc@example.net", "name": name}],
                  reply_to={"address": "rt@example.net", "name": name},
                  **{"from": {"address": SENDER, "name": name}})
    res = assert_send_result(server.send(body))
    m, raw = check_message(server, res, body)
    assert m["Subject"] == subj
    for h, a in (("From", SENDER), ("To", "to@example.net"),
                 ("Cc", "cc@example.net"), ("Reply-To", "rt@example.net")):
        assert_addrs(m, raw, h, [(name, a)])
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(b < 128 for b in head), "8-bit bytes in the header section"


def test_plain_ascii_subject_not_encoded(server):
    body = simple(subject="Monthly report 2024")
    res = assert_send_result(server.send(body))
    raw = fetch(server, res["message_id"])
    assert dict(raw_headers(raw))["Subject"] == "Monthly report 2024"


@pytest.mark.parametrize("subj", ["trailing space ", "tab\tend\t", "x  "])
def test_subject_trailing_space_survives(server, subj):
    """Trailing white space is often stripped in transit; an encoded-word
    keeps it."""
    body = simple(subject=subj, headers={"X-Note": subj})
    res = assert_send_result(server.send(body))
    m, raw = check_message(server, res, body)
    assert m["Subject"] == subj
    assert m["X-Note"] == subj
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not any(ln.endswith((b" ", b"\t")) for ln in head.split(b"\r\n"))


def test_custom_headers_and_cc_bcc_reply_to(server):
    hdrs = {"X-Campaign": "spring", "In-Reply-To": "<p1@example.net>",
            "References": "<p0@example.net> <p1@example.net>",
            "List-Unsubscribe": "<https://example.com/u/1>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Unicode": "ça va"}
    body = simple(to=["a@example.net"], cc=["c1@example.net",
                                            "c2@example.org"],
                  bcc=["secret@example.net"], reply_to="r@example.net",
                  headers=hdrs)
    res = assert_send_result(server.send(body), [
        "a@example.net", "c1@example.net", "c2@example.org",
        "secret@example.net"])
    m, raw = check_message(server, res, body, custom=list(hdrs))
    for k, v in hdrs.items():
        assert str(m[k]) == v, (k, str(m[k]))
    assert addrs(m["Cc"]) == [("", "c1@example.net"), ("", "c2@example.org")]
    assert m["Bcc"] is None and b"secret@example.net" not in raw
    sig = [v for k, v in raw_headers(raw) if k.lower() == "dkim-signature"]
    h = re.search(r"h=([^;]+)", re.sub(r"\s+", "", sig[0])).group(1).lower()
    for n in ("list-unsubscribe", "list-unsubscribe-post", "in-reply-to",
              "references", "cc", "reply-to"):
        assert n in h.split(":"), (n, h)


def test_idn_recipient_domain(server):
    body = simple(to="user@bücher.example")
    res = assert_send_result(server.send(body))
    m, raw = check_message(server, res, body)
    to = str(m["To"])
    assert "xn--bcher-kva.example" in to or "bücher.example" in to, to


def test_message_id_forms(server):
    res = assert_send_result(server.send(simple()))
    mid = res["message_id"]
    raw = fetch(server, mid)
    for form in (mid, mid.strip("<>")):
        r = server.message(form)
        assert r.status == 200 and r.raw == raw
    r = server.message(mid.strip("<>"), quote=False)
    assert r.status == 200 and r.raw == raw
    # unique ids
    ids = {assert_send_result(server.send(simple()))["message_id"]
           for _ in range(20)}
    assert len(ids) == 20


def test_message_of_another_account_is_404(server):
    res = assert_send_result(server.send(simple()))
    a = server.new_account()
    r = server.request("GET", server.apath(
        "messages/" + res["message_id"].strip("<>"), a["account"]),
        token=a["token"], prefix=True)
    assert_error(r, 10000)


def test_messages_route_needs_read(server):
    res = assert_send_result(server.send(simple()))
    t = server.cli("token", "create", server.account, "--perm", "send")
    r = server.message(res["message_id"], token=t["token"])
    assert_error(r, 10102)


def test_encoded_word_lookalike_name(server):
    """A display name that looks like an RFC 2047 encoded-word must come
    back as typed (quoted or encoded), not be decoded by the reader."""
    name = "=?utf-8?q?not-really?="
    body = simple(to={"address": "to@example.net", "name": name})
    res = assert_send_result(server.send(body))
    m, raw = check_message(server, res, body)
    assert_addrs(m, raw, "To", [(name, "to@example.net")])


def test_domain_without_ed25519_signs_rsa_only(server):
    dom = "rsaonly-%s.test" % os.urandom(3).hex()
    a = server.new_account(domain=dom)
    body = simple(**{"from": "news@" + dom})
    res = assert_send_result(server.send(body, token=a["token"],
                                         account=a["account"]))
    r = server.request("GET", server.apath(
        "messages/" + res["message_id"].strip("<>"), a["account"]),
        token=a["token"], prefix=True)
    assert r.status == 200, r
    sigs = [v for k, v in raw_headers(r.raw) if k.lower() == "dkim-signature"]
    assert len(sigs) == 1 and "a=rsa-sha256" in sigs[0].replace(" ", "")
    assert dkim_verify_all(server, r.raw, domain=dom) == ["rsa-sha256"]
    assert "d=" + dom in re.sub(r"\s+", "", sigs[0])


def test_domain_with_ed25519_verifies_both(server):
    dom = "both-%s.test" % os.urandom(3).hex()
    a = server.new_account(domain=dom, ed25519=True)
    body = simple(**{"from": "news@" + dom})
    res = assert_send_result(server.send(body, token=a["token"],
                                         account=a["account"]))
    r = server.request("GET", server.apath(
        "messages/" + res["message_id"].strip("<>"), a["account"]),
        token=a["token"], prefix=True)
    assert r.status == 200, r
    assert sorted(dkim_verify_all(server, r.raw, domain=dom)) == [
        "ed25519-sha256", "rsa-sha256"]
