"""
The suppression list at send time (SPEC §8.1, §7): a recipient that
bounced hard is on it; a REST send to it is refused 400/10202 naming it,
unless its domain drops suppressed recipients (then it is dropped and
listed in suppressed_recipients); an SMTP submission drops it silently
(250 even when every recipient is suppressed); an expired entry
suppresses nothing.
"""
import os
import smtplib
import sqlite3
import ssl

from conftest import assert_error, assert_human, assert_send_result, simple
from test_outcomes import status_of, uniq, wait_status


def bounced(s):
    """An address the capture route bounced (550 5.1.1): suppressed."""
    a = uniq("bounce")
    res = assert_send_result(s.send(simple(to=a)), [a])
    assert wait_status(s, res["message_id"], a, "bounced")["status"] == \
        "bounced"
    return a


def smtp_send(s, to):
    ctx = ssl.create_default_context(cafile=s.env["PIGEON_SMTP_CA"])
    with smtplib.SMTP_SSL("127.0.0.1", s.smtp_ports["smtps_listen"],
                          context=ctx, timeout=20) as c:
        c.login("api_token", s.token)
        msg = ("From: dev@example.com\r\nTo: %s\r\nSubject: supp\r\n\r\n"
               "hi\r\n" % ", ".join(to))
        c.sendmail("dev@example.com", to, msg.encode())
        reply = c.noop()
    return reply


def smtp_last_id(s):
    db = sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"))
    try:
        return db.execute("SELECT message_id FROM messages WHERE subject = "
                          "'supp' ORDER BY id DESC LIMIT 1").fetchone()[0]
    finally:
        db.close()


def test_rest_refuses_a_suppressed_recipient(make_server):
    s = make_server("supp-rest").start()
    a = bounced(s)
    ok = uniq("ok")
    r = s.send(simple(to=[ok, a]))
    assert_error(r, 10202)
    assert_human(r, a, "suppression list", "hard_bounce")
    # nothing was queued for the other recipient either
    r = s.send(simple(to=[ok]))
    assert_send_result(r, [ok])


def test_rest_drops_when_the_domain_says_so(make_server):
    s = make_server("supp-drop").start()
    a = bounced(s)
    s.cli("domain", "set", "example.com", "--drop-suppressed", "yes",
          json_out=False)
    ok = uniq("ok")
    res = assert_send_result(s.send(simple(to=[ok, a])), [ok, a])
    assert res["suppressed_recipients"] == [a], res
    assert res["delivered"] == [ok], res
    st = status_of(s, res["message_id"])
    assert st[a]["status"] == "suppressed" and st[a]["attempts"] == 0, st


def test_smtp_drops_silently(make_server):
    s = make_server("supp-smtp").start()
    a = bounced(s)
    ok = uniq("ok")
    assert smtp_send(s, [ok, a])[0] == 250
    mid = smtp_last_id(s)
    assert wait_status(s, mid, ok, "delivered")["status"] == "delivered"
    assert status_of(s, mid)[a]["status"] == "suppressed"
    # every recipient suppressed: still 250, nothing delivered
    assert smtp_send(s, [a])[0] == 250
    mid = smtp_last_id(s)
    st = status_of(s, mid)
    assert st[a]["status"] == "suppressed" and st[a]["attempts"] == 0, st


def test_an_expired_entry_suppresses_nothing(make_server):
    s = make_server("supp-expired").start()
    a = bounced(s)
    assert_error(s.send(simple(to=a)), 10202)
    db = sqlite3.connect(os.path.join(s.state_dir, "pigeon.db"))
    db.execute("UPDATE suppressions SET expires_at = 1000 WHERE email = ?",
               (a,))
    db.commit()
    db.close()
    res = assert_send_result(s.send(simple(to=a)), [a])
    assert res["permanent_bounces"] == [a], res  # tried, bounced again
