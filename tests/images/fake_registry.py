"""A small registry (OCI distribution, read side) over an OCI layout, for what the real
docker-registry cannot be made to do on demand: the Bearer token flow with a token server,
redirects to another host, 429/503 answers and connections dropped mid-blob. It records
every request so tests can assert what was sent where. Loopback only."""

import base64
import http.server
import json
import os
import socketserver
import threading
import time



class State:
    def __init__(self, layout, repo):
        self.layout = layout
        self.repo = repo
        self.auth = "none"          # none | basic | bearer
        self.anonymous_pull = False  # bearer: whether an anonymous token may pull
        self.user, self.password = "alice", "s3cret"
        self.faults = []            # per blob GET, in order: "503", "429", "drop", "trickle", "ok"
        self.redirect_port = None   # blobs answered with a 307 to this port
        self.requests = []          # (port, method, path, authorization header)
        self.lock = threading.Lock()


def _handler(state, port_of):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, code, body=b"", headers=None):
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _authorized(self):
            auth = self.headers.get("Authorization", "")
            if state.auth == "none":
                return True
            if state.auth == "basic":
                good = "Basic " + base64.b64encode(f"{state.user}:{state.password}".encode()).decode()
                if auth == good:
                    return True
                self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"basic"}]}',
                           {"WWW-Authenticate": 'Basic realm="fake"'})
                return False
            if auth == "Bearer good" or (auth == "Bearer anon" and state.anonymous_pull):
                return True
            port = port_of()
            self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}',
                       {"WWW-Authenticate":
                        f'Bearer realm="http://127.0.0.1:{port}/token",service="fake",'
                        f'scope="repository:{state.repo}:pull"'})
            return False

        def do_GET(self):
            with state.lock:
                state.requests.append((port_of(), self.command, self.path,
                                       self.headers.get("Authorization", "")))
            if self.path.startswith("/token"):
                return self._token()
            if self.path.startswith("/redirected/"):
                return self._blob(self.path[len("/redirected/"):], faults=False)
            prefix = f"/v2/{state.repo}/"
            if not self.path.startswith(prefix):
                return self._send(404)
            if not self._authorized():
                return
            rest = self.path[len(prefix):]
            if rest.startswith("manifests/"):
                return self._manifest(rest[len("manifests/"):])
            if rest.startswith("blobs/"):
                digest = rest[len("blobs/"):]
                if state.redirect_port:
                    return self._send(307, headers={
                        "Location": f"http://127.0.0.1:{state.redirect_port}/redirected/{digest}"})
                return self._blob(digest, faults=True)
            return self._send(404)

        do_HEAD = do_GET

        def _token(self):
            auth = self.headers.get("Authorization", "")
            good = "Basic " + base64.b64encode(f"{state.user}:{state.password}".encode()).decode()
            if auth == good:
                return self._send(200, json.dumps({"token": "good"}).encode())
            if auth:
                return self._send(401, b"{}")
            return self._send(200, json.dumps({"token": "anon"}).encode())

        def _manifest(self, ref):
            with open(os.path.join(state.layout.path, "index.json")) as f:
                index = json.load(f)
            found = None
            for d in index["manifests"]:
                name = d.get("annotations", {}).get("org.opencontainers.image.ref.name")
                if ref in (name, d["digest"]):
                    found = d
                    break
            if found is None and ref.startswith("sha256:"):
                found = {"digest": ref, "mediaType": None}  # a child of an index
            path = state.layout.blob_path(found["digest"]) if found else ""
            if not found or not os.path.exists(path):
                return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            body = open(path, "rb").read()
            media = found["mediaType"] or json.loads(body).get("mediaType")
            self._send(200, body, {"Content-Type": media,
                                   "Docker-Content-Digest": found["digest"]})

        def _blob(self, digest, faults):
            path = state.layout.blob_path(digest)
            if not os.path.exists(path):
                return self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
            fault = "ok"
            if faults:
                with state.lock:
                    fault = state.faults.pop(0) if state.faults else "ok"
            if fault == "503":
                return self._send(503, b'{"errors":[{"code":"UNAVAILABLE"}]}')
            if fault == "429":
                return self._send(429, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}',
                                  {"Retry-After": "0"})
            body = open(path, "rb").read()
            if fault == "trickle":
                # A byte every 0.2 s: alive enough for a 1 byte/s stall limit, forever for us.
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for i in range(len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass  # the client gave up
                self.close_connection = True
                return
            if fault == "drop":
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self._send(200, body, {"Content-Type": "application/octet-stream"})

    return Handler


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def start(state):
    """Starts a server on a free loopback port; returns (server, port)."""
    holder = {}
    server = Server(("127.0.0.1", 0), _handler(state, lambda: holder["port"]))
    holder["port"] = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, holder["port"]
