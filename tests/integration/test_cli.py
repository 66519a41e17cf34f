"""
The admin CLI (SPEC §9): exit codes (0 ok, 1 runtime failure, 2 usage
error), one-line `pigeon: ` errors on stderr, --help / --version, the
--json shapes, and that its changes reach a running server.
"""
import json
import os
import re
import secrets
import subprocess

import pytest

from conftest import (PIGEON_BIN, SANITIZER_MARKS, SENDER, Server,
                      assert_error, assert_send_result, simple)

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{40}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")

# subcommand -> options its --help must mention
SUBCOMMANDS = {
    ("serve",): ["-c", "--dev"],
    ("account", "create"): ["NAME", "--id"],
    ("account", "set"): ["--entitled", "--sending-enabled", "--rate",
                         "--burst", "--daily-quota"],
    ("zone", "create"): ["ACCOUNT_ID", "NAME"],
    ("zone", "list"): ["ACCOUNT_ID"],
    ("domain", "create"): ["ZONE_ID", "--selector", "--ed25519"],
    ("domain", "dns"): ["NAME"],
    ("domain", "set"): ["--enabled", "--drop-suppressed"],
    ("token", "create"): ["ACCOUNT_ID", "--name", "--perm", "--expires",
                          "--global-key"],
    ("token", "list"): ["ACCOUNT_ID"],
    ("token", "revoke"): ["TOKEN_ID"],
    ("check",): ["-c"],
}


def run(*argv, cwd=None):
    p = subprocess.run([PIGEON_BIN] + list(argv), cwd=cwd,
                       capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    for m in SANITIZER_MARKS:
        assert m.encode() not in p.stderr, p.stderr.decode()
    p.out = p.stdout.decode("utf-8", "replace")
    p.err = p.stderr.decode("utf-8", "replace")
    return p


def assert_fails(p, code, *needles):
    """Exit `code`, nothing on stdout, one `pigeon: ` line on stderr."""
    assert p.returncode == code, "want exit %d, got %d: %s%s" % (
        code, p.returncode, p.out, p.err)
    lines = p.err.splitlines()
    assert len(lines) == 1, "want one stderr line, got %r" % p.err
    assert lines[0].startswith("pigeon: "), lines[0]
    for n in needles:
        assert n.lower() in lines[0].lower(), "%r not in %r" % (n, lines[0])
    assert p.out == "", "stdout on failure: %r" % p.out
    return lines[0]


@pytest.fixture
def offline(tmp_path):
    """A config + state_dir, no server running: the CLI works on the store
    directly."""
    # a full hostname, not the machine's (a dotless one such as "vm"
    # leaves SPF and MX out, with a warning: test_log_mime_dns.py)
    return Server(tmp_path, hostname="mx.shapes.test")


def cli(s, *args, json_out=True):
    """The CLI on s's config; returns the parsed JSON (exit 0 asserted)."""
    argv = list(args) + ["-c", s.conf_path]
    if json_out:
        argv.append("--json")
    p = run(*argv, cwd=s.dir)
    assert p.returncode == 0, "%s -> %d: %s" % (args, p.returncode, p.err)
    assert p.err == "", p.err
    return json.loads(p.out) if json_out else p.out


# -- help, version, usage errors ----------------------------------------------
def test_top_level_help_and_version():
    p = run("--help")
    assert p.returncode == 0, p.err
    for words in SUBCOMMANDS:
        assert " ".join(words) in p.out, "%r not in --help" % (words,)
    assert run("-h").out == p.out
    v = run("--version")
    assert v.returncode == 0, v.err
    assert re.match(r"^pigeon \d+\.\d+(\.\d+)?\S*\s*$", v.out), v.out


@pytest.mark.parametrize("words", sorted(SUBCOMMANDS),
                         ids=lambda w: "-".join(w))
def test_subcommand_help(words):
    p = run(*(list(words) + ["--help"]))
    assert p.returncode == 0, p.err
    assert p.out.startswith("usage: pigeon " + " ".join(words)), p.out
    for opt in SUBCOMMANDS[words] + ["--json"]:
        assert opt in p.out, "%r not in `%s --help`" % (opt, " ".join(words))
    assert run(*(list(words) + ["-h"])).out == p.out


@pytest.mark.parametrize("argv,needle", [
    ([], "command"),
    (["frobnicate"], "frobnicate"),
    (["account"], "subcommand"),
    (["account", "frob", "--dev"], "frob"),
    (["account", "create", "--dev"], "NAME"),
    (["account", "create", "a", "b", "--dev"], "'b'"),
    (["account", "create", "a", "--bogus", "--dev"], "--bogus"),
    (["account", "create", "a", "--id", "xyz", "--dev"], "--id"),
    (["zone", "create", "0" * 32, "--dev"], "NAME"),
    (["token", "create", "0" * 32, "--perm", "fly", "--dev"], "--perm"),
    (["token", "create", "0" * 32, "--perm"], ""),
], ids=lambda x: x if isinstance(x, str) else "_".join(x) or "none")
def test_usage_errors_exit_2(tmp_path, argv, needle):
    p = run(*argv, cwd=str(tmp_path))
    assert_fails(p, 2, needle)
    assert not os.path.exists(tmp_path / "var"), \
        "a usage error created the store"


@pytest.mark.parametrize("argv", [
    ["account", "create", "x"],
    ["zone", "list", "0" * 32],
    ["token", "revoke", "0" * 32],
    ["check"],
    ["serve"],
], ids=lambda a: "_".join(a))
def test_missing_config_exit_2(tmp_path, argv):
    p = run(*argv, cwd=str(tmp_path))
    line = assert_fails(p, 2, "-c", "--dev")
    assert "FILE" in line or "config" in line.lower(), line
    assert not os.listdir(str(tmp_path)), "wrote files without a config"


def test_serve_without_config_does_not_start(tmp_path):
    p = subprocess.run([PIGEON_BIN, "serve"], cwd=str(tmp_path),
                       capture_output=True, timeout=10)
    assert p.returncode == 2, p.stderr
    assert p.stderr.decode().startswith("pigeon: ")


# -- runtime failures ---------------------------------------------------------
def test_runtime_failures_exit_1(offline, tmp_path):
    s = offline
    c = ["-c", s.conf_path]
    assert_fails(run("zone", "create", "0" * 32, "example.org", *c), 1,
                 "0" * 32)
    assert_fails(run("token", "create", "0" * 32, *c), 1, "0" * 32)
    assert_fails(run("token", "revoke", "0" * 32, *c), 1, "0" * 32)
    assert_fails(run("domain", "dns", "nope.example", *c), 1,
                 "nope.example")
    assert_fails(run("account", "create", "x", "-c",
                     str(tmp_path / "missing.conf")), 1, "missing.conf")


def test_domain_outside_zone_and_duplicate(offline):
    s = offline
    acct = cli(s, "account", "create", "outside")["id"]
    zone = cli(s, "zone", "create", acct, "example.org")["id"]
    c = ["-c", s.conf_path]
    line = assert_fails(run("domain", "create", zone, "other.net", *c), 1,
                        "other.net", "example.org")
    assert "zone" in line.lower(), line
    # a name that merely ends with the zone's text is outside it too
    assert_fails(run("domain", "create", zone, "badexample.org", *c), 1,
                 "badexample.org")
    cli(s, "domain", "create", zone, "mail.example.org")
    assert_fails(run("domain", "create", zone, "mail.example.org", *c), 1,
                 "mail.example.org", "exists")
    assert_fails(run("domain", "create", zone, "MAIL.example.org", *c), 1,
                 "exists")
    assert_fails(run("zone", "create", acct, "example.org", *c), 1,
                 "example.org")


# -- check --------------------------------------------------------------------
def test_check_good_and_bad(offline, tmp_path):
    s = offline
    good = tmp_path / "good.conf"
    with open(s.conf_path) as f:
        good.write_text(f.read() + "hostname mail.example.test\n")
    p = run("check", "-c", str(good), cwd=s.dir)
    assert p.returncode == 0, p.err
    assert p.err == ""
    # a short hostname is allowed, with a warning: SPF and MX cannot name
    # it
    short = tmp_path / "short.conf"
    short.write_text(good.read_text() + "hostname mailhost\n")
    p = run("check", "-c", str(short), cwd=s.dir)
    assert p.returncode == 0, p.err
    assert p.err.startswith("pigeon: warning: hostname 'mailhost' is not "
                            "a full domain name"), p.err
    bad = tmp_path / "bad.conf"
    with open(s.conf_path) as f:
        lines = f.read().splitlines()
    lines.insert(2, "frobnicate_level 3")
    bad.write_text("\n".join(lines) + "\n")
    line = assert_fails(run("check", "-c", str(bad)), 1,
                        "bad.conf:3", "frobnicate_level")
    assert "directive" in line.lower(), line
    bad.write_text("http_port 99999\n")
    assert_fails(run("check", "-c", str(bad)), 1, "bad.conf:1", "http_port",
                 "out of range (0 to 65535)")
    bad.write_text("send_wait_ms 2m\n")
    assert_fails(run("check", "-c", str(bad)), 1, "send_wait_ms",
                 "(0 to 60000 ms)")
    bad.write_text("http_port\n")
    assert_fails(run("check", "-c", str(bad)), 1, "bad.conf:1")


# -- check: the route table (SPEC §6.3) ---------------------------------------
def route_conf(s, tmp_path, *lines):
    """s's config plus lines, in a file of its own; its path."""
    path = tmp_path / "routes.conf"
    with open(s.conf_path) as f:
        path.write_text(f.read() + "".join(l + "\n" for l in lines))
    return path


def test_check_prints_the_route_table(offline, tmp_path):
    """Each row as pigeon understood it, defaults written out, the
    password never shown; --json lists the same rows."""
    s = offline
    conf = route_conf(
        s, tmp_path,
        "route *.test      capture",
        "route example.net relay "
        "smtps://us%40er:pa%3Ass%40word@smarthost.example:465 tls=verify",
        "route Bücher.Example mx",
        "route relay.example relay smtp://u:pw@127.0.0.1:2525 tls=require",
        "route *           mx tls=opportunistic",
        "dns_servers 127.0.0.1:5353",
        "mx_port 2525",
        "smtp_timeout_rcpt 500ms")
    p = run("check", "-c", str(conf), cwd=s.dir)
    assert p.returncode == 0, p.err
    assert p.err == "", p.err
    routes = [l for l in p.out.splitlines() if l.startswith("route ")]
    assert routes == [
        "route *.test capture",
        "route example.net relay smtps://us%40er:***@smarthost.example:465"
        " tls=verify",
        "route xn--bcher-kva.example mx tls=opportunistic",
        "route relay.example relay smtp://u:***@127.0.0.1:2525 tls=require",
        "route * mx tls=opportunistic",
    ], p.out
    assert "word" not in p.out and "pa%3Ass" not in p.out
    j = json.loads(run("check", "-c", str(conf), "--json", cwd=s.dir).out)
    assert j["ok"] is True
    assert j["routes"] == [r[len("route "):] for r in routes]
    # -v prints every directive, the routes last, still redacted
    v = run("check", "-c", str(conf), "-v", cwd=s.dir)
    assert v.returncode == 0, v.err
    assert "smtp_timeout_rcpt 500ms\n" in v.out
    assert "mx_port 2525\n" in v.out
    assert v.out.count("route * mx tls=opportunistic\n") == 1, v.out
    assert "word" not in v.out


def test_check_default_route_table(offline, tmp_path):
    """No route: the table is `* capture`; default_route KIND is the last
    row wherever it is written."""
    s = offline
    p = run("check", "-c", s.conf_path, cwd=s.dir)
    assert p.returncode == 0, p.err
    assert p.out.splitlines()[1:] == ["route * capture    # the default"]
    conf = route_conf(s, tmp_path, "default_route mx tls=require",
                      "route *.test capture")
    p = run("check", "-c", str(conf), cwd=s.dir)
    assert p.returncode == 0, p.err
    assert p.out.splitlines()[1:] == ["route *.test capture",
                                      "route * mx tls=require"], p.out
    p = run("check", "--dev", cwd=str(tmp_path))
    assert p.returncode == 0, p.err
    assert p.out.splitlines()[1:] == ["route * capture    # the default"]


def test_check_warns_of_hidden_routes(offline, tmp_path):
    """First match wins: a row after `*`, or inside an earlier
    *.domain, can never match; check says so and still exits 0."""
    s = offline
    conf = route_conf(s, tmp_path, "route *.example.net mx",
                      "route a.example.net capture", "route * mx",
                      "route late.example capture", "default_route capture")
    n = len(open(s.conf_path).read().splitlines())
    p = run("check", "-c", str(conf), cwd=s.dir)
    assert p.returncode == 0, p.err
    assert p.err.splitlines() == [
        "pigeon: warning: %s:%d: route a.example.net can never match: "
        "route *.example.net on line %d comes first" % (conf, n + 2, n + 1),
        "pigeon: warning: %s:%d: route late.example can never match: "
        "route * on line %d comes first" % (conf, n + 4, n + 3),
        "pigeon: warning: %s:%d: default_route can never match: route * "
        "on line %d comes first (default_route is the last route)"
        % (conf, n + 5, n + 3),
    ], p.err


@pytest.mark.parametrize("line,words", [
    ("route * smtp", "route *: unknown kind 'smtp' (use capture, mx or "
                     "relay)"),
    ("route *", "route *: missing the kind"),
    ("route exa_mple.net mx", "route exa_mple.net: bad pattern (an exact "
                              "domain, *.domain or *)"),
    ("route a.*.example mx", "bad pattern"),
    ("route x.net relay ftp://h", "route x.net: the relay URL must start "
                                  "smtp:// or smtps://"),
    ("route x.net relay", "relay needs a URL"),
    ("route x.net relay smtp://:25", "the relay URL has an empty host"),
    ("route x.net relay smtp://h:99999", "bad relay port '99999' (1 to "
                                         "65535)"),
    ("route x.net relay smtp://h/x", "takes no path"),
    ("route x.net relay smtp://u:secret@h tls=none",
     "route x.net: relay credentials over plaintext: use tls=require or "
     "verify, or smtps://"),
    ("default_route relay smtp://u:secret@h tls=none",
     "default_route: relay credentials over plaintext"),
    ("route x.net relay smtps://h tls=opportunistic",
     "smtps:// is TLS from the first byte"),
    ("route x.net relay smtp://u:se@cret@h", "as %40"),
    ("route x.net relay smtp://u:secret%zz@h", "bad percent-encoding"),
    ("route x.net mx tls=maybe", "route x.net: unknown tls= value 'maybe' "
                                 "(use none, opportunistic, require or "
                                 "verify)"),
    ("route x.net mx tls=none extra", "route x.net: unexpected argument "
                                      "'extra'"),
    ("route x.net capture tls=none", "unexpected argument 'tls=none'"),
])
def test_check_refuses_bad_routes(offline, tmp_path, line, words):
    """Exit 1, one line naming FILE:LINE and what is wrong, no password."""
    s = offline
    conf = route_conf(s, tmp_path, line)
    n = len(open(str(conf)).read().splitlines())
    err = assert_fails(run("check", "-c", str(conf), cwd=s.dir), 1,
                       "%s:%d: " % (conf, n), words)
    assert "secret" not in err, err


@pytest.mark.parametrize("line,words", [
    ("dns_servers ns.example", "dns_servers 'ns.example': want an IP "
                               "address"),
    ("mx_port 0", "mx_port '0': out of range (1 to 65535)"),
    ("helo_name bad_name", "helo_name 'bad_name'"),
    ("tls_ca_file /nonexistent/ca.pem", "tls_ca_file /nonexistent/ca.pem: "
                                        "no such file"),
    ("smtp_timeout_data 0", "smtp_timeout_data '0': out of range"),
    ("max_connections_per_destination 0", "out of range"),
])
def test_check_refuses_bad_delivery_directives(offline, tmp_path, line,
                                               words):
    s = offline
    conf = route_conf(s, tmp_path, line)
    assert_fails(run("check", "-c", str(conf), cwd=s.dir), 1, str(conf),
                 words)

# -- --json shapes ------------------------------------------------------------
def test_json_shapes(offline):
    s = offline
    a = cli(s, "account", "create", "shapes")
    assert HEX32.match(a["id"]), a
    assert a["name"] == "shapes"
    z = cli(s, "zone", "create", a["id"], "shapes.test")
    assert HEX32.match(z["id"]) and z["name"] == "shapes.test", z
    zl = cli(s, "zone", "list", a["id"])
    assert isinstance(zl, list) and [x["id"] for x in zl] == [z["id"]], zl
    assert zl[0]["name"] == "shapes.test"

    d = cli(s, "domain", "create", z["id"], "mail.shapes.test")
    assert HEX32.match(d["id"]) and d["name"] == "mail.shapes.test", d
    assert d["dkim_selector"] == "pigeon"
    assert d["return_path_domain"] == "bounces.mail.shapes.test"
    assert d["enabled"] is True
    assert d["drop_suppressed_recipients"] is False
    assert d["preview_enabled"] is True
    assert isinstance(d["dns"], list) and d["dns"], d
    dns = cli(s, "domain", "dns", "mail.shapes.test")
    assert dns == d["dns"], "domain create and domain dns disagree"
    check_dns(dns, "mail.shapes.test", "pigeon", ed25519=False)
    assert not any(k in json.dumps(d) for k in ("PRIVATE KEY", "rsa_pem")), \
        "domain create printed a private key"

    e = cli(s, "domain", "create", z["id"], "ed.shapes.test", "--selector",
            "s2026", "--ed25519")
    assert e["dkim_selector"] == "s2026"
    dns = cli(s, "domain", "dns", "ed.shapes.test")
    assert dns == e["dns"]
    check_dns(dns, "ed.shapes.test", "s2026", ed25519=True)


def check_dns(recs, name, selector, ed25519):
    """SPEC §6.2 / §9: {type, name, content, priority?, ttl} records."""
    for r in recs:
        keys = set(r)
        assert {"type", "name", "content", "ttl"} <= keys, r
        assert keys <= {"type", "name", "content", "ttl", "priority"}, r
        assert type(r["ttl"]) is int and r["ttl"] > 0, r
        assert isinstance(r["content"], str) and r["content"], r
        if r["type"] == "MX":
            assert type(r.get("priority")) is int, r
        else:
            assert "priority" not in r, r
    by = {}
    for r in recs:
        by.setdefault((r["type"], r["name"]), []).append(r["content"])
    rsa = by.get(("TXT", "%s._domainkey.%s" % (selector, name)))
    assert rsa and len(rsa) == 1, recs
    assert "k=rsa" in rsa[0].replace(" ", "") and "p=" in rsa[0], rsa
    ed = by.get(("TXT", "%s-ed25519._domainkey.%s" % (selector, name)))
    if ed25519:
        assert ed and len(ed) == 1, "no Ed25519 record: %r" % recs
        assert "k=ed25519" in ed[0].replace(" ", ""), ed
        import base64
        p = re.search(r"p=([A-Za-z0-9+/=]+)", ed[0]).group(1)
        assert len(base64.b64decode(p)) == 32, "Ed25519 key is 32 bytes"
    else:
        assert not ed, recs
        assert not any("ed25519" in c for cs in by.values() for c in cs)
    rp = "bounces." + name
    assert "v=spf1 a:mx.shapes.test -all" in by.get(("TXT", rp), []), recs
    assert by.get(("MX", rp)) == ["mx.shapes.test"], recs
    assert any(c.startswith("v=DMARC1") for c in
               by.get(("TXT", "_dmarc." + name), [])), recs


def test_token_create_list_never_shows_secret(offline):
    s = offline
    acct = cli(s, "account", "create", "tok")["id"]
    t = cli(s, "token", "create", acct, "--name", "ci", "--perm", "send")
    assert HEX32.match(t["id"]), t
    assert TOKEN_RE.match(t["token"]), t["token"]
    t2 = cli(s, "token", "create", acct)
    assert t2["token"] != t["token"] and t2["id"] != t["id"]
    for out in (json.dumps(cli(s, "token", "list", acct)),
                cli(s, "token", "list", acct, json_out=False)):
        assert t["token"] not in out and t2["token"] not in out, \
            "token list shows a secret"
        assert t["id"] in out and t2["id"] in out, out
    lst = cli(s, "token", "list", acct)
    assert isinstance(lst, list) and len(lst) == 2, lst
    for row in lst:
        assert not {"token", "hash", "secret"} & set(row), row
        # nothing that looks like a stored hash either (hex of >= 32 bytes)
        for v in row.values():
            assert not (isinstance(v, str) and
                        re.fullmatch(r"[0-9a-f]{64,}", v)), row
    # the human form of create prints the secret once, too
    human = cli(s, "token", "create", acct, json_out=False)
    assert any(TOKEN_RE.match(w) for w in human.split()), human


# -- changes reach a running server -------------------------------------------
def test_token_revoke_reaches_running_server(server):
    dom = "revoke-%s.test" % secrets.token_hex(3)
    acct = server.new_account(domain=dom)
    tok = acct["token"]
    body = simple(**{"from": "a@" + dom})
    assert_send_result(server.send(body, token=tok, account=acct["account"]))
    server.cli("token", "revoke", acct["token_id"])

    def refused():
        r = server.send(body, token=tok, account=acct["account"])
        return r if r.status == 401 else None
    r = server.wait_for(refused, timeout=5)
    assert r is not None, "revoked token still accepted after 5 s"
    assert_error(r, 10101)
    lst = server.cli("token", "list", acct["account"])
    assert [x["revoked"] for x in lst if x["id"] == acct["token_id"]] == \
        [True], lst
    # revoking twice is not a crash; the token stays revoked
    p = server.cli("token", "revoke", acct["token_id"], check=False)
    assert p.returncode in (0, 1), p
    r = server.request("GET", server.apath(
        "messages/%3Cx%40" + dom + "%3E", acct["account"]), prefix=True,
        token=tok)
    assert_error(r, 10101)


def test_cli_account_and_domain_used_by_running_server(server):
    dom = "fresh-%s.test" % secrets.token_hex(3)
    acct = server.new_account(domain=dom, ed25519=True)
    r = server.send(simple(**{"from": "hi@" + dom}),
                    token=acct["token"], account=acct["account"])
    assert_send_result(r)
    # the dev token belongs to another account: 403/10102
    r = server.send(simple(**{"from": SENDER}), account=acct["account"])
    assert_error(r, 10102)


def test_dev_command_outside_a_dev_directory(tmp_path):
    """--dev names the store `pigeon serve --dev` made in this directory:
    elsewhere the command says so and leaves no empty store behind."""
    line = assert_fails(run("zone", "list", "0" * 32, "--dev", cwd=tmp_path),
                        1, "no dev store at ./var/pigeon.db", "make run")
    assert "-c FILE" in line
    assert not (tmp_path / "var").exists()


def test_token_and_domain_just_created_work_at_once(make_server):
    """A token or sending domain made with the CLI is usable by the very
    next request, even when the server checks for admin changes only
    hourly (auth_cache_ms): a miss looks at the store again."""
    s = make_server("fresh_at_once", auth_cache_ms=3600000)
    s.start()

    def cli(*args):  # no settle time: the next request follows at once
        p = subprocess.run([PIGEON_BIN] + list(args) +
                           ["--dev", "-c", s.conf_path, "--json"],
                           cwd=s.dir, capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr.decode()
        return json.loads(p.stdout)

    dom = "at-once-%s.test" % secrets.token_hex(3)
    acct = cli("account", "create", "at-once")["id"]
    zone = cli("zone", "create", acct, dom)["id"]
    cli("domain", "create", zone, dom)
    tok = cli("token", "create", acct, "--perm", "send,read")["token"]
    assert_send_result(s.send(simple(**{"from": "a@" + dom}), token=tok,
                              account=acct))
    # a second domain of the same account, used right away
    dom2 = "b-" + dom
    zone2 = cli("zone", "create", acct, dom2)["id"]
    cli("domain", "create", zone2, dom2)
    assert_send_result(s.send(simple(**{"from": "a@" + dom2}), token=tok,
                              account=acct))
    # an unknown token is still refused
    assert_error(s.send(simple(**{"from": "a@" + dom}), token="nope",
                        account=acct), 10101)
