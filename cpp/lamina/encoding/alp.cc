#include "lamina/encoding/alp.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "lamina/encoding/bitpack.h"

namespace lamina::enc {
namespace {

constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                             1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
constexpr float kPow10F[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};

// Per-width types and limits: F the float, I the signed digits, U the bit pattern.
template <typename F>
struct AlpTraits;
template <>
struct AlpTraits<float> {
  using I = int32_t;
  using U = uint32_t;
  static constexpr int kMaxE = 10;
  static constexpr double kLimit = 2147483520.0;  // below 2^31, so the cast is defined
  static float Pow(int k) { return kPow10F[k]; }
};
template <>
struct AlpTraits<double> {
  using I = int64_t;
  using U = uint64_t;
  static constexpr int kMaxE = 18;
  static constexpr double kLimit = 2251799813685248.0;  // 2^51: magic rounding is exact below
  static double Pow(int k) { return kPow10[k]; }
};

// The decode formula; the encoder checks candidates with this very function.
template <typename F>
inline F AlpDecodeOne(typename AlpTraits<F>::I d, F pf, F pe) {
  return static_cast<F>(d) * pf / pe;
}

template <typename F>
inline bool BitEqual(F a, F b) {
  typename AlpTraits<F>::U x, y;
  std::memcpy(&x, &a, sizeof(F));
  std::memcpy(&y, &b, sizeof(F));
  return x == y;
}

// Encodes v with (e, f); false when it must be an exception.
template <typename F>
inline bool AlpEncodeOne(F v, int e, int f, typename AlpTraits<F>::I* d) {
  using T = AlpTraits<F>;
  double x = static_cast<double>(v) * kPow10[e] / kPow10[f];
  if (!(std::fabs(x) < T::kLimit)) return false;  // also rejects NaN and inf
  // Round to nearest even without a libm call (valid for |x| < 2^51).
  constexpr double kMagic = 6755399441055744.0;  // 2^52 + 2^51
  auto r = static_cast<typename T::I>((x + kMagic) - kMagic);
  if (!BitEqual(AlpDecodeOne<F>(r, T::Pow(f), T::Pow(e)), v)) return false;
  *d = r;
  return true;
}

template <typename F>
AlpParams ChooseT(const F* v, size_t n, size_t stride = 1) {
  using T = AlpTraits<F>;
  if (stride == 1 && n >= 128) {
    // Give up early on floats ALP cannot shrink (e.g. normally distributed measurements):
    // if no (e, f) beats plain on every 8th value, the full search would not either, and
    // it costs 8x more.
    AlpParams probe = ChooseT(v, n, 8);
    if (probe.bits + static_cast<double>(probe.exceptions) * (8 * sizeof(F) + 32) /
                         static_cast<double>((n + 7) / 8) >= 8 * sizeof(F)) {
      probe.exceptions = probe.exceptions * n / ((n + 7) / 8);
      return probe;
    }
  }
  size_t count = (n + stride - 1) / stride;
  AlpParams best;
  double best_cost = 1e300;
  for (int e = 0; e <= T::kMaxE; ++e) {
    for (int f = 0; f <= e; ++f) {
      size_t exc = 0;
      int64_t lo = INT64_MAX, hi = INT64_MIN;
      for (size_t i = 0; i < n; i += stride) {
        typename T::I d;
        if (!AlpEncodeOne(v[i], e, f, &d)) {
          ++exc;
          continue;
        }
        lo = std::min<int64_t>(lo, d);
        hi = std::max<int64_t>(hi, d);
      }
      int bits = exc == count ? 0 : BitLength(static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo));
      // Bits per value: the digits plus the exceptions (value + position).
      double cost = bits + static_cast<double>(exc) * (8 * sizeof(F) + 32) / (count ? count : 1);
      if (cost < best_cost) {
        best_cost = cost;
        best = AlpParams{e, f, exc, bits};
      }
    }
  }
  return best;
}

template <typename F>
void PutAlpT(const F* v, size_t n, int e, int f, ByteWriter* body, int depth) {
  using T = AlpTraits<F>;
  std::vector<typename T::I> digits(n);
  std::vector<uint64_t> positions;
  std::vector<typename T::U> exc_values;
  typename T::I filler = 0;
  for (size_t i = 0; i < n; ++i) {
    typename T::I d;
    if (AlpEncodeOne(v[i], e, f, &d)) {
      digits[i] = filler = d;
    } else {
      digits[i] = filler;  // repeats a neighbour so the digits range stays narrow
      positions.push_back(i);
      typename T::U bits;
      std::memcpy(&bits, &v[i], sizeof(F));
      exc_values.push_back(bits);
    }
  }
  EncodeIntStream(digits.data(), n, sizeof(F), /*is_signed=*/true, body, depth + 1);
  body->PutVarint(positions.size());
  if (!positions.empty()) {
    if (IndexWidth(n) == 8) {
      EncodeIntStream(positions.data(), positions.size(), 8, false, body, depth + 1);
    } else {
      std::vector<uint32_t> p32(positions.begin(), positions.end());
      EncodeIntStream(p32.data(), p32.size(), 4, false, body, depth + 1);
    }
    EncodeIntStream(exc_values.data(), exc_values.size(), sizeof(F), false, body, depth + 1);
  }
}

struct Exceptions {
  std::vector<uint64_t> positions;
  std::vector<uint8_t> values;  // exc_count * width bytes
};

Status ReadExceptions(ByteReader* body, size_t n, int width, int depth, Exceptions* ex) {
  uint64_t count = 0;
  LAMINA_RETURN_IF_ERROR(body->GetVarintAtMost(n, &count, "alp exception count"));
  ex->positions.resize(count);
  if (count > 0) {
    if (IndexWidth(n) == 8) {
      LAMINA_RETURN_IF_ERROR(DecodeIntStream(body, count, 8, ex->positions.data(), depth + 1));
    } else {
      std::vector<uint32_t> p32(count);
      LAMINA_RETURN_IF_ERROR(DecodeIntStream(body, count, 4, p32.data(), depth + 1));
      std::copy(p32.begin(), p32.end(), ex->positions.begin());
    }
    ex->values.resize(count * static_cast<size_t>(width));
    LAMINA_RETURN_IF_ERROR(DecodeIntStream(body, count, width, ex->values.data(), depth + 1));
  }
  LAMINA_CHECK_CORRUPT(body->empty(), "trailing bytes in alp stream");
  for (size_t k = 0; k < count; ++k) {
    LAMINA_CHECK_CORRUPT(ex->positions[k] < n && (k == 0 || ex->positions[k] > ex->positions[k - 1]),
                         "alp exception positions out of order or range");
  }
  return Status::OK();
}

Status ReadParams(ByteReader* body, size_t n, int width, int* e, int* f) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "alp"));
  uint8_t eb = 0, fb = 0;
  LAMINA_RETURN_IF_ERROR(body->GetU8(&eb));
  LAMINA_RETURN_IF_ERROR(body->GetU8(&fb));
  int max_e = width == 4 ? AlpTraits<float>::kMaxE : AlpTraits<double>::kMaxE;
  LAMINA_CHECK_CORRUPT(eb <= max_e && fb <= eb, "alp exponent out of range");
  *e = eb;
  *f = fb;
  return Status::OK();
}

// Converts digits to floats in place (same width).
template <typename F>
void DigitsToFloats(void* buf, size_t n, int e, int f) {
  using T = AlpTraits<F>;
  const F pf = T::Pow(f), pe = T::Pow(e);
  auto* d = static_cast<typename T::I*>(buf);
  auto* o = static_cast<F*>(buf);
  for (size_t i = 0; i < n; ++i) {
    F x = AlpDecodeOne<F>(d[i], pf, pe);
    o[i] = x;
  }
}

}  // namespace

AlpParams ChooseAlpParams(const void* sample, size_t n, int width) {
  if (width == 4) return ChooseT(static_cast<const float*>(sample), n);
  return ChooseT(static_cast<const double*>(sample), n);
}

void PutAlp(const void* values, size_t n, int width, int e, int f, ByteWriter* out, int depth) {
  ByteWriter body;
  body.PutVarint(n);
  body.PutU8(static_cast<uint8_t>(e));
  body.PutU8(static_cast<uint8_t>(f));
  if (width == 4) PutAlpT(static_cast<const float*>(values), n, e, f, &body, depth);
  else PutAlpT(static_cast<const double*>(values), n, e, f, &body, depth);
  PutStream(Tag::kAlp, body, out);
}

Status DecodeAlp(ByteReader* body, size_t n, int width, void* out, int depth) {
  int e, f;
  LAMINA_RETURN_IF_ERROR(ReadParams(body, n, width, &e, &f));
  LAMINA_RETURN_IF_ERROR(DecodeIntStream(body, n, width, out, depth + 1));
  Exceptions ex;
  LAMINA_RETURN_IF_ERROR(ReadExceptions(body, n, width, depth, &ex));
  if (width == 4) DigitsToFloats<float>(out, n, e, f);
  else DigitsToFloats<double>(out, n, e, f);
  uint8_t* o = static_cast<uint8_t*>(out);
  for (size_t k = 0; k < ex.positions.size(); ++k) {
    std::memcpy(o + ex.positions[k] * width, ex.values.data() + k * width,
                static_cast<size_t>(width));
  }
  return Status::OK();
}

Status TakeAlp(ByteReader* body, size_t n, int width, const uint32_t* idx, size_t m, void* out,
               int depth) {
  int e, f;
  LAMINA_RETURN_IF_ERROR(ReadParams(body, n, width, &e, &f));
  LAMINA_RETURN_IF_ERROR(TakeIntStream(body, n, width, idx, m, out, depth + 1));
  Exceptions ex;
  LAMINA_RETURN_IF_ERROR(ReadExceptions(body, n, width, depth, &ex));
  if (width == 4) DigitsToFloats<float>(out, m, e, f);
  else DigitsToFloats<double>(out, m, e, f);
  if (!ex.positions.empty()) {
    uint8_t* o = static_cast<uint8_t*>(out);
    for (size_t j = 0; j < m; ++j) {
      auto it = std::lower_bound(ex.positions.begin(), ex.positions.end(), uint64_t{idx[j]});
      if (it != ex.positions.end() && *it == idx[j]) {
        size_t k = static_cast<size_t>(it - ex.positions.begin());
        std::memcpy(o + j * width, ex.values.data() + k * width, static_cast<size_t>(width));
      }
    }
  }
  return Status::OK();
}

}  // namespace lamina::enc
