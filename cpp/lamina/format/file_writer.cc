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

void EncodeColumn(size_t c, const std::vector<std::vector<ArrayView>>& batches,
                  const WriteOptions& options, EncodedColumn* out) {
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

Status EncodeFile(const Schema& schema, const std::vector<std::vector<ArrayView>>& batches,
                  const WriteOptions& options, ByteWriter* out) {
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
  std::vector<EncodedColumn> cols(ncols);
  LAMINA_RETURN_IF_ERROR(ParallelFor(ncols, [&](size_t c) {
    EncodeColumn(c, batches, options, &cols[c]);
    return Status::OK();
  }));

  out->PutRaw(kMagic, 4);
  out->PutU32(kFormatVersion);
  std::vector<ColumnMeta> metas(ncols);
  for (size_t c = 0; c < ncols; ++c) {
    uint64_t base = out->size();
    out->Append(cols[c].bytes);
    metas[c] = std::move(cols[c].meta);
    for (PageMeta& p : metas[c].pages) p.offset += base;
    cols[c].bytes = ByteWriter();
  }
  FileMeta meta;
  meta.num_rows = num_rows;
  meta.schema = schema;
  meta.file_metadata = options.file_metadata;
  meta.ranges = options.ranges;
  size_t footer_start = out->size();
  WriteFooter(meta, metas, out);
  size_t footer_len = out->size() - footer_start;
  if (footer_len > UINT32_MAX) return Status::InvalidArgument("footer larger than 4 GiB");
  uint32_t crc = Crc32c(out->data() + footer_start, footer_len);
  out->PutU32(static_cast<uint32_t>(footer_len));
  out->PutU32(crc);
  out->PutU32(kFormatVersion);
  out->PutRaw(kMagic, 4);
  return Status::OK();
}

Result<WriteResult> WriteFile(const std::string& path, const Schema& schema,
                              const std::vector<std::vector<ArrayView>>& batches,
                              const WriteOptions& options) {
  ByteWriter buf;
  LAMINA_RETURN_IF_ERROR(EncodeFile(schema, batches, options, &buf));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("cannot create " + path + ": no such directory");
    return Status::IOError("open " + path + ": " + std::strerror(errno));
  }
  Status st = WriteAll(fd, buf.data(), buf.size(), path);
  if (st.ok() && options.sync && ::fsync(fd) != 0) {
    st = Status::IOError("fsync " + path + ": " + std::strerror(errno));
  }
  if (::close(fd) != 0 && st.ok()) st = Status::IOError("close " + path + ": " + std::strerror(errno));
  if (!st.ok()) {
    ::unlink(path.c_str());
    return st;
  }
  WriteResult r;
  for (const auto& b : batches) r.num_rows += b.empty() ? 0 : static_cast<uint64_t>(b[0].length);
  r.file_size = buf.size();
  return r;
}

}  // namespace lamina::format
