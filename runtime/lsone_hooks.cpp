// llama-server-one: /zip/ entries as GGUF sources for ggml and llama.cpp.

#include "lsone_hooks.h"
#include "lsone_platform.h"
#include "lsone_zip.h"

#include "gguf.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>

namespace {

// Views start at a multiple of the page size (of 64 KiB, the allocation granularity, on
// Windows); packaging aligns GGUF data to 64 KiB.
const uint64_t GGUF_ALIGNMENT = 65536;

std::mutex g_views_mutex;
std::map<int, std::pair<size_t, size_t>> g_views;  // fd -> offset and size of the entry inside the executable

struct zip_reader {
    int      fd;  // the executable, kept open by self_zip()
    uint64_t base;
    uint64_t size;
};

size_t read_entry(void * userdata, void * output, uint64_t offset, size_t len) {
    auto * r = static_cast<zip_reader *>(userdata);
    if (offset > r->size) {
        return 0;
    }
    len = (size_t) std::min<uint64_t>(len, r->size - offset);
    // read_at retries EINTR and short reads: gguf's reader takes any short read as the end of the file.
    return lsone::read_at(r->fd, r->base + offset, output, len) ? len : 0;
}

}  // namespace

bool lsone_gguf_from_zip(const char * fname, const struct gguf_init_params & params, struct gguf_context ** result) {
    if (!lsone::is_zip_path(fname)) {
        return false;
    }
    *result = nullptr;
    std::string file, err;
    uint64_t base = 0, size = 0;
    const lsone::zip_archive & zip = lsone::self_zip();
    if (!lsone::resolve_zip_path(fname, file, base, size, GGUF_ALIGNMENT, err) ||
        !lsone::archive_holds(zip, base, size, err)) {
        std::fprintf(stderr, "llama-server-one: %s\n", err.c_str());
        return true;
    }
    // Parse the header from a mapping of the entry: only the pages it touches are read,
    // and the many small reads of a large vocabulary cost no system calls.
    if (const void * view = lsone::map_view(*zip.fd, base, (size_t) size)) {
        *result = gguf_init_from_buffer(view, (size_t) size, params);
        lsone::unmap_view(view, (size_t) size);
        return true;
    }
    zip_reader reader = {*zip.fd, base, size};
    *result = gguf_init_from_callback(read_entry, &reader, 0, size, params);
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
    FILE * fp = lsone::open_archive_range(lsone::self_zip(), offset, length, err);
    if (!fp || !lsone::seek_stream(fp, offset)) {
        if (fp) {
            std::fclose(fp);
        }
        throw std::runtime_error(fname + ": " + (err.empty() ? "cannot seek in " + file : err));
    }
    base = (size_t) offset;
    size = (size_t) length;
    std::lock_guard<std::mutex> lock(g_views_mutex);
    g_views[fileno(fp)] = {base, size};
    return fp;
}

size_t lsone_zip_view_base(int fd) {
    std::lock_guard<std::mutex> lock(g_views_mutex);
    auto it = g_views.find(fd);
    if (it == g_views.end()) {
        return 0;
    }
    std::string err;  // checked again right before mapping: a shorter file would fault (SIGBUS) instead
    if (!lsone::archive_holds(lsone::self_zip(), it->second.first, it->second.second, err)) {
        throw std::runtime_error(err);
    }
    return it->second.first;
}

void lsone_zip_view_close(FILE * fp) {
    if (!fp) {
        return;
    }
    std::lock_guard<std::mutex> lock(g_views_mutex);
    g_views.erase(fileno(fp));
}
