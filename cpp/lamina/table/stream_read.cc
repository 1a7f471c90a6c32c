#include "lamina/table/stream_read.h"

#include <algorithm>

#include "lamina/format/file_reader.h"
#include "lamina/merge/gather.h"
#include "lamina/table/run_columns.h"
#include "lamina/util/parallel.h"

namespace lamina::table {

Result<std::vector<std::string>> KeyBoundaries(const std::vector<ReadFile>& files,
                                               TableOptions o, size_t k) {
  LAMINA_RETURN_IF_ERROR(Validate(&o));
  std::vector<std::string> out;
  if (files.empty() || k < 2) return out;
  // Keys sampled at evenly spaced rows of every file (about 32 per range in all, in
  // proportion to the files' rows), each standing for its share of rows; the boundaries
  // are the quantiles of that weighted sample.
  std::vector<std::unique_ptr<format::FileReader>> readers;
  uint64_t total = 0;
  for (const ReadFile& f : files) {
    LAMINA_ASSIGN_OR_RETURN(std::unique_ptr<format::FileReader> r, format::FileReader::Open(f.path));
    total += r->num_rows();
    readers.push_back(std::move(r));
  }
  if (total < 2 * k) return out;
  size_t nk = o.key_columns.size();
  std::vector<std::pair<std::string, double>> sample;
  for (size_t i = 0; i < readers.size(); ++i) {
    uint64_t n = readers[i]->num_rows();
    if (n == 0) continue;
    uint64_t s = std::max<uint64_t>(1, (32 * k * n + total - 1) / total);
    s = std::min(s, n);
    RunColumns rc;
    LAMINA_RETURN_IF_ERROR(ResolveRunColumns(files[i].path, readers[i]->schema(), o, &rc));
    std::vector<int64_t> rows;
    for (uint64_t j = 0; j < s; ++j) rows.push_back(static_cast<int64_t>(n * j / s));
    std::vector<OwnedArray> keys;
    LAMINA_RETURN_IF_ERROR(readers[i]->Take(rc.key, rows.data(), rows.size(), &keys));
    std::vector<ArrayView> views;
    for (const OwnedArray& a : keys) views.push_back(merge::ViewOf(a));
    for (size_t j = 0; j < rows.size(); ++j) {
      LAMINA_ASSIGN_OR_RETURN(std::string key, compact_input::KeyOf(views, nk, o.key_columns, j));
      sample.emplace_back(std::move(key), static_cast<double>(n) / static_cast<double>(s));
    }
  }
  std::sort(sample.begin(), sample.end());
  double acc = 0, step = static_cast<double>(total) / static_cast<double>(k);
  size_t next = 1;
  for (const auto& [key, weight] : sample) {
    acc += weight;
    if (next < k && acc >= step * static_cast<double>(next)) {
      if (out.empty() || key > out.back()) out.push_back(key);
      ++next;
    }
  }
  return out;
}

Result<std::unique_ptr<StreamRead>> StreamRead::Open(const std::vector<ReadFile>& files,
                                                     const std::vector<std::string>& columns,
                                                     TableOptions o, uint64_t window_bytes,
                                                     const KeyBounds& bounds, bool concat,
                                                     uint64_t window_rows) {
  if (window_bytes < 1) return Status::InvalidArgument("window_bytes must be positive");
  LAMINA_RETURN_IF_ERROR(Validate(&o));
  std::unique_ptr<StreamRead> s(new StreamRead(std::move(o), window_bytes));
  LAMINA_RETURN_IF_ERROR(ResolveRequest(s->o_, columns, &s->req_));
  std::vector<bool> wanted(s->o_.table_schema.fields.size(), false);
  for (int t : s->req_.table_col) {
    wanted[static_cast<size_t>(t)] = true;
    s->fns_.push_back(ColumnFn(s->o_, t));
  }
  std::vector<CompactInput> inputs;
  for (const ReadFile& f : files) inputs.push_back(CompactInput{f.path, f.priority});
  if (concat) {
    s->concat_ = true;
    s->window_rows_ = window_rows;
    s->files_.resize(inputs.size());
    LAMINA_RETURN_IF_ERROR(ParallelFor(inputs.size(), [&](size_t i) {
      return compact_input::OpenInput(inputs[i], s->o_, &wanted, &s->files_[i]);
    }));
    if (window_rows > 0) {
      for (compact_input::Input& in : s->files_) in.window_rows = window_rows;
    }
    return s;
  }
  LAMINA_RETURN_IF_ERROR(s->rounds_.Open(inputs, &wanted, &bounds));
  return s;
}

Result<MergeResult> StreamRead::NextConcat() {
  MergeResult out;
  out.schema = req_.schema;
  const Schema& ts = o_.table_schema;
  out.columns.resize(req_.table_col.size());
  while (file_ < files_.size() && !files_[file_].undecoded()) {
    compact_input::ReleaseInput(&files_[file_]);
    ++file_;
  }
  if (file_ == files_.size()) {
    for (size_t i = 0; i < out.columns.size(); ++i) {
      out.columns[i] = merge::NullArray(ts.fields[req_.table_col[i]].type, 0);
    }
    return out;
  }
  compact_input::Input& in = files_[file_];
  LAMINA_RETURN_IF_ERROR(compact_input::LoadWindow(&in, o_, window_bytes_, window_rows_));
  if (in.kind_at >= 0) {
    const int8_t* k = in.arrays[static_cast<size_t>(in.kind_at)].values->as<int8_t>();
    if (!merge::AllUpserts(k, static_cast<size_t>(in.win_end - in.win_begin))) {
      return Status::InvalidArgument(in.path + " holds deletes: it cannot be read without a merge");
    }
  }
  size_t n = static_cast<size_t>(in.win_end - in.win_begin);
  for (size_t i = 0; i < out.columns.size(); ++i) {
    size_t t = static_cast<size_t>(req_.table_col[i]);
    int at = in.at_of[t];
    bool again = false;  // a column requested twice: the second one is a copy
    for (size_t e = 0; e < i; ++e) again |= req_.table_col[e] == req_.table_col[i];
    if (at < 0) {
      out.columns[i] = merge::NullArray(ts.fields[t].type, n);
    } else if (again) {
      uint32_t run = 0;
      std::vector<uint32_t> rows(n);
      for (size_t r = 0; r < n; ++r) rows[r] = static_cast<uint32_t>(r);
      std::vector<uint32_t> runs(n, run);
      ArrayView v = merge::ViewOf(in.arrays[static_cast<size_t>(at)]);
      LAMINA_RETURN_IF_ERROR(merge::GatherRuns(ts.fields[t].type, {&v}, runs.data(),
                                               rows.data(), n, &out.columns[i]));
    } else {
      out.columns[i] = std::move(in.arrays[static_cast<size_t>(at)]);
    }
  }
  in.cursor = in.win_end;  // the window is consumed
  in.views.clear();
  out.length = static_cast<int64_t>(n);
  return out;
}

Result<MergeResult> StreamRead::Next() {
  if (concat_) return NextConcat();
  MergeResult out;
  out.schema = req_.schema;
  const Schema& ts = o_.table_schema;
  for (;;) {
    LAMINA_ASSIGN_OR_RETURN(bool more, rounds_.Next(&round_));
    if (!more) {  // the end: empty columns of the requested types
      out.columns.resize(req_.table_col.size());
      for (size_t i = 0; i < out.columns.size(); ++i) {
        out.columns[i] = merge::NullArray(ts.fields[req_.table_col[i]].type, 0);
      }
      return out;
    }
    merge::KeyVersions v;
    merge::FoldVersions(round_.merged, round_.kinds, merge::FoldPolicy::kRead, &v);
    size_t n = v.size();
    if (n == 0) continue;  // every key of the round is deleted
    merge::Selection last, first;
    for (merge::AggFn fn : fns_) {
      if (fn == merge::AggFn::kLastValue && last.run.empty()) SelectPositional(fn, v, &last);
      if (fn == merge::AggFn::kFirstValue && first.run.empty()) SelectPositional(fn, v, &first);
    }
    const std::vector<compact_input::Input>& inputs = rounds_.inputs();
    const std::vector<RoundSlice>& sl = round_.slices;
    out.columns.resize(req_.table_col.size());
    LAMINA_RETURN_IF_ERROR(ParallelFor(out.columns.size(), [&](size_t i) -> Status {
      size_t t = static_cast<size_t>(req_.table_col[i]);
      std::vector<const ArrayView*> src(sl.size(), nullptr);
      for (size_t j = 0; j < sl.size(); ++j) {
        int at = inputs[sl[j].input].at_of[t];
        if (at >= 0) src[j] = &sl[j].views[static_cast<size_t>(at)];
      }
      const merge::Selection* sel = fns_[i] == merge::AggFn::kLastValue    ? &last
                                    : fns_[i] == merge::AggFn::kFirstValue ? &first
                                                                           : nullptr;
      return merge::FoldColumn(fns_[i], ts.fields[t].type, src, v, &out.columns[i], sel);
    }));
    out.length = static_cast<int64_t>(n);
    return out;
  }
}

}  // namespace lamina::table
