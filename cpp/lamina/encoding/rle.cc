#include "lamina/encoding/rle.h"

#include <algorithm>
#include <vector>

namespace lamina::enc {
namespace {

template <typename T>
size_t CountRunsT(const T* v, size_t n) {
  if (n == 0) return 0;
  size_t runs = 1;
  for (size_t i = 1; i < n; ++i) runs += v[i] != v[i - 1];
  return runs;
}

// Decoded run values and validated run ends.
template <typename T>
struct Runs {
  std::vector<T> values;
  std::vector<uint64_t> ends;
};

template <typename T>
Status ReadRuns(ByteReader* body, size_t n, int depth, Runs<T>* r) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "rle"));
  uint64_t runs = 0;
  LAMINA_RETURN_IF_ERROR(body->GetVarintAtMost(n, &runs, "rle run count"));
  LAMINA_CHECK_CORRUPT(n == 0 || runs > 0, "rle stream without runs");
  r->values.resize(runs);
  LAMINA_RETURN_IF_ERROR(DecodeIntStream(body, runs, sizeof(T), r->values.data(), depth + 1));
  int iw = IndexWidth(n);
  r->ends.resize(runs);
  if (iw == 8) {
    LAMINA_RETURN_IF_ERROR(DecodeIntStream(body, runs, 8, r->ends.data(), depth + 1));
  } else {
    std::vector<uint32_t> e32(runs);
    LAMINA_RETURN_IF_ERROR(DecodeIntStream(body, runs, 4, e32.data(), depth + 1));
    std::copy(e32.begin(), e32.end(), r->ends.begin());
  }
  LAMINA_CHECK_CORRUPT(body->empty(), "trailing bytes in rle stream");
  uint64_t prev = 0;
  for (size_t k = 0; k < runs; ++k) {
    LAMINA_CHECK_CORRUPT(r->ends[k] > prev, "rle run ends not increasing");
    prev = r->ends[k];
  }
  LAMINA_CHECK_CORRUPT(prev == n, "rle run ends do not cover the stream");
  return Status::OK();
}

}  // namespace

size_t CountRuns(const void* values, size_t n, int width) {
  return DispatchWidth(width, [&](auto t) {
    using T = decltype(t);
    return CountRunsT(static_cast<const T*>(values), n);
  });
}

void PutRleInts(const void* values, size_t n, int width, bool is_signed, ByteWriter* out,
                int depth) {
  ByteWriter body;
  body.PutVarint(n);
  DispatchWidth(width, [&](auto t) {
    using T = decltype(t);
    const T* v = static_cast<const T*>(values);
    std::vector<T> vals;
    std::vector<uint64_t> ends;
    for (size_t i = 0; i < n; ++i) {
      if (i == 0 || v[i] != v[i - 1]) {
        if (i) ends.push_back(i);
        vals.push_back(v[i]);
      }
    }
    if (n) ends.push_back(n);
    body.PutVarint(vals.size());
    EncodeIntStream(vals.data(), vals.size(), width, is_signed, &body, depth + 1);
    if (IndexWidth(n) == 8) {
      EncodeIntStream(ends.data(), ends.size(), 8, false, &body, depth + 1);
    } else {
      std::vector<uint32_t> e32(ends.begin(), ends.end());
      EncodeIntStream(e32.data(), e32.size(), 4, false, &body, depth + 1);
    }
  });
  PutStream(Tag::kRle, body, out);
}

Status DecodeRleInts(ByteReader* body, size_t n, int width, void* out, int depth) {
  return DispatchWidth(width, [&](auto t) -> Status {
    using T = decltype(t);
    Runs<T> r;
    LAMINA_RETURN_IF_ERROR(ReadRuns(body, n, depth, &r));
    T* o = static_cast<T*>(out);
    size_t begin = 0;
    for (size_t k = 0; k < r.values.size(); ++k) {
      std::fill(o + begin, o + r.ends[k], r.values[k]);
      begin = static_cast<size_t>(r.ends[k]);
    }
    return Status::OK();
  });
}

Status TakeRleInts(ByteReader* body, size_t n, int width, const uint32_t* idx, size_t m,
                   void* out, int depth) {
  return DispatchWidth(width, [&](auto t) -> Status {
    using T = decltype(t);
    Runs<T> r;
    LAMINA_RETURN_IF_ERROR(ReadRuns(body, n, depth, &r));
    T* o = static_cast<T*>(out);
    for (size_t j = 0; j < m; ++j) {
      size_t k = static_cast<size_t>(
          std::upper_bound(r.ends.begin(), r.ends.end(), uint64_t{idx[j]}) - r.ends.begin());
      o[j] = r.values[k];
    }
    return Status::OK();
  });
}

}  // namespace lamina::enc
