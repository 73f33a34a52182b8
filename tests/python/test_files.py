"""Files in and out: files=, copy_in=, copy_out= and the result's files."""

import pytest

import ociexec


def test_files_and_copy_in_reach_the_job_and_copy_out_comes_back(executor, tmp_path):
    tmp_path.chmod(0o755)
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "in.txt").write_text("host\n")
    script = ("cat data.csv tree/in.txt single.txt; mkdir out; echo done > out/r.txt; "
              "head -c 5000 /dev/zero > out/big.bin; ln -s /etc/passwd out/link")
    result = executor.run(script, files={"data.csv": b"a,b\n", "note.txt": "text"},
                          copy_in=[(tmp_path / "tree", "tree"),
                                   f"{tmp_path}/tree/in.txt:single.txt"],
                          copy_out=["out/*", "note.txt"], copy_out_file_cap=4096)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "a,b\nhost\nhost\n"
    files = result.files
    assert sorted(files) == ["note.txt", "out/big.bin", "out/link", "out/r.txt"]
    assert files["out/r.txt"].data == b"done\n" and bytes(files["out/r.txt"]) == b"done\n"
    assert files["out/r.txt"].error is None and files["out/r.txt"].mode == 0o644
    assert len(files["out/big.bin"].data) == 4096 and files["out/big.bin"].truncated
    assert files["out/link"].data == b"" and "symlink" in files["out/link"].error
    assert files["note.txt"].data == b"text"


def test_bad_files_are_refused_before_the_job_runs(executor):
    with pytest.raises(ociexec.InvalidOptionError, match="is refused"):
        executor.run("true", files={"../x": b""})
    with pytest.raises(ociexec.InvalidOptionError, match="expected HOSTPATH"):
        executor.run("true", copy_in=":in/x")  # the CLI's parse: no host path is no copy
    with pytest.raises(ociexec.InvalidOptionError, match="No such file"):
        executor.run("true", copy_in="/nonexistent/ociexec-in")
    with pytest.raises(ociexec.InvalidOptionError, match="under the work dir"):
        executor.run("true", copy_out="/etc/passwd")
    with pytest.raises(TypeError, match="files"):
        executor.run("true", files=["a"])
