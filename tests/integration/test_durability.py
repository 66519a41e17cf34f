"""
SPEC §3.4: "The response is sent only after the message is durable in the
queue".  Fire sends from several threads, SIGKILL the server mid-load,
restart it on the same state_dir: every message that got a 200 must be
there, and every one of its recipients must reach a status (delivered).
"""
import threading
import time

from conftest import assert_ok, simple

THREADS = 4
PER_THREAD = 5000       # bound on the count per thread
KILL_AFTER = 800        # kill once this many sends were acknowledged ...
LOAD_SECONDS = 3.0      # ... or after this long, whichever comes first


def test_sigkill_loses_nothing(make_server):
    s = make_server("durable", send_wait_ms=0)
    s.start()
    token, account = s.token, s.account
    accepted = []        # (message_id, [recipients])
    lock = threading.Lock()
    stop = threading.Event()
    errors = []

    def worker(n):
        for i in range(PER_THREAD):
            if stop.is_set():
                return
            rc = ["t%d-%d-a@example.net" % (n, i),
                  "t%d-%d-b@example.org" % (n, i)]
            try:
                r = s.send(simple(to=rc, subject="load %d %d" % (n, i)),
                           timeout=10)
            except OSError:
                return          # the server is gone
            if r.status == 200:
                with lock:
                    accepted.append((r.json["result"]["message_id"], rc))
            elif r.status not in (503,):
                errors.append(r)
                return

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in ts:
        t.start()
    deadline = time.time() + LOAD_SECONDS
    while time.time() < deadline and len(accepted) < KILL_AFTER:
        time.sleep(0.01)
    busy = sum(t.is_alive() for t in ts)
    pid = s.proc.pid
    s.kill()                 # SIGKILL mid-load
    assert busy == THREADS, "load ended before the kill"
    stop.set()
    for t in ts:
        t.join(timeout=30)
    assert not errors, errors[:3]
    assert len(accepted) >= 10, "too few sends before the kill: %d" % \
        len(accepted)

    print("accepted before SIGKILL:", len(accepted))
    s.start()
    assert s.proc.pid != pid
    assert s.token == token and s.account == account, \
        "dev bootstrap ran again on restart"
    pending = {}
    for mid, rc in accepted:
        r = s.message(mid)
        assert r.status == 200, "accepted message %s lost: %r" % (mid, r)
        pending[mid] = set(rc)
    deadline = time.time() + 30
    while pending and time.time() < deadline:
        for mid in list(pending):
            res = assert_ok(s.status(mid))
            st = {x["address"].lower(): x["status"]
                  for x in res["recipients"]}
            missing = pending[mid] - set(st)
            assert not missing, "recipients lost for %s: %r" % (mid, missing)
            assert all(st[a] in ("queued", "deferred", "delivered")
                       for a in pending[mid]), (mid, st)
            if all(st[a] == "delivered" for a in pending[mid]):
                del pending[mid]
        time.sleep(0.3)
    assert not pending, "%d messages not delivered 30 s after restart" % \
        len(pending)
