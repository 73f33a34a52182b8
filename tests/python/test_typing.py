"""The stubs (ociexec/__init__.pyi) against the package: `mypy --strict` on a sample that uses
every field of what the package returns, then the same sample run, so that a field the stubs
get wrong fails the type check or the run; and the stub's TypedDicts and Literal against the
values returned."""

import ast
import os
import subprocess
import sys

import ociexec
from conftest import ROOTFS, RUNTIME

HERE = os.path.dirname(os.path.abspath(__file__))
STUBS = os.path.join(os.path.dirname(ociexec.__file__), "__init__.pyi")


def _stub_classes():
    tree = ast.parse(open(STUBS).read())
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _typed_dict_keys(name):
    node = _stub_classes()[name]
    keys = {s.target.id for s in node.body if isinstance(s, ast.AnnAssign)}
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in _stub_classes():
            keys |= _typed_dict_keys(base.id)
    return keys


def test_mypy_strict_passes_on_a_sample_that_uses_every_field():
    env = dict(os.environ, MYPYPATH=os.path.dirname(os.path.dirname(ociexec.__file__)))
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                          "--cache-dir", "/dev/null", os.path.join(HERE, "typing_sample.py")],
                         capture_output=True, text=True, env=env, cwd=HERE)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_sample_runs(state_dir):
    subprocess.run([sys.executable, os.path.join(HERE, "typing_sample.py"), state_dir, ROOTFS,
                    RUNTIME], check=True, capture_output=True, timeout=120)


def test_the_stubs_typed_dicts_have_the_keys_returned(executor):
    result = executor.run("true")
    assert set(result.limits) == _typed_dict_keys("Limits")
    assert set(result.runtime) == _typed_dict_keys("ResultRuntime")
    assert set(executor.runtime) == _typed_dict_keys("RuntimeInfo")
    properties = {n.name for n in _stub_classes()["Result"].body if isinstance(n, ast.FunctionDef)
                  and not n.name.startswith("__")}
    assert properties == {n for n in dir(result) if not n.startswith("_")}
    outcomes = {"exited", "signaled", "timed_out", "oom_killed", "cpu_time_exceeded"}
    stub = open(STUBS).read()
    assert 'Outcome = Literal["exited", "signaled", "timed_out", "oom_killed", "cpu_time_exceeded"]' in stub
    jobs = (("true", 10, False), ("kill -9 $$", 10, True), ("sleep 5", 1, False))
    seen = {executor.run(script, timeout, init=init).outcome for script, timeout, init in jobs}
    assert seen <= outcomes and len(seen) == 3
