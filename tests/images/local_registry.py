"""Debian's docker-registry on a free loopback port, for the image tests and benchmark."""

import os
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """docker-registry on 127.0.0.1:<free port>, storage in a temp dir, optionally with htpasswd
    Basic auth and TLS."""

    def __init__(self, root, htpasswd=None, tls=None):
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        http = f"http: {{addr: {self.host}, secret: ociexec-tests"
        if tls:  # (certificate, key)
            http += f", tls: {{certificate: {tls[0]}, key: {tls[1]}}}"
        auth = f"auth: {{htpasswd: {{realm: test, path: {htpasswd}}}}}\n" if htpasswd else ""
        config = os.path.join(root, "config.yml")
        with open(config, "w") as f:
            f.write("version: 0.1\nlog: {level: info, accesslog: {disabled: false}}\n"
                    f"storage: {{filesystem: {{rootdirectory: {root}/data}}, delete: {{enabled: true}}}}\n"
                    + http + "}\n" + auth)
        self.log_path = os.path.join(root, "registry.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", config], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start: " + open(self.log_path).read())

    def blob_gets(self):
        """Blob GETs the registry served, from its access log."""
        with open(self.log_path) as f:
            return sum(1 for line in f if '"GET /v2/' in line and "/blobs/" in line)

    def push(self, layout_ref, name, creds=None, all_platforms=False):
        cmd = ["skopeo", "copy", "-q", "--dest-tls-verify=false"]
        if creds:
            cmd += ["--dest-creds", creds]
        if all_platforms:
            cmd += ["--all"]
        subprocess.run(cmd + [layout_ref, f"docker://{self.host}/{name}"], check=True)

    def blob_data_path(self, digest):
        hexd = digest.split(":")[1]
        return os.path.join(self.root, "data/docker/registry/v2/blobs/sha256", hexd[:2], hexd, "data")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def make_ca_and_cert(directory):
    """A CA and a certificate for 127.0.0.1 signed by it (openssl); returns (ca, cert, key)."""
    ca_key, ca, key, csr, cert = (os.path.join(directory, n) for n in
                                  ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = os.path.join(directory, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    quiet = {"check": True, "capture_output": True}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=ociexec test CA", "-keyout", ca_key, "-out", ca], **quiet)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-keyout", key, "-out", csr], **quiet)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                    "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert], **quiet)
    return ca, cert, key
