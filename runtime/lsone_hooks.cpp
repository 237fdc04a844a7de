// llama-server-one: /zip/ entries as GGUF sources for ggml and llama.cpp.

#include "lsone_hooks.h"
#include "lsone_zip.h"

#include "gguf.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>

#if defined(__unix__) || defined(__APPLE__)
#    include <sys/mman.h>
#    include <unistd.h>
#endif

namespace {

// mmap needs page-aligned offsets; packaging aligns GGUF data to 64 KiB.
const uint64_t GGUF_ALIGNMENT = 65536;

std::mutex g_views_mutex;
std::map<int, size_t> g_views;  // fd -> offset of the entry inside the executable

struct zip_reader {
    FILE *   file;
    uint64_t base;
    uint64_t size;
};

size_t read_entry(void * userdata, void * output, uint64_t offset, size_t len) {
    auto * r = static_cast<zip_reader *>(userdata);
    if (offset > r->size) {
        return 0;
    }
    len = (size_t) std::min<uint64_t>(len, r->size - offset);
    if (fseeko(r->file, (off_t) (r->base + offset), SEEK_SET) != 0) {
        return 0;
    }
    return std::fread(output, 1, len, r->file);
}

}  // namespace

bool lsone_gguf_from_zip(const char * fname, const struct gguf_init_params & params, struct gguf_context ** result) {
    if (!lsone::is_zip_path(fname)) {
        return false;
    }
    *result = nullptr;
    std::string file, err;
    uint64_t base = 0, size = 0;
    if (!lsone::resolve_zip_path(fname, file, base, size, GGUF_ALIGNMENT, err)) {
        std::fprintf(stderr, "llama-server-one: %s\n", err.c_str());
        return true;
    }
    FILE * f = std::fopen(file.c_str(), "rb");
    if (!f) {
        std::fprintf(stderr, "llama-server-one: cannot open %s\n", file.c_str());
        return true;
    }
#if defined(_POSIX_MAPPED_FILES)
    // Parse the header from a mapping of the entry: only the pages it touches are read,
    // and the many small reads of a large vocabulary cost no system calls.
    void * view = mmap(nullptr, (size_t) size, PROT_READ, MAP_SHARED, fileno(f), (off_t) base);
    if (view != MAP_FAILED) {
        *result = gguf_init_from_buffer(view, (size_t) size, params);
        munmap(view, (size_t) size);
        std::fclose(f);
        return true;
    }
#endif
    zip_reader reader = {f, base, size};
    *result = gguf_init_from_callback(read_entry, &reader, 0, size, params);
    std::fclose(f);
    return true;
}

FILE * lsone_zip_fopen(const std::string & fname, size_t & base, size_t & size) {
    if (!lsone::is_zip_path(fname.c_str())) {
        return nullptr;
    }
    std::string file, err;
    uint64_t offset = 0, length = 0;
    if (!lsone::resolve_zip_path(fname, file, offset, length, GGUF_ALIGNMENT, err)) {
        throw std::runtime_error(err);
    }
    FILE * fp = std::fopen(file.c_str(), "rb");
    if (!fp || fseeko(fp, (off_t) offset, SEEK_SET) != 0) {
        throw std::runtime_error("cannot open " + file + " to read " + fname);
    }
    base = (size_t) offset;
    size = (size_t) length;
    std::lock_guard<std::mutex> lock(g_views_mutex);
    g_views[fileno(fp)] = base;
    return fp;
}

size_t lsone_zip_view_base(int fd) {
    std::lock_guard<std::mutex> lock(g_views_mutex);
    auto it = g_views.find(fd);
    return it == g_views.end() ? 0 : it->second;
}

void lsone_zip_view_close(FILE * fp) {
    if (!fp) {
        return;
    }
    std::lock_guard<std::mutex> lock(g_views_mutex);
    g_views.erase(fileno(fp));
}
