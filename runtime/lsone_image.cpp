// llama-server-one: the image-size record, the ELF and PE headers' answers, and the zip's bounds.

#include "lsone_image.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

// The packager (site_scons/lsone/packaging/zipembed.py, record_image_size) finds this record in the
// executable and writes the executable's own size (the image, before the zip) into its last
// 8 bytes, little-endian. The loaded copy then tells the reader where the zip must start, so a
// cut-off file is caught for every toolchain, APE included (an APE has no ELF header to ask).
extern "C" __attribute__((used)) volatile const unsigned char lsone_image_size_record[32] = "llama-server-one-imgsize";

namespace lsone {

namespace {
const size_t RECORD_MAGIC_LEN = 24;
}

uint64_t loaded_image_size() {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | lsone_image_size_record[RECORD_MAGIC_LEN + i];
    }
    return v;
}

uint64_t find_image_size_record(int fd, uint64_t file_size) {
    unsigned char magic[RECORD_MAGIC_LEN];  // copied from the record, so the text is in the binary once
    for (size_t i = 0; i < RECORD_MAGIC_LEN; i++) {
        magic[i] = lsone_image_size_record[i];
    }
    const std::boyer_moore_horspool_searcher<const unsigned char *> searcher(magic, magic + RECORD_MAGIC_LEN);
    const size_t chunk = 1 << 20, overlap = 32;
    std::vector<unsigned char> buf((size_t) std::min<uint64_t>(chunk + overlap, file_size));
    for (uint64_t at = 0; at < std::min<uint64_t>(file_size, 1ull << 30); at += chunk) {
        const size_t n = (size_t) std::min<uint64_t>(buf.size(), file_size - at);
        if (!read_at(fd, at, buf.data(), n)) {
            return 0;
        }
        const auto hit = std::search(buf.begin(), buf.begin() + n, searcher);
        if (hit != buf.begin() + n) {
            const size_t pos = (size_t) (hit - buf.begin());
            if (pos + 32 <= n) {
                return u64(&buf[pos + RECORD_MAGIC_LEN]);
            }
            if (at + n >= file_size) {
                return 0;  // the file ends inside the record
            }
            // The magic lies in the overlap and its value past this window: the next window,
            // which starts before it, holds the whole record.
        }
    }
    return 0;
}

uint64_t elf_image_end(int fd, uint64_t file_size) {
    unsigned char h[64];
    if (!read_at(fd, 0, h, sizeof(h)) || std::memcmp(h, "\x7f" "ELF", 4) != 0 || h[4] != 2 || h[5] != 1) {
        return 0;
    }
    const uint64_t shoff = u64(h + 0x28), table = (uint64_t) u16(h + 0x3a) * u16(h + 0x3c);
    return shoff != 0 && within(shoff, table, file_size) ? shoff + table : 0;
}

uint64_t pe_certificate_offset(int fd, uint64_t file_size) {
    unsigned char mz[64], pe[24], magic[2], dir[8];
    if (!read_at(fd, 0, mz, sizeof(mz)) || mz[0] != 'M' || mz[1] != 'Z') {
        return 0;
    }
    const uint64_t pe_at = u32(mz + 0x3c);
    if (!read_at(fd, pe_at, pe, sizeof(pe)) || std::memcmp(pe, "PE\0\0", 4) != 0 || !read_at(fd, pe_at + 24, magic, 2)) {
        return 0;
    }
    const uint16_t kind = u16(magic);  // 0x10b PE32, 0x20b PE32+: the data directories start at 96 / 112
    const uint64_t dirs = pe_at + 24 + (kind == 0x20b ? 112 : kind == 0x10b ? 96 : 0);
    const uint64_t security = dirs + 4 * 8;  // IMAGE_DIRECTORY_ENTRY_SECURITY: a file offset and a size
    if (dirs == pe_at + 24 || security + 8 > pe_at + 24 + u16(pe + 20) || !read_at(fd, security, dir, 8)) {
        return 0;
    }
    const uint64_t offset = u32(dir), size = u32(dir + 4);
    return size != 0 && offset != 0 && offset + size == file_size ? offset : 0;
}

bool find_zip_bounds(int fd, const std::string & path, bool is_self, zip_bounds & b, std::string & err) {
    bool regular = false;
    if (!file_status(fd, b.file_size, regular) || !regular) {
        err = path + ": not a regular file";
        return false;
    }
    const uint64_t recorded_image_size = is_self ? loaded_image_size() : find_image_size_record(fd, b.file_size);
    if (recorded_image_size > b.file_size) {
        err = path + ": the file is truncated: it has " + std::to_string(b.file_size) + " bytes, but its executable "
              "image alone was " + std::to_string(recorded_image_size) + " when it was packaged (download or build it again)";
        return false;
    }
    b.image_end = recorded_image_size ? recorded_image_size : elf_image_end(fd, b.file_size);
    // A recorded size is written only by the packager, together with the zip: it must be there.
    b.has_appendix = recorded_image_size != 0 || (b.image_end != 0 && b.file_size > b.image_end);
    const uint64_t certificate = pe_certificate_offset(fd, b.file_size);
    b.zip_end = certificate ? certificate : b.file_size;  // a signed file: the zip ends before
    b.padding = certificate ? 8 : 1;                      // the 8-byte padding and certificate
    return true;
}

}  // namespace lsone
