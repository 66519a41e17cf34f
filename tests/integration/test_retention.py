"""
message_retention (etc/pigeon.conf): the writer purges the messages past
it whose recipients are all final, at start and every 10 minutes; a
message with a recipient still pending stays. Without preview the body
leaves the store as soon as every recipient is final; the status stays.
"""
import os
import sqlite3
import time

from conftest import simple


def stored(server, message_id):
    """(length of the stored body, size) of message_id, read-only beside
    the running server; None when the row is gone."""
    path = os.path.join(server.state_dir, "pigeon.db")
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        return db.execute("SELECT length(raw), size FROM messages "
                          "WHERE message_id = ?", (message_id,)).fetchone()
    finally:
        db.close()


def test_purge_final_keep_pending(make_server):
    s = make_server("retention", message_retention="3s", max_queue_age="2s",
                    capture_slow_ms="30000").start()
    t0 = time.time()
    r = s.send(simple(to="rcpt@example.net"))
    assert r.status == 200 and r.json["result"]["delivered"], r
    done = r.json["result"]["message_id"]
    # answered after send_wait_ms, its attempt still in flight
    r = s.send(simple(to="slow@example.net"))
    assert r.status == 200 and r.json["result"]["queued"], r
    pending = r.json["result"]["message_id"]
    assert s.status(done).status == 200
    assert "purged" not in s.stderr()
    # the purge runs at start: start again past the retention
    assert s.stop() == 0
    time.sleep(max(0.0, t0 + 3.5 - time.time()))
    s.start()
    assert s.wait_for(lambda: s.status(done).status == 404, timeout=5)
    assert stored(s, done) is None
    r = s.status(pending)
    assert r.status == 200, r
    assert r.json["result"]["recipients"][0]["status"] == "queued", r
    assert stored(s, pending)[0] > 0
    log = s.stderr()
    assert "queue: purged 1 message older than 3s; store " in log, log
    assert log.count("queue: store ") == 2, log
    assert "messages kept 3s once final" in log, log


def test_no_preview_body_dropped(make_server):
    s = make_server("nopreview").start()
    r = s.send(simple(to="rcpt@example.net"))
    assert r.status == 200, r
    kept = r.json["result"]["message_id"]
    s.cli("domain", "set", "example.com", "--preview", "false",
          json_out=False)
    r = s.send(simple(to="rcpt@example.net"))
    assert r.status == 200 and r.json["result"]["delivered"], r
    mid = r.json["result"]["message_id"]
    # without preview: no body in the store once every recipient is final
    n, size = stored(s, mid)
    assert n == 0 and size > 0
    assert s.message(mid).status == 404
    r = s.status(mid)
    assert r.status == 200, r
    assert r.json["result"]["recipients"][0]["status"] == "delivered", r
    # a message sent with preview keeps its body
    assert stored(s, kept)[0] > 0
    assert s.message(kept).status == 200
