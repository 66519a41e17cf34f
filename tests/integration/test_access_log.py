"""
access_log (etc/pigeon.conf): all (the default) logs the
"http method=... path=... status=..." line of every request, errors only
those answered 400 or above (or cut off), off none.
"""
import time

import pytest


def http_lines(server):
    return [ln for ln in server.stderr().splitlines() if " http method=" in ln]


def traffic(server):
    """One 200, one 404 and one 401, then the log's http lines."""
    assert server.request("GET", "/healthz", auth=False).status == 200
    assert server.request("GET", "/nothing/here", auth=False).status == 404
    assert server.request("GET", "/user/tokens/verify",
                          auth=False).status == 401
    time.sleep(0.2)
    return http_lines(server)


@pytest.mark.parametrize("mode,want", [
    (None, {"200", "404", "401"}), ("all", {"200", "404", "401"}),
    ("errors", {"404", "401"}), ("off", set())])
def test_access_log(make_server, mode, want):
    conf = {} if mode is None else {"access_log": mode}
    s = make_server("alog", **conf).start()
    time.sleep(0.2)   # the start-up /healthz polls are logged after
    before = len(http_lines(s))   # their answer
    lines = traffic(s)[before:]
    got = {ln.split(" status=")[1].split(" ")[0] for ln in lines}
    assert got == want, lines
    assert len(lines) == len(want), lines


def test_access_log_refused(make_server):
    s = make_server("alogbad", access_log="some")
    with pytest.raises(AssertionError) as e:
        s.start(timeout=5)
    s.proc = None   # it exited at start, as it should
    assert "access_log 'some'" in str(e.value)
