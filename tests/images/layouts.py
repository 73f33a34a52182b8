"""OCI image layouts written by the tests: layers as tar streams built in memory (so hostile
entries can be crafted exactly), configs, manifests and indexes, with the digests computed
here. Only loopback and local files are ever touched."""

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


def compress(tar, how):
    """(blob, media type) of a layer tar: "gzip", "zstd" (the zstd command) or "none"."""
    if how == "gzip":
        return gzip.compress(tar, mtime=0), OCI_LAYER_GZIP
    if how == "zstd":
        out = subprocess.run(["zstd", "-q", "-c"], input=tar, capture_output=True, check=True)
        return out.stdout, OCI_LAYER_ZSTD
    return tar, OCI_LAYER


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Tar:
    """A layer's tar, entry by entry; .data() is the uncompressed stream."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def _add(self, name, type_, data=b"", linkname="", mode=0o644, devmajor=0, devminor=0):
        info = tarfile.TarInfo(name)
        info.type = type_
        info.mode = mode
        info.size = len(data) if type_ == tarfile.REGTYPE else 0
        info.linkname = linkname
        info.devmajor, info.devminor = devmajor, devminor
        info.mtime = 1700000000
        self.tar.addfile(info, io.BytesIO(data) if type_ == tarfile.REGTYPE else None)
        return self

    def file(self, name, data=b"", mode=0o644):
        return self._add(name, tarfile.REGTYPE, data, mode=mode)

    def dir(self, name, mode=0o755):
        return self._add(name, tarfile.DIRTYPE, mode=mode)

    def symlink(self, name, target):
        return self._add(name, tarfile.SYMTYPE, linkname=target, mode=0o777)

    def hardlink(self, name, target):
        return self._add(name, tarfile.LNKTYPE, linkname=target)

    def chardev(self, name, major, minor):
        return self._add(name, tarfile.CHRTYPE, devmajor=major, devminor=minor)

    def data(self):
        self.tar.close()
        return self.buf.getvalue()


def tar_of_dir(path):
    """The tree at `path` as a layer tar (root-owned, as an image build would record it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def owner(info):
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            return info
        for entry in sorted(os.listdir(path)):
            t.add(os.path.join(path, entry), arcname=entry, filter=owner)
    return buf.getvalue()


class Layout:
    """An OCI image layout directory."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        self._write_index()

    def blob(self, data):
        digest = sha256(data)
        with open(os.path.join(self.path, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        return digest

    def blob_path(self, digest):
        return os.path.join(self.path, "blobs", "sha256", digest.split(":")[1])

    def image(self, layers, arch="amd64", env=None, workdir="", user="", compression="gzip",
              diff_ids=None):
        """Writes layers (uncompressed tar bytes), config and manifest; returns the manifest
        descriptor (not yet in the index). `compression`: one for all, or a list per layer."""
        layer_descs = []
        for i, tar in enumerate(layers):
            how = compression[i] if isinstance(compression, list) else compression
            blob, media_type = compress(tar, how)
            layer_descs.append({"mediaType": media_type, "digest": self.blob(blob),
                                "size": len(blob)})
        config = {"architecture": arch, "os": "linux",
                  "config": {"Env": env or ["PATH=/usr/local/bin:/usr/bin:/bin"]},
                  "rootfs": {"type": "layers",
                             "diff_ids": diff_ids or [sha256(t) for t in layers]}}
        if workdir:
            config["config"]["WorkingDir"] = workdir
        if user:
            config["config"]["User"] = user
        config_bytes = json.dumps(config).encode()
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": self.blob(config_bytes),
                               "size": len(config_bytes)},
                    "layers": layer_descs}
        manifest_bytes = json.dumps(manifest).encode()
        return {"mediaType": OCI_MANIFEST, "digest": self.blob(manifest_bytes),
                "size": len(manifest_bytes), "platform": {"architecture": arch, "os": "linux"}}

    def tag(self, ref, descriptor):
        d = dict(descriptor)
        d["annotations"] = {"org.opencontainers.image.ref.name": ref}
        self.index["manifests"] = [m for m in self.index["manifests"]
                                   if m.get("annotations", {}).get(
                                       "org.opencontainers.image.ref.name") != ref]
        self.index["manifests"].append(d)
        self._write_index()

    def tag_index(self, ref, descriptors):
        """A nested index of several platforms under one name."""
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": descriptors}).encode()
        self.tag(ref, {"mediaType": OCI_INDEX, "digest": self.blob(body), "size": len(body)})

    def _write_index(self):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(self.index, f)
