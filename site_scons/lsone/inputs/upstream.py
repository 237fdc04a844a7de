"""Which llama.cpp is the newest: GitHub's releases API, else the package index.

`scons bump llama_cpp=latest` asks GitHub for the latest release (a bNNNN tag, whose number is
upstream's build number) and the commit it tags. When the API cannot be reached or answers
something else, the newest llama-cpp-python source distribution stands in: pip's own client
(with the user's index configuration) lists its versions, and its sdist vendors a llama.cpp tree.
"""

import re
import subprocess
import sys

import requests

from . import http
from ..errors import InputError

GITHUB_API = "https://api.github.com"  # github_api= points the bump at another server (tests: 127.0.0.1)
UPSTREAM = "ggml-org/llama.cpp"
GITHUB_ARCHIVE = "https://github.com/ggml-org/llama.cpp/archive/{ref}.tar.gz"
PIP_PACKAGE = "llama-cpp-python"
BUILD_TAG = re.compile(r"b(\d+)")


class Resolved:
    """A bump target: the mirrors to fetch it from, its commit (if known) and build number (if known)."""

    def __init__(self, description, mirrors, rev=None, build_number=None):
        self.description = description
        self.mirrors = mirrors
        self.rev = rev
        self.build_number = build_number


def _get_json(url, token):
    http.check_url_allowed(url)
    headers = {"Accept": "application/vnd.github+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = requests.get(url, headers=headers, timeout=(10, 30))
    if response.status_code != 200:
        raise http.DownloadError(f"{url}: HTTP {response.status_code} {response.reason}")
    try:
        return response.json()
    except ValueError:
        raise http.DownloadError(f"{url}: not JSON ({response.text[:80]!r})")


def latest_github_release(api_base=GITHUB_API, token=None):
    """The latest release's tag, commit and tarball, from the releases API."""
    api = api_base.rstrip("/")
    release = _get_json(f"{api}/repos/{UPSTREAM}/releases/latest", token)
    tag = release.get("tag_name") if isinstance(release, dict) else None
    match = BUILD_TAG.fullmatch(str(tag))
    if not match or not isinstance(release.get("tarball_url"), str):
        raise http.DownloadError(f"{api}/repos/{UPSTREAM}/releases/latest: expected a bNNNN tag_name and a "
                                 f"tarball_url, found tag_name={tag!r}")
    commit = _get_json(f"{api}/repos/{UPSTREAM}/commits/{tag}", token)
    sha = commit.get("sha") if isinstance(commit, dict) else None
    if not re.fullmatch(r"[0-9a-f]{40}", str(sha)):
        raise http.DownloadError(f"{api}/repos/{UPSTREAM}/commits/{tag}: expected a 40-digit sha, found {sha!r}")
    return Resolved(f"GitHub release {tag} (commit {sha})", [{"type": "url", "url": release["tarball_url"]}],
                    rev=sha, build_number=int(match.group(1)))


def newest_sdist_version(package=PIP_PACKAGE):
    """The newest (non-pre-release) version of package, as pip's client sees the configured index.

    `pip index versions` counts wheels too (it ignores --no-binary); llama-cpp-python publishes
    only source distributions there. Were the newest one wheel-only, the download that follows
    (pip download --no-binary :all:) would stop and name it."""
    cmd = [sys.executable, "-m", "pip", "index", "versions", package]
    run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    match = re.search(rf"^{re.escape(package)} \(([^)\s]+)\)$", run.stdout, re.MULTILINE)
    if run.returncode != 0 or not match:
        raise http.DownloadError(f"`pip index versions {package}` found no source distribution "
                                 f"(exit {run.returncode}): {(run.stderr or run.stdout).strip()[-300:]}")
    return match.group(1)


def resolve_latest(api_base=GITHUB_API, token=None, log=print):
    """The newest upstream: the latest GitHub release, else the newest llama-cpp-python sdist."""
    try:
        resolved = latest_github_release(api_base, token)
    except (http.DownloadError, requests.RequestException) as e:
        log(f"GitHub releases API: {e}; falling back to the newest {PIP_PACKAGE} sdist on the package index")
        try:
            version = newest_sdist_version()
        except http.DownloadError as e2:
            raise InputError("llama_cpp=latest", "cannot find the newest upstream release",
                             found=f"\n  - {e}\n  - {e2}",
                             fix=f"check the network, or name the release: llama_cpp=b1234 or "
                                 f"llama_cpp=pip:{PIP_PACKAGE}==X")
        spec = f"{PIP_PACKAGE}=={version}"
        resolved = Resolved(f"package index: {spec} (its vendored llama.cpp; build number unknown)",
                            [{"type": "pip-sdist", "package": spec, "subdir": "vendor/llama.cpp"}])
    log(f"latest upstream: {resolved.description}")
    return resolved
