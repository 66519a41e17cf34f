"""
Inbound bounces and complaints (SPEC §7.1): pigeon delivers a message
over SMTP to a peer the test starts, the peer's log gives the VERP
envelope sender, and what comes back to that address on pigeon's inbound
listener — a DSN, an ARF report, an auto-reply, a forged or unknown
address, and a real Postfix's own bounce — changes the recipient's state,
events and suppressions, or nothing.
"""
import email.utils
import os
import smtplib
import sqlite3
import time

import pytest

from conftest import _live, assert_send_result, simple
from mxnet import Dns, Smtp, port_free_on
from test_mx import FAST, wait_status

MX1 = "127.0.0.2"


class Net:
    def __init__(self, tmp, request):
        self.tmp = str(tmp)
        self.port = port_free_on([MX1])
        self.dns = Dns(os.path.join(self.tmp, "dns"), [
            "mail.test 300 MX 10 mx1.mail.test",
            "mx1.mail.test 300 A %s" % MX1,
        ])
        self.peer = Smtp(os.path.join(self.tmp, "peers"), MX1, self.port)
        self.server = None
        request.addfinalizer(self.stop)

    def pigeon(self, **conf):
        from conftest import Server
        c = dict(FAST)
        c.update(conf)
        c["dns_servers"] = "127.0.0.1:%d" % self.dns.port
        c["mx_port"] = str(self.port)
        os.makedirs(os.path.join(self.tmp, "pigeon"), exist_ok=True)
        self.server = Server(os.path.join(self.tmp, "pigeon"),
                             lines=["route * mx tls=none"], **c)
        _live.append(self.server)
        return self.server.start()

    def stop(self):
        from conftest import _finish
        if self.server is not None and self.server.proc is not None:
            _finish(self.server)
        self.peer.stop()
        self.dns.stop()


@pytest.fixture
def net(tmp_path, request):
    return Net(tmp_path, request)


def delivered(net, to):
    """Sends one message to `to` (a list), waits until the peer has it;
    (message_id, the VERP address it came from)."""
    s = net.server
    n = len(net.peer.messages())
    res = assert_send_result(s.send(simple(to=to)), to)
    got = net.peer.wait_messages(n + 1)[n]
    wait_status(s, res["message_id"], {a: "delivered" for a in to})
    return res["message_id"], got["mail_from"]


def dsn(verp, rcpt, action="failed", status="5.1.1",
        diag="550 5.1.1 <%s>: Recipient address rejected: User unknown"):
    """A DSN as a receiving MTA writes it (RFC 3464)."""
    diag = diag % rcpt if "%s" in diag else diag
    b = "=_report_%d" % int(time.time() * 1000)
    return ("From: MAILER-DAEMON@mx1.mail.test (Mail Delivery System)\r\n"
            "To: %s\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\n"
            "Date: %s\r\n"
            "Auto-Submitted: auto-replied\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status;\r\n"
            "\tboundary=\"%s\"\r\n"
            "\r\n"
            "--%s\r\n"
            "Content-Type: text/plain\r\n\r\n"
            "This is the mail system at host mx1.mail.test.\r\n\r\n"
            "--%s\r\n"
            "Content-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx1.mail.test\r\n"
            "Arrival-Date: %s\r\n\r\n"
            "Final-Recipient: rfc822; %s\r\n"
            "Original-Recipient: rfc822;%s\r\n"
            "Action: %s\r\n"
            "Status: %s\r\n"
            "Diagnostic-Code: smtp; %s\r\n\r\n"
            "--%s\r\n"
            "Content-Type: text/rfc822-headers\r\n\r\n"
            "From: sender@example.com\r\nTo: %s\r\n\r\n"
            "--%s--\r\n") % (
                verp, email.utils.formatdate(), b, b, b,
                email.utils.formatdate(), rcpt, rcpt, action, status, diag,
                b, rcpt, b)


def arf(verp, rcpt):
    """An abuse report (RFC 5965 §3's shape)."""
    b = "=_arf"
    return ("From: <abuse@mail.test>\r\nTo: %s\r\n"
            "Subject: FW: complaint\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=feedback-report;\r\n"
            "\tboundary=\"%s\"\r\n\r\n"
            "--%s\r\nContent-Type: text/plain\r\n\r\n"
            "This is an email abuse report.\r\n\r\n"
            "--%s\r\nContent-Type: message/feedback-report\r\n\r\n"
            "Feedback-Type: abuse\r\nUser-Agent: test/1.0\r\nVersion: 1\r\n"
            "Original-Rcpt-To: <%s>\r\n\r\n"
            "--%s\r\nContent-Type: message/rfc822\r\n\r\n"
            "From: sender@example.com\r\nTo: %s\r\nSubject: hi\r\n\r\nhi\r\n"
            "--%s--\r\n") % (verp, b, b, b, rcpt, b, rcpt, b)


def inbound(s, verp, msg, mail_from=""):
    """Hands msg to pigeon's inbound listener for verp: the final reply
    code (an SMTPRecipientsRefused is raised for a refused RCPT)."""
    port = s.smtp_ports["inbound_listen"]
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
        c.ehlo("mx1.mail.test")
        c.sendmail(mail_from, [verp], msg.encode())
        return c.noop()[0]


def rows(s, sql, *args):
    c = sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"), timeout=10)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def events_of(s, rcpt):
    return [r[0] for r in rows(s, "SELECT type FROM events WHERE "
                               "recipient = ? ORDER BY id", rcpt)]


def test_dsn_bounces_a_delivered_recipient_and_suppresses_it(net):
    s = net.pigeon()
    mid, verp = delivered(net, ["bob@mail.test"])
    assert verp.startswith("b.") and verp.endswith("@bounces.example.com")
    inbound(s, verp, dsn(verp, "bob@mail.test"))
    st = wait_status(s, mid, {"bob@mail.test": "bounced"})
    assert "5.1.1" in st["bob@mail.test"]["smtp_response"]
    assert events_of(s, "bob@mail.test")[-1] == \
        "cf.email.sending.message.bounced"
    assert rows(s, "SELECT reason FROM suppressions WHERE email = ?",
                "bob@mail.test") == [("hard_bounce",)]
    # the same DSN again: nothing more
    inbound(s, verp, dsn(verp, "bob@mail.test"))
    assert events_of(s, "bob@mail.test").count(
        "cf.email.sending.message.bounced") == 1


def test_dsn_names_one_of_several_recipients(net):
    """One transaction carried two recipients; the DSN fails one of them,
    the other stays delivered; a delayed notice is an event only."""
    s = net.pigeon()
    mid, verp = delivered(net, ["ann@mail.test", "cid@mail.test"])
    inbound(s, verp, dsn(verp, "CID@mail.test"))
    wait_status(s, mid, {"cid@mail.test": "bounced",
                         "ann@mail.test": "delivered"})
    inbound(s, verp, dsn(verp, "ann@mail.test", action="delayed",
                         status="4.4.1", diag="451 4.4.1 no answer"))
    time.sleep(0.3)
    assert events_of(s, "ann@mail.test")[-1] == \
        "cf.email.sending.message.deferred"
    wait_status(s, mid, {"ann@mail.test": "delivered"})


def test_arf_complaint(net):
    s = net.pigeon()
    mid, verp = delivered(net, ["dee@mail.test"])
    inbound(s, verp, arf(verp, "dee@mail.test"))
    deadline = time.time() + 5
    while "cf.email.sending.message.complained" not in \
            events_of(s, "dee@mail.test"):
        assert time.time() < deadline, events_of(s, "dee@mail.test")
        time.sleep(0.1)
    wait_status(s, mid, {"dee@mail.test": "delivered"})
    assert rows(s, "SELECT reason, expires_at FROM suppressions WHERE "
                "email = ?", "dee@mail.test") == [("complaint", None)]


def test_auto_reply_and_malformed_change_nothing(net):
    s = net.pigeon()
    mid, verp = delivered(net, ["eve@mail.test"])
    before = events_of(s, "eve@mail.test")
    ooo = ("From: eve@mail.test\r\nTo: %s\r\nSubject: Out of office\r\n"
           "Auto-Submitted: auto-replied\r\n\r\nI am away.\r\n" % verp)
    assert inbound(s, verp, ooo) == 250
    broken = ("From: x@mail.test\r\nTo: %s\r\nMIME-Version: 1.0\r\n"
              "Content-Type: multipart/report; report-type=delivery-status;"
              " boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n"
              "no status part\r\n--zz--\r\n" % verp)
    assert inbound(s, verp, broken) == 250
    time.sleep(0.3)
    assert events_of(s, "eve@mail.test") == before
    wait_status(s, mid, {"eve@mail.test": "delivered"})
    assert "report=malformed" in s.stderr()
    assert "report=other" in s.stderr()


def test_unknown_or_forged_address_is_refused(net):
    s = net.pigeon()
    mid, verp = delivered(net, ["fay@mail.test"])
    local, dom = verp.split("@")
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + dom
    for bad in (forged, "postmaster@" + dom, "b.1.1.abcdefgh@" + dom):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            inbound(s, bad, dsn(bad, "fay@mail.test"))
        assert e.value.recipients[bad][0] == 550, e.value.recipients
    wait_status(s, mid, {"fay@mail.test": "delivered"})


def test_a_real_postfix_bounce(tmp_path, request):
    """pigeon delivers to a private Postfix (127.0.0.4) that takes
    nobody@gone.test and then fails it (an error transport), so Postfix
    itself writes the DSN and sends it to pigeon's VERP address, which its
    transport map routes to pigeon's inbound listener: the recipient,
    first delivered, becomes bounced and suppressed."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "peers"))
    from postfix import Postfix
    from conftest import Server, _finish

    tmp = str(tmp_path)
    port = port_free_on(["127.0.0.4"])
    dns = Dns(os.path.join(tmp, "dns"), [
        "gone.test 300 MX 10 mx.gone.test", "mx.gone.test 300 A 127.0.0.4"])
    request.addfinalizer(dns.stop)
    c = dict(FAST)
    c.update(dns_servers="127.0.0.1:%d" % dns.port, mx_port=str(port))
    os.makedirs(os.path.join(tmp, "pigeon"))
    s = Server(os.path.join(tmp, "pigeon"), lines=["route * mx tls=none"],
               **c)
    _live.append(s)
    s.start()
    pf = Postfix(None, port, domains=("mail.test",), addrs=("127.0.0.4",),
                 extra_main_cf={
                     "relay_domains": "gone.test",
                     "smtpd_relay_restrictions":
                         "permit_auth_destination, reject",
                     "smtpd_reject_unlisted_recipient": "no",
                     "transport_maps": (
                         "inline:{ { gone.test = error:5.1.1 user unknown }, "
                         "{ bounces.example.com = smtp:[127.0.0.1]:%d } }"
                         % s.smtp_ports["inbound_listen"]),
                 })
    pf.start()
    try:
        res = assert_send_result(s.send(simple(to="nobody@gone.test")),
                                 ["nobody@gone.test"])
        mid = res["message_id"]
        st = wait_status(s, mid, {"nobody@gone.test": "bounced"}, timeout=30)
        assert "user unknown" in st["nobody@gone.test"]["smtp_response"], st
        types = events_of(s, "nobody@gone.test")
        assert types[0] == "cf.email.sending.message.delivered", types
        assert types[-1] == "cf.email.sending.message.bounced", types
        assert rows(s, "SELECT reason FROM suppressions WHERE email = ?",
                    "nobody@gone.test") == [("hard_bounce",)]
        assert "report=dsn findings=1" in s.stderr()
    finally:
        pf.close()
        _finish(s)


def test_store_down_is_451_and_the_report_counts_when_sent_again(net):
    """The findings cannot be committed (the write lock is held past the
    busy timeout): 451 4.3.0, the state unchanged; the sender's retry is
    taken."""
    from test_store_down import store_locked
    s = net.pigeon()
    mid, verp = delivered(net, ["gil@mail.test"])
    with pytest.raises(smtplib.SMTPDataError) as e:
        with store_locked(s):
            inbound(s, verp, dsn(verp, "gil@mail.test"))
    assert e.value.smtp_code == 451, e.value
    assert b"4.3.0" in e.value.smtp_error, e.value
    wait_status(s, mid, {"gil@mail.test": "delivered"})
    inbound(s, verp, dsn(verp, "gil@mail.test"))
    wait_status(s, mid, {"gil@mail.test": "bounced"})
