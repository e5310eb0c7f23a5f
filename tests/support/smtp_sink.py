#!/usr/bin/env python3
"""A real SMTP server for the e-mail tests: aiosmtpd on 127.0.0.1:PORT, writing each message it
accepts to DIR/<n>.json as {"mail_from", "rcpt_tos", "data"}. Prints "ready" once listening and
stops when its standard input closes (so it never outlives the test). With --tls starttls it
requires STARTTLS, with --tls tls it speaks TLS from the first byte (certificate --cert, key --key)."""
import argparse
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        tmp = os.path.join(self.directory, f".{n}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.directory, f"{n}.json"))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--tls", choices=["starttls", "tls"],
                        help="require STARTTLS, or speak TLS from the start (needs --cert/--key)")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    kwargs = {}
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        if args.tls == "starttls":
            kwargs = {"tls_context": context, "require_starttls": True}
        else:
            kwargs = {"ssl_context": context}
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port, **kwargs)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
