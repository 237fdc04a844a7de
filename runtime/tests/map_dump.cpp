// Test driver: the ways the server reads a model from its own zip, on one /zip/ entry.
//
// map_dump NAME: finds NAME in this executable's zip as the server does (resolve_zip_path,
// 64 KiB-aligned), then reads its bytes three ways: mapped (map_view, as gguf's header is
// parsed), through a stream on the archive (open_archive_range + seek_stream, as llama_file
// reads it) and with read_entry. Prints one JSON line: the entry's offset and size, its first
// four bytes, an FNV-1a hash of the mapped bytes, and whether the three readings agree.
// Exits 2 after printing the error.
#include "lsone_platform.h"
#include "lsone_zip.h"
#include "print_json.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

static uint64_t fnv1a(const unsigned char * p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

static int fail(const std::string & err) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 2;
}

int main(int argc, char ** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: map_dump ENTRY\n");
        return 64;
    }
    const lsone::zip_archive & zip = lsone::self_zip();
    const std::string name = argv[1];
    std::string file, err;
    uint64_t offset = 0, size = 0;
    if (!lsone::resolve_zip_path("/zip/" + name, file, offset, size, 65536, err) ||
        !lsone::archive_holds(zip, offset, size, err)) {
        return fail(err);
    }
    const auto * mapped = static_cast<const unsigned char *>(lsone::map_view(*zip.fd, offset, (size_t) size));
    if (!mapped) {
        return fail("cannot map " + name + " at offset " + std::to_string(offset));
    }
    FILE * stream = lsone::open_archive_range(zip, offset, size, err);
    if (!stream) {
        return fail(err);
    }
    // read_entry between the seek and the read: on Windows a read at an offset moves the file
    // pointer, so a stream that shared it with the archive's descriptor would read elsewhere.
    const bool seeked = lsone::seek_stream(stream, offset);
    std::string read;
    if (!lsone::read_entry(zip, name, read, err)) {
        return fail(err);
    }
    std::vector<unsigned char> streamed((size_t) size);
    const bool stream_ok = seeked && std::fread(streamed.data(), 1, streamed.size(), stream) == size;
    std::fclose(stream);
    const bool same_stream = stream_ok && std::memcmp(mapped, streamed.data(), (size_t) size) == 0;
    const bool same_read = read.size() == size && std::memcmp(mapped, read.data(), (size_t) size) == 0;
    std::printf("{\"offset\": %" PRIu64 ", \"size\": %" PRIu64 ", \"magic\": ", offset, size);
    print_json_string(std::string((const char *) mapped, (size_t) std::min<uint64_t>(size, 4)));
    std::printf(", \"fnv1a\": \"%016" PRIx64 "\", \"stream_matches\": %s, \"read_entry_matches\": %s}\n",
                fnv1a(mapped, (size_t) size), same_stream ? "true" : "false", same_read ? "true" : "false");
    lsone::unmap_view(mapped, (size_t) size);
    return 0;
}
