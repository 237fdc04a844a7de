"""Keep an SCons CacheDir under a size limit, dropping the least recently used entries.

SCons has no eviction of its own. The build's cache class (site_tools/build_cache.py)
touches an entry's mtime whenever it is retrieved, so mtime means "last used".
"""

import os
import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot read {text!r} as a size; use e.g. 500M or 2G")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def cache_entries(root):
    """(mtime, size, path) of every cached file; SCons' config file is not an entry."""
    entries = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.relpath(path, root) == "config":
                continue
            st = os.stat(path)
            entries.append((st.st_mtime, st.st_size, path))
    return entries


def prune_cache(root, limit_bytes):
    """Delete least recently used entries until the cache fits; return (kept, removed) bytes."""
    entries = sorted(cache_entries(root))
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _mtime, size, path in entries:
        if total - removed <= limit_bytes:
            break
        os.remove(path)
        removed += size
    return total - removed, removed
