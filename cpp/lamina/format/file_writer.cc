#include "lamina/format/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lamina/format/page_writer.h"
#include "lamina/util/crc32c.h"
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

Status WriteAll(int fd, const uint8_t* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("write " + path + ": " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::OK();
}

}  // namespace

namespace {

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
  LAMINA_RETURN_IF_ERROR(ParallelFor(ncols, [&](size_t c) {
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
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("cannot create " + path + ": no such directory");
    return Status::IOError("open " + path + ": " + std::strerror(errno));
  }
  const size_t total = img.size();
  Status st = WriteAll(fd, img.header.data(), img.header.size(), path);
  for (size_t c = 0; c < img.columns.size() && st.ok(); ++c) {
    st = WriteAll(fd, img.columns[c].bytes.data(), img.columns[c].bytes.size(), path);
    img.columns[c].bytes = ByteWriter();  // release as we go
  }
  if (st.ok()) st = WriteAll(fd, img.trailer.data(), img.trailer.size(), path);
  if (st.ok() && options.sync && ::fsync(fd) != 0) {
    st = Status::IOError("fsync " + path + ": " + std::strerror(errno));
  }
  if (::close(fd) != 0 && st.ok()) st = Status::IOError("close " + path + ": " + std::strerror(errno));
  if (!st.ok()) {
    ::unlink(path.c_str());
    return st;
  }
  WriteResult r;
  r.num_rows = 0;
  for (const auto& b : batches) r.num_rows += b.empty() ? 0 : static_cast<uint64_t>(b[0].length);
  r.file_size = total;
  return r;
}

}  // namespace lamina::format
