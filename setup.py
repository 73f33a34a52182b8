"""Builds the ociexec Python package for pip (pyproject.toml): the _ociexec extension and
ociexec-init (the warm pool's first process, installed inside the package) are built by
CMake, the project's one build, then copied into the wheel.

OCIEXEC_CMAKE_BUILD_DIR names a CMake build tree to build them in (e.g. ./build, already
made by scripts/setup.sh: nothing is compiled again); by default a tree of its own,
build-python/, configured for this Python without the tests."""

import glob
import os
import re
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as cmake:
        return re.search(r"project\(ociexec VERSION ([0-9.]+)", cmake.read()).group(1)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        tree = os.environ.get("OCIEXEC_CMAKE_BUILD_DIR") or os.path.join(ROOT, "build-python")
        if not os.path.exists(os.path.join(tree, "CMakeCache.txt")):
            subprocess.run(["cmake", "-S", ROOT, "-B", tree, "-DCMAKE_BUILD_TYPE=Release",
                            "-DOCIEXEC_BUILD_TESTS=OFF", "-DOCIEXEC_STATIC_CLI=OFF",
                            f"-DPython_EXECUTABLE={sys.executable}"], check=True)
        subprocess.run(["cmake", "--build", tree, "--target", "_ociexec", "ociexec_init",
                        "-j", str(os.cpu_count() or 1)], check=True)
        built = glob.glob(os.path.join(tree, "python", "ociexec", "_ociexec*.so"))
        if len(built) != 1:
            sys.exit(f"setup.py: expected one _ociexec*.so in {tree}/python/ociexec, found {built}")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(built[0], target)
        # ociexec/__init__.py's _find_init() looks beside itself first.
        shutil.copy2(os.path.join(tree, "ociexec-init"),
                     os.path.join(os.path.dirname(target), "ociexec-init"))


os.makedirs(os.path.join(ROOT, "build-python"), exist_ok=True)
setup(
    version=project_version(),
    packages=["ociexec"],
    package_dir={"": "python"},
    package_data={"ociexec": ["py.typed", "__init__.pyi"]},
    ext_modules=[Extension("ociexec._ociexec", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    # setuptools' own scratch dirs, out of the CMake tree ./build
    options={"build": {"build_base": "build-python/setuptools"},
             "egg_info": {"egg_base": "build-python"}},
    zip_safe=False,
)
