"""Stage the host's pip configuration for the container build (run by docker/build).

pip inside the image build must find packages where pip on the host finds them: the same
index URLs, find-links and CA bundle. This reads pip's effective configuration (its config
files and PIP_* variables, with pip's own precedence) and writes OUT/pip.conf for the build,
which mounts OUT at /tmp/onebit-pip:

- http(s) index URLs, find-links URLs and trusted hosts are kept as they are;
- the CA bundle (pip's `cert`, else SSL_CERT_FILE / REQUESTS_CA_BUNDLE, else Debian's) is
  copied to OUT/ca.pem;
- local find-links and `file://` indexes: with podman they stay at their host paths, which the
  build mounts read-only (each printed as a `volume PATH` line on stdout; for an index, its
  parent directory, where its pages' relative links lead); docker's build has
  no mounts of host paths, so find-links directories are copied into OUT/links (hard links
  where possible) and local indexes are left out, with a note on stderr.

Usage: python3 docker/pip_config.py {podman|docker} OUT
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

MOUNT = "/tmp/onebit-pip"  # where docker/Dockerfile mounts OUT
DEBIAN_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def effective_options() -> dict:
    """pip's install options as the host's pip resolves them; empty where pip is missing."""
    try:
        from pip._internal.commands import create_command
    except ImportError:
        print("pip_config: no pip on the host Python: the build uses PyPI", file=sys.stderr)
        return {}
    opts, _ = create_command("install").parse_args([])
    return {
        "index_url": opts.index_url,
        "extra_index_urls": list(opts.extra_index_urls or []),
        "find_links": list(opts.find_links or []),
        "trusted_hosts": list(opts.trusted_hosts or []),
        "cert": opts.cert,
        "timeout": opts.timeout,
        "retries": opts.retries,
    }


def local_path(location: str) -> Path | None:
    """The host path of a local location (a path or a file:// URL); None for a remote one."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(location) if parsed.scheme == "" else None


def ca_bundle(cert: str | None) -> Path | None:
    for cand in (cert, os.environ.get("SSL_CERT_FILE"), os.environ.get("REQUESTS_CA_BUNDLE"),
                 DEBIAN_BUNDLE):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def copy_tree(src: Path, dst: Path) -> None:
    """src (a directory or one file) to dst, as hard links where the filesystem allows."""
    def link_or_copy(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    if src.is_dir():
        shutil.copytree(src, dst, copy_function=link_or_copy)
    else:
        dst.mkdir(parents=True)
        link_or_copy(str(src), str(dst / src.name))


def stage(engine: str, out: Path, opts: dict) -> tuple[list[str], list[Path]]:
    """Write out/pip.conf (+ ca.pem, links/); return its lines and the host paths to mount."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    volumes: list[Path] = []
    copied: list[Path] = []
    conf = ["[global]"]

    def local(location: str, what: str, copy: bool) -> str | None:
        path = local_path(location)
        if path is None:
            return location
        if not path.exists():
            return None  # pip ignores it on the host too
        if engine == "podman":
            # an index's pages link to their files relatively, often outside it
            # (simple/<name>/index.html -> ../../files/<wheel>): mount its parent too
            index_root = path.parent if not copy and path.parent != path.parent.parent else path
            volumes.append(index_root)
            return location
        if copy:
            dst = out / "links" / str(len(copied))
            copy_tree(path, dst)
            copied.append(path)
            return f"{MOUNT}/links/{dst.name}"
        print(f"pip_config: {what} {location} left out: docker's build cannot mount it "
              "(podman's can)", file=sys.stderr)
        return None

    indexes = [opts.get("index_url")] + opts.get("extra_index_urls", [])
    indexes = [u for u in (local(u, "local index", False) for u in indexes if u) if u]
    if indexes:
        conf.append(f"index-url = {indexes[0]}")
        if indexes[1:]:
            conf.append("extra-index-url = " + " ".join(indexes[1:]))
    links = [u for u in (local(u, "find-links", True) for u in opts.get("find_links", [])) if u]
    if links:
        conf.append("find-links = " + " ".join(links))
    if opts.get("trusted_hosts"):
        conf.append("trusted-host = " + " ".join(opts["trusted_hosts"]))
    bundle = ca_bundle(opts.get("cert"))
    if bundle is not None:
        shutil.copyfile(bundle, out / "ca.pem")
        conf.append(f"cert = {MOUNT}/ca.pem")
    if opts.get("timeout"):
        conf.append(f"timeout = {opts['timeout']:g}")
    if opts.get("retries") is not None:
        conf.append(f"retries = {opts['retries']}")
    conf.append("disable-pip-version-check = true")
    (out / "pip.conf").write_text("\n".join(conf) + "\n")
    return conf, sorted(set(volumes))


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("podman", "docker"):
        print("usage: pip_config.py {podman|docker} OUT", file=sys.stderr)
        return 2
    _, volumes = stage(argv[0], Path(argv[1]), effective_options())
    for v in volumes:
        print(f"volume {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
