// The lamina file's footer: schema, key/sequence range, and per column a directory
// entry pointing at that column's page index. Grammar (docs/format.md has the bytes):
//
//   file        := "LAMF" version:u32 page* footer tail
//   tail        := footer_len:u32 footer_crc:u32 version:u32 "LAMF"
//   footer      := num_rows:varint schema kv(schema metadata) kv(file metadata)
//                  ranges num_columns:varint dir_entry{num_columns} column_meta*
//   kv          := count:varint (key:string value:string){count}
//   ranges      := 0:u8 | 1:u8 min_key:string max_key:string min_seq:varint max_seq:varint
//   dir_entry   := meta_offset:u64 meta_len:u32        (offsets from the footer's start)
//   column_meta := num_pages:varint page_meta{num_pages}
//   page_meta   := offset:varint length:varint num_rows:varint crc:u32 encoding:u8 stats
//   stats       := flags:u8 null_count:varint [min:string max:string]   (flags bit 0)
//
// The directory is fixed-width so that opening a file and reading k of its columns
// parses k page indexes, not all of them.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lamina/arrow/types.h"
#include "lamina/util/bytes.h"
#include "lamina/util/status.h"

namespace lamina::format {

constexpr char kMagic[4] = {'L', 'A', 'M', 'F'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderSize = 8;
constexpr size_t kTailSize = 16;

struct Stats {
  uint64_t null_count = 0;
  bool has_min_max = false;
  std::string min, max;  // little-endian scalars for numbers, bytes for strings
};

struct PageMeta {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t num_rows = 0;
  uint64_t row_start = 0;  // derived: sum of earlier pages' rows
  uint32_t crc = 0;
  uint8_t encoding = 0;    // tag of the page's top value stream
  Stats stats;
};

struct ColumnMeta {
  std::vector<PageMeta> pages;
};

struct KeyRange {
  bool present = false;
  std::string min_key, max_key;
  uint64_t min_seq = 0, max_seq = 0;
};

struct FileMeta {
  uint64_t num_rows = 0;
  Schema schema;
  std::vector<std::pair<std::string, std::string>> file_metadata;
  KeyRange ranges;
};

// Appends the footer for `meta` and `columns` (one per top-level field).
void WriteFooter(const FileMeta& meta, const std::vector<ColumnMeta>& columns, ByteWriter* out);

// Parses the parts of a footer that every reader needs; column metas stay unparsed.
// `dir` receives (offset, length) of each column's meta within `footer`.
Status ParseFooter(const uint8_t* footer, size_t size, uint64_t file_size, FileMeta* meta,
                   std::vector<std::pair<uint64_t, uint32_t>>* dir);

// Parses one column's page index and checks it against the file: pages lie inside the
// data region and their row counts add up to `num_rows`.
Status ParseColumnMeta(const uint8_t* data, size_t size, uint64_t num_rows,
                       uint64_t data_end, ColumnMeta* out);

void WriteSchema(const Schema& schema, ByteWriter* out);
Status ParseSchema(ByteReader* in, Schema* out);

}  // namespace lamina::format
