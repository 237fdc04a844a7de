// llama-server-one: zip reader for the archive appended to the executable.

#include "lsone_zip.h"

#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(_WIN32)
#    include <windows.h>
#elif defined(__APPLE__)
#    include <mach-o/dyld.h>
#    include <climits>
#elif defined(__COSMOPOLITAN__)
#    include <cosmo.h>  // GetProgramExecutableName
#else
#    include <climits>
#    include <unistd.h>
#endif

namespace lsone {

namespace {

const uint32_t SIG_LOCAL = 0x04034b50, SIG_CENTRAL = 0x02014b50, SIG_EOCD = 0x06054b50;
const uint32_t SIG_EOCD64 = 0x06064b50, SIG_LOCATOR64 = 0x07064b50;

uint16_t u16(const unsigned char * p) { return (uint16_t) (p[0] | (p[1] << 8)); }
uint32_t u32(const unsigned char * p) { return (uint32_t) u16(p) | ((uint32_t) u16(p + 2) << 16); }
uint64_t u64(const unsigned char * p) { return (uint64_t) u32(p) | ((uint64_t) u32(p + 4) << 32); }

struct file_closer { void operator()(FILE * f) const { if (f) { std::fclose(f); } } };
using file_ptr = std::unique_ptr<FILE, file_closer>;

bool read_at(FILE * f, uint64_t offset, void * buf, size_t len) {
    if (fseeko(f, (off_t) offset, SEEK_SET) != 0) {
        return false;
    }
    return std::fread(buf, 1, len, f) == len;
}

// End of the ELF image (section headers are last in the files our linkers write), or 0.
uint64_t elf_image_end(FILE * f) {
    unsigned char h[64];
    if (!read_at(f, 0, h, sizeof(h)) || std::memcmp(h, "\x7f" "ELF", 4) != 0 || h[4] != 2 || h[5] != 1) {
        return 0;  // not a little-endian ELF64: no way to tell where the image ends
    }
    uint64_t shoff = u64(h + 0x28);
    uint16_t shentsize = u16(h + 0x3a), shnum = u16(h + 0x3c);
    return shoff + (uint64_t) shentsize * shnum;
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
    out.path = path;
    out.entries.clear();
    file_ptr f(std::fopen(path.c_str(), "rb"));
    if (!f) {
        err = "cannot open " + path + ": " + std::strerror(errno);
        return false;
    }
    fseeko(f.get(), 0, SEEK_END);
    const uint64_t file_size = (uint64_t) ftello(f.get());
    const uint64_t image_end = elf_image_end(f.get());
    const bool has_appendix = image_end != 0 && file_size > image_end;

    // The end-of-central-directory record lies in the last 64 KiB + 22 bytes.
    const uint64_t tail_len = std::min<uint64_t>(file_size, 65535 + 22);
    std::vector<unsigned char> tail(tail_len);
    if (!read_at(f.get(), file_size - tail_len, tail.data(), tail_len)) {
        err = "cannot read the end of " + path;
        return false;
    }
    // A real record's comment runs exactly to the end of the file, and it lies after the
    // executable image, whose code may well contain the signature's bytes.
    const uint64_t search_from = image_end > file_size - tail_len ? image_end - (file_size - tail_len) : 0;
    int64_t eocd = -1;
    for (int64_t i = (int64_t) tail_len - 22; i >= (int64_t) search_from; i--) {
        if (u32(&tail[i]) == SIG_EOCD && (uint64_t) i + 22 + u16(&tail[i + 20]) == tail_len) {
            eocd = i;
            break;
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
    const uint64_t eocd_at = file_size - tail_len + (uint64_t) eocd;
    uint64_t count = u16(&tail[eocd + 10]);
    uint64_t cd_size = u32(&tail[eocd + 12]);
    uint64_t cd_offset = u32(&tail[eocd + 16]);
    if (count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
        unsigned char loc[20], rec[56];
        if (eocd_at < 20 || !read_at(f.get(), eocd_at - 20, loc, 20) || u32(loc) != SIG_LOCATOR64 ||
            !read_at(f.get(), u64(loc + 8), rec, 56) || u32(rec) != SIG_EOCD64) {
            err = path + ": zip64 end-of-central-directory records are missing (the file is truncated or damaged)";
            return false;
        }
        count = u64(rec + 32);
        cd_size = u64(rec + 40);
        cd_offset = u64(rec + 48);
    }
    if (cd_offset > file_size || cd_size > file_size - cd_offset) {
        err = path + ": the zip's central directory lies outside the file (the file is truncated or damaged)";
        return false;
    }
    std::vector<unsigned char> cd(cd_size);
    if (!read_at(f.get(), cd_offset, cd.data(), cd_size)) {
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
        for (size_t x = 0; x + 4 <= extra_len;) {  // zip64 extended information
            const unsigned char * ex = c + 46 + name_len + x;
            const size_t len = u16(ex + 2);
            if (u16(ex) == 0x0001) {
                const unsigned char * v = ex + 4;
                if (usize == 0xffffffff && v + 8 <= ex + 4 + len) { usize = u64(v); v += 8; }
                if (csize == 0xffffffff && v + 8 <= ex + 4 + len) { csize = u64(v); v += 8; }
                if (local == 0xffffffff && v + 8 <= ex + 4 + len) { local = u64(v); }
            }
            x += 4 + len;
        }
        unsigned char lh[30];
        if (local + 30 > file_size || !read_at(f.get(), local, lh, 30) || u32(lh) != SIG_LOCAL) {
            err = path + ": zip entry '" + e.name + "' points at a damaged local header";
            return false;
        }
        e.data_offset = local + 30 + u16(lh + 26) + u16(lh + 28);
        e.size = e.method == 0 ? usize : csize;
        if (e.data_offset > file_size || e.size > file_size - e.data_offset) {
            err = path + ": zip entry '" + e.name + "' runs past the end of the file (truncated?)";
            return false;
        }
        out.entries.push_back(e);
        pos += 46 + name_len + extra_len + comment_len;
    }
    return true;
}

const zip_archive & self_zip() {
    static zip_archive archive;
    static bool loaded = false;
    if (!loaded) {
        std::string err;
        if (!read_zip(self_exe_path(), archive, err)) {
            std::fprintf(stderr, "llama-server-one: %s\n", err.c_str());
            std::exit(2);
        }
        loaded = true;
    }
    return archive;
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
    file_ptr f(std::fopen(zip.path.c_str(), "rb"));
    out.resize(e->size);
    if (!f || (e->size && !read_at(f.get(), e->data_offset, &out[0], e->size))) {
        err = "/zip/" + name + ": cannot read it from " + zip.path;
        return false;
    }
    return true;
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
