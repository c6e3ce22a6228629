"""docker/: the container image's scripts.

Without an engine: docker/build and docker/run against a stand-in engine that records its
arguments (mounts, user mapping, build arguments), the staging of the host's pip configuration,
and the one-line refusals. Slow (podman and debootstrap, root): the image from the local base
built for real, and onebit's TFC build run in it, bit-exact, written into the mounted directory
and owned by the caller (`benchmarks/docker_image.py`, which also measures it)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD, RUN = ROOT / "docker" / "build", ROOT / "docker" / "run"

# a stand-in engine: `info` works, `image inspect` finds images (but onebit-base), `build`
# and `run` append their arguments (one per line, then a blank line) to $ENGINE_LOG
FAKE_ENGINE = r"""#!/bin/bash
case "$1" in
    info) [ "${2:-}" = --format ] && echo "${FAKE_ROOTLESS:-false}"; exit 0 ;;
    image) [[ "$*" == *onebit-base* ]] && exit 1
           [[ "$*" == *--format* ]] && echo 123456789; exit 0 ;;
    build | run) printf '%s\n' "$@" >> "$ENGINE_LOG"; echo >> "$ENGINE_LOG" ;;
    *) exit 3 ;;
esac
"""


def load_pip_config():
    spec = importlib.util.spec_from_file_location("pip_config", ROOT / "docker" / "pip_config.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def bin_dir(tmp_path: Path, engines: dict[str, str]) -> Path:
    """A PATH with the tools the scripts use and the given engines (name -> script)."""
    b = tmp_path / "bin"
    b.mkdir()
    for tool in ("bash", "sed", "dirname", "id", "awk", "grep", "head", "mktemp", "rm", "cat",
                 "tail", "flock"):
        if found := shutil.which(tool):
            (b / tool).symlink_to(found)
    # this interpreter (it has pip), whatever python3 on PATH is (a pyenv shim, pip-less)
    (b / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (b / "python3").chmod(0o755)
    for name, text in engines.items():
        (b / name).write_text(text)
        (b / name).chmod(0o755)
    return b


def script(cmd: Path, args: list[str], path: Path, cwd: Path, **env: str):
    """cmd run from a copy of docker/ (and pyproject.toml) beside path, so that what
    docker/build stages lands there, not in the repository."""
    repo = path.parent / "repo"
    if not repo.exists():
        shutil.copytree(ROOT / "docker", repo / "docker",
                        ignore=shutil.ignore_patterns(".pip", ".pip.lock"))
        shutil.copy(ROOT / "pyproject.toml", repo)
    e = {"PATH": str(path), "HOME": str(cwd), **env}
    return subprocess.run([str(repo / "docker" / cmd.name), *args], cwd=cwd, env=e,
                          capture_output=True, text=True)


def logged(log: Path) -> list[list[str]]:
    """The engine calls in log, each its argument list."""
    return [c.split("\n") for c in log.read_text().strip("\n").split("\n\n")]


@pytest.mark.parametrize("cmd", [BUILD, RUN])
def test_no_engine_is_one_line(tmp_path, cmd):
    r = script(cmd, ["demo"] if cmd == RUN else [], bin_dir(tmp_path, {}), tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == [
        f"docker/{cmd.name}: no container engine: install podman (apt-get install podman "
        "buildah) or docker"]


def test_engine_without_daemon_is_named(tmp_path):
    no_daemon = "#!/bin/sh\necho 'Cannot connect to the daemon' >&2\nexit 1\n"
    b = bin_dir(tmp_path, {"docker": no_daemon})
    r = script(RUN, ["demo"], b, tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == ["docker/run: docker installed but not working ('docker "
                                     "info' fails: no daemon, or no permission)"]


def test_run_refuses_no_arguments(tmp_path):
    r = script(RUN, [], bin_dir(tmp_path, {"podman": FAKE_ENGINE}), tmp_path)
    assert (r.returncode, r.stderr.splitlines()) == (
        2, ["docker/run: usage: docker/run ARGS... (onebit's arguments, e.g. docker/run demo)"])


@pytest.mark.parametrize("args, msg", [
    (["--bogus"], "docker/build: unknown argument '--bogus' (see docker/build --help)"),
    (["--base"], "docker/build: --base needs an image name"),
])
def test_build_refuses_bad_arguments(tmp_path, args, msg):
    r = script(BUILD, args, bin_dir(tmp_path, {"podman": FAKE_ENGINE}), tmp_path)
    assert (r.returncode, r.stderr.splitlines()) == (2, [msg])


def test_run_refuses_unknown_engine_choice(tmp_path):
    r = script(RUN, ["demo"], bin_dir(tmp_path, {"podman": FAKE_ENGINE}), tmp_path,
               ONEBIT_ENGINE="lxc")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "docker/run: ONEBIT_ENGINE must be podman or docker, not 'lxc'"]


@pytest.mark.parametrize("engine, rootless, user", [
    ("podman", "false", ["--user", f"{os.getuid()}:{os.getgid()}"]),
    ("podman", "true", ["--userns=keep-id"]),
    ("docker", "false", ["--user", f"{os.getuid()}:{os.getgid()}"]),
])
def test_run_mounts_cwd_and_maps_the_caller(tmp_path, engine, rootless, user):
    work = tmp_path / "work dir"
    work.mkdir()
    log = tmp_path / "engine.log"
    r = script(RUN, ["build", "bnn_pynq:tfc", "--out", "tfc"],
               bin_dir(tmp_path, {engine: FAKE_ENGINE}), work,
               ENGINE_LOG=str(log), FAKE_ROOTLESS=rootless)
    assert r.returncode == 0, r.stderr
    [args] = logged(log)
    here = str(work.resolve())
    assert args[:2] == ["run", "--rm"]
    assert args[-5:] == ["onebit:latest", "build", "bnn_pynq:tfc", "--out", "tfc"]
    assert args[args.index("-w") + 1] == here
    mounts = [args[i + 1] for i, a in enumerate(args) if a == "-v"]
    assert mounts == [f"{here}:{here}", f"onebit-cache-{os.getuid()}:/home/onebit/.cache"]
    assert args[args.index("--network") + 1] == "none"
    i = args.index(user[0])
    assert args[i:i + len(user)] == user


def test_run_refuses_a_colon_in_the_directory(tmp_path):
    work = tmp_path / "a:b"
    work.mkdir()
    r = script(RUN, ["demo"], bin_dir(tmp_path, {"podman": FAKE_ENGINE}), work)
    assert (r.returncode, r.stderr.splitlines()) == (
        1, [f"docker/run: the current directory {work} has a ':', which a mount cannot name"])


def test_run_names_a_missing_image(tmp_path):
    r = script(RUN, ["demo"], bin_dir(tmp_path, {"podman": FAKE_ENGINE}), tmp_path,
               ONEBIT_IMAGE="onebit-base:x")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "docker/run: no image onebit-base:x in podman: build it with docker/build (--local-base "
        "offline)"]


def write_pip_conf(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A host pip configuration: a find-links directory, a local index, a CA bundle."""
    links, index = tmp_path / "wheels", tmp_path / "index" / "simple"
    links.mkdir()
    index.mkdir(parents=True)
    (links / "torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl").write_bytes(b"wheel")
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = https://pypi.example/simple\n"
                    f"extra-index-url = file://{index} file:///nonexistent/simple\n"
                    f"find-links = {links}\ncert = {ca}\ntimeout = 60\n")
    return conf, links, index


def test_build_passes_base_tags_and_podman_mounts(tmp_path):
    conf, links, index = write_pip_conf(tmp_path)
    log = tmp_path / "engine.log"
    r = script(BUILD, ["--base", "debian-py:11", "--runtime", "runc"],
               bin_dir(tmp_path, {"podman": FAKE_ENGINE}), tmp_path,
               ENGINE_LOG=str(log), PIP_CONFIG_FILE=str(conf))
    assert r.returncode == 0, r.stderr
    [args] = logged(log)
    version = next(line.split('"')[1] for line in (ROOT / "pyproject.toml").read_text().splitlines()
                   if line.startswith("version = "))
    repo = tmp_path / "repo"
    assert args[0] == "build" and args[-1] == str(repo)
    assert args[args.index("-f") + 1] == str(repo / "docker" / "Dockerfile")
    assert "BASE=debian-py:11" in args
    tags = [args[i + 1] for i, a in enumerate(args) if a == "-t"]
    assert tags == [f"onebit:{version}", "onebit:latest"]
    volumes = {args[i + 1] for i, a in enumerate(args) if a == "--volume"}
    root = index.parent  # the index's pages link to ../../files
    assert volumes == {f"{links}:{links}:ro", f"{root}:{root}:ro"}
    assert args[args.index("--runtime") + 1] == "runc"
    assert r.stderr.splitlines()[-1].startswith(f"[docker/build] built onebit:{version} and "
                                                "onebit:latest in ")
    assert "123 MB" in r.stderr
    assert not (repo / "docker" / ".pip").exists()  # staged for the build only


def test_build_without_python_uses_pips_defaults(tmp_path):
    log = tmp_path / "engine.log"
    b = bin_dir(tmp_path, {"docker": FAKE_ENGINE})
    (b / "python3").unlink()
    r = script(BUILD, [], b, tmp_path, ENGINE_LOG=str(log))
    assert r.returncode == 0, r.stderr
    assert ("[docker/build] no python3 on the host to read pip's configuration: the build uses "
            "pip's defaults") in r.stderr.splitlines()
    [args] = logged(log)
    assert "BASE=docker.io/library/python:3.11-slim-bookworm" in args
    assert "--volume" not in args


def test_build_runtime_is_podmans(tmp_path):
    r = script(BUILD, ["--runtime", "runc"], bin_dir(tmp_path, {"docker": FAKE_ENGINE}), tmp_path)
    assert (r.returncode, r.stderr.splitlines()) == (
        2, ["docker/build: --runtime is podman's (engine: docker)"])


def test_local_base_needs_debootstrap(tmp_path):
    r = script(BUILD, ["--local-base"], bin_dir(tmp_path, {"podman": FAKE_ENGINE}), tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "docker/build: --local-base needs debootstrap (apt-get install debootstrap)"]


def test_pip_config_for_podman_keeps_local_paths(tmp_path):
    conf, links, index = write_pip_conf(tmp_path)
    pc = load_pip_config()
    opts = {"index_url": "https://pypi.example/simple",
            "extra_index_urls": [f"file://{index}", "file:///nonexistent/simple"],
            "find_links": [str(links)], "trusted_hosts": ["pypi.example"],
            "cert": str(tmp_path / "ca.crt"), "timeout": 60.0, "retries": 5}
    out = tmp_path / "staged"
    lines, volumes = pc.stage("podman", out, opts)
    assert volumes == sorted([links, index.parent])
    assert lines == ["[global]", "index-url = https://pypi.example/simple",
                     f"extra-index-url = file://{index}", f"find-links = {links}",
                     "trusted-host = pypi.example", f"cert = {pc.MOUNT}/ca.pem", "timeout = 60",
                     "retries = 5", "disable-pip-version-check = true"]
    assert (out / "ca.pem").read_text() == "-----BEGIN CERTIFICATE-----\n"
    assert not (out / "links").exists()


def test_pip_config_for_docker_copies_find_links(tmp_path, capsys):
    conf, links, index = write_pip_conf(tmp_path)
    pc = load_pip_config()
    opts = {"index_url": f"file://{index}", "extra_index_urls": ["https://pypi.example/simple"],
            "find_links": [str(links), "https://wheels.example/"], "trusted_hosts": [],
            "cert": None, "timeout": None, "retries": None}
    out = tmp_path / "staged"
    lines, volumes = pc.stage("docker", out, opts)
    assert volumes == []
    assert f"find-links = {pc.MOUNT}/links/0 https://wheels.example/" in lines
    assert "index-url = https://pypi.example/simple" in lines  # the local index left out
    assert not any(line.startswith("extra-index-url") for line in lines)
    assert (out / "links" / "0" / "torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl").read_bytes() \
        == b"wheel"
    assert f"local index file://{index} left out" in capsys.readouterr().err


def test_pip_config_reads_the_hosts_pip(tmp_path):
    """The effective configuration as pip itself resolves it, PIP_* variables included."""
    conf, links, _ = write_pip_conf(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=str(conf), PIP_TRUSTED_HOST="pypi.example")
    r = subprocess.run([sys.executable, str(ROOT / "docker" / "pip_config.py"), "podman",
                        str(tmp_path / "staged")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"volume {links}" in r.stdout.splitlines()
    staged = (tmp_path / "staged" / "pip.conf").read_text()
    assert "trusted-host = pypi.example" in staged and "timeout = 60" in staged


def test_dockerfile_reuses_bootstrap():
    """One source of truth: the image installs through bootstrap.sh, no package list of its own."""
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert "./bootstrap.sh deps" in text and "./bootstrap.sh setup" in text
    assert "pip install" not in text and "apt-get install" not in text


@pytest.mark.slow
def test_image_builds_and_runs_tfc_bit_exact(tmp_path):
    """podman, local debootstrap base: the image, then TFC built in it (benchmarks/docker_image.py,
    results not recorded)."""
    missing = [t for t in ("podman", "debootstrap") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (apt-get install podman buildah debootstrap)")
    if os.getuid() != 0:
        pytest.skip("needs root: debootstrap makes the local base")
    if subprocess.run(["podman", "info"], capture_output=True).returncode != 0:
        pytest.skip("podman is installed but 'podman info' fails")
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "docker_image.py"),
                        "--out", str(tmp_path), "--results", "-"],
                       env={**os.environ, "ONEBIT_ENGINE": "podman"},
                       capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    result = json.loads(r.stdout)
    assert result["image_mb"] > 100 and result["build_s"] > 0
    for run in (result["tfc_cold_cache"], result["tfc_warm_cache"]):
        assert run["status"] == "ok" and run["bit_exact"] and run["stages_verified"]
        assert run["owned_by_caller"]
    assert (tmp_path / "tfc" / "report.json").is_file()
