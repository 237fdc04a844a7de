"""runtime/cosmo_compat.h, compiled by the host's g++ against stand-in cosmo headers.

The stand-ins have what matters about cosmo's: libc/mem/gc.h, behind an include guard and
only under _COSMO_SOURCE (what -mcosmo defines), defines the function-like macro defer(FN, ARG),
and <cosmo.h> includes it. Upstream's server_queue has a one-argument method named defer.
What this cannot show: cosmo's own <climits> (its <limits.h> defines PATH_MAX, which
llama-mmap.cpp uses) and <algorithm>; here they resolve to the host's.
"""

import shutil
import subprocess

import pytest

from conftest import REPO

SERVER_QUEUE_LIKE = """
#include <cosmo.h>
#include <climits>
#include <vector>
struct queue { void defer(int task); std::vector<int> tasks; };
void queue::defer(int task) { tasks.push_back(task); }
int main() { queue q; q.defer(1); std::vector<int> v(3); std::fill(v.begin(), v.end(), PATH_MAX); return 0; }
"""


@pytest.fixture
def cosmo_headers(tmp_path):
    (tmp_path / "libc" / "mem").mkdir(parents=True)
    (tmp_path / "libc" / "mem" / "gc.h").write_text(
        "#ifdef _COSMO_SOURCE\n#ifndef STANDIN_GC_H\n#define STANDIN_GC_H\n"
        "#define defer(FN, ARG) ((void)(FN), (ARG))\n#define gc(X) defer(0, X)\n#define _gc(X) defer(0, X)\n"
        "#endif\n#endif\n")
    (tmp_path / "cosmo.h").write_text('#include "libc/mem/gc.h"\n')
    (tmp_path / "t.cpp").write_text(SERVER_QUEUE_LIKE)
    return tmp_path


def compile_with(headers, *extra):
    cmd = ["g++", "-D__COSMOPOLITAN__", "-D_COSMO_SOURCE", "-isystem", str(headers), *extra, "-fsyntax-only",
           str(headers / "t.cpp")]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.skipif(not shutil.which("g++"), reason="needs g++")
def test_without_the_fixes_the_defer_macro_breaks_the_method(cosmo_headers):
    result = compile_with(cosmo_headers)
    assert result.returncode != 0 and "macro \"defer\" requires 2 arguments" in result.stdout


@pytest.mark.skipif(not shutil.which("g++"), reason="needs g++")
def test_the_forced_include_keeps_defer_a_method(cosmo_headers):
    result = compile_with(cosmo_headers, "-include", f"{REPO}/runtime/cosmo_compat.h")
    assert result.returncode == 0, result.stdout
