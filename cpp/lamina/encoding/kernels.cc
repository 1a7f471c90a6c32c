#include "lamina/encoding/kernels.h"

#include <type_traits>

#if defined(__x86_64__) && defined(__gnu_linux__)
#define LAMINA_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LAMINA_CLONES
#endif
#define LAMINA_NO_VECTORIZE __attribute__((optimize("no-tree-vectorize")))

namespace lamina::enc {
namespace {

template <typename T>
inline void PrefixT(T* v, size_t n) {
  T acc = n ? v[0] : T{0};
  for (size_t i = 1; i < n; ++i) {
    acc = static_cast<T>(acc + UnZigZag(v[i]));
    v[i] = acc;
  }
}

template <typename T, typename C>
inline void GatherT(const T* dict, const C* codes, size_t n, T* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dict[codes[i]];
}

template <typename T>
inline void GatherAnyCode(const T* dict, const void* codes, int code_width, size_t n, T* out) {
  switch (code_width) {
    case 1: return GatherT(dict, static_cast<const uint8_t*>(codes), n, out);
    case 2: return GatherT(dict, static_cast<const uint16_t*>(codes), n, out);
    default: return GatherT(dict, static_cast<const uint32_t*>(codes), n, out);
  }
}

inline void GatherAny(const void* dict, int width, const void* codes, int code_width, size_t n,
                      void* out) {
  switch (width) {
    case 1:
      return GatherAnyCode(static_cast<const uint8_t*>(dict), codes, code_width, n,
                           static_cast<uint8_t*>(out));
    case 2:
      return GatherAnyCode(static_cast<const uint16_t*>(dict), codes, code_width, n,
                           static_cast<uint16_t*>(out));
    case 4:
      return GatherAnyCode(static_cast<const uint32_t*>(dict), codes, code_width, n,
                           static_cast<uint32_t*>(out));
    default:
      return GatherAnyCode(static_cast<const uint64_t*>(dict), codes, code_width, n,
                           static_cast<uint64_t*>(out));
  }
}

inline void PrefixAny(void* v, size_t n, int width) {
  switch (width) {
    case 1: return PrefixT(static_cast<uint8_t*>(v), n);
    case 2: return PrefixT(static_cast<uint16_t*>(v), n);
    case 4: return PrefixT(static_cast<uint32_t*>(v), n);
    default: return PrefixT(static_cast<uint64_t*>(v), n);
  }
}

template <typename C>
uint32_t MaxT(const C* c, size_t n) {
  C m = 0;
  for (size_t i = 0; i < n; ++i) m = c[i] > m ? c[i] : m;
  return m;
}

}  // namespace

LAMINA_CLONES void PrefixSumZigZag(void* v, size_t n, int width) { PrefixAny(v, n, width); }
LAMINA_NO_VECTORIZE void PrefixSumZigZagScalar(void* v, size_t n, int width) {
  PrefixAny(v, n, width);
}

LAMINA_CLONES void Gather(const void* dict, int width, const void* codes, int code_width,
                          size_t n, void* out) {
  GatherAny(dict, width, codes, code_width, n, out);
}
LAMINA_NO_VECTORIZE void GatherScalar(const void* dict, int width, const void* codes,
                                      int code_width, size_t n, void* out) {
  GatherAny(dict, width, codes, code_width, n, out);
}

LAMINA_CLONES uint32_t MaxCode(const void* codes, int code_width, size_t n) {
  switch (code_width) {
    case 1: return MaxT(static_cast<const uint8_t*>(codes), n);
    case 2: return MaxT(static_cast<const uint16_t*>(codes), n);
    default: return MaxT(static_cast<const uint32_t*>(codes), n);
  }
}

}  // namespace lamina::enc
