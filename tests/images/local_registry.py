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
    """docker-registry on 127.0.0.1:<free port>, storage in a temp dir, optionally htpasswd."""

    def __init__(self, root, htpasswd=None):
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        auth = f"auth: {{htpasswd: {{realm: test, path: {htpasswd}}}}}\n" if htpasswd else ""
        config = os.path.join(root, "config.yml")
        with open(config, "w") as f:
            f.write("version: 0.1\nlog: {level: info, accesslog: {disabled: false}}\n"
                    f"storage: {{filesystem: {{rootdirectory: {root}/data}}, delete: {{enabled: true}}}}\n"
                    f"http: {{addr: {self.host}, secret: ociexec-tests}}\n" + auth)
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
