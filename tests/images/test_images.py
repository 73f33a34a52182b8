"""Images end to end (issue: images without a daemon): pulls from Debian's docker-registry
and from a fake registry on loopback, OCI layouts, hostile layers, the store's commands, and
jobs on the pulled images with runc and crun. Every test ends with nothing left behind
(conftest.py)."""

import base64
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

import fake_registry
from conftest import CLI, ROOTFS
from local_registry import Registry, make_ca_and_cert
from layouts import Layout, Tar, sha256, tar_of_dir

SCHEMA_DIR = "/usr/share/gocode/src/github.com/opencontainers/image-spec/schema"


def pull_json(ociexec, ref, *flags, check=0):
    p = ociexec("pull", ref, "--json", *flags, check=check)
    return json.loads(p.stdout) if check == 0 else p


def tree_digest(path):
    """Every name, type, mode and content under `path`: equal before and after means untouched."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(root, name)
            st = os.lstat(full)
            h.update(f"{full} {st.st_mode} {st.st_size}".encode())
            if os.path.isfile(full) and not os.path.islink(full):
                h.update(open(full, "rb").read())
    return h.hexdigest()


# --- a registry, anonymous -------------------------------------------------------------------

@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_pull_then_run_uses_the_image_config(ociexec, registry, images, runtime):
    registry.push(images["busybox"], "test/busybox:1")
    ref = f"{registry.host}/test/busybox:1"
    summary = pull_json(ociexec, ref, "--tls-verify=false")
    assert summary["name"] == ref and summary["layers_fetched"] == 1
    script = "id -u; id -g; pwd; echo $IMAGE_VAR; echo hi > /tmp/out && cat /tmp/out"
    p = ociexec("run", "--runtime", runtime, "--image", ref, "--pull", "never", "-c", script,
                check=0)
    assert p.stdout.split() == ["1234", "42", "/srv", "from-image", "hi"]
    # The job's own options win over the image's.
    p = ociexec("run", "--runtime", runtime, "--image", ref, "--pull", "never", "--user", "0",
                "-w", "/job", "-e", "IMAGE_VAR=mine", "-c", "id -u; pwd; echo $IMAGE_VAR",
                check=0)
    assert p.stdout.split() == ["0", "/job", "mine"]


def test_each_job_gets_a_fresh_root(ociexec, registry, images):
    registry.push(images["busybox"], "test/busybox:1")
    ref = f"{registry.host}/test/busybox:1"
    ociexec("pull", ref, "--tls-verify=false", check=0)
    ociexec("run", "--image", ref, "-u", "0", "-c", "echo dirty > /etc/marker", check=0)
    p = ociexec("run", "--image", ref, "-u", "0", "-c", "cat /etc/marker", check=1)
    assert "No such file" in p.stderr
    # Writes to the root count against the tmpfs size, like /tmp.
    p = ociexec("run", "--image", ref, "-u", "0", "--tmpfs-size", "2m", "-c",
                "dd if=/dev/zero of=/big bs=1M count=8 2>&1; echo rc=$?")
    assert "No space left on device" in p.stdout


def test_a_second_pull_transfers_no_blob(ociexec, registry, images):
    registry.push(images["busybox"], "test/busybox:1")
    ref = f"{registry.host}/test/busybox:1"
    pull_json(ociexec, ref, "--tls-verify=false")
    before = registry.blob_gets()
    again = pull_json(ociexec, ref, "--tls-verify=false")
    assert again["layers_fetched"] == 0 and again["layers_cached"] == 1
    assert again["bytes_fetched"] == 0
    assert registry.blob_gets() == before  # not even the config


def test_run_pulls_a_missing_image_and_never_means_never(ociexec, registry, images):
    registry.push(images["busybox"], "test/busybox:1")
    ref = f"{registry.host}/test/busybox:1"
    p = ociexec("run", "--image", ref, "--pull", "never", "-c", "true", check=125)
    assert p.stderr.startswith("ociexec: error: image ") and "pull policy is never" in p.stderr
    ociexec("run", "--image", ref, "--tls-verify=false", "-c", "true", check=0)
    assert ref in ociexec("images").stdout


def test_python_in_a_debian_image(ociexec, registry, images):
    registry.push(images["debian"], "library/python:3-minimal")
    ref = f"{registry.host}/library/python:3-minimal"
    ociexec("pull", ref, "--tls-verify=false", check=0)
    script = "#!/usr/bin/python3\nimport sys, os\nprint(sys.version_info[:2] >= (3, 11), os.getcwd(), sum(range(10)))\n"
    for runtime in ("runc", "crun"):
        p = ociexec("run", "--runtime", runtime, "--image", ref, "-", input=script, check=0)
        assert p.stdout == "True /app 45\n", p.stderr


def test_tampered_blob_is_refused(ociexec, registry, images):
    registry.push(images["busybox"], "test/busybox:1")
    ref = f"{registry.host}/test/busybox:1"
    manifest = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
        check=True, capture_output=True, text=True).stdout)
    layer = manifest["layers"][0]["digest"]
    data = registry.blob_data_path(layer)
    blob = bytearray(open(data, "rb").read())
    blob[len(blob) // 2] ^= 0xFF
    open(data, "wb").write(bytes(blob))
    p = ociexec("pull", ref, "--tls-verify=false", check=125)
    assert f"blob {layer}: the content has digest sha256:" in p.stderr and "refused" in p.stderr
    assert not os.listdir(ociexec.store / "layers" / "sha256")
    assert ociexec("images", "--json").stdout == ""


def test_index_of_several_platforms(ociexec, registry, tmp_path):
    layout = Layout(str(tmp_path / "multi"))
    amd = layout.image([Tar().file("arch", b"amd64\n").data()], arch="amd64")
    arm = layout.image([Tar().file("arch", b"arm64\n").data()], arch="arm64")
    layout.tag_index("multi", [amd, arm])
    registry.push(f"oci:{layout.path}:multi", "test/multi:1", all_platforms=True)
    ref = f"{registry.host}/test/multi:1"
    default = pull_json(ociexec, ref, "--tls-verify=false")
    assert default["digest"] == amd["digest"]
    arm_pull = pull_json(ociexec, ref, "--tls-verify=false", "--platform", "linux/arm64")
    assert arm_pull["digest"] == arm["digest"]
    p = ociexec("pull", ref, "--tls-verify=false", "--platform", "linux/s390x", check=125)
    assert "no image for platform linux/s390x (it offers: linux/amd64, linux/arm64)" in p.stderr


# --- a registry with Basic auth (htpasswd) ---------------------------------------------------

def test_basic_auth_from_flags_and_auth_file(ociexec, tmp_path, images):
    root = tmp_path / "authreg"
    root.mkdir()
    htpasswd = root / "htpasswd"
    subprocess.run(["htpasswd", "-Bbc", str(htpasswd), "alice", "s3cret"], check=True,
                   capture_output=True)
    reg = Registry(str(root), str(htpasswd))
    try:
        reg.push(images["busybox"], "private/bb:1", creds="alice:s3cret")
        ref = f"{reg.host}/private/bb:1"
        p = ociexec("pull", ref, "--tls-verify=false", check=125)
        assert "refused anonymous access: give credentials with --creds" in p.stderr
        p = ociexec("pull", ref, "--tls-verify=false", "--creds", "alice:wrong", check=125)
        assert "refused the credentials" in p.stderr
        auth = tmp_path / "config.json"
        auth.write_text(json.dumps({"auths": {reg.host: {
            "auth": base64.b64encode(b"alice:s3cret").decode()}}}))
        ociexec("pull", ref, "--tls-verify=false", "--authfile", str(auth), check=0)
        ociexec("run", "--image", ref, "--pull", "never", "-c", "true", check=0)
    finally:
        reg.stop()


# --- a registry with TLS ----------------------------------------------------------------------

def test_tls_is_verified_against_the_system_and_a_given_ca(ociexec, tmp_path, images):
    root = tmp_path / "tlsreg"
    root.mkdir()
    ca, cert, key = make_ca_and_cert(str(root))
    reg = Registry(str(root), tls=(cert, key))
    try:
        reg.push(images["busybox"], "tls/bb:1")  # skopeo, without verification
        ref = f"{reg.host}/tls/bb:1"
        p = ociexec("pull", ref, check=125)  # signed by a CA the system does not trust
        assert "SSL" in p.stderr and "pass --tls-verify=false" in p.stderr, p.stderr
        ociexec("pull", ref, "--cert-file", ca, check=0)
        ociexec("rmi", ref, check=0)
        ociexec("pull", ref, "--tls-verify=false", check=0)  # unverified, but still TLS
        assert "GET /v2/" in open(reg.log_path).read()
    finally:
        reg.stop()


# --- the fake registry: Bearer tokens, redirects, retries ------------------------------------

@pytest.fixture
def fake(tmp_path):
    layout = Layout(str(tmp_path / "fake-layout"))
    layers = [Tar().dir("bin").file("bin/one", b"1" * 300000).data(),
              Tar().file("two", b"2" * 1000).data(),
              Tar().file("three", b"3").data()]
    layout.tag("v1", layout.image(layers))
    state = fake_registry.State(layout, "ns/app")
    server, port = fake_registry.start(state)
    state.host = f"127.0.0.1:{port}"
    state.ref = f"{state.host}/ns/app:v1"
    yield state
    server.shutdown()


def test_bearer_flow_anonymous_first_then_credentials(ociexec, fake):
    fake.auth = "bearer"
    p = ociexec("pull", fake.ref, "--tls-verify=false", check=125)
    assert "refused anonymous access" in p.stderr
    fake.requests.clear()
    ociexec("pull", fake.ref, "--tls-verify=false", "--creds", "alice:s3cret", check=0)
    tokens = [r for r in fake.requests if r[2].startswith("/token")]
    # An anonymous token first, then the credentials; that one token serves the 5 requests.
    assert [bool(r[3]) for r in tokens] == [False, True]
    assert "scope=repository%3Ans%2Fapp%3Apull" in tokens[0][2]
    served = [r for r in fake.requests if r[2].startswith("/v2/") and r[3] == "Bearer good"]
    assert len(served) == 5  # manifest, config, 3 layers


def test_bearer_anonymous_token_is_enough_when_the_registry_allows(ociexec, fake):
    fake.auth, fake.anonymous_pull = "bearer", True
    ociexec("pull", fake.ref, "--tls-verify=false", "--creds", "alice:s3cret", check=0)
    tokens = [r for r in fake.requests if r[2].startswith("/token")]
    assert [bool(r[3]) for r in tokens] == [False]  # the credentials were never sent


def test_redirects_never_carry_credentials_to_another_host(ociexec, fake, tmp_path):
    other = fake_registry.State(fake.layout, "ns/app")
    server, port = fake_registry.start(other)
    try:
        fake.auth, fake.redirect_port = "basic", port
        ociexec("pull", fake.ref, "--tls-verify=false", "--creds", "alice:s3cret", check=0)
        redirected = [r for r in other.requests if r[2].startswith("/redirected/")]
        assert len(redirected) == 4  # the config and 3 layers
        assert all(r[3] == "" for r in redirected)
        assert all(r[3].startswith("Basic ") for r in fake.requests if "/blobs/" in r[2])
    finally:
        server.shutdown()


def test_retries_on_503_429_and_dropped_connections(ociexec, fake):
    fake.faults = ["503", "429", "drop", "ok"]
    summary = pull_json(ociexec, fake.ref, "--tls-verify=false")
    assert summary["layers_fetched"] == 3
    blob_gets = [r for r in fake.requests if "/blobs/" in r[2]]
    assert len(blob_gets) == 4 + 3  # 3 failed attempts of the first blob, then each once
    ociexec("rmi", fake.ref, check=0)  # and its layers
    fake.faults = ["503"] * 10
    p = ociexec("pull", fake.ref, "--tls-verify=false", check=125)
    assert "answered HTTP 503: UNAVAILABLE" in p.stderr


def test_a_trickling_registry_is_cut_off_at_the_pull_timeout(ociexec, fake):
    fake.faults = ["trickle"] * 20
    start = time.monotonic()
    p = ociexec("pull", fake.ref, "--tls-verify=false", "--pull-timeout", "3s", check=125)
    took = time.monotonic() - start
    assert "not finished within its time limit of 3 s" in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1
    assert took < 10, took
    p = ociexec("pull", fake.ref, "--tls-verify=false", "--pull-timeout", "soon", check=125)
    assert "--pull-timeout" in p.stderr


# --- OCI layouts and hostile layers ----------------------------------------------------------

def test_layout_refs_and_errors(ociexec, tmp_path):
    layout = Layout(str(tmp_path / "two"))
    layout.tag("a", layout.image([Tar().file("a", b"a").data()]))
    layout.tag("b", layout.image([Tar().file("b", b"b").data()]))
    p = ociexec("pull", f"oci:{layout.path}", check=125)
    assert "the layout holds 2 images; name one as oci:PATH:REF (a, b)" in p.stderr
    p = ociexec("pull", f"oci:{layout.path}:c", check=125)
    assert 'no image named "c" in the layout (it has: a, b)' in p.stderr
    ociexec("pull", f"oci:{layout.path}:b", check=0)
    p = ociexec("pull", f"oci:{tmp_path}/nothing", check=125)
    assert "not an OCI image layout" in p.stderr
    # A config whose diff_id does not match the layer's content.
    bad = Layout(str(tmp_path / "bad"))
    bad.tag("x", bad.image([Tar().file("x", b"x").data()], diff_ids=["sha256:" + "0" * 64]))
    p = ociexec("pull", f"oci:{bad.path}:x", check=125)
    assert "but the image config says sha256:0000" in p.stderr


@pytest.fixture
def sentinel(tmp_path):
    d = tmp_path / "sentinel"
    d.mkdir()
    (d / "file").write_text("precious\n")
    (d / "sub").mkdir()
    return d


HOSTILE = {
    # name: (tar builder taking the sentinel path, expected error or None when confined)
    "dotdot": (lambda s: Tar().file("../../../../../../.." + str(s) + "/evil", b"x"), None),
    "absolute": (lambda s: Tar().file(str(s) + "/abs", b"x"), None),
    "symlink then write through it": (
        lambda s: Tar().symlink("link", str(s)).file("link/pwned", b"x"), "is not a directory"),
    "relative symlink up then write": (
        lambda s: Tar().symlink("up", "../../../../../../../..").file("up" + str(s) + "/pwned2", b"x"),
        None),
    "hardlink to a host file": (
        lambda s: Tar().hardlink("hl", str(s) + "/file"), "hard link target"),
    "hardlink through ..": (
        lambda s: Tar().hardlink("hl", "../../../../../.." + str(s) + "/file"),
        "hard link target"),
    "whiteout through a symlink": (
        lambda s: Tar().symlink("link", str(s)).file("link/.wh.file"), "is not a directory"),
    "opaque dir through a symlink": (
        lambda s: Tar().symlink("link", str(s)).file("link/sub/.wh..wh..opq"), "is not a directory"),
    # The same, with the symlink's target inside the layer: confined to it.
    "whiteout through a symlink into the layer": (
        lambda s: Tar().dir("inner").file("inner/file", b"i").symlink("link", "/inner")
        .file("link/.wh.file"), None),
    "device nodes": (lambda s: Tar().chardev("dev/mem", 1, 1).chardev("null0", 0, 0), None),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layer_is_confined_or_refused(ociexec, tmp_path, sentinel, case):
    build, error = HOSTILE[case]
    before = tree_digest(sentinel)
    layout = Layout(str(tmp_path / "hostile"))
    layout.tag("x", layout.image([build(sentinel).file("ok", b"ok").data()]))
    p = ociexec("pull", f"oci:{layout.path}:x")
    assert tree_digest(sentinel) == before, f"{case}: the sentinel changed"
    if error:
        assert p.returncode == 125 and error in p.stderr, p.stderr
        assert not os.listdir(ociexec.store / "layers" / "sha256")
        return
    assert p.returncode == 0, p.stderr
    (layer,) = os.listdir(ociexec.store / "layers" / "sha256")
    root = ociexec.store / "layers" / "sha256" / layer
    assert (root / "ok").read_text() == "ok"
    if case == "device nodes":
        assert not os.path.lexists(root / "dev" / "mem") and not os.path.lexists(root / "null0")
    if case == "whiteout through a symlink into the layer":
        st = os.lstat(root / "inner" / "file")  # now the whiteout, inside the layer
        assert os.major(st.st_rdev) == 0 and (st.st_mode & 0o170000) == 0o020000
    if case in ("dotdot", "absolute"):
        name = "evil" if case == "dotdot" else "abs"
        assert (root / str(sentinel).lstrip("/") / name).read_text() == "x"  # inside, confined


def test_tar_bomb_is_refused_at_the_limits(ociexec, tmp_path):
    config = tmp_path / "limits.yaml"
    config.write_text("image_max_size: 1m\nimage_max_entries: 100\n")
    big = Layout(str(tmp_path / "big"))
    big.tag("x", big.image([Tar().file("zeros", bytes(8 << 20)).data()]))  # 8 MiB, 8 KiB gzip
    p = subprocess.run([CLI, "--config", str(config), "--state-dir", str(ociexec.state), "pull",
                        "--image-store", str(ociexec.store), f"oci:{big.path}:x"],
                       capture_output=True, text=True)
    assert p.returncode == 125 and "refused as a tar bomb" in p.stderr, p.stderr
    many = Layout(str(tmp_path / "many"))
    t = Tar()
    for i in range(200):
        t.file(f"f{i}", b"")
    many.tag("x", many.image([t.data()]))
    p = subprocess.run([CLI, "--config", str(config), "--state-dir", str(ociexec.state), "pull",
                        "--image-store", str(ociexec.store), f"oci:{many.path}:x"],
                       capture_output=True, text=True)
    assert p.returncode == 125 and "refused as a tar bomb" in p.stderr, p.stderr
    # A sparse file: a few tar blocks that claim 4 GiB. Its apparent size counts.
    tree = tmp_path / "sparse-tree"
    tree.mkdir()
    with open(tree / "hole", "wb") as f:
        f.truncate(4 << 30)
    tar = subprocess.run(["tar", "--sparse", "--format=posix", "-cf", "-", "-C", str(tree),
                          "hole"], capture_output=True, check=True).stdout
    assert len(tar) < 1 << 20
    sparse = Layout(str(tmp_path / "sparse"))
    sparse.tag("x", sparse.image([tar]))
    p = subprocess.run([CLI, "--config", str(config), "--state-dir", str(ociexec.state), "pull",
                        "--image-store", str(ociexec.store), f"oci:{sparse.path}:x"],
                       capture_output=True, text=True)
    assert p.returncode == 125 and "refused as a tar bomb" in p.stderr, p.stderr
    assert not os.listdir(ociexec.store / "layers" / "sha256")


def test_whiteouts_and_opaque_dirs_hide_lower_layers(ociexec, tmp_path):
    """Also: gzip, zstd and uncompressed layers in one image."""
    layout = Layout(str(tmp_path / "wh"))
    lower = Tar().dir("etc").file("etc/gone", b"x").dir("d").file("d/old", b"o").file("keep", b"k")
    upper = Tar().file("etc/.wh.gone").dir("d").file("d/.wh..wh..opq").file("d/new", b"n")
    busybox = Tar().dir("bin")
    for tool in ("sh", "ls", "cat", "busybox"):
        busybox.file(f"bin/{tool}", open(f"{os.environ['OCIEXEC_TEST_ROOTFS']}/bin/busybox", "rb").read(),
                     mode=0o755)
    layout.tag("x", layout.image([busybox.data(), lower.data(), upper.data()],
                                 compression=["gzip", "zstd", "none"]))
    ociexec("pull", f"oci:{layout.path}:x", check=0)
    p = ociexec("run", "--image", f"oci:{layout.path}:x", "--interpreter", "/bin/sh", "-c",
                "ls /etc /d; cat /keep", check=0)
    assert p.stdout.split() == ["/d:", "new", "/etc:", "k"]


# --- the store: images, rmi, prune, concurrency, schemas -------------------------------------

def test_rmi_and_prune_keep_what_is_shared_or_in_use(ociexec, tmp_path, images):
    layout = Layout(str(tmp_path / "shared"))
    base = Tar().file("base", b"b").data()
    layout.tag("one", layout.image([base, Tar().file("one", b"1").data()]))
    layout.tag("two", layout.image([base, Tar().file("two", b"2").data()]))
    for ref in ("one", "two"):
        ociexec("pull", f"oci:{layout.path}:{ref}", check=0)
    layers = ociexec.store / "layers" / "sha256"
    assert len(os.listdir(layers)) == 3
    p = ociexec("rmi", f"oci:{layout.path}:one", check=0)
    assert p.stdout.startswith(f"Untagged: oci:{layout.path}:one")
    assert len(os.listdir(layers)) == 2  # the shared base stays
    ociexec("rmi", f"oci:{layout.path}:one", check=125)

    # A running job holds its layers: prune leaves them, and the job still reads them.
    ociexec("pull", images["busybox"], check=0)
    job = subprocess.Popen([CLI, "--state-dir", str(ociexec.state), "run", "--image-store",
                            str(ociexec.store), "--image", images["busybox"], "--pull", "never",
                            "-c", "sleep 2; cat /bin/payload >/dev/null && echo alive"],
                           stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    ociexec("rmi", images["busybox"], check=0)
    p = ociexec("image", "prune", check=0)
    assert "1 unused layer(s) in use kept" in p.stdout
    assert job.communicate(timeout=30)[0] == "alive\n"
    p = ociexec("image", "prune", check=0)
    assert p.stdout.startswith("prune: removed 1 layer(s)")
    assert len(os.listdir(layers)) == 2

    # podman's forms: rmi -f takes a name that is gone, images --format json is one array
    # (jsonl and --json a line each), pull -q prints the digest alone.
    ociexec("rmi", "-f", f"oci:{layout.path}:one", check=0)
    two = f"oci:{layout.path}:two"
    assert [i["name"] for i in json.loads(ociexec("images", "--format", "json").stdout)] == [two]
    for flags in (["--format", "jsonl"], ["--json"]):
        lines = ociexec("images", *flags).stdout.splitlines()
        assert [json.loads(line)["name"] for line in lines] == [two]
    p = ociexec("pull", "-q", f"oci:{layout.path}:one", check=0)
    assert p.stdout.startswith("sha256:") and p.stdout.count("\n") == 1 and p.stderr == ""


def _twin_images(tmp_path):
    """Two images that differ below their top layer, which they share: [the test rootfs, a
    marker, X]. A pool that keyed on the top layer alone would give one the other's root."""
    layout = Layout(str(tmp_path / "twins"))
    base = tar_of_dir(ROOTFS)
    shared = Tar().file("shared", b"x").data()
    for name in ("a", "b"):
        marker = Tar().file("marker", f"image-{name}\n".encode()).data()
        layout.tag(name, layout.image([base, marker, shared]))
    return {name: f"oci:{layout.path}:{name}" for name in ("a", "b")}


def _batch_slowly(ociexec, tmp_path, lines, *flags):
    """`batch` fed one line every 0.4 s (so a warm pool has time to fill between jobs);
    returns the results by id."""
    config = tmp_path / "batch.yaml"
    config.write_text(f"image_store: {ociexec.store}\n")
    p = subprocess.Popen([CLI, "--config", str(config), "--state-dir", str(ociexec.state),
                          "batch", *flags], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        for line in lines:
            p.stdin.write(json.dumps(line) + "\n")
            p.stdin.flush()
            time.sleep(0.4)
        out, err = p.communicate(timeout=90)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0, err
    return {r["id"]: r for r in map(json.loads, out.splitlines())}


@pytest.mark.parametrize("runtime", ["runc", "crun"])
@pytest.mark.parametrize("pulled", [True, False], ids=["pulled", "pulled-by-the-jobs"])
def test_pool_keeps_apart_images_that_share_their_top_layer(ociexec, tmp_path, runtime, pulled):
    """Each job runs on its own image's root, pooled or not. Not pulled first, the second
    image's pull shares a layer that the first image's pooled containers hold: it must not
    wait for them (it used to hang until killed)."""
    refs = _twin_images(tmp_path)
    if pulled:
        for ref in refs.values():
            ociexec("pull", ref, check=0)
    jobs = [{"id": f"{i}-{name}", "script": "cat /marker", "image": refs[name],
             "runtime": runtime, "interpreter": "/bin/sh"}
            for i, name in enumerate("abababab")]
    results = _batch_slowly(ociexec, tmp_path, jobs, "--pool", "2", "-j", "1")
    assert len(results) == len(jobs)
    for job_id, r in results.items():
        assert r.get("stdout") == f"image-{job_id[-1]}\n", r
    # Both images' jobs ran in pooled containers too: the pool served each its own.
    for name in ("a", "b"):
        assert any(r["pooled"] for i, r in results.items() if i.endswith(name)), results


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_gc_after_the_cli_is_killed_mid_job_leaves_no_mount(ociexec, images, runtime):
    ociexec("pull", images["busybox"], check=0)
    job = subprocess.Popen([CLI, "--state-dir", str(ociexec.state), "run", "--runtime", runtime,
                            "--image-store", str(ociexec.store), "--image", images["busybox"],
                            "-c", "sleep 60"])
    bundles = ociexec.state / "bundles"
    deadline = time.time() + 10
    while time.time() < deadline and not (bundles.exists() and os.listdir(bundles)):
        time.sleep(0.05)
    time.sleep(0.5)
    job.kill()
    job.wait()
    p = subprocess.run([CLI, "--state-dir", str(ociexec.state), "gc"], capture_output=True, text=True)
    assert p.returncode == 0 and "gc: removed 1 container(s)" in p.stdout, p.stdout + p.stderr
    # The fixture then checks: no bundle, mount, runtime state or cgroup is left.


def test_concurrent_pulls_of_one_image(ociexec, images):
    results = []

    def pull():
        results.append(ociexec("pull", images["debian"], "--json"))

    threads = [threading.Thread(target=pull) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    fetched = sum(json.loads(r.stdout)["layers_fetched"] for r in results)
    assert fetched == 1  # the layer was unpacked once; the others waited and found it
    assert len(os.listdir(ociexec.store / "layers" / "sha256")) == 1


def test_documents_validate_against_the_image_spec_schemas(ociexec, images, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    ociexec("pull", images["busybox"], check=0)
    layout = Layout(str(tmp_path / "multi"))
    layout.tag_index("m", [layout.image([Tar().file("a", b"a").data()])])
    schemas = {}
    for name in os.listdir(SCHEMA_DIR):
        if name.endswith(".json"):
            s = json.load(open(os.path.join(SCHEMA_DIR, name)))
            schemas[s.get("id", s.get("$id", name))] = s
    resolver_store = dict(schemas)
    for s in schemas.values():
        for name in os.listdir(SCHEMA_DIR):
            resolver_store[name] = json.load(open(os.path.join(SCHEMA_DIR, name))) \
                if name.endswith(".json") else None

    def validate(doc, schema_file):
        schema = json.load(open(os.path.join(SCHEMA_DIR, schema_file)))
        resolver = jsonschema.RefResolver(base_uri=f"file://{SCHEMA_DIR}/", referrer=schema,
                                          store=resolver_store)
        jsonschema.validate(doc, schema, resolver=resolver)

    checked = 0
    blobs = ociexec.store / "blobs" / "sha256"
    for name in os.listdir(blobs):  # what ociexec accepted and keeps
        doc = json.load(open(blobs / name))
        validate(doc, "image-manifest-schema.json" if "layers" in doc else "config-schema.json")
        checked += 1
    for d in (images["dir"] + "/busybox", layout.path):  # what the tests write
        validate(json.load(open(os.path.join(d, "index.json"))), "image-index-schema.json")
        validate(json.load(open(os.path.join(d, "oci-layout"))), "image-layout-schema.json")
        checked += 2
    assert checked >= 6


# --- rootless: the command as an unprivileged user -------------------------------------------

def test_rootless_pull_flattens_and_runs_read_only(tmp_path, images, registry, request):
    """As a user with subordinate ids: pull (through ociexec-fetch) from a registry into the
    user's own store, flattened; the job runs on it read-only, as the image's User."""
    user = subprocess.run([os.path.join(os.path.dirname(__file__), "..", "integration",
                                        "test-user.sh"), "--subids"],
                          check=True, capture_output=True, text=True).stdout.strip()
    home = pathlib.Path(tempfile.mkdtemp(prefix="ociexec-rootless-home-"))
    subprocess.run(["chown", user, str(home)], check=True)
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    layout = Layout(str(tmp_path / "layered"))
    payload = open(os.path.join(os.environ["OCIEXEC_TEST_ROOTFS"], "bin/busybox"), "rb").read()
    base = Tar().dir("bin").file("bin/busybox", payload, mode=0o755).symlink("bin/sh", "busybox") \
        .symlink("bin/cat", "busybox").symlink("bin/ls", "busybox").symlink("bin/id", "busybox") \
        .dir("etc").file("etc/gone", b"x").dir("d").file("d/old", b"o").dir("srv", mode=0o555)
    upper = Tar().file("etc/.wh.gone").dir("d").file("d/.wh..wh..opq").file("d/new", b"n") \
        .file("srv/app", b"a\n")
    layout.tag("x", layout.image([base.data(), upper.data()], workdir="/srv", user="7:8",
                                 env=["PATH=/bin", "V=img"]))
    registry.push(f"oci:{layout.path}:x", "rootless/app:1")
    ref = f"{registry.host}/rootless/app:1"

    def as_user(*args):
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
        return subprocess.run(["runuser", "-u", user, "--", "env", "-i"] +
                              [f"{k}={v}" for k, v in env.items()] + [CLI] + list(args),
                              capture_output=True, text=True, timeout=120)

    p = as_user("pull", "--tls-verify=false", "--json", ref)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["layers_fetched"] == 2
    store = home / ".local/share/ociexec"
    (flat,) = os.listdir(store / "flat" / "sha256")
    assert not os.listdir(store / "layers" / "sha256")  # no overlay layers rootless
    p = as_user("run", "--image", ref, "--pull", "never", "-c",
                "id -u; pwd; echo $V; ls /etc /d; cat /srv/app; echo > /srv/w 2>&1 || echo ro")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["7", "/srv", "img", "/d:", "new", "/etc:", "a", "ro"]
    p = as_user("rmi", ref)
    assert p.returncode == 0, p.stderr
    assert not os.listdir(store / "flat" / "sha256")
