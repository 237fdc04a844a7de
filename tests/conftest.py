"""Shared fixtures: the project package on sys.path and a real HTTP server on 127.0.0.1."""

import http.server
import os
import sys
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "site_scons"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: uses the real package index or the real model")


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves self.server.routes: path -> bytes, an HTTP status, ('drop', bytes, cut), ('slow', bytes, delay)
    or ('typed', content_type, bytes) or ('stall', bytes, cut): the first cut bytes, then nothing for a
    minute (a download to kill midway)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        if isinstance(route, tuple) and route[0] == "slow":
            _, body, delay = route
            time.sleep(delay)
            route = body
        if isinstance(route, tuple) and route[0] == "stall":
            _, body, cut = route
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:cut])
            self.wfile.flush()
            time.sleep(60)
            return
        if isinstance(route, tuple) and route[0] == "drop":
            _, body, cut = route
            first = not any(p == self.path for p, _ in self.server.requests[:-1])
            if first:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            route = body
        if isinstance(route, int):
            self.send_error(route)
            return
        content_type = None
        if isinstance(route, tuple) and route[0] == "typed":
            _, content_type, route = route
        body = route
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.handle_error = lambda request, address: None  # clients that time out on purpose
    server.routes = {}
    server.requests = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
