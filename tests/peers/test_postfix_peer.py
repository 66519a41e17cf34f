"""Self-test of tests/peers/postfix.py: the private Postfix receives what
smtplib sends, refuses what it should, and leaves nothing running."""
import os
import smtplib
import socket
import ssl
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postfix import Postfix, PostfixError, alive  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="Postfix's master needs root")

SENDER = "bounce@pigeon.test"
MSG = (b"From: Shop <orders@pigeon.test>\r\n"
       b"To: alice@example.net\r\n"
       b"Subject: peer self-test\r\n"
       b"Message-ID: <1@pigeon.test>\r\n"
       b"\r\n"
       b"line one\r\n"
       b".a line that starts with a dot\r\n"
       b"\r\n"
       b"last line\r\n")
# what delivery puts before the bytes received, in this order
ADDED = [b"Return-Path", b"X-Original-To", b"Delivered-To", b"Received"]


@pytest.fixture
def peer(request):
    made = []

    def make(**kw):
        pf = Postfix(None, None, **kw)
        made.append(pf)
        return pf.start()
    yield make
    for pf in made:
        pf.close()


def split_added(msg):
    """(names of the headers delivery added, the rest): the rest starts at
    MSG's first header."""
    at = msg.index(b"From: Shop")
    head = msg[:at]
    names = [line.split(b":", 1)[0] for line in head.split(b"\r\n")
             if line and not line[:1].isspace()]
    return names, head, msg[at:]


def test_delivers_exact_bytes_and_refuses_unknown(peer):
    pf = peer(mailboxes=["alice"])
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as s:
        s.sendmail(SENDER, ["alice@example.net"], MSG)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail(SENDER, ["bob@example.net"], MSG)
        code, text = e.value.recipients["bob@example.net"]
        assert code == 550 and text.startswith(b"5.1.1 ")
        # a domain it does not serve: no relaying
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail(SENDER, ["carol@example.org"], MSG)
        code, text = e.value.recipients["carol@example.org"]
        assert code == 554 and text.startswith(b"5.7.1 ")
    got = pf.wait_messages(1)
    assert len(got) == 1
    names, head, rest = split_added(got[0])
    assert names == ADDED
    assert rest == MSG
    assert head.startswith(b"Return-Path: <bounce@pigeon.test>\r\n"
                           b"X-Original-To: alice@example.net\r\n"
                           b"Delivered-To: alice@example.net\r\n"
                           b"Received: from ")
    assert b"by mx.example.net (Postfix) with ESMTP id " in head
    assert pf.messages("alice@example.net") == got
    assert pf.messages(crlf=False)[0] == got[0].replace(b"\r\n", b"\n")
    log = pf.log()
    assert "status=sent (delivered to maildir)" in log
    assert "550 5.1.1 <bob@example.net>" in log


def test_any_local_part(peer):
    pf = peer(domains=("example.net", "example.org"))
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as s:
        assert s.ehlo()[0] == 250
        assert s.has_extn("smtputf8")
        s.sendmail(SENDER, ["x1@example.net", "Y2@example.org"], MSG)
        # an internationalized address, with SMTPUTF8
        s.sendmail(SENDER, ["jos\u00e9@example.net"], MSG,
                   mail_options=["SMTPUTF8"])
    got = pf.wait_messages(3)
    assert len(got) == 3
    assert all(split_added(m)[2] == MSG for m in got)
    assert len(pf.messages("x1@example.net")) == 1
    assert len(pf.messages("y2@example.org")) == 1
    utf8 = pf.messages("jos\u00e9@example.net")
    assert len(utf8) == 1
    assert "Delivered-To: jos\u00e9@example.net\r\n".encode() in utf8[0]


def test_starttls_self_signed(peer):
    pf = peer(tls=True, tls_name="mx.tls.example")
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        ctx = ssl.create_default_context(cafile=pf.cert)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        s.ehlo()
        assert not s.has_extn("starttls")
        s.sendmail(SENDER, ["alice@example.net"], MSG)
    # the certificate verifies for its name, with itself as the CA
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as s:
        ctx = ssl.create_default_context(cafile=pf.cert)
        s._host = "mx.tls.example"  # the name smtplib checks
        s.starttls(context=ctx)
    names, head, rest = split_added(pf.wait_messages(1)[0])
    assert rest == MSG
    assert b"by mx.tls.example (Postfix) with ESMTPS id " in head
    assert b"(using TLSv1.3 with cipher " in head


def test_size_limit(peer):
    pf = peer(message_size_limit=2000)
    big = MSG + (b"x" * 76 + b"\r\n") * 40
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as s:
        s.ehlo()
        assert s.esmtp_features["size"] == "2000"
        # announced with SIZE=: refused at MAIL
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail(SENDER, ["alice@example.net"], big)
        assert e.value.smtp_code == 552
        assert e.value.smtp_error.startswith(b"5.3.4 ")
        s.rset()
        # not announced: refused after the data
        assert s.mail(SENDER)[0] == 250
        assert s.rcpt("alice@example.net")[0] == 250
        code, text = s.data(big)
        assert (code, text[:6]) == (552, b"5.3.4 ")
        s.sendmail(SENDER, ["alice@example.net"], MSG)
    assert [split_added(m)[2] for m in pf.wait_messages(1)] == [MSG]


def test_no_smtputf8(peer):
    pf = peer(smtputf8=False)
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as s:
        s.ehlo()
        assert not s.has_extn("smtputf8")
        assert s.has_extn("8bitmime")


def test_two_at_once_then_nothing_left(peer):
    a = peer(addrs=("127.0.0.1", "127.0.0.2"), mailboxes=["a"])
    b = peer(mailboxes=["b"])
    assert a.queue != b.queue and a.port != b.port
    for host in ("127.0.0.1", "127.0.0.2"):
        with smtplib.SMTP(host, a.port, timeout=10) as s:
            s.sendmail(SENDER, ["a@example.net"], MSG)
    with smtplib.SMTP("127.0.0.1", b.port, timeout=10) as s:
        s.sendmail(SENDER, ["b@example.net"], MSG)
    assert len(a.wait_messages(2)) == 2
    assert len(b.wait_messages(1)) == 1
    master = a.master_pid()
    assert master and master in a.pids() and master not in b.pids()
    a.stop()
    # the daemons' command lines do not name the config dir: each process
    # of the instance is found by MAIL_CONFIG in its environment
    assert a.pids() == []
    assert not alive(master)
    assert subprocess.run(["pgrep", "-f", a.conf]).returncode == 1
    assert b.pids() and b.master_pid()  # the other one runs on
    with smtplib.SMTP("127.0.0.1", b.port, timeout=10) as s:
        assert s.noop()[0] == 250
    a.stop()  # again: nothing to do


def test_failed_start_says_why_and_leaves_nothing(tmp_path):
    pf = Postfix(None, None, extra_main_cf={"mail_owner": "root"})
    try:
        with pytest.raises(PostfixError) as e:
            pf.start(timeout=10)
        assert "mail_owner: user root has privileged user ID" in str(e.value)
        assert pf.pids() == []
    finally:
        pf.close()
    # a port taken
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        pf = Postfix(None, busy.getsockname()[1])
        with pytest.raises(PostfixError, match="in use"):
            pf.start()
        pf.close()
    # pytest's tmp_path lies under a 0700 directory: refused up front
    pf = Postfix(tmp_path / "pf", None)
    with pytest.raises(PostfixError, match="not searchable by other users"):
        pf.start()
    pf.close()
