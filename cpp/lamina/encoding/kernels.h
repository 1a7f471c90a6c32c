// Hot decode kernels besides bit-unpacking (unpack.h): delta prefix sum and dictionary
// gather. Each has a scalar reference (`...Scalar`) and a fast version that is compiled
// for AVX2 and baseline x86-64 and picked at load time (target_clones), or plain C++
// elsewhere. Tests compare the two.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace lamina::enc {

// Zigzag maps small signed deltas to small unsigned numbers: 0,-1,1,-2 -> 0,1,2,3.
template <typename T>
inline T ZigZag(T d) {
  using S = std::make_signed_t<T>;
  return static_cast<T>(static_cast<T>(d << 1) ^ static_cast<T>(static_cast<S>(d) >> (8 * sizeof(T) - 1)));
}
template <typename T>
inline T UnZigZag(T z) {
  return static_cast<T>((z >> 1) ^ static_cast<T>(T{0} - (z & 1)));
}

// In place: v[i] = v[i-1] + UnZigZag(v[i]) for 1 <= i < n (mod 2^(8*width)).
void PrefixSumZigZag(void* v, size_t n, int width);
void PrefixSumZigZagScalar(void* v, size_t n, int width);

// out[i] = dict[codes[i]] for i < n; codes are `code_width` bytes (1, 2 or 4), values
// `width` bytes. REQUIRES: every code < dictionary size (callers check with MaxCode).
void Gather(const void* dict, int width, const void* codes, int code_width, size_t n, void* out);
void GatherScalar(const void* dict, int width, const void* codes, int code_width, size_t n,
                  void* out);
// Largest of n codes (0 when n == 0).
uint32_t MaxCode(const void* codes, int code_width, size_t n);

}  // namespace lamina::enc
