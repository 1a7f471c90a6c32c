#include "lamina/encoding/plain.h"

#include <string>

#include "lamina/encoding/bitpack.h"

namespace lamina::enc {

void PutPlainInts(const void* values, size_t n, int width, ByteWriter* out) {
  size_t bytes = n * static_cast<size_t>(width);
  // The body straight into `out`: its size is known up front.
  PutStreamHeader(Tag::kPlain, VarintSize(n) + bytes, out);
  out->PutVarint(n);
  out->PutRaw(values, bytes);
}

static Status OpenPlainInts(ByteReader* body, size_t n, int width, const uint8_t** data) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "plain"));
  if (body->remaining() / static_cast<size_t>(width) != n ||
      body->remaining() % static_cast<size_t>(width) != 0) {
    return Status::Corruption("plain stream length does not match its count");
  }
  *data = body->pos();
  return Status::OK();
}

Status DecodePlainInts(ByteReader* body, size_t n, int width, void* out) {
  const uint8_t* data;
  LAMINA_RETURN_IF_ERROR(OpenPlainInts(body, n, width, &data));
  if (n > 0) std::memcpy(out, data, n * static_cast<size_t>(width));
  return Status::OK();
}

Status TakePlainInts(ByteReader* body, size_t n, int width, const uint32_t* idx, size_t m,
                     void* out) {
  const uint8_t* data;
  LAMINA_RETURN_IF_ERROR(OpenPlainInts(body, n, width, &data));
  DispatchWidth(width, [&](auto t) {
    using T = decltype(t);
    T* o = static_cast<T*>(out);
    for (size_t j = 0; j < m; ++j) std::memcpy(&o[j], data + size_t{idx[j]} * sizeof(T), sizeof(T));
  });
  return Status::OK();
}

// ---- Binary ----

void PutPlainBinary(const BinaryInput& in, ByteWriter* out, int depth) {
  std::vector<uint64_t> rel(in.n + 1);
  uint64_t base = in.offsets[0];
  for (size_t i = 0; i <= in.n; ++i) rel[i] = in.offsets[i] - base;
  ByteWriter body;
  body.PutVarint(in.n);
  PutBitPackInts(rel.data(), in.n + 1, 8, /*is_signed=*/false, &body);
  body.PutVarint(in.total_bytes());
  body.PutRaw(in.data + base, in.total_bytes());
  PutStream(Tag::kPlain, body, out);
}

// Parsed plain binary body. `offsets` stays encoded: take reads only what it needs.
struct PlainBinary {
  BitPacked offsets;
  const uint8_t* data;
  uint64_t data_len = 0;
};

static Status OpenPlainBinary(ByteReader* body, size_t n, PlainBinary* pb) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "plain binary"));
  Tag tag = Tag::kPlain;
  ByteReader ob;
  LAMINA_RETURN_IF_ERROR(OpenStream(body, &tag, &ob));
  LAMINA_CHECK_CORRUPT(tag == Tag::kBitPack, "plain binary offsets must be bit-packed");
  LAMINA_RETURN_IF_ERROR(OpenBitPacked(&ob, n + 1, 8, &pb->offsets));
  LAMINA_RETURN_IF_ERROR(body->GetVarint(&pb->data_len));
  LAMINA_CHECK_CORRUPT(pb->data_len == body->remaining(), "plain binary data length mismatch");
  pb->data = body->pos();
  return Status::OK();
}

Status DecodePlainBinary(ByteReader* body, size_t n, BinarySink* sink, int depth) {
  PlainBinary pb;
  LAMINA_RETURN_IF_ERROR(OpenPlainBinary(body, n, &pb));
  std::vector<uint64_t> offsets(n + 1);
  LAMINA_RETURN_IF_ERROR(UnpackBitPacked(pb.offsets, 8, offsets.data()));
  LAMINA_CHECK_CORRUPT(offsets[0] == 0, "plain binary offsets must start at 0");
  LAMINA_CHECK_CORRUPT(offsets[n] == pb.data_len, "plain binary offsets do not end at data end");
  for (size_t i = 0; i < n; ++i) {
    LAMINA_CHECK_CORRUPT(offsets[i] <= offsets[i + 1], "plain binary offsets decrease");
  }
  for (size_t i = 0; i < n; ++i) {
    LAMINA_RETURN_IF_ERROR(
        sink->Append(pb.data + offsets[i], static_cast<size_t>(offsets[i + 1] - offsets[i])));
  }
  return Status::OK();
}

Status TakePlainBinary(ByteReader* body, size_t n, const uint32_t* idx, size_t m,
                       BinarySink* sink, int depth) {
  PlainBinary pb;
  LAMINA_RETURN_IF_ERROR(OpenPlainBinary(body, n, &pb));
  for (size_t j = 0; j < m; ++j) {
    uint64_t begin = BitPackedAt(pb.offsets, idx[j]);
    uint64_t end = BitPackedAt(pb.offsets, size_t{idx[j]} + 1);
    LAMINA_CHECK_CORRUPT(begin <= end && end <= pb.data_len, "plain binary offset out of range");
    LAMINA_RETURN_IF_ERROR(sink->Append(pb.data + begin, static_cast<size_t>(end - begin)));
  }
  return Status::OK();
}

}  // namespace lamina::enc
