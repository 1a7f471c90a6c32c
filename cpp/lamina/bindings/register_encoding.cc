// lamina._core._encoding: the encoding kernels, exposed for tests and benchmarks.
// Buffers in are anything with the buffer protocol; numpy arrays and bytes come out.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "lamina/bindings/register.h"
#include "lamina/bindings/status_error.h"
#include "lamina/encoding/encoding.h"
#include "lamina/encoding/unpack.h"

namespace py = pybind11;

namespace lamina::py {
namespace {

using enc::Tag;

// Errors go through the one translation in register_errors.cc (CorruptFileError,
// InvalidArgumentError, ...), like every other binding.
[[noreturn]] void Raise(const Status& st) { throw StatusError(st); }

void Check(const Status& st) {
  if (!st.ok()) Raise(st);
}

struct Bytes {
  const uint8_t* data;
  size_t size;
};

// Keeps the buffer alive through `info`.
Bytes View(const ::py::buffer_info& info) {
  if (info.ndim > 1 || (info.ndim == 1 && info.strides[0] != info.itemsize)) {
    throw ::py::value_error("expected a contiguous one-dimensional buffer");
  }
  return Bytes{static_cast<const uint8_t*>(info.ptr),
               static_cast<size_t>(info.size * info.itemsize)};
}

::py::bytes ToBytes(const ByteWriter& w) {
  return ::py::bytes(reinterpret_cast<const char*>(w.data()), w.size());
}

Tag ParseTag(const std::string& name) {
  for (int t = 0; t <= static_cast<int>(Tag::kBitmap); ++t) {
    if (name == enc::TagName(static_cast<Tag>(t))) return static_cast<Tag>(t);
  }
  throw ::py::value_error("unknown encoding name: " + name);
}

::py::array Contiguous(const ::py::array& a) {
  if (a.ndim() != 1) throw ::py::value_error("expected a one-dimensional array");
  return ::py::array::ensure(a, ::py::array::c_style);
}

void IntDtype(const ::py::dtype& dt, int* width, bool* is_signed) {
  char kind = dt.kind();
  if ((kind != 'i' && kind != 'u') || dt.itemsize() > 8) {
    throw ::py::value_error("expected an integer dtype");
  }
  *width = static_cast<int>(dt.itemsize());
  *is_signed = kind == 'i';
}

int FloatWidth(const ::py::dtype& dt) {
  if (dt.kind() != 'f' || (dt.itemsize() != 4 && dt.itemsize() != 8)) {
    throw ::py::value_error("expected float32 or float64");
  }
  return static_cast<int>(dt.itemsize());
}

using IndexArray = ::py::array_t<uint32_t, ::py::array::c_style | ::py::array::forcecast>;

// Output array of n values: the caller's `out` (checked) or a fresh one.
::py::array OutArray(const ::py::dtype& dt, size_t n, const ::py::object& out) {
  if (out.is_none()) return ::py::array(dt, std::vector<::py::ssize_t>{static_cast<::py::ssize_t>(n)});
  ::py::array a = out.cast<::py::array>();
  if (!a.dtype().is(dt) || a.ndim() != 1 || static_cast<size_t>(a.size()) != n ||
      !(a.flags() & ::py::array::c_style) || !a.writeable()) {
    throw ::py::value_error("out must be a writeable contiguous array of n values of dtype");
  }
  return a;
}

// ---- Integers and floats ----

::py::bytes EncodeNumeric(const ::py::array& arr, const std::string* tag) {
  ::py::array a = Contiguous(arr);
  ByteWriter out;
  Status st;
  const void* p = a.data();
  size_t n = static_cast<size_t>(a.size());
  if (a.dtype().kind() == 'f') {
    int w = FloatWidth(a.dtype());
    Tag t = tag ? ParseTag(*tag) : Tag::kPlain;
    ::py::gil_scoped_release nogil;  // pure C++ over a buffer we hold a reference to
    if (tag) st = enc::EncodeFloatsAs(t, p, n, w, &out);
    else enc::EncodeFloats(p, n, w, &out);
  } else {
    int w;
    bool s;
    IntDtype(a.dtype(), &w, &s);
    Tag t = tag ? ParseTag(*tag) : Tag::kPlain;
    ::py::gil_scoped_release nogil;  // pure C++ over a buffer we hold a reference to
    if (tag) st = enc::EncodeIntsAs(t, p, n, w, s, &out);
    else enc::EncodeInts(p, n, w, s, &out);
  }
  Check(st);
  return ToBytes(out);
}

::py::array DecodeNumeric(const ::py::buffer& buf, size_t n, const ::py::object& dtype,
                          const ::py::object& idx_obj, const ::py::object& out_obj) {
  ::py::dtype dt = ::py::dtype::from_args(dtype);
  ::py::buffer_info info = buf.request();
  Bytes b = View(info);
  bool take = !idx_obj.is_none();
  IndexArray idx;
  if (take) idx = idx_obj.cast<IndexArray>();
  size_t m = take ? static_cast<size_t>(idx.size()) : n;
  ::py::array out = OutArray(dt, m, out_obj);
  void* o = out.mutable_data();
  Status st;
  if (dt.kind() == 'f') {
    int w = FloatWidth(dt);
    ::py::gil_scoped_release nogil;  // decoding touches only C++ buffers
    ByteReader r(b.data, b.size);
    st = take ? enc::TakeFloats(&r, n, w, idx.data(), m, o) : enc::DecodeFloats(&r, n, w, o);
  } else {
    int w;
    bool s;
    IntDtype(dt, &w, &s);
    ::py::gil_scoped_release nogil;  // decoding touches only C++ buffers
    ByteReader r(b.data, b.size);
    st = take ? enc::TakeInts(&r, n, w, s, idx.data(), m, o) : enc::DecodeInts(&r, n, w, s, o);
  }
  Check(st);
  return out;
}

// ---- Binary ----

struct BinaryArgs {
  std::vector<int64_t> offsets;  // used when built from a list
  std::vector<uint8_t> data;
  ::py::array offsets_arr;
  ::py::buffer_info data_info;
  const void* off_ptr = nullptr;
  int off_width = 8;
  const uint8_t* data_ptr = nullptr;
  size_t n = 0;
};

// From a list of bytes/str, or from (offsets array, data buffer).
void ParseBinary(const ::py::object& values, const ::py::object& data, BinaryArgs* a) {
  if (data.is_none()) {
    ::py::list lst = ::py::list(values);
    a->offsets.push_back(0);
    for (::py::handle h : lst) {
      std::string s = ::py::isinstance<::py::str>(h) ? h.cast<std::string>()
                                                     : std::string(h.cast<::py::bytes>());
      a->data.insert(a->data.end(), s.begin(), s.end());
      a->offsets.push_back(static_cast<int64_t>(a->data.size()));
    }
    a->n = a->offsets.size() - 1;
    a->off_ptr = a->offsets.data();
    a->data_ptr = a->data.data();
    return;
  }
  a->offsets_arr = Contiguous(values.cast<::py::array>());
  char kind = a->offsets_arr.dtype().kind();
  ::py::ssize_t isz = a->offsets_arr.dtype().itemsize();
  if (kind != 'i' || (isz != 4 && isz != 8)) throw ::py::value_error("offsets must be int32/int64");
  if (a->offsets_arr.size() < 1) throw ::py::value_error("offsets need at least one entry");
  a->off_width = static_cast<int>(isz);
  a->n = static_cast<size_t>(a->offsets_arr.size() - 1);
  a->off_ptr = a->offsets_arr.data();
  a->data_info = data.cast<::py::buffer>().request();
  Bytes d = View(a->data_info);
  a->data_ptr = d.data;
  // Validate here: the core trusts its caller's offsets.
  int64_t prev = 0;
  for (size_t i = 0; i <= a->n; ++i) {
    int64_t o = a->off_width == 4 ? static_cast<const int32_t*>(a->off_ptr)[i]
                                  : static_cast<const int64_t*>(a->off_ptr)[i];
    if (o < 0 || (i > 0 && o < prev) || static_cast<uint64_t>(o) > d.size) {
      throw ::py::value_error("offsets must be non-decreasing and within data");
    }
    prev = o;
  }
}

::py::bytes EncodeBinaryPy(const ::py::object& values, const ::py::object& data,
                           const std::string* tag) {
  BinaryArgs a;
  ParseBinary(values, data, &a);
  Tag t = tag ? ParseTag(*tag) : Tag::kPlain;
  ByteWriter out;
  Status st;
  {
    ::py::gil_scoped_release nogil;  // pure C++ over buffers we hold references to
    if (tag) st = enc::EncodeBinaryAs(t, a.off_ptr, a.off_width, a.data_ptr, a.n, &out);
    else enc::EncodeBinary(a.off_ptr, a.off_width, a.data_ptr, a.n, &out);
  }
  Check(st);
  return ToBytes(out);
}

::py::tuple DecodeBinaryPy(const ::py::buffer& buf, size_t n, const ::py::object& idx_obj,
                           int offset_width) {
  if (offset_width != 4 && offset_width != 8) throw ::py::value_error("offset_width is 4 or 8");
  ::py::buffer_info info = buf.request();
  Bytes b = View(info);
  bool take = !idx_obj.is_none();
  IndexArray idx;
  if (take) idx = idx_obj.cast<IndexArray>();
  size_t m = take ? static_cast<size_t>(idx.size()) : n;
  ::py::array offsets(::py::dtype(offset_width == 4 ? "int32" : "int64"),
                      std::vector<::py::ssize_t>{static_cast<::py::ssize_t>(m + 1)});
  std::memset(offsets.mutable_data(), 0, static_cast<size_t>(offset_width));
  void* o = offsets.mutable_data();
  std::vector<uint8_t> data;
  Status st;
  {
    ::py::gil_scoped_release nogil;  // decoding touches only C++ buffers
    ByteReader r(b.data, b.size);
    st = take ? enc::TakeBinary(&r, n, idx.data(), m, offset_width, o, &data)
              : enc::DecodeBinary(&r, n, offset_width, o, &data);
  }
  Check(st);
  return ::py::make_tuple(offsets,
                          ::py::bytes(reinterpret_cast<const char*>(data.data()), data.size()));
}

// ---- Bitmaps ----

::py::bytes EncodeBitmapPy(const ::py::array& bools, int64_t offset) {
  if (offset < 0) throw ::py::value_error("offset must be >= 0");
  auto a = bools.cast<::py::array_t<bool, ::py::array::c_style | ::py::array::forcecast>>();
  size_t n = static_cast<size_t>(a.size());
  std::vector<uint8_t> packed((static_cast<size_t>(offset) + n + 7) / 8 + 1, 0);
  const bool* p = a.data();
  for (size_t i = 0; i < n; ++i) {
    uint64_t b = static_cast<uint64_t>(offset) + i;
    if (p[i]) packed[b >> 3] |= static_cast<uint8_t>(1u << (b & 7));
  }
  // Bits before `offset` are set so that encoders must ignore them.
  for (int64_t b = 0; b < offset; ++b) packed[b >> 3] |= static_cast<uint8_t>(1u << (b & 7));
  ByteWriter out;
  enc::EncodeBitmap(packed.data(), offset, n, &out);
  return ToBytes(out);
}

::py::array DecodeBitmapPy(const ::py::buffer& buf, size_t n, const ::py::object& idx_obj) {
  ::py::buffer_info info = buf.request();
  Bytes b = View(info);
  bool take = !idx_obj.is_none();
  IndexArray idx;
  if (take) idx = idx_obj.cast<IndexArray>();
  size_t m = take ? static_cast<size_t>(idx.size()) : n;
  std::vector<uint8_t> packed((m + 7) / 8, 0);
  ByteReader r(b.data, b.size);
  Check(take ? enc::TakeBitmap(&r, n, idx.data(), m, packed.data())
             : enc::DecodeBitmap(&r, n, packed.data()));
  ::py::array_t<bool> out(static_cast<::py::ssize_t>(m));
  bool* o = out.mutable_data();
  for (size_t i = 0; i < m; ++i) o[i] = (packed[i >> 3] >> (i & 7)) & 1;
  return out;
}

// ---- Kernels ----

::py::array UnpackPy(bool fast, const ::py::buffer& buf, size_t n, int bits,
                     const ::py::object& dtype, uint64_t base, const ::py::object& out_obj) {
  ::py::dtype dt = ::py::dtype::from_args(dtype);
  int w;
  bool s;
  IntDtype(dt, &w, &s);
  if (bits < 0 || bits > 8 * w) throw ::py::value_error("bits out of range for dtype");
  ::py::buffer_info info = buf.request();
  Bytes b = View(info);
  if (n > SIZE_MAX / 64 || b.size < enc::PackedBytes(n, bits)) {
    throw ::py::value_error("packed buffer too short");
  }
  ::py::array out = OutArray(dt, n, out_obj);
  void* o = out.mutable_data();
  {
    ::py::gil_scoped_release nogil;  // the kernel touches only C++ buffers
    if (fast) enc::UnpackFast(b.data, n, bits, base, w, o);
    else enc::UnpackScalar(b.data, n, bits, base, w, o);
  }
  return out;
}

::py::bytes PackPy(const ::py::array& arr, int bits, uint64_t base) {
  ::py::array a = Contiguous(arr);
  int w;
  bool s;
  IntDtype(a.dtype(), &w, &s);
  if (bits < 0 || bits > 8 * w) throw ::py::value_error("bits out of range for dtype");
  size_t n = static_cast<size_t>(a.size());
  uint64_t mask = bits == 64 ? ~uint64_t{0} : ((uint64_t{1} << bits) - 1);
  uint64_t wmask = w == 8 ? ~uint64_t{0} : ((uint64_t{1} << (8 * w)) - 1);
  const uint8_t* p = static_cast<const uint8_t*>(a.data());
  for (size_t i = 0; i < n; ++i) {
    uint64_t v = 0;
    std::memcpy(&v, p + i * w, static_cast<size_t>(w));
    if ((((v - base) & wmask) & ~mask) != 0) throw ::py::value_error("value does not fit in bits");
  }
  std::vector<uint8_t> out(enc::PackedBytes(n, bits));
  {
    ::py::gil_scoped_release nogil;  // the kernel touches only C++ buffers
    enc::PackBits(a.data(), w, n, base, bits, out.data());
  }
  return ::py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
}

}  // namespace

void RegisterEncoding(::py::module_& m) {
  using ::py::arg;
  const ::py::object none = ::py::none();
  m.def("encode_ints", [](const ::py::array& a) { return EncodeNumeric(a, nullptr); }, arg("values"),
        "Encodes a 1-d integer array with the sampling cascade.");
  m.def("encode_ints_as",
        [](const ::py::array& a, const std::string& tag) { return EncodeNumeric(a, &tag); },
        arg("values"), arg("encoding"), "Encodes with a forced top-level encoding.");
  m.def("decode_ints",
        [](const ::py::buffer& b, size_t n, const ::py::object& dt, const ::py::object& out) {
          return DecodeNumeric(b, n, dt, ::py::none(), out);
        },
        arg("buf"), arg("n"), arg("dtype"), arg("out") = none);
  m.def("take_ints",
        [](const ::py::buffer& b, size_t n, const ::py::object& dt, const ::py::object& idx,
           const ::py::object& out) { return DecodeNumeric(b, n, dt, idx, out); },
        arg("buf"), arg("n"), arg("dtype"), arg("idx"), arg("out") = none);
  m.def("encode_floats", [](const ::py::array& a) { return EncodeNumeric(a, nullptr); },
        arg("values"));
  m.def("encode_floats_as",
        [](const ::py::array& a, const std::string& tag) { return EncodeNumeric(a, &tag); },
        arg("values"), arg("encoding"));
  m.def("decode_floats",
        [](const ::py::buffer& b, size_t n, const ::py::object& dt, const ::py::object& out) {
          return DecodeNumeric(b, n, dt, ::py::none(), out);
        },
        arg("buf"), arg("n"), arg("dtype"), arg("out") = none);
  m.def("take_floats",
        [](const ::py::buffer& b, size_t n, const ::py::object& dt, const ::py::object& idx,
           const ::py::object& out) { return DecodeNumeric(b, n, dt, idx, out); },
        arg("buf"), arg("n"), arg("dtype"), arg("idx"), arg("out") = none);
  m.def("encode_binary",
        [](const ::py::object& v, const ::py::object& d) { return EncodeBinaryPy(v, d, nullptr); },
        arg("values"), arg("data") = none,
        "values: a list of bytes/str, or an int32/int64 offsets array with `data`.");
  m.def("encode_binary_as",
        [](const ::py::object& v, const std::string& tag, const ::py::object& d) {
          return EncodeBinaryPy(v, d, &tag);
        },
        arg("values"), arg("encoding"), arg("data") = none);
  m.def("decode_binary",
        [](const ::py::buffer& b, size_t n, int w) { return DecodeBinaryPy(b, n, ::py::none(), w); },
        arg("buf"), arg("n"), arg("offset_width") = 8, "Returns (offsets, data).");
  m.def("take_binary",
        [](const ::py::buffer& b, size_t n, const ::py::object& idx, int w) {
          return DecodeBinaryPy(b, n, idx, w);
        },
        arg("buf"), arg("n"), arg("idx"), arg("offset_width") = 8);
  m.def("encode_bitmap", &EncodeBitmapPy, arg("values"), arg("offset") = 0,
        "Encodes a bool array (packed LSB-first, starting at bit `offset`).");
  m.def("decode_bitmap",
        [](const ::py::buffer& b, size_t n) { return DecodeBitmapPy(b, n, ::py::none()); },
        arg("buf"), arg("n"));
  m.def("take_bitmap", &DecodeBitmapPy, arg("buf"), arg("n"), arg("idx"));
  m.def("stream_tag",
        [](const ::py::buffer& b) {
          ::py::buffer_info info = b.request();
          Bytes v = View(info);
          Tag t;
          Check(enc::PeekTag(ByteReader(v.data, v.size), &t));
          return std::string(enc::TagName(t));
        },
        arg("buf"));
  m.def("skip_stream",
        [](const ::py::buffer& b) {
          ::py::buffer_info info = b.request();
          Bytes v = View(info);
          ByteReader r(v.data, v.size);
          Check(enc::SkipStream(&r));
          return v.size - r.remaining();
        },
        arg("buf"), "Returns the byte length of the stream at the start of buf.");
  m.def("pack_bits", &PackPy, arg("values"), arg("bits"), arg("base") = 0);
  m.def("unpack_scalar",
        [](const ::py::buffer& b, size_t n, int bits, const ::py::object& dt, uint64_t base,
           const ::py::object& out) { return UnpackPy(false, b, n, bits, dt, base, out); },
        arg("buf"), arg("n"), arg("bits"), arg("dtype"), arg("base") = 0, arg("out") = none);
  m.def("unpack_fast",
        [](const ::py::buffer& b, size_t n, int bits, const ::py::object& dt, uint64_t base,
           const ::py::object& out) { return UnpackPy(true, b, n, bits, dt, base, out); },
        arg("buf"), arg("n"), arg("bits"), arg("dtype"), arg("base") = 0, arg("out") = none);
  m.def("unpack_uses_avx2", &enc::UnpackUsesAvx2);
}

}  // namespace lamina::py
