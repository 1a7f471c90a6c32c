#include "lamina/format/footer.h"

#include <unordered_set>

#include "lamina/util/utf8.h"

namespace lamina::format {
namespace {

constexpr int kMaxTypeId = static_cast<int>(TypeId::kTimestamp);

void WriteKv(const std::vector<std::pair<std::string, std::string>>& kv, ByteWriter* out) {
  out->PutVarint(kv.size());
  for (const auto& [k, v] : kv) {
    out->PutString(k);
    out->PutString(v);
  }
}

Status ParseKv(ByteReader* in, std::vector<std::pair<std::string, std::string>>* kv) {
  uint64_t n;
  LAMINA_RETURN_IF_ERROR(in->GetVarintAtMost(in->remaining() / 2, &n, "metadata count"));
  kv->clear();
  for (uint64_t i = 0; i < n; ++i) {
    std::string k, v;
    LAMINA_RETURN_IF_ERROR(in->GetString(&k));
    LAMINA_RETURN_IF_ERROR(in->GetString(&v));
    LAMINA_CHECK_CORRUPT(ValidUtf8(k), "metadata key is not UTF-8");
    kv->emplace_back(std::move(k), std::move(v));
  }
  return Status::OK();
}

void WriteField(const Field& f, ByteWriter* out) {
  out->PutString(f.name);
  out->PutVarint(static_cast<uint64_t>(f.field_id));
  out->PutU8(f.nullable ? 1 : 0);
  out->PutU8(static_cast<uint8_t>(f.type.id));
  if (f.type.id == TypeId::kTimestamp) {
    out->PutU8(static_cast<uint8_t>(f.type.unit));
    out->PutString(f.type.timezone);
  }
  if (f.type.id == TypeId::kFixedSizeList) out->PutVarint(static_cast<uint64_t>(f.type.list_size));
  if (f.type.child) WriteField(*f.type.child, out);
}

Status ParseField(ByteReader* in, int depth, Field* f) {
  LAMINA_RETURN_IF_ERROR(in->GetString(&f->name));
  LAMINA_CHECK_CORRUPT(ValidUtf8(f->name), "field name is not UTF-8");
  uint64_t id;
  LAMINA_RETURN_IF_ERROR(in->GetVarintAtMost(INT32_MAX, &id, "field id"));
  f->field_id = static_cast<int32_t>(id);
  uint8_t flags, type_id;
  LAMINA_RETURN_IF_ERROR(in->GetU8(&flags));
  LAMINA_CHECK_CORRUPT(flags <= 1, "bad field flags");
  f->nullable = flags == 1;
  LAMINA_RETURN_IF_ERROR(in->GetU8(&type_id));
  LAMINA_CHECK_CORRUPT(type_id >= 1 && type_id <= kMaxTypeId, "unknown type id in schema");
  f->type.id = static_cast<TypeId>(type_id);
  if (f->type.id == TypeId::kTimestamp) {
    uint8_t unit;
    LAMINA_RETURN_IF_ERROR(in->GetU8(&unit));
    LAMINA_CHECK_CORRUPT(unit <= 3, "bad timestamp unit");
    f->type.unit = static_cast<TimeUnit>(unit);
    LAMINA_RETURN_IF_ERROR(in->GetString(&f->type.timezone));
    LAMINA_CHECK_CORRUPT(ValidUtf8(f->type.timezone), "time zone is not UTF-8");
  }
  if (f->type.id == TypeId::kFixedSizeList) {
    uint64_t size;
    LAMINA_RETURN_IF_ERROR(in->GetVarintAtMost(1 << 20, &size, "fixed_size_list size"));
    LAMINA_CHECK_CORRUPT(size > 0, "fixed_size_list of size 0");
    f->type.list_size = static_cast<int32_t>(size);
  }
  if (f->type.is_list_like() || f->type.id == TypeId::kFixedSizeList) {
    LAMINA_CHECK_CORRUPT(depth == 0, "nested list in schema");
    f->type.child = std::make_shared<Field>();
    LAMINA_RETURN_IF_ERROR(ParseField(in, depth + 1, f->type.child.get()));
    const DataType& ct = f->type.child->type;
    bool ok_child = f->type.id == TypeId::kFixedSizeList
                        ? (ct.is_integer_like() || ct.is_float())
                        : (ct.byte_width() > 0 || ct.id == TypeId::kBool || ct.is_binary_like());
    LAMINA_CHECK_CORRUPT(ok_child, "unsupported list child type in schema");
  }
  return Status::OK();
}

void WriteStats(const Stats& s, ByteWriter* out) {
  out->PutU8(s.has_min_max ? 1 : 0);
  out->PutVarint(s.null_count);
  if (s.has_min_max) {
    out->PutString(s.min);
    out->PutString(s.max);
  }
}

Status ParseStats(ByteReader* in, Stats* s) {
  uint8_t flags;
  LAMINA_RETURN_IF_ERROR(in->GetU8(&flags));
  LAMINA_CHECK_CORRUPT(flags <= 1, "bad statistics flags");
  LAMINA_RETURN_IF_ERROR(in->GetVarint(&s->null_count));
  s->has_min_max = flags == 1;
  if (s->has_min_max) {
    LAMINA_RETURN_IF_ERROR(in->GetString(&s->min));
    LAMINA_RETURN_IF_ERROR(in->GetString(&s->max));
  }
  return Status::OK();
}

}  // namespace

void WriteSchema(const Schema& schema, ByteWriter* out) {
  out->PutVarint(schema.fields.size());
  for (const Field& f : schema.fields) WriteField(f, out);
}

Status ParseSchema(ByteReader* in, Schema* out) {
  uint64_t n;
  // Each field takes at least 4 bytes, which bounds the count by the footer's size.
  LAMINA_RETURN_IF_ERROR(in->GetVarintAtMost(in->remaining() / 4, &n, "field count"));
  out->fields.clear();
  out->fields.resize(n);
  for (uint64_t i = 0; i < n; ++i) LAMINA_RETURN_IF_ERROR(ParseField(in, 0, &out->fields[i]));
  std::unordered_set<std::string> names;
  for (const Field& f : out->fields) {
    LAMINA_CHECK_CORRUPT(names.insert(f.name).second, "duplicate column name in schema");
  }
  return Status::OK();
}

void WriteFooter(const FileMeta& meta, const std::vector<ColumnMeta>& columns, ByteWriter* out) {
  size_t start = out->size();
  out->PutVarint(meta.num_rows);
  WriteSchema(meta.schema, out);
  WriteKv(meta.schema.metadata, out);
  WriteKv(meta.file_metadata, out);
  if (meta.ranges.present) {
    out->PutU8(1);
    out->PutString(meta.ranges.min_key);
    out->PutString(meta.ranges.max_key);
    out->PutVarint(meta.ranges.min_seq);
    out->PutVarint(meta.ranges.max_seq);
  } else {
    out->PutU8(0);
  }
  out->PutVarint(columns.size());
  std::vector<ByteWriter> metas(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    ByteWriter& w = metas[c];
    w.PutVarint(columns[c].pages.size());
    for (const PageMeta& p : columns[c].pages) {
      w.PutVarint(p.offset);
      w.PutVarint(p.length);
      w.PutVarint(p.num_rows);
      w.PutU32(p.crc);
      w.PutU8(p.encoding);
      WriteStats(p.stats, &w);
    }
  }
  uint64_t meta_pos = out->size() - start + columns.size() * 12;
  for (const ByteWriter& w : metas) {
    out->PutU64(meta_pos);
    out->PutU32(static_cast<uint32_t>(w.size()));
    meta_pos += w.size();
  }
  for (const ByteWriter& w : metas) out->Append(w);
}

Status ParseFooter(const uint8_t* footer, size_t size, uint64_t file_size, FileMeta* meta,
                   std::vector<std::pair<uint64_t, uint32_t>>* dir) {
  ByteReader in(footer, size);
  LAMINA_RETURN_IF_ERROR(in.GetVarint(&meta->num_rows));
  LAMINA_RETURN_IF_ERROR(ParseSchema(&in, &meta->schema));
  LAMINA_RETURN_IF_ERROR(ParseKv(&in, &meta->schema.metadata));
  LAMINA_RETURN_IF_ERROR(ParseKv(&in, &meta->file_metadata));
  uint8_t has_ranges;
  LAMINA_RETURN_IF_ERROR(in.GetU8(&has_ranges));
  LAMINA_CHECK_CORRUPT(has_ranges <= 1, "bad range flag");
  meta->ranges.present = has_ranges == 1;
  if (meta->ranges.present) {
    LAMINA_RETURN_IF_ERROR(in.GetString(&meta->ranges.min_key));
    LAMINA_RETURN_IF_ERROR(in.GetString(&meta->ranges.max_key));
    LAMINA_RETURN_IF_ERROR(in.GetVarint(&meta->ranges.min_seq));
    LAMINA_RETURN_IF_ERROR(in.GetVarint(&meta->ranges.max_seq));
  }
  uint64_t ncols;
  LAMINA_RETURN_IF_ERROR(in.GetVarint(&ncols));
  LAMINA_CHECK_CORRUPT(ncols == meta->schema.fields.size(), "column count differs from schema");
  LAMINA_CHECK_CORRUPT(ncols <= in.remaining() / 12, "column directory truncated");
  dir->resize(ncols);
  for (uint64_t c = 0; c < ncols; ++c) {
    uint64_t off;
    uint32_t len;
    LAMINA_RETURN_IF_ERROR(in.GetU64(&off));
    LAMINA_RETURN_IF_ERROR(in.GetU32(&len));
    LAMINA_CHECK_CORRUPT(off <= size && len <= size - off, "column meta outside the footer");
    (*dir)[c] = {off, len};
  }
  LAMINA_CHECK_CORRUPT(ncols > 0 || meta->num_rows == 0, "rows in a file without columns");
  // num_rows is not trusted by itself: a column's page index must account for every
  // row (ParseColumnMeta), with at most kMaxPageRows per page and 8+ footer bytes per
  // page, before any buffer is sized by it.
  return Status::OK();
}

Status ParseColumnMeta(const uint8_t* data, size_t size, uint64_t num_rows, uint64_t data_end,
                       ColumnMeta* out) {
  ByteReader in(data, size);
  uint64_t npages;
  LAMINA_RETURN_IF_ERROR(in.GetVarintAtMost(size / 8, &npages, "page count"));
  out->pages.resize(npages);
  uint64_t rows = 0;
  uint64_t prev_end = 0;
  for (PageMeta& p : out->pages) {
    LAMINA_RETURN_IF_ERROR(in.GetVarint(&p.offset));
    LAMINA_RETURN_IF_ERROR(in.GetVarint(&p.length));
    LAMINA_RETURN_IF_ERROR(in.GetVarint(&p.num_rows));
    LAMINA_RETURN_IF_ERROR(in.GetU32(&p.crc));
    LAMINA_RETURN_IF_ERROR(in.GetU8(&p.encoding));
    LAMINA_RETURN_IF_ERROR(ParseStats(&in, &p.stats));
    LAMINA_CHECK_CORRUPT(p.offset >= kHeaderSize && p.offset <= data_end &&
                             p.length <= data_end - p.offset,
                         "page outside the file's data region");
    // Pages of a column lie in order without overlapping, so the bytes a column can
    // decode are bounded by the file.
    LAMINA_CHECK_CORRUPT(p.offset >= prev_end, "pages overlap or are out of order");
    prev_end = p.offset + p.length;
    LAMINA_CHECK_CORRUPT(p.num_rows > 0 && p.num_rows <= num_rows - rows, "page row counts exceed the file's");
    LAMINA_CHECK_CORRUPT(p.stats.null_count <= p.num_rows, "page null count exceeds its rows");
    p.row_start = rows;
    rows += p.num_rows;
  }
  LAMINA_CHECK_CORRUPT(rows == num_rows, "page row counts do not add up to the file's");
  return Status::OK();
}

}  // namespace lamina::format
