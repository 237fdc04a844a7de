// Test driver: list a file's appended zip as "name<TAB>method<TAB>data_offset<TAB>size"
// lines, or print the reader's error and exit 2.
#include "lsone_zip.h"

#include <cinttypes>
#include <cstdio>

int main(int argc, char ** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: zip_dump FILE\n");
        return 64;
    }
    lsone::zip_archive zip;
    std::string err;
    if (!lsone::read_zip(argv[1], zip, err)) {
        std::fprintf(stderr, "%s\n", err.c_str());
        return 2;
    }
    for (const auto & e : zip.entries) {
        std::printf("%s\t%u\t%" PRIu64 "\t%" PRIu64 "\n", e.name.c_str(), e.method, e.data_offset, e.size);
    }
    return 0;
}
