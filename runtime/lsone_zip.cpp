// llama-server-one: zip reader for the archive appended to the executable.

#include "lsone_zip.h"
#include "lsone_image.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(_WIN32)
#    include <windows.h>
#elif defined(__APPLE__)
#    include <mach-o/dyld.h>
#    include <climits>
#elif defined(__COSMOPOLITAN__)
#    include <cosmo.h>  // GetProgramExecutableName
#else
#    include <climits>
#endif

#ifndef O_CLOEXEC
#    define O_CLOEXEC 0
#endif

namespace lsone {

namespace {

const uint32_t SIG_LOCAL = 0x04034b50, SIG_CENTRAL = 0x02014b50, SIG_EOCD = 0x06054b50;
const uint32_t SIG_EOCD64 = 0x06064b50, SIG_LOCATOR64 = 0x07064b50;
// Limits for lengths the file states about itself, so a damaged directory cannot make us
// allocate or read the whole file (real directories hold ~60 bytes per entry).
const uint64_t MAX_DIRECTORY_SIZE = 64ull << 20;
const uint64_t MAX_ENTRY_READ     = 256ull << 20;

std::shared_ptr<const int> keep_fd(int fd) {
    return std::shared_ptr<const int>(new int(fd), [](const int * p) { close(*p); delete p; });
}

bool same_file(int a, int b) {
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// The image's size comes from the packager's record (our own loaded copy of it when is_self,
// else found in the file); without one, from the ELF header.
bool read_zip_fd(std::shared_ptr<const int> fd, const std::string & path, bool is_self, zip_archive & out,
                 std::string & err) {
    out.path = path;
    out.entries.clear();
    out.fd = fd;
    struct stat st;
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err = path + ": not a regular file";
        return false;
    }
    const uint64_t file_size = out.file_size = (uint64_t) st.st_size;
    const uint64_t recorded_image_size = is_self ? loaded_image_size() : find_image_size_record(*fd, file_size);
    if (recorded_image_size > file_size) {
        err = path + ": the file is truncated: it has " + std::to_string(file_size) + " bytes, but its executable "
              "image alone was " + std::to_string(recorded_image_size) + " when it was packaged (download or build it again)";
        return false;
    }
    const uint64_t image_end = recorded_image_size ? recorded_image_size : elf_image_end(*fd, file_size);
    // A recorded size is written only by the packager, together with the zip: it must be there.
    const bool has_appendix = recorded_image_size != 0 || (image_end != 0 && file_size > image_end);

    const uint64_t certificate = pe_certificate_offset(*fd, file_size);
    const uint64_t zip_end = certificate ? certificate : file_size;  // a signed file: the zip ends before
    const uint64_t padding = certificate ? 8 : 1;                   // the 8-byte padding and certificate

    // The end-of-central-directory record lies in the last 64 KiB + 22 bytes.
    const uint64_t tail_len = std::min<uint64_t>(zip_end, 65535 + 22 + padding);
    const uint64_t tail_start = zip_end - tail_len;
    std::vector<unsigned char> tail(tail_len);
    if (!read_at(*fd, tail_start, tail.data(), tail_len)) {
        err = "cannot read the end of " + path;
        return false;
    }
    // A real record's comment runs exactly to the end of the zip (then only a signature's zero
    // padding may follow), and it lies after the executable image, whose code may well contain
    // the signature's bytes.
    const int64_t search_from = image_end > tail_start ? (int64_t) (image_end - tail_start) : 0;
    int64_t eocd = -1;
    for (int64_t i = (int64_t) tail_len - 22; i >= search_from && eocd < 0; i--) {
        const uint64_t record_end = (uint64_t) i + 22 + u16(&tail[i + 20]);
        if (u32(&tail[i]) != SIG_EOCD || record_end > tail_len || tail_len - record_end >= padding) {
            continue;
        }
        eocd = i;
        for (uint64_t z = record_end; z < tail_len; z++) {
            eocd = tail[z] == 0 ? eocd : -1;
        }
    }
    if (eocd < 0) {
        if (has_appendix) {
            err = path + ": the zip appended to the executable has no end-of-central-directory record "
                         "(the file is truncated or damaged; download or build it again)";
            return false;
        }
        return true;  // a plain executable without an archive
    }
    uint64_t directory_end = tail_start + (uint64_t) eocd;  // where the record after the directory starts
    uint64_t count = u16(&tail[eocd + 10]);
    uint64_t cd_size = u32(&tail[eocd + 12]);
    uint64_t cd_offset = u32(&tail[eocd + 16]);
    if (count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
        unsigned char loc[20], rec[56];
        if (directory_end < 20 || !read_at(*fd, directory_end - 20, loc, 20) || u32(loc) != SIG_LOCATOR64 ||
            !within(u64(loc + 8), 56, directory_end) || !read_at(*fd, u64(loc + 8), rec, 56) ||
            u32(rec) != SIG_EOCD64) {
            err = path + ": zip64 end-of-central-directory records are missing (the file is truncated or damaged)";
            return false;
        }
        directory_end = u64(loc + 8);
        count = u64(rec + 32);
        cd_size = u64(rec + 40);
        cd_offset = u64(rec + 48);
    }
    if (!within(cd_offset, cd_size, file_size) || cd_offset < image_end) {
        err = path + ": the zip's central directory lies outside the file (the file is truncated or damaged)";
        return false;
    }
    if (cd_offset + cd_size != directory_end || cd_size > MAX_DIRECTORY_SIZE || count > cd_size / 46) {
        err = path + ": the zip's end-of-directory record gives a central directory of " + std::to_string(cd_size) +
              " bytes and " + std::to_string(count) + " entries at offset " + std::to_string(cd_offset) +
              ", which does not end where that record starts (" + std::to_string(directory_end) +
              ") or is implausible (the file is damaged)";
        return false;
    }
    std::vector<unsigned char> cd(cd_size);
    if (!read_at(*fd, cd_offset, cd.data(), cd_size)) {
        err = path + ": cannot read the zip's central directory";
        return false;
    }
    size_t pos = 0;
    for (uint64_t n = 0; n < count; n++) {
        if (pos + 46 > cd.size() || u32(&cd[pos]) != SIG_CENTRAL) {
            err = path + ": zip central directory entry " + std::to_string(n) + " is damaged";
            return false;
        }
        const unsigned char * c = &cd[pos];
        zip_entry e;
        e.method = u16(c + 10);
        uint64_t csize = u32(c + 20), usize = u32(c + 24), local = u32(c + 42);
        const size_t name_len = u16(c + 28), extra_len = u16(c + 30), comment_len = u16(c + 32);
        if (pos + 46 + name_len + extra_len + comment_len > cd.size()) {
            err = path + ": zip central directory entry " + std::to_string(n) + " runs past the directory";
            return false;
        }
        e.name.assign((const char *) c + 46, name_len);
        const unsigned char * extra = c + 46 + name_len;
        for (size_t x = 0; x + 4 <= extra_len;) {  // zip64 extended information
            const size_t len = u16(extra + x + 2);
            if (len > extra_len - x - 4) {
                err = path + ": zip entry '" + e.name + "' has an extra field longer than its extra data";
                return false;
            }
            if (u16(extra + x) == 0x0001) {
                const unsigned char * v = extra + x + 4, * end = v + len;
                if (usize == 0xffffffff && v + 8 <= end) { usize = u64(v); v += 8; }
                if (csize == 0xffffffff && v + 8 <= end) { csize = u64(v); v += 8; }
                if (local == 0xffffffff && v + 8 <= end) { local = u64(v); }
            }
            x += 4 + len;
        }
        unsigned char lh[30];
        if (!within(local, 30, file_size) || local < image_end || !read_at(*fd, local, lh, 30) || u32(lh) != SIG_LOCAL) {
            err = path + ": zip entry '" + e.name + "' points at a damaged local header";
            return false;
        }
        e.data_offset = local + 30 + u16(lh + 26) + u16(lh + 28);
        e.size = e.method == 0 ? usize : csize;
        if (!within(e.data_offset, e.size, file_size)) {
            err = path + ": zip entry '" + e.name + "' runs past the end of the file (truncated?)";
            return false;
        }
        out.entries.push_back(e);
        pos += 46 + name_len + extra_len + comment_len;
    }
    return true;
}

int open_readable(const std::string & path) {
    // O_NONBLOCK: a FIFO in the file's place must not block the open (it is then refused as not regular).
    return open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
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

std::string self_exe_path() {
#if defined(__COSMOPOLITAN__)
    const char * path = GetProgramExecutableName();
    return path ? path : "";
#elif defined(_WIN32)
    wchar_t wbuf[32768];
    DWORD n = GetModuleFileNameW(NULL, wbuf, 32768);
    int len = WideCharToMultiByte(CP_UTF8, 0, wbuf, (int) n, NULL, 0, NULL, NULL);
    std::string out(len, '\0');
    WideCharToMultiByte(CP_UTF8, 0, wbuf, (int) n, &out[0], len, NULL, NULL);
    return out;
#elif defined(__APPLE__)
    char buf[PATH_MAX];
    uint32_t size = sizeof(buf);
    if (_NSGetExecutablePath(buf, &size) != 0) {
        return "";
    }
    char real[PATH_MAX];
    return realpath(buf, real) ? real : buf;
#else
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, (size_t) n) : "";
#endif
}

bool read_zip(const std::string & path, zip_archive & out, std::string & err) {
    const int fd = open_readable(path);
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
        int fd = -1;
#if defined(__linux__) && !defined(__COSMOPOLITAN__)
        fd = open_readable("/proc/self/exe");  // the file this process runs, even if a rebuild renamed another over it
#endif
        if (fd < 0) {
            fd = open_readable(path);  // the one time the executable is opened by name
        }
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
    struct stat st;
    if (!zip.fd || fstat(*zip.fd, &st) != 0) {
        err = zip.path + ": the executable's file is not open";
        return false;
    }
    if ((uint64_t) st.st_size != zip.file_size || !within(offset, size, (uint64_t) st.st_size)) {
        err = zip.path + ": the executable changed while it was running (" + std::to_string(zip.file_size) +
              " bytes at startup, " + std::to_string((uint64_t) st.st_size) + " now); restart it";
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
    int fd = -1;
#if defined(__linux__) || defined(__COSMOPOLITAN__)
    // The same open file through the descriptor (not its name), with a file position of its own.
    fd = open(("/proc/self/fd/" + std::to_string(*zip.fd)).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && !same_file(fd, *zip.fd)) {
        close(fd);
        fd = -1;
    }
#endif
    if (fd < 0) {
        fd = dup(*zip.fd);  // shares the file position: llama_file seeks before it reads
    }
    FILE * f = fd < 0 ? nullptr : fdopen(fd, "rb");
    if (!f) {
        if (fd >= 0) {
            close(fd);
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
