#include "lamina/table/write.h"

#include <unistd.h>

#include <algorithm>
#include <unordered_map>

#include "lamina/merge/gather.h"
#include "lamina/merge/hash.h"
#include "lamina/merge/key.h"
#include "lamina/table/write_group.h"
#include "lamina/util/file_io.h"
#include "lamina/util/parallel.h"

namespace lamina::table {
namespace {

// in_of[t]: the input column holding table column t (-1: absent, null for deletes).
Status MatchInput(const Schema& input, const WriteRequest& req, std::vector<int>* in_of) {
  const Schema& ts = req.table.table_schema;
  in_of->assign(ts.fields.size(), -1);
  std::vector<bool> expected(ts.fields.size(), req.kind == merge::RowKind::kUpsert);
  for (int k : req.table.key_index) expected[k] = true;
  for (size_t i = 0; i < input.fields.size(); ++i) {
    const Field& f = input.fields[i];
    int t = ts.FieldIndex(f.name);
    if (t < 0) return Status::SchemaError("column '" + f.name + "' is not in the table schema");
    if (!expected[t]) {
      return Status::SchemaError("column '" + f.name +
                                 "' is not a primary key column (deletes take key columns only)");
    }
    if ((*in_of)[t] >= 0) return Status::SchemaError("column '" + f.name + "' appears twice");
    if (!f.type.Equals(ts.fields[t].type)) {
      return Status::SchemaError("column '" + f.name + "' has type " + f.type.ToString() +
                                 " but the table schema has " + ts.fields[t].type.ToString());
    }
    (*in_of)[t] = static_cast<int>(i);
  }
  for (size_t t = 0; t < ts.fields.size(); ++t) {
    if (expected[t] && (*in_of)[t] < 0) {
      return Status::SchemaError("column '" + ts.fields[t].name + "' is missing");
    }
  }
  return Status::OK();
}

// The request's partition columns as table column indexes (InvalidArgument if one is not
// a key column or is listed twice), after checking its other fields.
Status CheckRequest(WriteRequest* req, std::vector<int>* part_index) {
  TableOptions& topt = req->table;
  LAMINA_RETURN_IF_ERROR(Validate(&topt));
  if (req->kind != merge::RowKind::kUpsert && req->kind != merge::RowKind::kDelete) {
    return Status::InvalidArgument("kind must be 0 (upsert) or 1 (delete)");
  }
  if (req->buckets < 1) return Status::InvalidArgument("buckets must be at least 1");
  if (req->target_file_size < 1) return Status::InvalidArgument("target_file_size must be positive");
  if (req->file_prefix.empty() || req->file_prefix.find('/') != std::string::npos) {
    return Status::InvalidArgument("file_prefix must be a non-empty file name");
  }
  const std::vector<std::string>& pc = req->partition_columns;
  for (const std::string& p : pc) {
    if (std::find(topt.key_columns.begin(), topt.key_columns.end(), p) == topt.key_columns.end()) {
      return Status::InvalidArgument("partition column '" + p + "' is not a primary key column");
    }
    if (std::count(pc.begin(), pc.end(), p) > 1) {
      return Status::InvalidArgument("partition column '" + p + "' is listed twice");
    }
    part_index->push_back(topt.table_schema.FieldIndex(p));
  }
  return Status::OK();
}

Status NormalizeInput(const std::vector<std::vector<ArrayView>>& batches, const WriteRequest& req,
                      const std::vector<int>& part_index, const std::vector<int>& in_of,
                      InputRows* in) {
  const TableOptions& topt = req.table;
  size_t nb = batches.size();
  in->nb = nb;
  in->start.assign(nb + 1, 0);
  for (size_t b = 0; b < nb; ++b) {
    std::vector<const ArrayView*> kv, pv;
    for (int k : topt.key_index) kv.push_back(&batches[b][in_of[k]]);
    LAMINA_RETURN_IF_ERROR(merge::NormalizeKeys(kv, topt.key_columns, &in->keys));
    if (!part_index.empty()) {
      for (int p : part_index) pv.push_back(&batches[b][in_of[p]]);
      LAMINA_RETURN_IF_ERROR(merge::NormalizeKeys(pv, req.partition_columns, &in->pkeys));
    }
    in->start[b + 1] = in->start[b] + static_cast<uint64_t>(kv[0]->length);
  }
  in->n = static_cast<size_t>(in->start[nb]);
  if (in->n > UINT32_MAX) return Status::InvalidArgument("a write takes at most 2^32 - 1 rows");
  if (nb > 1) {
    in->batch_of.resize(in->n);
    for (size_t b = 0; b < nb; ++b) {
      std::fill(in->batch_of.begin() + static_cast<std::ptrdiff_t>(in->start[b]),
                in->batch_of.begin() + static_cast<std::ptrdiff_t>(in->start[b + 1]),
                static_cast<uint32_t>(b));
    }
  }
  return Status::OK();
}

// The partition of each row; consecutive rows usually share one, so check that first.
std::vector<uint32_t> PartitionIds(const merge::NormalizedKeys& pkeys, size_t n,
                                   std::vector<uint64_t>* part_row) {
  std::vector<uint32_t> pid(n);
  std::unordered_map<uint64_t, uint32_t> by_int;
  std::unordered_map<std::string_view, uint32_t> by_bytes;
  for (size_t g = 0; g < n; ++g) {
    if (g > 0 && pkeys.Compare(g - 1, pkeys, g) == 0) {
      pid[g] = pid[g - 1];
      continue;
    }
    uint32_t next = static_cast<uint32_t>(part_row->size());
    auto ins = pkeys.is_u64() ? by_int.emplace(pkeys.u64()[g], next).first->second
                              : by_bytes.emplace(pkeys.bytes(g), next).first->second;
    if (ins == next) part_row->push_back(g);
    pid[g] = ins;
  }
  return pid;
}

// Routes rows to groups with a stable counting sort.
void RouteToGroups(const InputRows& in, bool partitioned, uint64_t buckets, Groups* gr) {
  size_t n = in.n;
  gr->buckets = buckets;
  std::vector<uint32_t> pid;
  if (partitioned) {
    pid = PartitionIds(in.pkeys, n, &gr->part_row);
  } else {
    gr->part_row.push_back(0);
  }
  size_t ngroups = gr->part_row.size() * buckets;
  gr->gstart.assign(ngroups + 1, 0);
  gr->order.resize(n);
  if (ngroups == 1) {  // one bucket, no partitions: every row in one group
    gr->gstart[1] = n;
    for (size_t g = 0; g < n; ++g) gr->order[g] = static_cast<uint32_t>(g);
  } else {
    std::vector<uint32_t> group(n);
    for (size_t g = 0; g < n; ++g) {
      uint64_t h = merge::RowHash(in.keys, g);
      group[g] = static_cast<uint32_t>((pid.empty() ? 0 : pid[g]) * buckets + h % buckets);
    }
    for (size_t g = 0; g < n; ++g) ++gr->gstart[group[g] + 1];
    for (size_t i = 0; i < ngroups; ++i) gr->gstart[i + 1] += gr->gstart[i];
    std::vector<uint64_t> fill(gr->gstart.begin(), gr->gstart.end() - 1);
    for (size_t g = 0; g < n; ++g) gr->order[fill[group[g]]++] = static_cast<uint32_t>(g);
  }
  for (size_t i = 0; i < ngroups; ++i) {
    if (gr->gstart[i + 1] > gr->gstart[i]) gr->nonempty.push_back(i);
  }
}

void PlanColumns(const std::vector<std::vector<ArrayView>>& batches, const WriteRequest& req,
                 const std::vector<int>& in_of, size_t n, ColumnSources* cs) {
  size_t ncols = req.table.table_schema.fields.size(), nb = batches.size();
  cs->fns.resize(ncols);
  cs->counts.resize(ncols);
  cs->count_views.resize(ncols);
  cs->src.resize(ncols);
  for (size_t t = 0; t < ncols; ++t) {
    cs->fns[t] = req.kind == merge::RowKind::kDelete ? merge::AggFn::kLastValue
                                                     : ColumnFn(req.table, static_cast<int>(t));
    if (in_of[t] < 0) continue;
    if (cs->fns[t] == merge::AggFn::kCount) {
      for (size_t b = 0; b < nb; ++b) {
        cs->counts[t].push_back(merge::CountContribution(batches[b][in_of[t]]));
      }
      for (const OwnedArray& a : cs->counts[t]) cs->count_views[t].push_back(merge::ViewOf(a));
      for (const ArrayView& v : cs->count_views[t]) cs->src[t].push_back(&v);
      cs->fns[t] = merge::AggFn::kSum;
    } else {
      for (size_t b = 0; b < nb; ++b) cs->src[t].push_back(&batches[b][in_of[t]]);
    }
  }
  uint64_t input_bytes = 0;
  cs->col_bytes.assign(ncols, 0);
  for (size_t t = 0; t < ncols; ++t) {
    if (in_of[t] < 0) continue;
    for (const auto& batch : batches) cs->col_bytes[t] += UncompressedBytes(batch[in_of[t]]);
    input_bytes += cs->col_bytes[t];
  }
  uint64_t row_bytes = std::max<uint64_t>(1, input_bytes / n);
  cs->rows_per_file = static_cast<size_t>(
      std::max<uint64_t>(1, static_cast<uint64_t>(req.target_file_size) / row_bytes));
}

}  // namespace

Result<std::vector<WrittenFile>> WriteTable(const Schema& input,
                                            const std::vector<std::vector<ArrayView>>& batches,
                                            WriteRequest req) {
  WriteContext ctx;
  ctx.req = &req;
  ctx.batches = &batches;
  LAMINA_RETURN_IF_ERROR(CheckRequest(&req, &ctx.part_index));
  LAMINA_RETURN_IF_ERROR(MatchInput(input, req, &ctx.in_of));
  LAMINA_RETURN_IF_ERROR(NormalizeInput(batches, req, ctx.part_index, ctx.in_of, &ctx.in));
  if (ctx.in.n == 0) return std::vector<WrittenFile>();
  RouteToGroups(ctx.in, !ctx.part_index.empty(), static_cast<uint64_t>(req.buckets),
                &ctx.groups);
  PlanColumns(batches, req, ctx.in_of, ctx.in.n, &ctx.cols);
  ctx.file_schema = DataFileSchema(req.table, /*with_seq=*/false);

  const std::vector<size_t>& groups = ctx.groups.nonempty;
  std::vector<std::vector<WrittenFile>> out(groups.size());
  Status st = ParallelFor(groups.size(), [&](size_t gi) -> Status {
    return WriteGroup(ctx, groups[gi], &out[gi]);
  });
  if (!st.ok()) {
    for (const std::string& path : ctx.written) (void)io::RemoveFile(path);
    return st;
  }
  std::vector<WrittenFile> all;
  for (auto& v : out) {
    for (auto& f : v) all.push_back(std::move(f));
  }
  return all;
}

}  // namespace lamina::table
