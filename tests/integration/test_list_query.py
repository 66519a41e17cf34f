"""
The query of the three list routes (SPEC §8.1 suppressions, §8.3 events
and [ours] messages) is read one way (req_query, req_per_page and
req_cursor in src/api/req.c): the same bad per_page, a parameter given
twice, too long or with a bad %-escape get the same 400/10001 and the
same sentence from each; a cursor not of the list's own form is refused
in the same words; unknown parameters are ignored.
"""
import pytest

from conftest import assert_error, assert_human, assert_ok

LISTS = ("messages", "events", "suppressions")


def get(server, route, qs):
    return server.request("GET", server.apath(route + "?" + qs), prefix=True)


def refused(server, qs, *needles):
    """The sentence all three lists answer qs with (400/10001)."""
    texts = set()
    for route in LISTS:
        r = get(server, route, qs)
        assert_error(r, 10001)
        texts.add(assert_human(r, *needles))
    assert len(texts) == 1, texts
    return texts.pop()


@pytest.mark.parametrize("qs", [
    "per_page=0", "per_page=1001", "per_page=-1", "per_page=abc",
    "per_page=", "per_page=05", "per_page=+5", "per_page=%205",
    "per_page=1.5", "per_page=99999999999999999999",
])
def test_bad_per_page_same_everywhere(server, qs):
    text = refused(server, qs, "per_page", "1 to 1000")
    assert "given more than once" not in text


def test_per_page_given_twice(server):
    refused(server, "per_page=1&per_page=2", "per_page",
            "given more than once")


def test_cursor_given_twice(server):
    refused(server, "cursor=&cursor=", "cursor", "given more than once")


@pytest.mark.parametrize("name", ["per_page", "cursor"])
def test_too_long(server, name):
    refused(server, name + "=" + "1" * 1025, name, "too long", "1024")


@pytest.mark.parametrize("qs", ["cursor=%zz", "cursor=%00", "cursor=%4"])
def test_bad_escape(server, qs):
    refused(server, qs, "cursor", "%-escape")


def test_foreign_cursor(server):
    # not one of any list's forms: each list refuses it in the same words
    refused(server, "cursor=nope", "cursor", "not one this list gave")


def test_good_edges(server):
    for route in LISTS:
        for qs, want in (("per_page=1", 1), ("per_page=1000", 1000),
                         ("", 100), ("cursor=&per_page=7", 7),
                         ("unknown=%zz&other=1&other=2&per_page=3", 3),
                         ("per_page=2&" + "x=" + "y" * 2000, 2)):
            r = get(server, route, qs)
            assert_ok(r)
            assert r.json["result_info"]["per_page"] == want, (route, qs)
