// libFuzzer target: the zip reader on whole files (ELF, APE-like and plain prefixes, zip64).
//
// The input is the file. It lives in a memfd, so read_zip and read_entry open it by path
// (/proc/self/fd/N) exactly as they open the executable, without touching the disk.
// Beyond "no crash, no sanitizer report", it checks what the reader promises its callers:
// every entry it returns lies inside the file, and read_entry yields exactly those bytes.
#include "lsone_zip.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

static int memfd() {
    static int fd = memfd_create("lsone-fuzz-zip", 0);
    if (fd < 0) {
        std::perror("memfd_create");
        std::abort();
    }
    return fd;
}

static void require(bool ok, const char * what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_zip: broken promise: %s\n", what);
        std::abort();
    }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const int fd = memfd();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t) size) {
        std::abort();
    }
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    lsone::zip_archive zip;
    std::string err;
    if (!lsone::read_zip(path, zip, err)) {
        require(!err.empty(), "a failed read_zip explains itself");
        return 0;
    }
    for (const auto & e : zip.entries) {
        require(e.data_offset <= size && e.size <= size - e.data_offset, "entries lie inside the file");
        if (e.method != 0 || zip.find(e.name) != &e) {
            continue;  // compressed, or a duplicate name that find() resolves to an earlier entry
        }
        std::string bytes;
        require(lsone::read_entry(zip, e.name, bytes, err), "a STORED entry inside the file can be read");
        require(bytes.size() == e.size && std::memcmp(bytes.data(), data + e.data_offset, e.size) == 0,
                "read_entry returns the entry's own bytes");
    }
    return 0;
}
