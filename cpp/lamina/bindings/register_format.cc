#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "lamina/bindings/arrow_capsules.h"
#include "lamina/bindings/register.h"
#include "lamina/bindings/status_error.h"
#include "lamina/format/file_reader.h"
#include "lamina/format/file_writer.h"
#include "lamina/format/page_reader.h"
#include "lamina/util/crc32c.h"

namespace pyb = pybind11;

namespace lamina::py {
namespace {

format::WriteOptions ParseWriteOptions(const pyb::dict& opts) {
  format::WriteOptions o;
  for (auto item : opts) {
    std::string key = pyb::cast<std::string>(item.first);
    if (key == "max_page_rows") {
      o.max_page_rows = pyb::cast<int64_t>(item.second);
      if (o.max_page_rows < 1 || o.max_page_rows > static_cast<int64_t>(format::kMaxPageRows)) {
        throw StatusError(Status::InvalidArgument("max_page_rows must be in [1, 1048576]"));
      }
    } else if (key == "target_page_bytes") {
      o.target_page_bytes = pyb::cast<int64_t>(item.second);
      if (o.target_page_bytes < 1) {
        throw StatusError(Status::InvalidArgument("target_page_bytes must be positive"));
      }
    } else if (key == "sync") {
      o.sync = pyb::cast<bool>(item.second);
    } else if (key == "file_metadata") {
      for (auto kv : pyb::cast<pyb::dict>(item.second)) {
        o.file_metadata.emplace_back(pyb::cast<std::string>(kv.first),
                                     pyb::cast<std::string>(kv.second));
      }
    } else if (key == "key_range") {
      auto t = pyb::cast<pyb::tuple>(item.second);
      o.ranges.present = true;
      o.ranges.min_key = pyb::cast<std::string>(t[0]);
      o.ranges.max_key = pyb::cast<std::string>(t[1]);
      o.ranges.min_seq = pyb::cast<uint64_t>(t[2]);
      o.ranges.max_seq = pyb::cast<uint64_t>(t[3]);
    } else {
      throw StatusError(Status::InvalidArgument("unknown write option '" + key + "'"));
    }
  }
  return o;
}

pyb::dict StatsDict(const format::Stats& s) {
  pyb::dict d;
  d["null_count"] = s.null_count;
  if (s.has_min_max) {
    d["min"] = pyb::bytes(s.min);
    d["max"] = pyb::bytes(s.max);
  } else {
    d["min"] = pyb::none();
    d["max"] = pyb::none();
  }
  return d;
}

class PyFileReader {
 public:
  explicit PyFileReader(std::unique_ptr<format::FileReader> r) : r_(std::move(r)) {}

  static PyFileReader Open(const std::string& path) {
    std::unique_ptr<format::FileReader> r;
    {
      pyb::gil_scoped_release release;  // mapping and footer parsing touch only the file
      auto res = format::FileReader::Open(path);
      if (!res.ok()) throw StatusError(res.status());
      r = std::move(res).value();
    }
    return PyFileReader(std::move(r));
  }

  static PyFileReader FromBytes(const pyb::bytes& b) {
    std::string s = b;
    std::vector<uint8_t> v(s.begin(), s.end());
    return PyFileReader(ValueOrThrow(format::FileReader::Open(format::OwnBytes(std::move(v)))));
  }

  std::vector<size_t> CheckColumns(const std::vector<size_t>& cols) const {
    for (size_t c : cols) {
      if (c >= r_->schema().fields.size()) {
        throw StatusError(Status::InvalidArgument("column index out of range"));
      }
    }
    return cols;
  }

  Schema SubSchema(const std::vector<size_t>& cols) const {
    Schema s;
    s.metadata = r_->schema().metadata;
    for (size_t c : cols) s.fields.push_back(r_->schema().fields[c]);
    return s;
  }

  pyb::tuple Read(const std::vector<size_t>& cols) {
    CheckColumns(cols);
    std::vector<OwnedArray> out;
    {
      pyb::gil_scoped_release release;  // decoding runs on the core's own threads
      ThrowIfError(r_->Read(cols, &out));
    }
    return ExportBatch(SubSchema(cols), std::move(out), static_cast<int64_t>(r_->num_rows()));
  }

  pyb::tuple Take(pyb::array_t<int64_t, pyb::array::c_style | pyb::array::forcecast> idx,
                  const std::vector<size_t>& cols) {
    CheckColumns(cols);
    if (idx.ndim() != 1) throw StatusError(Status::InvalidArgument("indices must be 1-D"));
    std::vector<OwnedArray> out;
    size_t m = static_cast<size_t>(idx.shape(0));
    const int64_t* p = idx.data();
    {
      pyb::gil_scoped_release release;  // the numpy array is kept alive by `idx`
      ThrowIfError(r_->Take(cols, p, m, &out));
    }
    return ExportBatch(SubSchema(cols), std::move(out), static_cast<int64_t>(m));
  }

  pyb::object SchemaCapsule() { return ExportSchemaCapsule(r_->schema()); }

  pyb::list PageStats(size_t c) {
    CheckColumns({c});
    const format::ColumnMeta* cm = ValueOrThrow(r_->Column(c));
    pyb::list pages;
    for (const format::PageMeta& p : cm->pages) {
      pyb::dict d = StatsDict(p.stats);
      d["row_start"] = p.row_start;
      d["num_rows"] = p.num_rows;
      d["offset"] = p.offset;
      d["length"] = p.length;
      d["encoding"] = p.encoding;
      pages.append(d);
    }
    return pages;
  }

  pyb::list FieldIds() const {
    pyb::list out;
    for (const Field& f : r_->schema().fields) out.append(pyb::make_tuple(f.name, f.field_id));
    return out;
  }

  pyb::dict FileMetadata() const {
    pyb::dict d;
    for (const auto& [k, v] : r_->meta().file_metadata) d[pyb::str(k)] = pyb::bytes(v);
    return d;
  }

  pyb::object KeyRange() const {
    const auto& kr = r_->meta().ranges;
    if (!kr.present) return pyb::none();
    return pyb::make_tuple(pyb::bytes(kr.min_key), pyb::bytes(kr.max_key), kr.min_seq, kr.max_seq);
  }

  uint64_t num_rows() const { return r_->num_rows(); }
  uint64_t file_size() const { return r_->file_size(); }
  size_t num_columns() const { return r_->schema().fields.size(); }
  std::vector<std::string> ColumnNames() const {
    std::vector<std::string> names;
    for (const Field& f : r_->schema().fields) names.push_back(f.name);
    return names;
  }

 private:
  std::unique_ptr<format::FileReader> r_;
};

// Rows live in the columns' pages, so a file without columns keeps no rows: refuse rows
// without columns rather than read back fewer than were written.
void CheckRowsHaveColumns(const ImportedStream& in) {
  if (!in.parsed.fields.empty()) return;
  for (const ArrowArray& b : in.batches) {
    if (b.length > 0) {
      throw StatusError(Status::InvalidArgument(
          "a lamina file needs at least one column to hold rows (got rows without columns)"));
    }
  }
}

}  // namespace

void RegisterFormat(pyb::module_& m) {
  m.def(
      "crc32c",
      [](const pyb::bytes& b, bool scalar) {
        std::string_view v = b;
        return scalar ? Crc32cScalar(v.data(), v.size()) : Crc32c(v.data(), v.size());
      },
      pyb::arg("data"), pyb::arg("scalar") = false,
      "CRC32C of data; scalar=True uses the portable reference implementation.");
  m.def(
      "write_file",
      [](const std::string& path, pyb::capsule stream, const pyb::dict& options) {
        format::WriteOptions o = ParseWriteOptions(options);
        auto in = ImportStream(stream);
        CheckRowsHaveColumns(*in);
        format::WriteResult r;
        {
          pyb::gil_scoped_release release;  // encoding and I/O touch no Python objects
          r = ValueOrThrow(format::WriteFile(path, in->parsed, in->views, o));
        }
        return pyb::make_tuple(r.num_rows, r.file_size);
      },
      pyb::arg("path"), pyb::arg("stream"), pyb::arg("options"));
  m.def(
      "encode_file",
      [](pyb::capsule stream, const pyb::dict& options) {
        format::WriteOptions o = ParseWriteOptions(options);
        auto in = ImportStream(stream);
        CheckRowsHaveColumns(*in);
        ByteWriter w;
        {
          pyb::gil_scoped_release release;  // as in write_file
          ThrowIfError(format::EncodeFile(in->parsed, in->views, o, &w));
        }
        return pyb::bytes(reinterpret_cast<const char*>(w.data()), w.size());
      },
      pyb::arg("stream"), pyb::arg("options"));

  pyb::class_<PyFileReader>(m, "FileReader")
      .def(pyb::init(&PyFileReader::Open), pyb::arg("path"))
      .def_static("from_bytes", &PyFileReader::FromBytes)
      .def_property_readonly("num_rows", &PyFileReader::num_rows)
      .def_property_readonly("file_size", &PyFileReader::file_size)
      .def_property_readonly("num_columns", &PyFileReader::num_columns)
      .def_property_readonly("column_names", &PyFileReader::ColumnNames)
      .def_property_readonly("field_ids", &PyFileReader::FieldIds)
      .def_property_readonly("file_metadata", &PyFileReader::FileMetadata)
      .def_property_readonly("key_range", &PyFileReader::KeyRange)
      .def("schema_capsule", &PyFileReader::SchemaCapsule)
      .def("read", &PyFileReader::Read, pyb::arg("columns"))
      .def("take", &PyFileReader::Take, pyb::arg("indices"), pyb::arg("columns"))
      .def("page_stats", &PyFileReader::PageStats, pyb::arg("column"));
}

}  // namespace lamina::py
