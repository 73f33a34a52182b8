"""Images from Python (in-process pulls, the library's way): pull_image, list_images,
remove_image, prune_images, and jobs with image=, pull= and user=. The image is the
busybox+payload test rootfs as an OCI layout (tests/images/make-images.sh)."""

import os
import subprocess

import pytest

import ociexec
from conftest import CGROUP_PARENT, ROOTFS, RUNTIME

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("OCIEXEC_TEST_IMAGE_CACHE", "")


@pytest.fixture(scope="module")
def layout():
    script = os.path.join(HERE, "..", "images", "make-images.sh")
    subprocess.run([script, CACHE, ROOTFS, "busybox"], check=True, capture_output=True)
    return f"oci:{CACHE}/busybox:bb"


def test_pull_run_and_remove_an_image(layout, state_dir, tmp_path):
    store = str(tmp_path / "store")
    pulled = ociexec.pull_image(layout, image_store=store)
    assert pulled["name"] == layout and pulled["layers"] == 1 and pulled["layers_fetched"] == 1
    again = ociexec.pull_image(layout, image_store=store)
    assert again["layers_fetched"] == 0 and again["bytes_fetched"] == 0
    assert [i["name"] for i in ociexec.list_images(image_store=store)] == [layout]

    ex = ociexec.Executor(state_dir=state_dir, runtime=RUNTIME, cgroup_parent=CGROUP_PARENT,
                          images={"store": store})
    r = ex.run("id -u; pwd; echo $IMAGE_VAR", image=layout, pull="never")
    assert r.stdout == "1234\n/srv\nfrom-image\n"
    r = ex.run("echo x > /etc/y && cat /etc/y; id -u", image=layout, user="0", env={"A": "b"})
    assert r.stdout == "x\n0\n"
    code, out, err = ex.execute_script("sleep 5", timeout_seconds=0.5, image=layout)
    assert code == -1 and err.startswith("Execution timeout (0.5s)")
    del ex

    assert ociexec.remove_image(layout, image_store=store) == [layout]
    assert ociexec.list_images(image_store=store) == []
    assert ociexec.prune_images(image_store=store)["layers_removed"] == 0  # rmi removed it already
    assert os.listdir(os.path.join(store, "layers", "sha256")) == []


def test_image_errors_are_typed(state_dir, tmp_path):
    with pytest.raises(ociexec.ExecutorError) as e:
        ociexec.pull_image(f"oci:{tmp_path}/none", image_store=str(tmp_path / "s"))
    assert e.value.kind == "image_not_found"
    with pytest.raises(ociexec.InvalidOptionError):
        ociexec.pull_image("Not/Lower:case", image_store=str(tmp_path / "s"))
    with pytest.raises(TypeError, match="unknown image option 'stor'"):
        ociexec.list_images(stor="/x")
    with pytest.raises(ociexec.InvalidOptionError, match="expected missing, always or never"):
        ociexec.run("true", image="x", pull="sometimes")
