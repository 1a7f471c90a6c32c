// Logical types and fields that lamina stores, and their mapping to Arrow C format
// strings. Anything not listed here is refused with InvalidArgument naming the column.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lamina/arrow/c_abi.h"
#include "lamina/util/status.h"

namespace lamina {

enum class TypeId : uint8_t {
  kInt8 = 1, kInt16, kInt32, kInt64,
  kUInt8, kUInt16, kUInt32, kUInt64,
  kFloat32, kFloat64, kBool,
  kString, kLargeString, kBinary, kLargeBinary,
  kList, kLargeList, kFixedSizeList,
  kDate32, kTimestamp,
};

enum class TimeUnit : uint8_t { kSecond = 0, kMilli = 1, kMicro = 2, kNano = 3 };

struct Field;

struct DataType {
  TypeId id = TypeId::kInt64;
  TimeUnit unit = TimeUnit::kSecond;  // timestamp only
  std::string timezone;              // timestamp only
  int32_t list_size = 0;             // fixed_size_list only
  std::shared_ptr<Field> child;      // list types only

  bool is_integer_like() const;      // stored as an integer stream
  bool is_signed() const;
  bool is_float() const { return id == TypeId::kFloat32 || id == TypeId::kFloat64; }
  bool is_binary_like() const;       // string / binary, small or large
  bool is_list_like() const { return id == TypeId::kList || id == TypeId::kLargeList; }
  bool has_large_offsets() const {
    return id == TypeId::kLargeString || id == TypeId::kLargeBinary || id == TypeId::kLargeList;
  }
  int byte_width() const;            // fixed-width value size; 0 for bool and var-length
  std::string ToString() const;
  bool Equals(const DataType& other) const;
};

struct Field {
  std::string name;
  DataType type;
  bool nullable = true;
  int32_t field_id = 0;
};

struct Schema {
  std::vector<Field> fields;
  std::vector<std::pair<std::string, std::string>> metadata;
  int FieldIndex(const std::string& name) const;  // -1 if absent
};

// Parses an Arrow C schema of a record batch (struct format "+s") into fields,
// assigning field ids in pre-order starting at 1.
Status ImportSchema(const ArrowSchema& schema, Schema* out);

// Parses one field. `column` names the top-level column for error messages.
Status ImportField(const ArrowSchema& schema, const std::string& column, Field* out);

// Fills `out` with a struct schema ("+s") for these fields; the caller owns it
// (release() frees everything).
void ExportSchema(const Schema& schema, ArrowSchema* out);
void ExportField(const Field& field, ArrowSchema* out);

// Arrow's binary key/value metadata encoding.
std::vector<std::pair<std::string, std::string>> DecodeArrowMetadata(const char* md);
std::string EncodeArrowMetadata(const std::vector<std::pair<std::string, std::string>>& kv);

}  // namespace lamina
