// llama-server-one: read the zip appended to our own executable.
//
// Paths of the form /zip/NAME name entries of that zip. Entries are STORED, so
// an entry is just a byte range of the executable, which can be read or mapped
// in place: no copy on disk, no second copy in memory.
//
// The executable is opened once and the descriptor kept: every later read goes
// to that same file, even after a rebuild replaces the file under its name.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace lsone {

struct zip_entry {
    std::string name;
    uint64_t    data_offset = 0;  // absolute, from the start of the file
    uint64_t    size        = 0;
    uint16_t    method      = 0;  // 0 = STORED
};

struct zip_archive {
    std::string            path;           // for messages only: reads go through fd
    std::vector<zip_entry> entries;
    uint64_t               file_size = 0;  // when the directory was read
    std::shared_ptr<const int> fd;         // the open file the entries describe (closed with the last copy)
    const zip_entry * find(const std::string & name) const;
};

// Reads the central directory (zip64 included). Returns false with err set when
// the file has data appended after its executable image that is not a readable
// zip, or is shorter than the image size the packager recorded in it. A file with
// nothing appended gives true and no entries.
bool read_zip(const std::string & path, zip_archive & out, std::string & err);

// The executable's own archive, read once. Exits with a message if it is damaged.
const zip_archive & self_zip();

// The bytes of a STORED entry; false with err when it is missing, compressed or unreadable.
bool read_entry(const zip_archive & zip, const std::string & name, std::string & out, std::string & err);

// "/zip/NAME" -> the executable, and the data range of the STORED entry NAME.
// Returns false (with err) for a missing, compressed or misaligned entry.
bool is_zip_path(const char * path);
bool resolve_zip_path(const std::string & path, std::string & file, uint64_t & offset, uint64_t & size,
                      uint64_t alignment, std::string & err);

// A new stream on the archive's open file (its own file position; never reopened by name),
// after checking with fstat that the file still holds [offset, offset + size). Null with err otherwise.
FILE * open_archive_range(const zip_archive & zip, uint64_t offset, uint64_t size, std::string & err);

// fstat check alone, before mapping [offset, offset + size) of the archive's fd.
bool archive_holds(const zip_archive & zip, uint64_t offset, uint64_t size, std::string & err);

}  // namespace lsone
