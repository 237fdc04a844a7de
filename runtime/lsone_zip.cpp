// llama-server-one: zip reader for the archive appended to the executable.

#include "lsone_zip.h"
#include "lsone_image.h"
#include "lsone_zip_layout.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace lsone {

namespace {

namespace layout = zip_layout;

// Limits for lengths the file states about itself, so a damaged directory cannot make us
// allocate or read the whole file (real directories hold ~60 bytes per entry).
const uint64_t MAX_DIRECTORY_SIZE = 64ull << 20;
const uint64_t MAX_ENTRY_READ     = 256ull << 20;

std::shared_ptr<const int> keep_fd(int fd) {
    return std::shared_ptr<const int>(new int(fd), [](const int * p) { close_file(*p); delete p; });
}

// The central directory as the end record (or the zip64 one) states it.
struct directory_span {
    uint64_t offset = 0, size = 0, count = 0;
    uint64_t end    = 0;  // where the record after the directory starts
};

// The zip64 end record, found through its locator right before the end record at dir.end.
bool read_zip64_end_record(int fd, const std::string & path, directory_span & dir, std::string & err) {
    namespace loc = layout::zip64_locator;
    namespace rec = layout::zip64_end_record;
    unsigned char locator[loc::SIZE], record[rec::SIZE];
    if (dir.end < loc::SIZE || !read_at(fd, dir.end - loc::SIZE, locator, loc::SIZE) || u32(locator) != loc::SIGNATURE ||
        !within(u64(locator + loc::DIRECTORY_RECORD_OFFSET), rec::SIZE, dir.end) ||
        !read_at(fd, u64(locator + loc::DIRECTORY_RECORD_OFFSET), record, rec::SIZE) || u32(record) != rec::SIGNATURE) {
        err = path + ": zip64 end-of-central-directory records are missing (the file is truncated or damaged)";
        return false;
    }
    dir.end = u64(locator + loc::DIRECTORY_RECORD_OFFSET);
    dir.count = u64(record + rec::ENTRIES_TOTAL);
    dir.size = u64(record + rec::DIRECTORY_SIZE);
    dir.offset = u64(record + rec::DIRECTORY_OFFSET);
    return true;
}

// The end record lies in the zip's last 64 KiB + 22 bytes. found = false: the file has none,
// which is an error only when something was appended to the image.
bool read_end_record(int fd, const std::string & path, const zip_bounds & b, bool & found, directory_span & dir,
                     std::string & err) {
    namespace end = layout::end_record;
    found = false;
    const uint64_t tail_len = std::min<uint64_t>(b.zip_end, end::MAX_COMMENT + end::SIZE + b.padding);
    const uint64_t tail_start = b.zip_end - tail_len;
    std::vector<unsigned char> tail(tail_len);
    if (!read_at(fd, tail_start, tail.data(), tail_len)) {
        err = "cannot read the end of " + path;
        return false;
    }
    // A real record's comment runs exactly to the end of the zip (then only a signature's zero
    // padding may follow), and it lies after the executable image, whose code may well contain
    // the signature's bytes.
    const int64_t search_from = b.image_end > tail_start ? (int64_t) (b.image_end - tail_start) : 0;
    int64_t at = -1;
    for (int64_t i = (int64_t) tail_len - (int64_t) end::SIZE; i >= search_from && at < 0; i--) {
        const uint64_t record_end = (uint64_t) i + end::SIZE + u16(&tail[i + end::COMMENT_LENGTH]);
        if (u32(&tail[i]) != end::SIGNATURE || record_end > tail_len || tail_len - record_end >= b.padding) {
            continue;
        }
        at = i;
        for (uint64_t z = record_end; z < tail_len; z++) {
            at = tail[z] == 0 ? at : -1;
        }
    }
    if (at < 0) {
        if (b.has_appendix) {
            err = path + ": the zip appended to the executable has no end-of-central-directory record "
                         "(the file is truncated or damaged; download or build it again)";
            return false;
        }
        return true;  // a plain executable without an archive
    }
    found = true;
    const unsigned char * record = &tail[at];
    dir.end = tail_start + (uint64_t) at;
    dir.count = u16(record + end::ENTRIES_TOTAL);
    dir.size = u32(record + end::DIRECTORY_SIZE);
    dir.offset = u32(record + end::DIRECTORY_OFFSET);
    if (dir.count == layout::ZIP64_U16 || dir.size == layout::ZIP64_U32 || dir.offset == layout::ZIP64_U32) {
        return read_zip64_end_record(fd, path, dir, err);
    }
    return true;
}

bool check_directory_span(const std::string & path, const zip_bounds & b, const directory_span & dir,
                          std::string & err) {
    if (!within(dir.offset, dir.size, b.file_size) || dir.offset < b.image_end) {
        err = path + ": the zip's central directory lies outside the file (the file is truncated or damaged)";
        return false;
    }
    if (dir.offset + dir.size != dir.end || dir.size > MAX_DIRECTORY_SIZE ||
        dir.count > dir.size / layout::central_header::SIZE) {
        err = path + ": the zip's end-of-directory record gives a central directory of " + std::to_string(dir.size) +
              " bytes and " + std::to_string(dir.count) + " entries at offset " + std::to_string(dir.offset) +
              ", which does not end where that record starts (" + std::to_string(dir.end) +
              ") or is implausible (the file is damaged)";
        return false;
    }
    return true;
}

// The zip64 extra block replaces, in order, each size or offset that holds ZIP64_U32.
bool apply_zip64_extra(const std::string & path, const zip_entry & e, const unsigned char * extra, size_t extra_len,
                       uint64_t & usize, uint64_t & csize, uint64_t & local, std::string & err) {
    namespace blk = layout::extra_block;
    for (size_t x = 0; x + blk::SIZE <= extra_len;) {
        const size_t len = u16(extra + x + blk::LENGTH);
        if (len > extra_len - x - blk::SIZE) {
            err = path + ": zip entry '" + e.name + "' has an extra field longer than its extra data";
            return false;
        }
        if (u16(extra + x + blk::ID) == blk::ZIP64) {
            const unsigned char * v = extra + x + blk::SIZE, * end = v + len;
            if (usize == layout::ZIP64_U32 && v + 8 <= end) { usize = u64(v); v += 8; }
            if (csize == layout::ZIP64_U32 && v + 8 <= end) { csize = u64(v); v += 8; }
            if (local == layout::ZIP64_U32 && v + 8 <= end) { local = u64(v); }
        }
        x += blk::SIZE + len;
    }
    return true;
}

// The central header at cd[pos] (entry number n), checked against its local header; pos moves past it.
bool read_directory_entry(int fd, const std::string & path, const zip_bounds & b, const std::vector<unsigned char> & cd,
                          size_t & pos, uint64_t n, zip_entry & e, std::string & err) {
    namespace ch = layout::central_header;
    namespace lh = layout::local_header;
    if (pos + ch::SIZE > cd.size() || u32(&cd[pos]) != ch::SIGNATURE) {
        err = path + ": zip central directory entry " + std::to_string(n) + " is damaged";
        return false;
    }
    const unsigned char * c = &cd[pos];
    e.method = u16(c + ch::METHOD);
    uint64_t csize = u32(c + ch::COMPRESSED_SIZE), usize = u32(c + ch::UNCOMPRESSED_SIZE);
    uint64_t local = u32(c + ch::LOCAL_HEADER_OFFSET);
    const size_t name_len = u16(c + ch::NAME_LENGTH), extra_len = u16(c + ch::EXTRA_LENGTH);
    const size_t record_len = ch::SIZE + name_len + extra_len + u16(c + ch::COMMENT_LENGTH);
    if (pos + record_len > cd.size()) {
        err = path + ": zip central directory entry " + std::to_string(n) + " runs past the directory";
        return false;
    }
    e.name.assign((const char *) c + ch::SIZE, name_len);
    if (!apply_zip64_extra(path, e, c + ch::SIZE + name_len, extra_len, usize, csize, local, err)) {
        return false;
    }
    unsigned char header[lh::SIZE];
    if (!within(local, lh::SIZE, b.file_size) || local < b.image_end || !read_at(fd, local, header, lh::SIZE) ||
        u32(header) != lh::SIGNATURE) {
        err = path + ": zip entry '" + e.name + "' points at a damaged local header";
        return false;
    }
    e.data_offset = local + lh::SIZE + u16(header + lh::NAME_LENGTH) + u16(header + lh::EXTRA_LENGTH);
    e.size = e.method == 0 ? usize : csize;
    if (!within(e.data_offset, e.size, b.file_size)) {
        err = path + ": zip entry '" + e.name + "' runs past the end of the file (truncated?)";
        return false;
    }
    pos += record_len;
    return true;
}

bool read_directory(int fd, const std::string & path, const zip_bounds & b, const directory_span & dir,
                    std::vector<zip_entry> & entries, std::string & err) {
    std::vector<unsigned char> cd(dir.size);
    if (!read_at(fd, dir.offset, cd.data(), dir.size)) {
        err = path + ": cannot read the zip's central directory";
        return false;
    }
    size_t pos = 0;
    for (uint64_t n = 0; n < dir.count; n++) {
        zip_entry e;
        if (!read_directory_entry(fd, path, b, cd, pos, n, e, err)) {
            return false;
        }
        entries.push_back(e);
    }
    return true;
}

bool read_zip_fd(std::shared_ptr<const int> fd, const std::string & path, bool is_self, zip_archive & out,
                 std::string & err) {
    out.path = path;
    out.entries.clear();
    out.fd = fd;
    zip_bounds bounds;
    directory_span dir;
    bool found = false;
    const bool bounded = find_zip_bounds(*fd, path, is_self, bounds, err);
    out.file_size = bounds.file_size;
    if (!bounded || !read_end_record(*fd, path, bounds, found, dir, err)) {
        return false;
    }
    return !found || (check_directory_span(path, bounds, dir, err) && read_directory(*fd, path, bounds, dir, out.entries, err));
}

}  // namespace

const zip_entry * zip_archive::find(const std::string & name) const {
    for (const auto & e : entries) {
        if (e.name == name) {
            return &e;
        }
    }
    return nullptr;
}

bool read_zip(const std::string & path, zip_archive & out, std::string & err) {
    const int fd = open_for_reading(path);
    if (fd < 0) {
        err = "cannot open " + path + ": " + std::strerror(errno);
        return false;
    }
    return read_zip_fd(keep_fd(fd), path, false, out, err);
}

const zip_archive & self_zip() {
    static const zip_archive archive = [] {
        zip_archive zip;
        const std::string path = self_exe_path();
        const int fd = open_self_exe(path);
        std::string err;
        if (fd < 0) {
            err = "cannot open " + path + ": " + std::strerror(errno);
        }
        if (fd < 0 || !read_zip_fd(keep_fd(fd), path, true, zip, err)) {
            std::fprintf(stderr, "llama-server-one: %s\n", err.c_str());
            std::exit(2);
        }
        return zip;
    }();
    return archive;
}

bool archive_holds(const zip_archive & zip, uint64_t offset, uint64_t size, std::string & err) {
    uint64_t now = 0;
    bool regular = false;
    if (!zip.fd || !file_status(*zip.fd, now, regular)) {
        err = zip.path + ": the executable's file is not open";
        return false;
    }
    if (now != zip.file_size || !within(offset, size, now)) {
        err = zip.path + ": the executable changed while it was running (" + std::to_string(zip.file_size) +
              " bytes at startup, " + std::to_string(now) + " now); restart it";
        return false;
    }
    return true;
}

bool read_entry(const zip_archive & zip, const std::string & name, std::string & out, std::string & err) {
    const zip_entry * e = zip.find(name);
    if (!e) {
        err = "/zip/" + name + ": no such entry in " + zip.path;
        return false;
    }
    if (e->method != 0) {
        err = "/zip/" + name + ": the entry is compressed; repackage the executable with scons";
        return false;
    }
    if (e->size > MAX_ENTRY_READ) {
        err = "/zip/" + name + ": the entry claims " + std::to_string(e->size) + " bytes, more than the " +
              std::to_string(MAX_ENTRY_READ >> 20) + " MiB read into memory (the file is damaged)";
        return false;
    }
    if (!archive_holds(zip, e->data_offset, e->size, err)) {
        return false;
    }
    out.resize(e->size);
    if (e->size && !read_at(*zip.fd, e->data_offset, &out[0], e->size)) {
        err = "/zip/" + name + ": cannot read it from " + zip.path;
        return false;
    }
    return true;
}

FILE * open_archive_range(const zip_archive & zip, uint64_t offset, uint64_t size, std::string & err) {
    if (!archive_holds(zip, offset, size, err)) {
        return nullptr;
    }
    int fd = reopen_descriptor(*zip.fd);
    if (fd < 0) {
        fd = duplicate_descriptor(*zip.fd);  // shares the file position: llama_file seeks before it reads
    }
    FILE * f = fd < 0 ? nullptr : fdopen(fd, "rb");
    if (!f) {
        if (fd >= 0) {
            close_file(fd);
        }
        err = zip.path + ": cannot open another stream on the executable: " + std::strerror(errno);
    }
    return f;
}

bool is_zip_path(const char * path) {
    return path && std::strncmp(path, "/zip/", 5) == 0;
}

bool resolve_zip_path(const std::string & path, std::string & file, uint64_t & offset, uint64_t & size,
                      uint64_t alignment, std::string & err) {
    const zip_archive & zip = self_zip();
    const std::string name = path.substr(5);
    const zip_entry * e = zip.find(name);
    if (!e) {
        err = path + ": no entry '" + name + "' in the zip of " + zip.path +
              " (list them with `unzip -l " + zip.path + "`)";
        return false;
    }
    if (e->method != 0) {
        err = path + ": the entry is compressed (method " + std::to_string(e->method) +
              "); it must be STORED to be read in place - repackage it with scons";
        return false;
    }
    if (alignment > 1 && e->data_offset % alignment != 0) {
        err = path + ": the entry's data starts at offset " + std::to_string(e->data_offset) +
              ", which is not a multiple of " + std::to_string(alignment) + " - repackage it with scons";
        return false;
    }
    file = zip.path;
    offset = e->data_offset;
    size = e->size;
    return true;
}

}  // namespace lsone
