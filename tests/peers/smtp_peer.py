#!/usr/bin/python3
"""smtp_peer: a scripted SMTP server on 127.0.0.1 for pigeon's tests.

Built on aiosmtpd (Debian's python3-aiosmtpd; run it with /usr/bin/python3).
It receives mail and keeps nothing but a log; each option scripts one
behaviour, so a test starts the peer it needs:

    smtp_peer.py --ready /tmp/t/port --log /tmp/t/log.jsonl \\
        --rcpt-reply 'bad@x.test=550 5.1.1 no such user' \\
        --rcpt-reply 'later@x.test=451 4.3.0 try again'

Listening:
  --addr A            address to listen on, in 127.0.0.0/8 (127.0.0.1)
  --port N            port on it (default 0: a free one, see --ready)
  --ready FILE        once listening, write the port to FILE (atomically)
  --hostname NAME     name in the greeting and the EHLO reply (peer.test)
  --log FILE          append one JSON line per session, written when it ends
  --messages FILE     append one JSON line per message as it is accepted:
                      the fields of a message below, and session: {session,
                      peer, tls, auth, commands so far}

TLS (a CA and a certificate for NAME are made at start, EC P-256, valid
one day; clients that verify trust DIR/ca.pem):
  --tls NAME          offer STARTTLS with a certificate for NAME
  --implicit-tls      TLS from the first byte instead (smtps); needs --tls
  --cert-dir DIR      where ca.pem, cert.pem and key.pem go (a temp dir)
  --tls-fail          offer STARTTLS, answer 220, then answer the client's
                      hello with bytes that are not TLS and close: the
                      handshake fails

Extensions (offered by default: SIZE, 8BITMIME, SMTPUTF8, PIPELINING,
ENHANCEDSTATUSCODES):
  --size N            SIZE N (default 33554432; 0: no SIZE, no limit)
  --no-smtputf8 --no-pipelining --no-enhanced
  --chunking          offer CHUNKING too (RFC 3030) and take BDAT: each
                      chunk is read as exactly its size in bytes; BDAT
                      LAST ends the message, which is then logged, scripted
                      (--data-reply, --delay-dot, --stall-at dot,
                      --drop-in-data) and answered as the dot is after DATA
  --no-ehlo           answer 502 to EHLO (HELO still works)
  --auth USER:PASS    require AUTH (PLAIN, LOGIN) before MAIL; offered over
                      TLS only, or in plaintext when there is no --tls (to
                      test that a client will not send credentials there)
  --auth-mechanisms M offer only these (comma-separated: PLAIN, LOGIN)
  --timeout S         close a session idle for S seconds (default 300)

Scripted replies (a "\\n" in TEXT makes a multi-line reply; each line then
carries its own code: '250-first\\n250 second'):
  --mail-reply 'CODE TEXT'          reply to every MAIL FROM
  --rcpt-reply 'ADDRESS=CODE TEXT'  reply to RCPT TO:<ADDRESS> (any case);
                                    repeat for more addresses
  --rcpt-reply-once 'ADDRESS=CODE TEXT'
                                    the same, to the first RCPT of ADDRESS
                                    only (a 451 then a 250 on the retry)
  --data-reply 'CODE TEXT'          reply to the final dot
  --delay-dot S                     answer the final dot S seconds late
                                    (the message is logged at once)

Faults:
  --greeting 'CODE TEXT'  greet with this refusal and close
  --greeting-421          the same with '421 4.7.0 <host> too many
                          connections, try again later'
  --stall-at STAGE        stop answering at STAGE: greeting, ehlo, starttls,
                          auth, mail, rcpt, data (no 354), dot (no reply to
                          the message), rset, quit
  --drop-in-data          after the 354, read one line and close
  --faults N              the faults above hit the first N sessions only
                          (default 0: every session); later ones are normal

Log line fields: session (1, 2, ...), peer ("127.0.0.1:PORT"), start and
end (Unix time), tls ("TLSv1.3" or null), auth (the user or null),
commands (every command line in order; AUTH without its credentials),
pipelined (the commands that arrived with more bytes already behind
them: empty when the client waited for each reply), messages (one per
DATA or BDAT LAST whose message was whole: mail_from, mail_options,
rcpt_tos, size, data_b64 = the bytes after dot-unstuffing, CRLFs kept,
via = "DATA" or "BDAT"), end_reason
("quit", "closed", "stalled", "dropped", "greeting", "tls-fail").

The peer prints "smtp_peer: listening on 127.0.0.1:PORT" and runs until
SIGTERM or SIGINT.
"""

import argparse
import asyncio
import base64
import json
import os
import signal
import ssl
import sys
import tempfile
import time

from aiosmtpd.smtp import SMTP, AuthResult

STAGES = {
    "greeting": None,
    "ehlo": ("EHLO", "HELO"),
    "starttls": ("STARTTLS",),
    "auth": ("AUTH",),
    "mail": ("MAIL",),
    "rcpt": ("RCPT",),
    "data": ("DATA",),
    "dot": None,
    "rset": ("RSET",),
    "quit": ("QUIT",),
}


def reply_text(s):
    """A scripted reply: a literal \\n starts a new line."""
    return s.replace("\\n", "\r\n")


def make_certs(name, d):
    """A CA and a certificate for name signed by it, as PEM files in d."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.utcnow()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            "smtp_peer test CA")])
    usage = dict(content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
          .add_extension(x509.KeyUsage(digital_signature=False,
                                       key_cert_sign=True, crl_sign=True,
                                       **usage), True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(
              ca_key.public_key()), False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]),
                           False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           True)
            .add_extension(x509.KeyUsage(digital_signature=True,
                                         key_cert_sign=False, crl_sign=False,
                                         **usage), True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    files = {
        "ca.pem": ca.public_bytes(pem),
        "cert.pem": cert.public_bytes(pem),
        "key.pem": key.private_bytes(pem,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()),
    }
    for f, data in files.items():
        with open(os.path.join(d, f), "wb") as fp:
            fp.write(data)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"))
    return ctx


class Handler:
    """aiosmtpd's hooks: EHLO's list, scripted replies, messages kept."""

    def __init__(self, cfg):
        self.cfg = cfg

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        last = responses.pop()  # "250 HELP"
        if not self.cfg.no_pipelining:
            responses.append("250-PIPELINING")
        if not self.cfg.no_enhanced:
            responses.append("250-ENHANCEDSTATUSCODES")
        if self.cfg.chunking:
            responses.append("250-CHUNKING")
        if self.cfg.tls_fail and "250-STARTTLS" not in responses:
            responses.append("250-STARTTLS")
        responses.append(last)
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        if self.cfg.mail_reply:
            return reply_text(self.cfg.mail_reply)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        scripted = self.cfg.rcpt_replies.get(address.lower())
        if scripted is None:
            # --rcpt-reply-once: the first RCPT of the address only
            scripted = self.cfg.rcpt_once.pop(address.lower(), None)
        if scripted is not None and not scripted.startswith("2"):
            return reply_text(scripted)
        envelope.rcpt_tos.append(address)
        return reply_text(scripted) if scripted else "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if server.faulty and self.cfg.stall_at == "dot":
            server.rec["end_reason"] = "stalled"
            await asyncio.sleep(3600)
        msg = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "size": len(envelope.original_content),
            "data_b64": base64.b64encode(envelope.original_content).decode(),
            "via": ("BDAT" if server.rec["commands"][-1].startswith("BDAT")
                    else "DATA"),
        }
        server.rec["messages"].append(msg)
        if self.cfg.messages:
            # at once, while the session may go on (a reused connection)
            server._note_tls()
            line = dict(msg, session={
                k: server.rec[k] for k in ("session", "peer", "tls", "auth")})
            line["session"]["commands"] = list(server.rec["commands"])
            with open(self.cfg.messages, "a") as fp:
                fp.write(json.dumps(line) + "\n")
        if self.cfg.delay_dot:
            await asyncio.sleep(self.cfg.delay_dot)
        if self.cfg.data_reply:
            return reply_text(self.cfg.data_reply)
        return "250 2.0.0 OK queued"


class PeerSMTP(SMTP):
    """One session: aiosmtpd's, with every command logged and the
    scripted faults applied."""

    sessions = 0

    def __init__(self, handler, cfg, **kwargs):
        super().__init__(handler, **kwargs)
        self.cfg = cfg
        PeerSMTP.sessions += 1
        self.faulty = cfg.faults == 0 or PeerSMTP.sessions <= cfg.faults
        self.rec = {"session": PeerSMTP.sessions, "peer": None,
                    "start": time.time(), "end": None, "tls": None,
                    "auth": None, "commands": [], "pipelined": [],
                    "messages": [], "end_reason": "closed"}
        self.logged = False
        for name, method in list(self._smtp_methods.items()):
            self._smtp_methods[name] = self._wrap(name, method)

    def _wrap(self, name, method):
        async def run(arg):
            line = name if arg is None else name + " " + arg
            if name == "AUTH" and arg:
                line = "AUTH " + arg.split()[0]  # no credentials
            self.rec["commands"].append(line)
            if len(self._reader._buffer) > 0:
                self.rec["pipelined"].append(line)
            stall = STAGES.get(self.cfg.stall_at or "")
            if self.faulty and stall and name in stall:
                self.rec["end_reason"] = "stalled"
                await asyncio.sleep(3600)
            await method(arg)
            self._note_tls()
        return run

    def _note_tls(self):
        if self.transport is None:
            return
        obj = self.transport.get_extra_info("ssl_object")
        if obj is not None:
            self.rec["tls"] = obj.version()
        if self.session.authenticated and self.session.login_data:
            self.rec["auth"] = self.session.login_data.decode(
                errors="replace")

    def connection_made(self, transport):
        first = self.transport is None
        super().connection_made(transport)
        if first:
            peer = transport.get_extra_info("peername")
            self.rec["peer"] = "%s:%d" % (peer[0], peer[1])
            self._note_tls()

    def connection_lost(self, error):
        super().connection_lost(error)
        if self.logged:
            return
        self.logged = True
        self.rec["end"] = time.time()
        if self.cfg.log:
            with open(self.cfg.log, "a") as fp:
                fp.write(json.dumps(self.rec) + "\n")

    async def _handle_client(self):
        if self.faulty and self.cfg.stall_at == "greeting":
            self.rec["end_reason"] = "stalled"
            await asyncio.sleep(3600)
        if self.faulty and self.cfg.greeting:
            await self.push(reply_text(self.cfg.greeting))
            self.rec["end_reason"] = "greeting"
            self.transport.close()
            return
        await super()._handle_client()

    async def smtp_EHLO(self, hostname):
        if self.cfg.no_ehlo:
            await self.push("502 5.5.1 EHLO not implemented")
            return
        await super().smtp_EHLO(hostname)

    async def smtp_QUIT(self, arg):
        self.rec["end_reason"] = "quit"
        await super().smtp_QUIT(arg)

    async def smtp_STARTTLS(self, arg):
        if self.cfg.tls_fail and self.faulty:
            await self.push("220 2.0.0 Ready to start TLS")
            # the client's hello, answered with what is not TLS
            try:
                await asyncio.wait_for(self._reader.read(512), 5)
            except asyncio.TimeoutError:
                pass
            self._writer.write(b"this is not TLS\r\n" * 4)
            self.rec["end_reason"] = "tls-fail"
            self.transport.close()
            return
        await super().smtp_STARTTLS(arg)

    async def smtp_DATA(self, arg):
        if self.cfg.drop_in_data and self.faulty and self.envelope.rcpt_tos:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readline()
            self.rec["end_reason"] = "dropped"
            self.transport.close()
            return
        await super().smtp_DATA(arg)

    async def smtp_BDAT(self, arg):
        """RFC 3030 §2: BDAT SIZE [LAST]; the SIZE bytes that follow are
        read whatever the reply, so the session stays in step."""
        if not self.cfg.chunking:
            await self.push('500 Error: command "BDAT" not recognized')
            return
        words = (arg or "").split()
        if (len(words) not in (1, 2) or not words[0].isdigit()
                or (len(words) == 2 and words[1].upper() != "LAST")):
            await self.push("501 5.5.4 Syntax: BDAT size [LAST]")
            return
        size, last = int(words[0]), len(words) == 2
        if (self.cfg.drop_in_data and self.faulty
                and self.envelope.rcpt_tos):
            await self._reader.read(1)
            self.rec["end_reason"] = "dropped"
            self.transport.close()
            return
        chunk = await self._reader.readexactly(size)
        if self.envelope.mail_from is None:
            await self.push("503 5.5.1 Error: need MAIL command")
            return
        if not self.envelope.rcpt_tos:
            await self.push("554 5.5.1 Error: no valid recipients")
            return
        self.bdat = getattr(self, "bdat", b"") + chunk
        if not last:
            await self.push("250 2.0.0 %d bytes received" % size)
            return
        data, self.bdat = self.bdat, b""
        limit = self.data_size_limit
        if limit and len(data) > limit:
            self._set_post_data_state()
            await self.push("552 5.3.4 Error: Too much mail data")
            return
        self.envelope.original_content = data
        self.envelope.content = data.decode("utf-8",
                                            errors="surrogateescape")
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)

    def _set_post_data_state(self):
        self.bdat = b""
        super()._set_post_data_state()


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="a scripted SMTP server for tests (see the docstring)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--ready")
    p.add_argument("--hostname", default="peer.test")
    p.add_argument("--log")
    p.add_argument("--messages")
    p.add_argument("--tls", metavar="NAME")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--cert-dir")
    p.add_argument("--tls-fail", action="store_true")
    p.add_argument("--size", type=int, default=33554432)
    p.add_argument("--no-smtputf8", action="store_true")
    p.add_argument("--no-pipelining", action="store_true")
    p.add_argument("--no-enhanced", action="store_true")
    p.add_argument("--no-ehlo", action="store_true")
    p.add_argument("--chunking", action="store_true")
    p.add_argument("--auth", metavar="USER:PASS")
    p.add_argument("--auth-mechanisms", default="PLAIN,LOGIN")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--mail-reply")
    p.add_argument("--rcpt-reply", action="append", default=[])
    p.add_argument("--rcpt-reply-once", action="append", default=[])
    p.add_argument("--data-reply")
    p.add_argument("--delay-dot", type=float, default=0)
    p.add_argument("--greeting")
    p.add_argument("--greeting-421", action="store_true")
    p.add_argument("--stall-at", choices=sorted(STAGES))
    p.add_argument("--drop-in-data", action="store_true")
    p.add_argument("--faults", type=int, default=0)
    cfg = p.parse_args(argv)
    if cfg.implicit_tls and not cfg.tls:
        p.error("--implicit-tls needs --tls NAME")
    if cfg.greeting_421:
        cfg.greeting = ("421 4.7.0 %s too many connections, try again later"
                        % cfg.hostname)
    cfg.rcpt_replies = {}
    for r in cfg.rcpt_reply:
        addr, sep, reply = r.partition("=")
        if not sep or not reply[:3].isdigit():
            p.error("--rcpt-reply wants ADDRESS=CODE TEXT: %r" % r)
        cfg.rcpt_replies[addr.lower()] = reply
    cfg.rcpt_once = {}
    for r in cfg.rcpt_reply_once:
        addr, sep, reply = r.partition("=")
        if not sep or not reply[:3].isdigit():
            p.error("--rcpt-reply-once wants ADDRESS=CODE TEXT: %r" % r)
        cfg.rcpt_once[addr.lower()] = reply
    return cfg


async def serve(cfg):
    loop = asyncio.get_running_loop()
    ctx = None
    if cfg.tls:
        d = cfg.cert_dir or tempfile.mkdtemp(prefix="smtp_peer.")
        os.makedirs(d, exist_ok=True)
        ctx = make_certs(cfg.tls, d)
    users = {}
    if cfg.auth:
        u, _, pw = cfg.auth.partition(":")
        users[u.encode()] = pw.encode()

    def authenticator(server, session, envelope, mechanism, data):
        return AuthResult(success=users.get(data.login) == data.password,
                          handled=False, auth_data=data)

    handler = Handler(cfg)

    def factory():
        kw = dict(hostname=cfg.hostname, ident="smtp_peer",
                  data_size_limit=cfg.size or None,
                  enable_SMTPUTF8=not cfg.no_smtputf8, timeout=cfg.timeout,
                  loop=loop)
        if ctx is not None and not cfg.implicit_tls:
            kw["tls_context"] = ctx
        if cfg.auth:
            offered = cfg.auth_mechanisms.upper().split(",")
            kw.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=bool(ctx) and not cfg.implicit_tls,
                      auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN")
                                              if m not in offered])
        return PeerSMTP(handler, cfg, **kw)

    server = await loop.create_server(
        factory, cfg.addr, cfg.port,
        ssl=ctx if cfg.implicit_tls else None)
    port = server.sockets[0].getsockname()[1]
    if cfg.ready:
        tmp = cfg.ready + ".tmp"
        with open(tmp, "w") as fp:
            fp.write("%d\n" % port)
        os.rename(tmp, cfg.ready)
    print("smtp_peer: listening on %s:%d" % (cfg.addr, port), flush=True)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    await stop
    server.close()


def main(argv):
    import logging
    import warnings

    # aiosmtpd warns about AUTH in plaintext: that is what --auth without
    # --tls is for.
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
