"""
The hardening of log lines, encoded-words and DNS records:
- a value from a client is one field of the delivery log line, whatever
  it holds (docs/design.md, Log lines);
- encoded-words (RFC 2047 §2, §5): lines that hold one are at most 76
  characters, and the values parse back with Python's email package;
- `pigeon domain dns` with a hostname that is not a full domain name
  prints no invalid SPF or MX record (RFC 7208 §7.1).
"""
import json
import re
import subprocess
import time

from conftest import (PIGEON_BIN, Server, assert_send_result, fetch, parse,
                      simple)

# key=value fields: a bare run without spaces or quotes, or a "..." run
# followed by a space or the end of the line
FIELD = re.compile(r'([A-Za-z_]+)=("[^"]*"|[^ "]*)(?= |$)')


def fields(line):
    """The fields of a log line after its time and level; fails on
    anything that is not one field after another."""
    rest = line.split(" ", 2)[2]
    out, pos = [], 0
    while pos < len(rest):
        m = FIELD.match(rest, pos)
        assert m, "not key=value at %d: %r" % (pos, rest)
        out.append((m.group(1), m.group(2)))
        pos = m.end()
        while pos < len(rest) and rest[pos] == " ":
            pos += 1
    return out


def delivery_line(server, mid, timeout=10):
    """The first delivery line of message mid (one recipient)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in server.stderr().splitlines():
            if " msg=" + mid + " " in line and " rcpt=" in line:
                return line
        time.sleep(0.1)
    raise AssertionError("no delivery line for %s:\n%s" %
                         (mid, server.stderr()[-3000:]))


def test_quoted_local_part_is_one_field(server):
    rcpt = '"x status=bounced dsn=5.1.1"@example.net'
    r = server.send(simple(to=rcpt))
    res = assert_send_result(r, [rcpt])
    line = delivery_line(server, res["message_id"])
    f = fields(line)
    assert ("rcpt", '"%22x status=bounced dsn=5.1.1%22@example.net"') in f, \
        line
    assert [k for k, _ in f].count("status") == 1, line
    assert [k for k, _ in f].count("dsn") == 1, line
    assert dict(f)["status"] != "bounced", line
    # an ordinary address stays readable
    plain = "plain-log@example.net"
    res = assert_send_result(server.send(simple(to=plain)), [plain])
    line = delivery_line(server, res["message_id"])
    assert ("rcpt", plain) in fields(line), line


SUBJECT = ("🎉 日本語の件名がとても長い場合のテスト — Grüße aus Köln, ça "
           "déborde forcément sur plusieurs lignes, Ωmega Ωmega Ωmega "
           "日本語の件名日本語の件名日本語の件名")


def test_long_non_ascii_subject_parses_back(server):
    body = simple(subject=SUBJECT,
                  headers={"Keywords": "café, thé au lait, plain, 日本語",
                           "X-Note": SUBJECT})
    body["from"] = {"address": "sender@example.com",
                    "name": "Zoë Müller-Lüdenscheidt, Geschäftsführer"}
    res = assert_send_result(server.send(body))
    raw = fetch(server, res["message_id"])
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if b"=?" in line:
            assert len(line) <= 76, line
    msg = parse(raw)
    assert msg.defects == []
    assert str(msg["Subject"]) == SUBJECT
    assert str(msg["X-Note"]) == SUBJECT
    assert msg["From"].addresses[0].display_name == \
        "Zoë Müller-Lüdenscheidt, Geschäftsführer"
    # each phrase on its own: no comma inside an encoded-word
    kw = msg.get_all("Keywords")[0]
    assert [w.strip() for w in str(kw).split(",")] == \
        ["café", "thé au lait", "plain", "日本語"], str(kw)
    words = re.findall(rb"=\?UTF-8\?([BQ])\?([^?]*)\?=", head)
    assert words
    for enc, text in words:
        if enc == b"Q":
            assert b"=2C" not in text and b"," not in text


def run(s, *args):
    p = subprocess.run([PIGEON_BIN] + list(args) + ["-c", s.conf_path],
                       cwd=s.dir, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode(), p.stderr.decode()


def test_dns_dotless_hostname(tmp_path):
    s = Server(tmp_path, hostname="vm")
    acct = json.loads(run(s, "account", "create", "dotless", "--json")[0])
    zone = json.loads(run(s, "zone", "create", acct["id"], "dotless.test",
                          "--json")[0])
    run(s, "domain", "create", zone["id"], "dotless.test", "--json")
    out, err = run(s, "domain", "dns", "dotless.test")
    assert "hostname 'vm' is not a full domain name" in err, err
    recs = [l for l in out.splitlines() if l and not l.startswith(";")]
    assert recs, out
    for l in recs:
        name, ttl, cls, typ, content = l.split("\t", 4)
        if typ == "MX":
            target = content.split()[1].rstrip(".")
            assert "." in target, l
        for mech in re.findall(r"\ba:(\S+)", content):
            assert "." in mech.strip('"'), l
    assert "a:vm " not in out and "\tMX\t10 vm." not in out, out
    assert any(l.startswith("; ") and "left out" in l
               for l in out.splitlines()), out
    js = json.loads(run(s, "domain", "dns", "dotless.test", "--json")[0])
    assert not any(r["type"] == "MX" for r in js), js
    assert not any("v=spf1" in r["content"] for r in js), js
    assert any(r["name"] == "_dmarc.dotless.test" for r in js), js
