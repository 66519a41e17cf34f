"""
SMTP submission (SPEC §7) and the inbound listener's session (§7.1)
against a real pigeon, with real clients (swaks, smtplib, curl, msmtp)
and byte-for-byte transcripts for each reply of §7.

Every server here has its own ports (conftest Server); the dev
certificate is trusted through PIGEON_SMTP_CA of var/dev.env.
"""
import base64
import email
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import DOMAIN, dkim_verify_all, fetch, start_server

SWAKS = shutil.which("swaks")
CURL = shutil.which("curl")
MSMTP = shutil.which("msmtp")


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    s = start_server(tmp_path_factory, "smtpd")
    yield s
    s.stop()


def ca(server):
    return server.env["PIGEON_SMTP_CA"]


def port(server, which):
    return server.smtp_ports[which + "_listen"]


def tls_ctx(server):
    return ssl.create_default_context(cafile=ca(server))


def message(frm="dev@example.com", to="someone@example.net",
            subject="Hello", extra=""):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n%s\r\nHi from SMTP.\r\n" %
            (frm, to, subject, extra))


def msgid_of(reply):
    """The <id> of a '250 2.0.0 Ok <id>' reply."""
    text = reply.decode() if isinstance(reply, bytes) else reply
    assert text.startswith("250 2.0.0 Ok <") or \
        text.startswith("2.0.0 Ok <"), text
    return text[text.index("<"):].strip()


class Talk:
    """A raw SMTP session: implicit TLS, STARTTLS or plain."""

    def __init__(self, server, which="smtps", timeout=10):
        self.server = server
        raw = socket.create_connection(("127.0.0.1", port(server, which)),
                                       timeout=timeout)
        if which == "smtps":
            raw = tls_ctx(server).wrap_socket(raw,
                                              server_hostname="localhost")
        self.sock = raw
        self.buf = b""

    def starttls(self):
        self.cmd("STARTTLS", b"220 ")
        self.sock = tls_ctx(self.server).wrap_socket(
            self.sock, server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        """One whole reply (all its lines), as bytes."""
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("closed; so far %r" % (out + self.buf))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            out += line + b"\r\n"
            if len(line) < 4 or line[3:4] != b"-":
                return out

    def cmd(self, line, expect=None):
        self.send(line + "\r\n")
        r = self.reply()
        if expect is not None:
            assert r.startswith(expect), (line, r)
        return r

    def closed(self, timeout=5):
        """True when the server closes the connection."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except (ConnectionError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def authed(server, which="smtps", token=None):
    t = Talk(server, which)
    t.reply()
    if which == "submission":
        t.cmd("EHLO client.example", b"250")
        t.starttls()
    t.cmd("EHLO client.example", b"250-")
    plain = base64.b64encode(b"\0api_token\0" +
                             (token or server.token).encode()).decode()
    t.cmd("AUTH PLAIN " + plain, b"235 2.7.0 Authentication successful")
    return t


def swaks(server, *args):
    p = subprocess.run([SWAKS, "--from", "dev@example.com",
                        "--to", "someone@example.net",
                        "--auth-user", "api_token",
                        "--auth-password", server.token,
                        "--tls-verify", "--tls-ca-path", ca(server)] +
                       list(args), capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def swaks_msgid(out):
    """The <id> of the last '250 2.0.0 Ok <id>' in a client's log."""
    lines = [ln for ln in out.splitlines() if "250 2.0.0 Ok <" in ln]
    assert lines, out
    return lines[-1][lines[-1].index("Ok <") + 3:].strip()


def delivered(server, mid):
    def check():
        r = server.status(mid)
        return r.status == 200 and "delivered" in r.raw.decode()
    return server.wait_for(check)


# -- the listeners, the certificate ---------------------------------------
def test_dev_env_names_the_certificate(smtp):
    path = ca(smtp)
    assert os.path.isabs(path) and os.path.exists(path)
    assert path.startswith(smtp.state_dir)
    text = subprocess.run(["openssl", "x509", "-in", path, "-noout",
                           "-ext", "subjectAltName"], capture_output=True,
                          check=True).stdout.decode()
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    assert "certificate" in smtp.stderr() and path in smtp.stderr()


def test_greeting_and_ehlo(smtp):
    host = smtp.cli("check", "-v", json_out=False).stdout.decode()
    t = Talk(smtp, "smtps")
    greet = t.reply()
    assert greet.startswith(b"220 ") and greet.endswith(b" ESMTP ready\r\n")
    name = greet[4:-len(b" ESMTP ready\r\n")].decode()
    assert name in host
    r = t.cmd("EHLO [127.0.0.1]")
    assert r == ("250-%s greets [127.0.0.1]\r\n250-AUTH PLAIN LOGIN\r\n"
                 "250-SIZE 5242880\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
                 "250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n" %
                 name).encode()
    t.close()


@pytest.mark.parametrize("arg", ["localhost", "[127.0.0.1]", "mail",
                                 "/tmp/some file.txt", "x" * 300])
def test_ehlo_argument_never_refused(smtp, arg):
    t = Talk(smtp, "smtps")
    t.reply()
    assert t.cmd("EHLO " + arg).startswith(b"250-")
    t.close()


def test_sni_absent_or_ip(smtp):
    for sni in (None, "127.0.0.1"):
        ctx = tls_ctx(smtp)
        ctx.check_hostname = sni is not None
        raw = socket.create_connection(("127.0.0.1", port(smtp, "smtps")))
        s = ctx.wrap_socket(raw, server_hostname=sni)
        assert s.recv(100).startswith(b"220 ")
        s.close()


def test_tls_12_minimum(smtp):
    ctx = tls_ctx(smtp)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    raw = socket.create_connection(("127.0.0.1", port(smtp, "smtps")))
    with pytest.raises(ssl.SSLError):
        ctx.wrap_socket(raw, server_hostname="localhost")
    raw.close()


# -- real clients ---------------------------------------------------------
@pytest.mark.skipif(SWAKS is None, reason="swaks is not installed")
def test_swaks_plain_implicit_tls(smtp):
    rc, out = swaks(smtp, "--server", "127.0.0.1:%d" % port(smtp, "smtps"),
                    "--tls-on-connect", "--auth", "PLAIN")
    assert rc == 0, out
    assert "235 2.7.0" in out
    assert delivered(smtp, swaks_msgid(out))


@pytest.mark.skipif(SWAKS is None, reason="swaks is not installed")
def test_swaks_login_starttls_pipelining(smtp):
    rc, out = swaks(smtp, "--server",
                    "127.0.0.1:%d" % port(smtp, "submission"), "-tls",
                    "--auth", "LOGIN", "--pipeline")
    assert rc == 0, out
    assert "334 VXNlcm5hbWU6" in out and "221 2.0.0" in out
    assert delivered(smtp, swaks_msgid(out))


def test_smtplib_ssl_message_as_stored_and_signed(smtp):
    body = message(subject="stored", extra="X-Test: kept\r\n"
                   "Bcc: hidden@example.net\r\n")
    s = smtplib.SMTP_SSL("127.0.0.1", port(smtp, "smtps"),
                         context=tls_ctx(smtp))
    s.login("api_token", smtp.token)
    code, text = s.mail("dev@example.com", ["size=%d" % len(body)])
    assert code == 250
    s.rcpt("someone@example.net")
    s.rcpt("other@example.net")
    code, text = s.data(body.encode())
    assert code == 250, text
    mid = msgid_of(text)
    s.quit()
    raw = fetch(smtp, mid)
    msg = email.message_from_bytes(raw)
    assert msg["Message-ID"] == mid
    assert msg["Subject"] == "stored" and msg["X-Test"] == "kept"
    assert msg["Bcc"] is None and msg["Date"] is not None
    assert msg.get_payload().strip() == "Hi from SMTP."
    assert dkim_verify_all(smtp, raw, strict=False)
    assert delivered(smtp, mid)


def test_smtplib_starttls(smtp):
    s = smtplib.SMTP("127.0.0.1", port(smtp, "submission"))
    s.ehlo("client")
    assert not s.has_extn("auth")
    s.starttls(context=tls_ctx(smtp))
    s.ehlo("client")
    assert s.has_extn("auth")
    s.login("api_token", smtp.token)
    refused = s.sendmail("dev@example.com", ["a@example.net"],
                         message(to="a@example.net"))
    assert refused == {}
    assert s.quit()[0] == 221


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_smtps_upload(smtp, tmp_path):
    f = tmp_path / "m.txt"
    f.write_bytes(b"From: dev@example.com\nTo: a@example.net\n"
                  b"Subject: curl\n\nhello\n")
    base = [CURL, "-sS", "-v", "--url",
            "smtps://127.0.0.1:%d" % port(smtp, "smtps"),
            "--cacert", ca(smtp), "--user", "api_token:" + smtp.token,
            "--mail-from", "dev@example.com", "--mail-rcpt", "a@example.net",
            "--upload-file", str(f)]
    # byte for byte: LF line ends are refused, and the reply says why
    p = subprocess.run(base, capture_output=True, timeout=30)
    err = p.stderr.decode()
    assert p.returncode != 0
    assert "554 5.6.0" in err and "curl --crlf" in err, err
    p = subprocess.run(base + ["--crlf"], capture_output=True, timeout=30)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    assert delivered(smtp, swaks_msgid(err))


@pytest.mark.skipif(MSMTP is None, reason="msmtp is not installed")
def test_msmtp(smtp, tmp_path):
    rc = tmp_path / "msmtprc"
    rc.write_text("account pigeon\nhost 127.0.0.1\nport %d\n"
                  "tls on\ntls_starttls on\ntls_trust_file %s\n"
                  "auth plain\nuser api_token\npassword %s\n"
                  "from dev@example.com\nlogfile %s\n"
                  "account default : pigeon\n" %
                  (port(smtp, "submission"), ca(smtp), smtp.token,
                   tmp_path / "msmtp.log"))
    os.chmod(str(rc), 0o600)
    p = subprocess.run([MSMTP, "-C", str(rc), "-d", "a@example.net"],
                       input=message(subject="msmtp").encode(),
                       capture_output=True, timeout=30)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0, out
    assert delivered(smtp, swaks_msgid(out))


# -- transcripts: each reply of §7 ------------------------------------------
def test_mail_before_auth(smtp):
    t = Talk(smtp, "smtps")
    t.reply()
    t.cmd("EHLO x", b"250-")
    t.cmd("MAIL FROM:<dev@example.com>",
          b"530 5.7.0 Authentication required")
    t.close()


def test_auth_and_mail_refused_before_starttls(smtp):
    t = Talk(smtp, "submission")
    t.reply()
    r = t.cmd("EHLO x", b"250-")
    assert b"250-STARTTLS" in r and b"AUTH" not in r
    t.cmd("AUTH PLAIN " + base64.b64encode(
        b"\0api_token\0" + smtp.token.encode()).decode(), b"530 5.7.0")
    t.cmd("MAIL FROM:<dev@example.com>", b"530 5.7.0")
    t.starttls()
    r = t.cmd("EHLO x", b"250-")
    assert b"STARTTLS" not in r and b"250-AUTH PLAIN LOGIN" in r
    t.close()


def test_starttls_drops_pipelined_plaintext(smtp):
    """RFC 3207 §4.2: what follows STARTTLS in the same packet is not
    read as a command after the handshake."""
    t = Talk(smtp, "submission")
    t.reply()
    t.cmd("EHLO x", b"250-")
    t.send("STARTTLS\r\nRSET\r\n")
    assert t.reply().startswith(b"220 ")
    t.sock = tls_ctx(smtp).wrap_socket(t.sock, server_hostname="localhost")
    t.buf = b""
    t.cmd("NOOP", b"250 2.0.0 Ok")   # the first reply is NOOP's, not RSET's
    t.close()


def test_auth_wrong_then_other_mechanism(smtp):
    t = Talk(smtp, "smtps")
    t.reply()
    t.cmd("EHLO x", b"250-")
    bad = base64.b64encode(b"\0api_token\0nope").decode()
    t.cmd("AUTH PLAIN " + bad, b"535 5.7.8")
    t.cmd("AUTH LOGIN " + base64.b64encode(b"someone").decode(), b"334 ")
    t.cmd(base64.b64encode(smtp.token.encode()).decode(), b"535 5.7.8")
    t.cmd("AUTH LOGIN", b"334 VXNlcm5hbWU6")
    t.cmd(base64.b64encode(b"api_token").decode(), b"334 UGFzc3dvcmQ6")
    t.cmd(base64.b64encode(smtp.token.encode()).decode(), b"235 2.7.0")
    t.close()


def test_auth_plain_without_initial_response(smtp):
    t = Talk(smtp, "smtps")
    t.reply()
    t.cmd("ehlo x", b"250-")
    assert t.cmd("auth plain") == b"334 \r\n"
    t.cmd(base64.b64encode(b"\0api_token\0" + smtp.token.encode()).decode(),
          b"235 2.7.0")
    t.close()


def test_token_without_send_refused(smtp):
    a = smtp.new_account(perms="read")
    t = Talk(smtp, "smtps")
    t.reply()
    t.cmd("EHLO x", b"250-")
    t.cmd("AUTH PLAIN " + base64.b64encode(
        b"\0api_token\0" + a["token"].encode()).decode(), b"535 5.7.8")
    t.close()


def test_wrong_order(smtp):
    t = Talk(smtp, "smtps")
    t.reply()
    t.cmd("MAIL FROM:<dev@example.com>", b"503 5.5.1")
    t.cmd("EHLO x", b"250-")
    t.cmd("RCPT TO:<a@example.net>", b"503 5.5.1")
    t.cmd("DATA", b"503 5.5.1")
    t.close()
    t = authed(smtp)
    t.cmd("AUTH PLAIN x", b"503 5.5.1")
    t.cmd("DATA", b"503 5.5.1")
    t.cmd("MAIL FROM:<dev@example.com>", b"250 2.1.0")
    t.cmd("MAIL FROM:<dev@example.com>", b"503 5.5.1")
    t.cmd("DATA", b"503 5.5.1")
    t.close()


def test_lower_case_and_small_commands(smtp):
    t = authed(smtp)
    t.cmd("noop", b"250 2.0.0")
    t.cmd("help", b"214 ")
    t.cmd("vrfy someone", b"252 ")
    t.cmd("mail from:<dev@example.com> size=100 body=8bitmime smtputf8",
          b"250 2.1.0")
    t.cmd("rcpt to:<a@example.net>", b"250 2.1.5")
    t.cmd("rset", b"250 2.0.0")
    t.cmd("quit", b"221 2.0.0")
    t.close()


def test_sender_domain_not_onboarded(smtp):
    t = authed(smtp)
    t.cmd("MAIL FROM:<someone@elsewhere.example>", b"550 5.7.1")
    t.cmd("MAIL FROM:<>", b"550 5.7.1")
    t.close()


def test_from_header_on_another_domain(smtp):
    t = authed(smtp)
    t.cmd("MAIL FROM:<dev@example.com>", b"250")
    t.cmd("RCPT TO:<a@example.net>", b"250")
    t.cmd("DATA", b"354")
    t.send(message(frm="boss@bank.example") + ".\r\n")
    r = t.reply()
    assert r.startswith(b"550 5.7.1"), r
    t.cmd("NOOP", b"250")
    t.close()


def test_header_rule_names_the_header(smtp):
    t = authed(smtp)
    t.cmd("MAIL FROM:<dev@example.com>", b"250")
    t.cmd("RCPT TO:<a@example.net>", b"250")
    t.cmd("DATA", b"354")
    t.send("Subject: no from\r\n\r\nbody\r\n.\r\n")
    r = t.reply()
    assert r.startswith(b"554 5.7.0") and b"From" in r, r
    t.close()


def test_51st_recipient(smtp):
    t = authed(smtp)
    t.cmd("MAIL FROM:<dev@example.com>", b"250")
    t.send("".join("RCPT TO:<r%d@example.net>\r\n" % i for i in range(51)))
    replies = [t.reply() for _ in range(51)]
    assert all(r.startswith(b"250 2.1.5") for r in replies[:50])
    assert replies[50].startswith(b"452 4.5.3"), replies[50]
    t.cmd("DATA", b"354")
    t.send(message() + ".\r\n")
    assert t.reply().startswith(b"250 2.0.0 Ok <")
    t.close()


def test_size_over_announced(smtp):
    t = authed(smtp)
    t.cmd("MAIL FROM:<dev@example.com> SIZE=%d" % (5 * 1024 * 1024 + 1),
          b"552 5.3.4")
    t.cmd("MAIL FROM:<dev@example.com> SIZE=%d" % (5 * 1024 * 1024),
          b"250")
    t.close()


def test_size_over_not_announced(smtp):
    t = authed(smtp)
    t.cmd("MAIL FROM:<dev@example.com>", b"250")
    t.cmd("RCPT TO:<a@example.net>", b"250")
    t.cmd("DATA", b"354")
    line = b"x" * 998 + b"\r\n"
    t.send(message().encode() + line * (5 * 1024 * 1024 // len(line) + 10) +
           b".\r\n")
    assert t.reply().startswith(b"552 5.3.4")
    t.cmd("NOOP", b"250")   # the session goes on
    t.close()


@pytest.mark.parametrize("data", [
    b"From: dev@example.com\r\n\r\nbare\nLF\r\n.\r\n",
    b"From: dev@example.com\r\n\r\nbare\rCR\r\n.\r\n",
])
def test_bare_line_ends_refused(smtp, data):
    t = authed(smtp)
    t.cmd("MAIL FROM:<dev@example.com>", b"250")
    t.cmd("RCPT TO:<a@example.net>", b"250")
    t.cmd("DATA", b"354")
    t.send(data)
    r = t.reply()
    assert r.startswith(b"554 5.6.0") and b"CRLF" in r, r
    t.close()


def test_lf_dot_lf_smuggling(smtp):
    """<LF>.<LF> does not end the message: the 'smuggled' transaction
    after it is message text, and the whole is refused at the real
    end."""
    t = authed(smtp)
    t.cmd("MAIL FROM:<dev@example.com>", b"250")
    t.cmd("RCPT TO:<a@example.net>", b"250")
    t.cmd("DATA", b"354")
    t.send(b"From: dev@example.com\r\n\r\nfirst\r\n\n.\n"
           b"MAIL FROM:<dev@example.com>\r\nRCPT TO:<victim@example.net>\r\n"
           b"DATA\r\nFrom: dev@example.com\r\n\r\nsmuggled\r\n.\r\n")
    r = t.reply()
    assert r.startswith(b"554 5.6.0"), r
    t.cmd("NOOP", b"250 2.0.0")   # nothing else was answered
    t.close()


def test_close_after_final_250_without_quit(smtp):
    t = authed(smtp)
    t.cmd("MAIL FROM:<dev@example.com>", b"250")
    t.cmd("RCPT TO:<a@example.net>", b"250")
    t.cmd("DATA", b"354")
    t.send(message() + ".\r\n")
    mid = msgid_of(t.reply())
    t.close()
    assert delivered(smtp, mid)


def test_too_many_errors(smtp):
    t = Talk(smtp, "smtps")
    t.reply()
    for _ in range(10):
        t.cmd("BOGUS", b"500 5.5.2")
    t.cmd("BOGUS", b"421 4.7.0")
    assert t.closed()


def test_dot_stuffing(smtp):
    t = authed(smtp)
    t.cmd("MAIL FROM:<dev@example.com>", b"250")
    t.cmd("RCPT TO:<a@example.net>", b"250")
    t.cmd("DATA", b"354")
    t.send("From: dev@example.com\r\nSubject: dots\r\n\r\n..leading\r\n"
           ".\r\n")
    mid = msgid_of(t.reply())
    t.close()
    assert b"\r\n.leading\r\n" in fetch(smtp, mid)


# -- inbound (the session; what is accepted is the owner's) ----------------
def test_inbound_without_hooks(smtp):
    t = Talk(smtp, "inbound")
    t.reply()
    r = t.cmd("EHLO mx.example", b"250-")
    assert b"AUTH" not in r and b"250-STARTTLS" in r
    t.cmd("AUTH PLAIN x", b"503 5.5.1")
    t.cmd("MAIL FROM:<>", b"250 2.1.0")
    t.cmd("RCPT TO:<bounce-x@example.com>", b"550 5.1.1")
    t.starttls()
    t.cmd("EHLO mx.example", b"250-")
    t.cmd("QUIT", b"221")
    t.close()


# -- timeouts, caps, reload -------------------------------------------------
def test_timeouts(make_server):
    s = make_server("smtpd-timeouts", smtpd_timeout_command="300ms",
                    smtpd_timeout_data="600ms",
                    smtpd_timeout_idle="900ms").start()
    t = Talk(s, "smtps")
    t.reply()
    time.sleep(0.6)
    assert t.reply().startswith(b"421 4.4.2")
    assert t.closed()
    t = authed(s)
    t.cmd("MAIL FROM:<dev@example.com>", b"250")
    t.cmd("RCPT TO:<a@example.net>", b"250")
    t.cmd("DATA", b"354")
    t.send("From: dev@example.com\r\n")
    start = time.time()
    assert t.reply().startswith(b"421 4.4.2")
    assert 0.4 < time.time() - start < 3
    t = authed(s)
    start = time.time()
    assert t.reply().startswith(b"421 4.4.2")
    assert 0.6 < time.time() - start < 3


def test_too_many_sessions(make_server):
    s = make_server("smtpd-caps", smtpd_max_sessions_per_ip="3").start()
    held = [Talk(s, "smtps") for _ in range(3)]
    for t in held:
        assert t.reply().startswith(b"220 ")
    extra = Talk(s, "smtps")
    assert extra.reply().startswith(b"421 4.7.0")
    assert extra.closed()
    # the others are still served
    held[0].cmd("EHLO x", b"250-")
    held[0].cmd("QUIT", b"221")
    held[0].closed()
    time.sleep(0.2)
    again = Talk(s, "smtps")
    assert again.reply().startswith(b"220 ")
    for t in held[1:] + [again]:
        t.close()


def test_sighup_reload_keeps_sessions(make_server):
    s = make_server("smtpd-hup").start()
    t = authed(s)
    orig = ca(s)
    good = open(orig, "rb").read()
    s.env["PIGEON_SMTP_CA"] = os.path.join(s.dir, "trusted.pem")
    with open(ca(s), "wb") as f:   # what clients trust, kept aside
        f.write(good)
    with open(orig, "wb") as f:   # a broken file: the old one stays
        f.write(b"not a certificate\n")
    s.proc.send_signal(signal.SIGHUP)
    assert s.wait_for(lambda: "not reloaded" in s.stderr())
    t.cmd("NOOP", b"250")
    authed(s).close()
    with open(orig, "wb") as f:
        f.write(good)
    s.proc.send_signal(signal.SIGHUP)
    assert s.wait_for(lambda: "SMTP certificate reloaded" in s.stderr())
    t.cmd("NOOP", b"250")
    authed(s).close()
    t.close()


# -- Postfix as a real client ------------------------------------------------
def test_postfix_relays_through_submission(smtp):
    """A private Postfix with relayhost = pigeon's submission port, SASL
    (api_token) and TLS required: the message gets through with
    Postfix's Received header, DKIM-signed."""
    if os.geteuid() != 0 or shutil.which("postfix") is None:
        pytest.skip("needs root and postfix (scripts/deps.sh test)")
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "peers"))
    from postfix import Postfix
    relay = {
        "relayhost": "[127.0.0.1]:%d" % port(smtp, "submission"),
        "default_transport": "smtp",
        "relay_transport": "smtp",
        "mynetworks": "127.0.0.0/8",
        "smtpd_relay_restrictions": "permit_mynetworks, "
                                    "reject_unauth_destination",
        "smtp_sasl_auth_enable": "yes",
        "smtp_sasl_password_maps": "static:api_token:" + smtp.token,
        "smtp_sasl_security_options": "noanonymous",
        "smtp_sasl_tls_security_options": "noanonymous",
        "smtp_tls_security_level": "secure",
        "smtp_tls_CAfile": ca(smtp),
        "smtp_tls_secure_cert_match": "nexthop",
        "smtp_tls_loglevel": "1",
    }
    # the certificate names 127.0.0.1 and localhost; Postfix matches the
    # next hop's name: [127.0.0.1] is matched as an IP address
    mid = "<postfix-%s@example.com>" % os.urandom(6).hex()
    with Postfix(None, None, domains=("peer.invalid",),
                 tls_name="relay.example.org", extra_main_cf=relay) as pf:
        s = smtplib.SMTP("127.0.0.1", pf.port, timeout=30)
        s.sendmail("dev@example.com", ["someone@example.net"],
                   message(subject="via postfix",
                           extra="Message-ID: %s\r\n"
                                 "Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
                           % mid))
        s.quit()

        def stored():
            r = smtp.message(mid)
            return r.raw if r.status == 200 else None
        raw = smtp.wait_for(stored, timeout=30)
        log = open(pf.logfile).read() if os.path.exists(pf.logfile) else ""
        assert raw, "not received; postfix log:\n" + log[-3000:]
    msg = email.message_from_bytes(raw)
    received = msg.get_all("Received") or []
    assert any("relay.example.org" in r for r in received), received
    assert msg["Subject"] == "via postfix"
    assert dkim_verify_all(smtp, raw, strict=False)
    assert delivered(smtp, mid)


def test_store_down_is_451_and_nothing_stored(make_server):
    """SPEC §7: the writer cannot commit (the database's write lock is held
    past the busy timeout): the dot gets 451 4.3.0, nothing is stored;
    once the lock is gone the same message goes through."""
    from test_store_down import counts, store_locked
    s = make_server("smtpd-down").start()
    before = counts(s)
    c = smtplib.SMTP_SSL("127.0.0.1", port(s, "smtps"), context=tls_ctx(s),
                         timeout=30)
    c.login("api_token", s.token)
    c.mail("dev@example.com")
    c.rcpt("someone@example.net")
    with store_locked(s):
        code, text = c.data(message(subject="down").encode())
    assert code == 451 and text.startswith(b"4.3.0"), (code, text)
    assert counts(s) == before
    c.mail("dev@example.com")
    c.rcpt("someone@example.net")
    code, text = c.data(message(subject="down").encode())
    assert code == 250, text
    c.quit()
    assert delivered(s, msgid_of(text))
