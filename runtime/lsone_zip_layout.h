// llama-server-one: the zip records the runtime reads, as named byte offsets (APPNOTE.TXT 4.3).
//
// The same records, with the same field names, as the packager's ZipRecord tables
// (site_scons/lsone/packaging/zipembed.py); tests/integration/test_runtime_parsers.py checks that the
// two agree. Every field is little-endian; read them with u16/u32/u64 (lsone_image.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace lsone {
namespace zip_layout {

// A 16- or 32-bit field holding all ones means "the real value is in the zip64 record".
const uint16_t ZIP64_U16 = 0xffff;
const uint32_t ZIP64_U32 = 0xffffffff;

namespace end_record {  // END_OF_CENTRAL_DIRECTORY: the last record of a zip, then its comment
const uint32_t SIGNATURE        = 0x06054b50;
const size_t   ENTRIES_TOTAL    = 10;  // u16
const size_t   DIRECTORY_SIZE   = 12;  // u32
const size_t   DIRECTORY_OFFSET = 16;  // u32
const size_t   COMMENT_LENGTH   = 20;  // u16
const size_t   SIZE             = 22;
const size_t   MAX_COMMENT      = 65535;
}  // namespace end_record

namespace zip64_locator {  // ZIP64_LOCATOR: right before the end record
const uint32_t SIGNATURE               = 0x07064b50;
const size_t   DIRECTORY_RECORD_OFFSET = 8;  // u64: where the zip64 end record starts
const size_t   SIZE                    = 20;
}  // namespace zip64_locator

namespace zip64_end_record {  // ZIP64_END_OF_CENTRAL_DIRECTORY
const uint32_t SIGNATURE        = 0x06064b50;
const size_t   ENTRIES_TOTAL    = 32;  // u64
const size_t   DIRECTORY_SIZE   = 40;  // u64
const size_t   DIRECTORY_OFFSET = 48;  // u64
const size_t   SIZE             = 56;
}  // namespace zip64_end_record

namespace central_header {  // CENTRAL_HEADER: one per entry, then its name, extra field and comment
const uint32_t SIGNATURE           = 0x02014b50;
const size_t   METHOD              = 10;  // u16
const size_t   COMPRESSED_SIZE     = 20;  // u32
const size_t   UNCOMPRESSED_SIZE   = 24;  // u32
const size_t   NAME_LENGTH         = 28;  // u16
const size_t   EXTRA_LENGTH        = 30;  // u16
const size_t   COMMENT_LENGTH      = 32;  // u16
const size_t   LOCAL_HEADER_OFFSET = 42;  // u32
const size_t   SIZE                = 46;
}  // namespace central_header

namespace local_header {  // LOCAL_HEADER: before each entry's data, then its name and extra field
const uint32_t SIGNATURE    = 0x04034b50;
const size_t   NAME_LENGTH  = 26;  // u16
const size_t   EXTRA_LENGTH = 28;  // u16
const size_t   SIZE         = 30;
}  // namespace local_header

namespace extra_block {  // one block of an extra field: an id, its payload's length, the payload
const size_t   ID     = 0;  // u16
const size_t   LENGTH = 2;  // u16
const size_t   SIZE   = 4;
const uint16_t ZIP64  = 0x0001;  // u64 values, in this order, for the fields that hold ZIP64_U32:
                                 // uncompressed size, compressed size, local header offset
}  // namespace extra_block

}  // namespace zip_layout
}  // namespace lsone
