"""Streaming HTTP download: HTTPS only (loopback excepted), retries, resume."""

import ipaddress
import os
import time
import urllib.parse

import requests

from ..progress import Progress

CHUNK = 1 << 16


class DownloadError(Exception):
    """A mirror failed; the caller moves on to the next one."""


def check_url_allowed(url):
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "https":
        return
    if parsed.scheme == "http" and _is_loopback(parsed.hostname or ""):
        return
    raise DownloadError(f"refusing {url}: only https:// is allowed (plain http only for loopback hosts)")


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def download(url, dest, label=None, attempts=3, backoff=1.0, timeout=(10, 60), session=None):
    """Stream url into dest, resuming a partial dest with an HTTP Range request.

    Returns the final size. Raises DownloadError once every attempt failed.
    """
    check_url_allowed(url)
    http = session or requests.Session()
    label = label or os.path.basename(urllib.parse.urlsplit(url).path) or url
    last_error = None
    for attempt in range(1, attempts + 1):
        have = os.path.getsize(dest) if os.path.exists(dest) else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with http.get(url, stream=True, timeout=timeout, headers=headers) as response:
                if response.status_code == 416 and have:
                    return have  # already complete
                if response.status_code >= 400:
                    error = DownloadError(f"{url}: HTTP {response.status_code} {response.reason}")
                    if response.status_code < 500:
                        raise error
                    raise requests.ConnectionError(str(error))
                resumed = response.status_code == 206
                mode = "ab" if resumed else "wb"
                length = response.headers.get("Content-Length")
                total = (int(length) + (have if resumed else 0)) if length else None
                progress = Progress(label, total, start_at=have if resumed else 0)
                with open(dest, mode) as out:
                    for chunk in response.iter_content(CHUNK):
                        out.write(chunk)
                        progress.update(len(chunk))
                progress.finish()
                size = os.path.getsize(dest)
                if total is not None and size != total:
                    raise requests.ConnectionError(f"connection closed at {size} of {total} bytes")
                return size
        except DownloadError:
            raise
        except (requests.RequestException, OSError) as e:
            last_error = e
            if "resolve" in str(e).lower():
                last_error = f"cannot resolve host {urllib.parse.urlsplit(url).hostname} (offline, or no DNS)"
                break  # an unknown host will not appear on retry; go to the next mirror
            if attempt < attempts:
                time.sleep(backoff * 2 ** (attempt - 1))
    raise DownloadError(f"{url}: {last_error} (after {attempt} attempt{'s' if attempt > 1 else ''})")
