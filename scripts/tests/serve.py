"""A release host on 127.0.0.1 for the install tests: serves a directory, writes its port.

    python3 scripts/tests/serve.py DIR PORT_FILE
Logs each request path to DIR/../requests.log.
"""
import functools
import http.server
import os
import sys

directory, port_file = sys.argv[1], sys.argv[2]
log = os.path.join(os.path.dirname(os.path.abspath(directory)), "requests.log")


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{self.command} {self.path}\n")


server = http.server.ThreadingHTTPServer(
    ("127.0.0.1", 0), functools.partial(Handler, directory=directory)
)
with open(port_file + ".tmp", "w", encoding="utf-8") as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
