// Primary-key table kernels: the write path (route, sort, collapse, write files) and the
// merge-on-read of one bucket's files. The Table API in python/lamina wraps these.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <set>
#include <string>

#include "lamina/bindings/arrow_capsules.h"
#include "lamina/bindings/register.h"
#include "lamina/bindings/status_error.h"
#include "lamina/bindings/table_spec.h"
#include "lamina/merge/engine.h"
#include "lamina/merge/hash.h"
#include "lamina/merge/key.h"
#include "lamina/merge/key_decode.h"
#include "lamina/table/lookup.h"
#include "lamina/table/lookup_request.h"
#include "lamina/table/take_index.h"
#include "lamina/table/merge_read.h"
#include "lamina/table/write.h"

namespace pyb = pybind11;

namespace lamina::py {
namespace {

pyb::capsule StreamArg(pyb::object obj) {
  if (pyb::hasattr(obj, "__arrow_c_stream__")) obj = obj.attr("__arrow_c_stream__")();
  if (!pyb::isinstance<pyb::capsule>(obj)) {
    throw StatusError(Status::InvalidArgument("expected an arrow_array_stream capsule"));
  }
  return pyb::reinterpret_borrow<pyb::capsule>(obj);
}

// The aggregate options {column: function} of a table of `schema`, checked by the core's
// one rule (merge::CheckAggregate); InvalidArgument names the column.
void CheckAggregates(pyb::object schema, const std::map<std::string, std::string>& aggregates) {
  Schema s = ImportSchemaArg(schema);
  for (const auto& [column, name] : aggregates) {
    merge::AggFn fn = ValueOrThrow(merge::ParseAggFn(name));
    int i = s.FieldIndex(column);
    if (i < 0) {
      throw StatusError(Status::InvalidArgument("aggregated column '" + column +
                                                "' is not in the schema"));
    }
    ThrowIfError(merge::CheckAggregate(fn, s.fields[static_cast<size_t>(i)]));
  }
}

pyb::object PartitionValueToPy(const table::PartitionValue& v) {
  switch (v.kind) {
    case table::PartitionValue::Kind::kInt: return pyb::int_(v.i);
    case table::PartitionValue::Kind::kUInt: return pyb::int_(v.u);
    case table::PartitionValue::Kind::kString: return pyb::str(v.s);
    case table::PartitionValue::Kind::kBinary: return pyb::bytes(v.s);
  }
  return pyb::none();
}

// The keys of a write's options beside the table's (read calls accept and ignore them, so
// callers can pass one dict).
const std::initializer_list<const char*> kWriteKeys = {
    "partition_columns", "buckets", "kind", "directory", "file_prefix", "target_file_size", "sync"};

pyb::list TableWrite(pyb::object stream, const pyb::dict& options) {
  table::WriteRequest req;
  req.table = TableOptionsArg(options, kWriteKeys);
  if (options.contains("partition_columns") && !options["partition_columns"].is_none()) {
    req.partition_columns = pyb::cast<std::vector<std::string>>(options["partition_columns"]);
  }
  if (options.contains("buckets")) req.buckets = pyb::cast<int64_t>(options["buckets"]);
  if (options.contains("kind")) {
    // WriteTable validates the kind; a value beyond one byte maps to one it rejects.
    int k = pyb::cast<int>(options["kind"]);
    req.kind = k >= 0 && k <= 255 ? static_cast<merge::RowKind>(k) : merge::RowKind::kReset;
  }
  if (!options.contains("directory") || !options.contains("file_prefix")) {
    throw StatusError(Status::InvalidArgument("directory and file_prefix are required"));
  }
  req.directory = pyb::cast<std::string>(pyb::str(options["directory"]));
  req.file_prefix = pyb::cast<std::string>(options["file_prefix"]);
  if (options.contains("target_file_size")) {
    req.target_file_size = pyb::cast<int64_t>(options["target_file_size"]);
  }
  if (options.contains("sync")) req.sync = pyb::cast<bool>(options["sync"]);
  auto in = ImportStream(StreamArg(stream));
  std::vector<table::WrittenFile> files;
  {
    pyb::gil_scoped_release release;  // routing, sorting, encoding and I/O touch no Python objects
    files = ValueOrThrow(table::WriteTable(in->parsed, in->views, std::move(req)));
  }
  pyb::list out;
  const auto& parts = pyb::cast<std::vector<std::string>>(
      options.contains("partition_columns") && !options["partition_columns"].is_none()
          ? pyb::object(options["partition_columns"])
          : pyb::object(pyb::list()));
  for (const table::WrittenFile& f : files) {
    pyb::dict d;
    d["path"] = f.path;
    pyb::dict p;
    for (size_t i = 0; i < parts.size(); ++i) p[pyb::str(parts[i])] = PartitionValueToPy(f.partition[i]);
    d["partition"] = p;
    d["bucket"] = f.bucket;
    d["row_count"] = f.row_count;
    d["file_size"] = f.file_size;
    d["min_key"] = pyb::bytes(f.min_key);
    d["max_key"] = pyb::bytes(f.max_key);
    d["delete_count"] = f.delete_count;
    d["run_file"] = f.run_file;
    out.append(d);
  }
  return out;
}

pyb::tuple TableMergeRead(const std::vector<std::pair<std::string, uint64_t>>& files,
                          const std::vector<std::string>& columns, pyb::object options) {
  table::TableOptions o = TableOptionsArg(options, kWriteKeys);
  std::vector<table::ReadFile> rf;
  for (const auto& [path, priority] : files) rf.push_back({path, priority});
  table::MergeResult r;
  {
    pyb::gil_scoped_release release;  // decoding and merging touch no Python objects
    r = ValueOrThrow(table::MergeRead(rf, columns, std::move(o)));
  }
  return ExportBatch(r.schema, std::move(r.columns), r.length);
}

// Normalized keys of every row of a stream (the fast path included), for tests and for
// routing lookups in Python.
merge::NormalizedKeys NormalizeStream(pyb::object stream, const std::vector<std::string>& cols) {
  auto in = ImportStream(StreamArg(stream));
  std::vector<int> idx;
  for (const std::string& c : cols) {
    int i = in->parsed.FieldIndex(c);
    if (i < 0) throw StatusError(Status::SchemaError("primary key column '" + c + "' is missing"));
    idx.push_back(i);
  }
  merge::NormalizedKeys keys;
  for (const auto& batch : in->views) {
    std::vector<const ArrayView*> kv;
    for (int i : idx) kv.push_back(&batch[i]);
    ThrowIfError(merge::NormalizeKeys(kv, cols, &keys));
  }
  return keys;
}

using Group = std::pair<int64_t, std::vector<std::pair<std::string, uint64_t>>>;

// One batch: the current rows of the keys (a stream of the key columns) among the groups
// (bucket number, files (path, priority)), in the order of the request.
pyb::tuple TableLookup(const std::vector<Group>& groups, pyb::object keys, int64_t buckets,
                       const std::vector<std::string>& columns, pyb::object options) {
  table::TableOptions o = TableOptionsArg(options, kWriteKeys);
  merge::NormalizedKeys norm = NormalizeStream(keys, o.key_columns);
  std::vector<table::LookupGroup> lg;
  for (const auto& [bucket, files] : groups) {
    table::LookupGroup g;
    g.bucket = bucket;
    for (const auto& [path, priority] : files) g.files.push_back({path, priority});
    lg.push_back(std::move(g));
  }
  table::MergeResult r;
  {
    pyb::gil_scoped_release release;  // routing, searching and folding touch no Python objects
    r = ValueOrThrow(table::LookupInRequestOrder(lg, norm, buckets, columns, o));
  }
  return ExportBatch(r.schema, std::move(r.columns), r.length);
}

using SplitArg = std::pair<bool, std::vector<std::pair<std::string, uint64_t>>>;

pyb::tuple TableTake(const std::vector<SplitArg>& splits,
                     pyb::array_t<int64_t, pyb::array::c_style | pyb::array::forcecast> positions,
                     const std::vector<std::string>& columns, pyb::object options) {
  if (positions.ndim() != 1) throw StatusError(Status::InvalidArgument("indices must be 1-D"));
  table::TableOptions o = TableOptionsArg(options, kWriteKeys);
  std::vector<table::TakeSplit> ts;
  for (const auto& [concatenated, files] : splits) {
    table::TakeSplit s;
    s.concatenated = concatenated;
    for (const auto& [path, v] : files) {
      s.paths.push_back(path);
      s.value.push_back(v);
    }
    ts.push_back(std::move(s));
  }
  const int64_t* p = positions.data();
  size_t m = static_cast<size_t>(positions.shape(0));
  table::MergeResult r;
  {
    pyb::gil_scoped_release release;  // `positions` stays alive; decoding touches no Python objects
    r = ValueOrThrow(table::TakeSplits(ts, columns, std::move(o), p, m));
  }
  return ExportBatch(r.schema, std::move(r.columns), r.length);
}

}  // namespace

void RegisterTable(pyb::module_& m) {
  m.def("table_write", &TableWrite, pyb::arg("stream"), pyb::arg("options"),
        "Routes, sorts, collapses and writes rows of a primary-key table; returns one dict "
        "per data file written.");
  m.def("check_aggregates", &CheckAggregates, pyb::arg("schema"), pyb::arg("aggregates"),
        "Raises InvalidArgumentError unless every aggregate function {column: name} applies "
        "to its column's type in the schema (an arrow_schema capsule).");
  m.def("table_merge_read", &TableMergeRead, pyb::arg("files"), pyb::arg("columns"),
        pyb::arg("options"),
        "Merges the files (path, priority) of one bucket with the table's merge engine; "
        "returns (schema_capsule, array_capsule) of one record batch sorted by key.");
  m.def(
      "normalize_keys",
      [](pyb::object stream, const std::vector<std::string>& key_columns) {
        merge::NormalizedKeys keys = NormalizeStream(stream, key_columns);
        pyb::list out;
        for (size_t i = 0; i < keys.size(); ++i) out.append(pyb::bytes(keys.KeyBytes(i)));
        return out;
      },
      pyb::arg("stream"), pyb::arg("key_columns"),
      "The normalized key bytes of each row (memcmp order = key order).");
  m.def(
      "key_hashes",
      [](pyb::object stream, const std::vector<std::string>& key_columns) {
        merge::NormalizedKeys keys = NormalizeStream(stream, key_columns);
        std::vector<uint64_t> out(keys.size());
        for (size_t i = 0; i < keys.size(); ++i) out[i] = merge::RowHash(keys, i);
        return out;
      },
      pyb::arg("stream"), pyb::arg("key_columns"),
      "The bucket hash of each row's key (bucket = hash % buckets).");
  m.def(
      "decode_keys",
      [](const std::vector<std::string>& keys, pyb::object schema) {
        Schema s = ImportSchemaArg(schema);
        std::vector<std::string_view> views(keys.begin(), keys.end());
        std::vector<OwnedArray> columns;
        ThrowIfError(merge::DecodeKeys(views, s.fields, &columns));
        return ExportBatch(s, std::move(columns), static_cast<int64_t>(keys.size()));
      },
      pyb::arg("keys"), pyb::arg("schema"),
      "The key values of normalized keys (inverse of normalize_keys): one record batch "
      "(schema_capsule, array_capsule) of the key columns `schema` (an arrow_schema "
      "capsule). CorruptFileError if a key does not parse under those types.");
  m.def(
      "key_hash",
      [](const pyb::bytes& b) {
        std::string_view v = b;
        return merge::KeyHash(reinterpret_cast<const uint8_t*>(v.data()), v.size());
      },
      pyb::arg("normalized_key"), "The bucket hash of normalized key bytes.");
  m.def("table_lookup", &TableLookup, pyb::arg("groups"), pyb::arg("keys"), pyb::arg("buckets"),
        pyb::arg("columns"), pyb::arg("options"),
        "Current rows of the keys (a stream of the key columns) in the groups (bucket, "
        "[(path, priority)]): one batch in the order of the requested keys, each found key "
        "once, at its first request position.");
  m.def("table_take", &TableTake, pyb::arg("splits"), pyb::arg("positions"),
        pyb::arg("columns"), pyb::arg("options"),
        "Rows at positions of a scan given as splits (concatenated, [(path, value)]): "
        "concatenated splits list key-disjoint files without deletes in key order with their "
        "row counts; others list (path, priority) as table_merge_read. One batch, in the "
        "order of positions.");
  m.def("reader_cache_clear", &table::ClearReaderCache,
        "Drops the FileReaders cached by table_lookup and table_take.");
  m.def("reader_cache_size", &table::ReaderCacheSize,
        "How many FileReaders table_lookup and table_take have cached.");
  m.def("take_index_cache_clear", &table::ClearTakeIndexCache,
        "Drops the position indexes table_take has cached for merged splits.");
  m.def(
      "take_index_cache_stats",
      []() {
        pyb::dict d;
        d["indexes"] = table::TakeIndexCacheSize();
        d["bytes"] = table::TakeIndexCacheBytes();
        d["capacity"] = table::TakeIndexCapacity();
        d["builds"] = table::TakeIndexBuilds();
        return d;
      },
      "The take index cache: indexes held, their bytes, the capacity in bytes and how many "
      "indexes were built since the process started.");
}

}  // namespace lamina::py
