#include "lamina/encoding/cascade.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "lamina/encoding/alp.h"
#include "lamina/encoding/bitpack.h"
#include "lamina/encoding/constant.h"
#include "lamina/encoding/delta.h"
#include "lamina/encoding/dictionary.h"
#include "lamina/encoding/fsst.h"
#include "lamina/encoding/kernels.h"
#include "lamina/encoding/plain.h"
#include "lamina/encoding/rle.h"

namespace lamina::enc {

std::vector<std::pair<size_t, size_t>> SampleSlices(size_t n) {
  std::vector<std::pair<size_t, size_t>> s;
  if (n <= kSampleSlices * kSliceLen) {
    s.emplace_back(0, n);
    return s;
  }
  size_t stride = (n - kSliceLen) / (kSampleSlices - 1);
  for (size_t k = 0; k < kSampleSlices; ++k) s.emplace_back(k * stride, k * stride + kSliceLen);
  return s;
}

double EstimateDistinct(const std::vector<size_t>& counts, size_t n) {
  // Chao1 (bias-corrected): distinct values seen plus an estimate of the unseen ones
  // from how many were seen once (f1) and twice (f2).
  double f1 = 0, f2 = 0, seen = static_cast<double>(counts.size());
  for (size_t c : counts) {
    f1 += c == 1;
    f2 += c == 2;
  }
  double d = seen + f1 * (f1 - 1) / (2 * (f2 + 1));
  return std::min(d, static_cast<double>(n));
}

namespace {

// A candidate must be estimated this much smaller than the baseline to be tried; the
// margin pays for its slower decode (bit-unpacking is the fastest decoder).
constexpr double kMargin = 0.85;

// Encodes with `put` into a scratch buffer and keeps it if smaller than `best_size`.
template <typename Put>
bool TryCandidate(Put&& put, size_t best_size, ByteWriter* out) {
  ByteWriter tmp;
  put(&tmp);
  if (tmp.size() >= best_size) return false;
  out->Append(tmp);
  return true;
}

template <typename T>
void EncodeIntsT(const T* v, size_t n, bool is_signed, ByteWriter* out, int depth,
                 const IntRange* known = nullptr) {
  constexpr int W = sizeof(T);
  if (n == 0) return PutPlainInts(v, n, W, out);
  IntRange r = known != nullptr ? *known : ComputeRange(v, n, W, is_signed);
  if (r.min == r.max) return PutConstantInts(n, W, r.min, out);
  const size_t plain_size = n * W + 4;
  const size_t bp_size = PackedBytes(n, r.bits) + W + 4;
  auto put_best = [&] {
    if (bp_size < plain_size) PutBitPackIntsWithRange(v, n, W, r, out);
    else PutPlainInts(v, n, W, out);
  };
  const size_t best_size = std::min(plain_size, bp_size);
  if (depth >= kMaxEncodeDepth || n < 16) return put_best();

  // Sample statistics.
  size_t sample_len = 0, runs = 0;
  T zz_lo = ~T{0}, zz_hi = 0;
  std::vector<T> sample;
  for (auto [b, e] : SampleSlices(n)) {
    ++runs;
    sample.push_back(v[b]);
    for (size_t i = b + 1; i < e; ++i) {
      runs += v[i] != v[i - 1];
      T zz = ZigZag(static_cast<T>(v[i] - v[i - 1]));
      zz_lo = std::min(zz_lo, zz);
      zz_hi = std::max(zz_hi, zz);
      sample.push_back(v[i]);
    }
    sample_len += e - b;
  }
  double avg_run = static_cast<double>(sample_len) / static_cast<double>(runs);

  // Estimates come from a sample and can be badly wrong (a sample that misses every
  // run boundary makes delta look free), so candidates are tried cheapest-first until
  // one really beats the baseline.
  std::vector<std::pair<double, Tag>> candidates;
  if (sample_len > 1) {
    int dbits = BitLength(static_cast<T>(zz_hi - zz_lo));
    candidates.emplace_back(static_cast<double>(PackedBytes(n, dbits)) + 2 * W + 8, Tag::kDelta);
  }
  if (avg_run >= 2) {
    double est_runs = static_cast<double>(n) / avg_run + 1;
    double end_bits = BitLength(static_cast<uint64_t>(2 * avg_run) + 1);
    candidates.emplace_back(est_runs * (r.bits + end_bits) / 8 + 16, Tag::kRle);
  }
  {
    std::sort(sample.begin(), sample.end());
    std::vector<size_t> counts;
    for (size_t i = 0; i < sample.size();) {
      size_t j = i;
      while (j < sample.size() && sample[j] == sample[i]) ++j;
      counts.push_back(j - i);
      i = j;
    }
    double d = EstimateDistinct(counts, n);
    if (d * 4 <= static_cast<double>(n)) {
      candidates.emplace_back(d * r.bits / 8 + n * BitLength(static_cast<uint64_t>(d)) / 8.0 + 16,
                              Tag::kDict);
    }
  }
  std::sort(candidates.begin(), candidates.end());
  bool done = false;
  for (auto [est, tag] : candidates) {
    if (done || est >= kMargin * static_cast<double>(best_size)) break;
    switch (tag) {
      case Tag::kDelta:
        done = TryCandidate([&](ByteWriter* w) { PutDeltaInts(v, n, W, w, depth); }, best_size, out);
        break;
      case Tag::kRle:
        done = TryCandidate([&](ByteWriter* w) { PutRleInts(v, n, W, is_signed, w, depth); },
                            best_size, out);
        break;
      case Tag::kDict:
        done = TryCandidate([&](ByteWriter* w) { PutDictInts(v, n, W, is_signed, w, depth); },
                            best_size, out);
        break;
      default:
        break;
    }
  }
  if (!done) put_best();
}

template <typename F>
void EncodeFloatsT(const F* v, size_t n, ByteWriter* out, int depth) {
  constexpr int W = sizeof(F);
  if (n == 0) return PutPlainInts(v, n, W, out);
  {
    // Constant bit patterns? Stops at the first difference, so real data pays nothing
    // (a full min/max pass here cost about as much as the rest of a plain float page).
    using U = std::conditional_t<W == 4, uint32_t, uint64_t>;
    const U* u = reinterpret_cast<const U*>(v);
    size_t i = 1;
    while (i < n && u[i] == u[0]) ++i;
    if (i == n) return PutConstantInts(n, W, u[0], out);
  }
  const size_t plain_size = n * W + 4;
  if (depth >= kMaxEncodeDepth || n < 16) return PutPlainInts(v, n, W, out);

  std::vector<F> sample;
  for (auto [b, e] : SampleSlices(n)) sample.insert(sample.end(), v + b, v + e);
  // ALP's exponent search is the costly part: run it on at most 256 sample values.
  std::vector<F> sub;
  size_t step = sample.size() / 256 + 1;
  for (size_t i = 0; i < sample.size(); i += step) sub.push_back(sample[i]);
  AlpParams p = ChooseAlpParams(sub.data(), sub.size(), W);
  double exc_rate = static_cast<double>(p.exceptions) / static_cast<double>(sub.size());
  double alp_est = n * (p.bits + exc_rate * (8 * W + 32)) / 8 + 32;

  using U = std::conditional_t<W == 4, uint32_t, uint64_t>;
  std::vector<U> bits(sample.size());
  std::memcpy(bits.data(), sample.data(), sample.size() * W);
  std::sort(bits.begin(), bits.end());
  size_t ds = static_cast<size_t>(std::unique(bits.begin(), bits.end()) - bits.begin());
  double dict_est = 1e300;
  if (ds * 4 <= sample.size()) {
    double d = ds * std::min(static_cast<double>(n) / sample.size(), 2.0);
    dict_est = d * W + n * BitLength(static_cast<uint64_t>(d)) / 8.0 + 16;
  }
  double limit = kMargin * static_cast<double>(plain_size);
  bool done = false;
  if (dict_est < limit && dict_est <= alp_est) {
    done = TryCandidate([&](ByteWriter* w) { PutDictInts(v, n, W, false, w, depth); },
                        plain_size, out);
  } else if (alp_est < limit) {
    done = TryCandidate([&](ByteWriter* w) { PutAlp(v, n, W, p.e, p.f, w, depth); }, plain_size,
                        out);
  }
  if (!done) PutPlainInts(v, n, W, out);
}

bool AllEqual(const BinaryInput& in) {
  for (size_t i = 1; i < in.n; ++i) {
    if (in.length(i) != in.length(0) || (in.length(0) != 0 && std::memcmp(in.value(i), in.value(0), in.length(0)) != 0)) {
      return false;
    }
  }
  return in.n > 0;
}

}  // namespace

void EncodeIntStream(const void* values, size_t n, int width, bool is_signed, ByteWriter* out,
                     int depth) {
  DispatchWidth(width, [&](auto t) {
    using T = decltype(t);
    EncodeIntsT(static_cast<const T*>(values), n, is_signed, out, depth);
  });
}

void EncodeIntStreamWithRange(const void* values, size_t n, int width, bool is_signed,
                              uint64_t min, uint64_t max, ByteWriter* out, int depth) {
  DispatchWidth(width, [&](auto t) {
    using T = decltype(t);
    IntRange r;
    r.min = min;
    r.max = max;
    r.bits = BitLength(static_cast<T>(static_cast<T>(max) - static_cast<T>(min)));
    EncodeIntsT(static_cast<const T*>(values), n, is_signed, out, depth, &r);
  });
}

void EncodeFloatStream(const void* values, size_t n, int width, ByteWriter* out, int depth) {
  if (width == 4) EncodeFloatsT(static_cast<const float*>(values), n, out, depth);
  else EncodeFloatsT(static_cast<const double*>(values), n, out, depth);
}

void EncodeBinaryStream(const BinaryInput& in, ByteWriter* out, int depth) {
  if (AllEqual(in)) return PutConstantBinary(in.n, in.value(0), in.length(0), out);
  const uint64_t total = in.total_bytes();
  const size_t plain_size = total + PackedBytes(in.n + 1, BitLength(total)) + 16;
  if (depth >= kMaxEncodeDepth || in.n < 16) return PutPlainBinary(in, out, depth);

  std::vector<std::string_view> sample;
  size_t sample_bytes = 0;
  for (auto [b, e] : SampleSlices(in.n)) {
    for (size_t i = b; i < e; ++i) {
      sample.emplace_back(reinterpret_cast<const char*>(in.value(i)), in.length(i));
      sample_bytes += in.length(i);
    }
  }
  double limit = kMargin * static_cast<double>(plain_size);

  std::unordered_map<std::string_view, size_t> freq;
  for (std::string_view s : sample) ++freq[s];
  std::vector<size_t> counts;
  double distinct_bytes = 0;
  for (const auto& [s, c] : freq) {
    counts.push_back(c);
    distinct_bytes += static_cast<double>(s.size()) + 1;
  }
  double dict_est = 1e300;
  double d = EstimateDistinct(counts, in.n);
  if (d * 4 <= static_cast<double>(in.n)) {
    double avg_len = distinct_bytes / static_cast<double>(freq.size());
    dict_est = d * avg_len + in.n * BitLength(static_cast<uint64_t>(d)) / 8.0 + 16;
  }
  if (dict_est < limit &&
      TryCandidate([&](ByteWriter* w) { PutDictBinary(in, w, depth); }, plain_size, out)) {
    return;
  }
  if (total >= 256) {
    // Train on at most ~8 KiB of the sample.
    std::vector<std::string_view> train;
    size_t train_bytes = 0;
    for (std::string_view s : sample) {
      if (train_bytes > 8192) break;
      train.push_back(s);
      train_bytes += s.size();
    }
    SymbolTable table = SymbolTable::Train(train);
    std::vector<uint8_t> scratch;
    size_t compressed = 0;
    for (std::string_view s : train) {
      scratch.resize(2 * s.size() + 1);
      compressed += table.Compress(reinterpret_cast<const uint8_t*>(s.data()), s.size(), scratch.data());
    }
    double ratio = train_bytes ? static_cast<double>(compressed) / train_bytes : 1.0;
    double fsst_est = total * ratio + PackedBytes(in.n + 1, BitLength(total)) + 9 * table.size() + 16;
    if (fsst_est < limit &&
        TryCandidate([&](ByteWriter* w) { PutFsst(in, table, w); }, plain_size, out)) {
      return;
    }
  }
  PutPlainBinary(in, out, depth);
}

}  // namespace lamina::enc
