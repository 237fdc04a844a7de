// llama-server-one: where the executable image ends and its zip must begin, and the
// bounded reads the zip reader is built on.
#pragma once

#include "lsone_platform.h"  // read_at

#include <cstddef>
#include <cstdint>
#include <string>

namespace lsone {

inline uint16_t u16(const unsigned char * p) { return (uint16_t) (p[0] | (p[1] << 8)); }
inline uint32_t u32(const unsigned char * p) { return (uint32_t) u16(p) | ((uint32_t) u16(p + 2) << 16); }
inline uint64_t u64(const unsigned char * p) { return (uint64_t) u32(p) | ((uint64_t) u32(p + 4) << 32); }

// [offset, offset + len) lies inside a file of file_size bytes (without overflowing).
inline bool within(uint64_t offset, uint64_t len, uint64_t file_size) {
    return offset <= file_size && len <= file_size - offset;
}

// The image size the packager recorded in this process's own executable (0: none recorded).
uint64_t loaded_image_size();

// The image size recorded in another file (0 when it has no record, or an unwritten one).
uint64_t find_image_size_record(int fd, uint64_t file_size);

// End of the ELF image (section headers are last in the files our linkers write), or 0 when
// the header cannot tell: not a little-endian ELF64, or section headers outside the file
// (the kernel ignores them, so such a file still runs).
uint64_t elf_image_end(int fd, uint64_t file_size);

// Where a PE's Authenticode certificate table starts when it is the last thing in the file, else 0.
// Signing (signtool, osslsigncode) pads the file to 8 bytes and appends the table after
// everything, our zip included; an APE is a PE too.
uint64_t pe_certificate_offset(int fd, uint64_t file_size);

// Where, in a file of file_size bytes, its zip can lie.
struct zip_bounds {
    uint64_t file_size    = 0;
    uint64_t image_end    = 0;      // the executable image's end: no zip record lies before it (0: unknown)
    bool     has_appendix = false;  // something was appended after the image, so a zip must be there
    uint64_t zip_end      = 0;      // the end of the file, or of the zip when a signature's certificate follows it
    uint64_t padding      = 1;      // a signature's zero padding after the zip: fewer than this many bytes
};

// The bounds of the regular file fd (named path in err). The image's size comes from the
// packager's record (our own loaded copy of it when is_self, else found in the file); without
// one, from the ELF header. False with err for a file that is not regular or is cut short.
bool find_zip_bounds(int fd, const std::string & path, bool is_self, zip_bounds & b, std::string & err);

}  // namespace lsone
