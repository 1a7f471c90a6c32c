#include "lamina/format/file_writer.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "lamina/format/page_writer.h"
#include "lamina/util/crc32c.h"
#include "lamina/util/file_io.h"
#include "lamina/util/parallel.h"

namespace lamina::format {
namespace {

struct EncodedColumn {
  ByteWriter bytes;   // all pages of the column, back to back
  ColumnMeta meta;    // page offsets relative to the start of `bytes`
};

// Raw bytes of column c: an upper bound for most encoded columns. Reserving it up front
// costs nothing until touched and saves regrowing (copy + fresh pages) as pages append.
size_t RawBytes(size_t c, const std::vector<std::vector<ArrayView>>& batches) {
  uint64_t total = 4096;
  for (const auto& batch : batches) total += UncompressedBytes(batch[c]) + batch[c].length / 8;
  return static_cast<size_t>(total);
}

void EncodeColumn(size_t c, const std::vector<std::vector<ArrayView>>& batches,
                  const WriteOptions& options, EncodedColumn* out) {
  out->bytes.Reserve(RawBytes(c, batches));
  for (const auto& batch : batches) {
    const ArrayView& col = batch[c];
    int64_t start = 0;
    while (start < col.length) {
      int64_t rows = PageRows(col, start, col.length - start, options.max_page_rows,
                              options.target_page_bytes);
      PageMeta page;
      page.offset = out->bytes.size();
      EncodePage(col, start, rows, &out->bytes, &page.stats, &page.encoding);
      page.length = out->bytes.size() - page.offset;
      page.num_rows = static_cast<uint64_t>(rows);
      page.crc = Crc32c(out->bytes.data() + page.offset, page.length);
      out->meta.pages.push_back(std::move(page));
      start += rows;
    }
  }
}


// The file as pieces in order: header, each column's pages, footer and tail. Writing
// them one after another avoids building (and faulting in) a second copy of the file.
struct FileImage {
  ByteWriter header;
  std::vector<EncodedColumn> columns;
  ByteWriter trailer;  // footer + tail
  size_t size() const {
    size_t n = header.size() + trailer.size();
    for (const auto& c : columns) n += c.bytes.size();
    return n;
  }
};

Status BuildImage(const Schema& schema, const std::vector<std::vector<ArrayView>>& batches,
                  const WriteOptions& options, FileImage* img) {
  size_t ncols = schema.fields.size();
  uint64_t num_rows = 0;
  for (const auto& b : batches) {
    if (b.size() != ncols) return Status::InvalidArgument("batch column count differs from schema");
    if (ncols > 0) num_rows += static_cast<uint64_t>(b[0].length);
    for (const ArrayView& v : b) {
      if (ncols > 0 && v.length != b[0].length) {
        return Status::InvalidArgument("columns of a batch differ in length");
      }
    }
  }
  img->columns.resize(ncols);
  // Largest columns first: workers take columns in this order, so a big column (W1's
  // list column is 34th of 37) no longer starts last and leaves the other cores idle.
  std::vector<std::pair<size_t, size_t>> order(ncols);
  for (size_t c = 0; c < ncols; ++c) order[c] = {RawBytes(c, batches), c};
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  LAMINA_RETURN_IF_ERROR(ParallelFor(ncols, [&](size_t i) {
    size_t c = order[i].second;
    EncodeColumn(c, batches, options, &img->columns[c]);
    return Status::OK();
  }));
  img->header.PutRaw(kMagic, 4);
  img->header.PutU32(kFormatVersion);
  std::vector<ColumnMeta> metas(ncols);
  uint64_t base = img->header.size();
  for (size_t c = 0; c < ncols; ++c) {
    metas[c] = img->columns[c].meta;
    for (PageMeta& p : metas[c].pages) p.offset += base;
    base += img->columns[c].bytes.size();
  }
  FileMeta meta;
  meta.num_rows = num_rows;
  meta.schema = schema;
  meta.file_metadata = options.file_metadata;
  meta.ranges = options.ranges;
  ByteWriter& out = img->trailer;
  WriteFooter(meta, metas, &out);
  size_t footer_len = out.size();
  if (footer_len > UINT32_MAX) return Status::InvalidArgument("footer larger than 4 GiB");
  uint32_t crc = Crc32c(out.data(), footer_len);
  out.PutU32(static_cast<uint32_t>(footer_len));
  out.PutU32(crc);
  out.PutU32(kFormatVersion);
  out.PutRaw(kMagic, 4);
  return Status::OK();
}

}  // namespace

Status EncodeFile(const Schema& schema, const std::vector<std::vector<ArrayView>>& batches,
                  const WriteOptions& options, ByteWriter* out) {
  FileImage img;
  LAMINA_RETURN_IF_ERROR(BuildImage(schema, batches, options, &img));
  out->Reserve(img.size());
  out->Append(img.header);
  for (const auto& c : img.columns) out->Append(c.bytes);
  out->Append(img.trailer);
  return Status::OK();
}

Result<WriteResult> WriteFile(const std::string& path, const Schema& schema,
                              const std::vector<std::vector<ArrayView>>& batches,
                              const WriteOptions& options) {
  FileImage img;
  LAMINA_RETURN_IF_ERROR(BuildImage(schema, batches, options, &img));
  LAMINA_ASSIGN_OR_RETURN(io::WritableFile file, io::WritableFile::Create(path));
  const size_t total = img.size();
  Status st = file.Append(img.header.data(), img.header.size());
  for (size_t c = 0; c < img.columns.size() && st.ok(); ++c) {
    st = file.Append(img.columns[c].bytes.data(), img.columns[c].bytes.size());
    img.columns[c].bytes = ByteWriter();  // release as we go
  }
  if (st.ok()) st = file.Append(img.trailer.data(), img.trailer.size());
  if (st.ok() && options.sync) st = file.Sync();
  Status closed = file.Close();
  if (st.ok()) st = closed;
  if (!st.ok()) {
    // Best effort: a file left behind is an orphan that nothing references.
    (void)io::RemoveFile(path);
    return st;
  }
  WriteResult r;
  r.num_rows = 0;
  for (const auto& b : batches) r.num_rows += b.empty() ? 0 : static_cast<uint64_t>(b[0].length);
  r.file_size = total;
  return r;
}

}  // namespace lamina::format
