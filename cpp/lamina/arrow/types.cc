#include "lamina/arrow/types.h"

#include <cstring>

namespace lamina {

bool DataType::is_integer_like() const {
  switch (id) {
    case TypeId::kInt8: case TypeId::kInt16: case TypeId::kInt32: case TypeId::kInt64:
    case TypeId::kUInt8: case TypeId::kUInt16: case TypeId::kUInt32: case TypeId::kUInt64:
    case TypeId::kDate32: case TypeId::kTimestamp:
      return true;
    default:
      return false;
  }
}

bool DataType::is_signed() const {
  switch (id) {
    case TypeId::kUInt8: case TypeId::kUInt16: case TypeId::kUInt32: case TypeId::kUInt64:
      return false;
    default:
      return true;
  }
}

bool DataType::is_binary_like() const {
  return id == TypeId::kString || id == TypeId::kLargeString || id == TypeId::kBinary ||
         id == TypeId::kLargeBinary;
}

int DataType::byte_width() const {
  switch (id) {
    case TypeId::kInt8: case TypeId::kUInt8: return 1;
    case TypeId::kInt16: case TypeId::kUInt16: return 2;
    case TypeId::kInt32: case TypeId::kUInt32: case TypeId::kFloat32: case TypeId::kDate32:
      return 4;
    case TypeId::kInt64: case TypeId::kUInt64: case TypeId::kFloat64: case TypeId::kTimestamp:
      return 8;
    default:
      return 0;
  }
}

std::string DataType::ToString() const {
  switch (id) {
    case TypeId::kInt8: return "int8";
    case TypeId::kInt16: return "int16";
    case TypeId::kInt32: return "int32";
    case TypeId::kInt64: return "int64";
    case TypeId::kUInt8: return "uint8";
    case TypeId::kUInt16: return "uint16";
    case TypeId::kUInt32: return "uint32";
    case TypeId::kUInt64: return "uint64";
    case TypeId::kFloat32: return "float";
    case TypeId::kFloat64: return "double";
    case TypeId::kBool: return "bool";
    case TypeId::kString: return "string";
    case TypeId::kLargeString: return "large_string";
    case TypeId::kBinary: return "binary";
    case TypeId::kLargeBinary: return "large_binary";
    case TypeId::kList: return "list<" + child->type.ToString() + ">";
    case TypeId::kLargeList: return "large_list<" + child->type.ToString() + ">";
    case TypeId::kFixedSizeList:
      return "fixed_size_list<" + child->type.ToString() + ", " + std::to_string(list_size) + ">";
    case TypeId::kDate32: return "date32";
    case TypeId::kTimestamp: {
      static const char* units[] = {"s", "ms", "us", "ns"};
      std::string s = std::string("timestamp[") + units[static_cast<int>(unit)];
      if (!timezone.empty()) s += ", tz=" + timezone;
      return s + "]";
    }
  }
  return "?";
}

bool DataType::Equals(const DataType& o) const {
  if (id != o.id) return false;
  if (id == TypeId::kTimestamp) return unit == o.unit && timezone == o.timezone;
  if (id == TypeId::kFixedSizeList && list_size != o.list_size) return false;
  if (child || o.child) {
    if (!child || !o.child) return false;
    return child->type.Equals(o.child->type);
  }
  return true;
}

int Schema::FieldIndex(const std::string& name) const {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

Status Unsupported(const std::string& column, const std::string& what) {
  return Status::InvalidArgument("column '" + column + "' has unsupported type " + what);
}

// The name pyarrow prints for a type lamina does not store, from its C Data Interface
// format string, so an error says "decimal128(10, 2)" and not "d:10,2".
std::string ArrowTypeName(const std::string& f) {
  static const std::pair<const char*, const char*> kNames[] = {
      {"n", "null"}, {"e", "float16"}, {"+s", "struct"}, {"+m", "map"}, {"tdm", "date64"},
      {"tts", "time32[s]"}, {"ttm", "time32[ms]"}, {"ttu", "time64[us]"},
      {"ttn", "time64[ns]"}, {"tDs", "duration[s]"}, {"tDm", "duration[ms]"},
      {"tDu", "duration[us]"}, {"tDn", "duration[ns]"}, {"tiM", "month_interval"},
      {"tiD", "day_time_interval"}, {"tin", "month_day_nano_interval"},
      {"vu", "string_view"}, {"vz", "binary_view"}, {"+vl", "list_view"},
      {"+vL", "large_list_view"}, {"+r", "run_end_encoded"}};
  for (const auto& [code, name] : kNames) {
    if (f == code) return name;
  }
  if (f.compare(0, 2, "d:") == 0) {  // d:precision,scale[,bit width]
    std::string rest = f.substr(2);
    std::string bits = "128";
    size_t second = rest.find(',', rest.find(',') + 1);
    if (second != std::string::npos) {
      bits = rest.substr(second + 1);
      rest.resize(second);
    }
    size_t comma = rest.find(',');
    if (comma != std::string::npos) rest.replace(comma, 1, ", ");
    return "decimal" + bits + "(" + rest + ")";
  }
  if (f.compare(0, 2, "w:") == 0) return "fixed_size_binary[" + f.substr(2) + "]";
  if (f.compare(0, 3, "+ud") == 0) return "dense_union";
  if (f.compare(0, 3, "+us") == 0) return "sparse_union";
  if (f.compare(0, 2, "ts") == 0) return "timestamp (format '" + f + "')";
  return "with Arrow format '" + f + "'";
}

Status ParseFormat(const ArrowSchema& s, const std::string& column, bool top, Field* out,
                   int depth) {
  if (s.format == nullptr) return Status::InvalidArgument("column '" + column + "': no format");
  if (s.dictionary != nullptr) {
    return Unsupported(column, "dictionary<...> (cast it to its value type first)");
  }
  std::string f = s.format;
  DataType& t = out->type;
  auto simple = [&](TypeId id) {
    t.id = id;
    return Status::OK();
  };
  if (f == "c") return simple(TypeId::kInt8);
  if (f == "s") return simple(TypeId::kInt16);
  if (f == "i") return simple(TypeId::kInt32);
  if (f == "l") return simple(TypeId::kInt64);
  if (f == "C") return simple(TypeId::kUInt8);
  if (f == "S") return simple(TypeId::kUInt16);
  if (f == "I") return simple(TypeId::kUInt32);
  if (f == "L") return simple(TypeId::kUInt64);
  if (f == "f") return simple(TypeId::kFloat32);
  if (f == "g") return simple(TypeId::kFloat64);
  if (f == "b") return simple(TypeId::kBool);
  if (f == "u") return simple(TypeId::kString);
  if (f == "U") return simple(TypeId::kLargeString);
  if (f == "z") return simple(TypeId::kBinary);
  if (f == "Z") return simple(TypeId::kLargeBinary);
  if (f == "tdD") return simple(TypeId::kDate32);
  if (f.size() >= 4 && f.compare(0, 2, "ts") == 0 && f[3] == ':') {
    t.id = TypeId::kTimestamp;
    switch (f[2]) {
      case 's': t.unit = TimeUnit::kSecond; break;
      case 'm': t.unit = TimeUnit::kMilli; break;
      case 'u': t.unit = TimeUnit::kMicro; break;
      case 'n': t.unit = TimeUnit::kNano; break;
      default: return Unsupported(column, "'" + f + "'");
    }
    t.timezone = f.substr(4);
    return Status::OK();
  }
  bool list = f == "+l", large_list = f == "+L", fixed = f.compare(0, 3, "+w:") == 0;
  if (list || large_list || fixed) {
    if (depth > 0) return Unsupported(column, "nested list (lists of lists are not supported)");
    if (s.n_children != 1 || s.children == nullptr || s.children[0] == nullptr) {
      return Status::InvalidArgument("column '" + column + "': list schema without child");
    }
    auto child = std::make_shared<Field>();
    LAMINA_RETURN_IF_ERROR(ParseFormat(*s.children[0], column, false, child.get(), depth + 1));
    child->name = s.children[0]->name ? s.children[0]->name : "item";
    child->nullable = (s.children[0]->flags & ARROW_FLAG_NULLABLE) != 0;
    if (child->type.is_list_like() || child->type.id == TypeId::kFixedSizeList) {
      return Unsupported(column, "nested list");
    }
    if (fixed) {
      long size = std::strtol(f.c_str() + 3, nullptr, 10);
      if (size <= 0 || size > (1 << 20)) return Unsupported(column, "'" + f + "'");
      if (child->type.id != TypeId::kFloat32 && child->type.id != TypeId::kFloat64 &&
          !child->type.is_integer_like()) {
        return Unsupported(column, "fixed_size_list<" + child->type.ToString() + ">");
      }
      t.id = TypeId::kFixedSizeList;
      t.list_size = static_cast<int32_t>(size);
    } else {
      t.id = list ? TypeId::kList : TypeId::kLargeList;
    }
    t.child = std::move(child);
    return Status::OK();
  }
  return Unsupported(column, ArrowTypeName(f));
}

void AssignIds(Field* f, int32_t* next) {
  f->field_id = (*next)++;
  if (f->type.child) AssignIds(f->type.child.get(), next);
}

}  // namespace

Status ImportField(const ArrowSchema& s, const std::string& column, Field* out) {
  out->name = s.name ? s.name : "";
  out->nullable = (s.flags & ARROW_FLAG_NULLABLE) != 0;
  return ParseFormat(s, column, true, out, 0);
}

Status ImportSchema(const ArrowSchema& s, Schema* out) {
  if (s.format == nullptr || std::string(s.format) != "+s") {
    return Status::InvalidArgument("expected a record batch (struct) schema");
  }
  out->fields.clear();
  out->fields.reserve(static_cast<size_t>(s.n_children));
  for (int64_t i = 0; i < s.n_children; ++i) {
    const ArrowSchema* c = s.children[i];
    Field f;
    std::string name = c->name ? c->name : "";
    LAMINA_RETURN_IF_ERROR(ImportField(*c, name, &f));
    out->fields.push_back(std::move(f));
  }
  for (size_t i = 0; i < out->fields.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (out->fields[i].name == out->fields[j].name) {
        return Status::InvalidArgument("duplicate column name '" + out->fields[i].name + "'");
      }
    }
  }
  int32_t next = 1;
  for (Field& f : out->fields) AssignIds(&f, &next);
  out->metadata = DecodeArrowMetadata(s.metadata);
  return Status::OK();
}

std::vector<std::pair<std::string, std::string>> DecodeArrowMetadata(const char* md) {
  std::vector<std::pair<std::string, std::string>> kv;
  if (md == nullptr) return kv;
  int32_t n;
  std::memcpy(&n, md, 4);
  const char* p = md + 4;
  for (int32_t i = 0; i < n; ++i) {
    int32_t kl, vl;
    std::memcpy(&kl, p, 4);
    std::string k(p + 4, static_cast<size_t>(kl));
    p += 4 + kl;
    std::memcpy(&vl, p, 4);
    std::string v(p + 4, static_cast<size_t>(vl));
    p += 4 + vl;
    kv.emplace_back(std::move(k), std::move(v));
  }
  return kv;
}

std::string EncodeArrowMetadata(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string out;
  auto put32 = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  put32(static_cast<int32_t>(kv.size()));
  for (const auto& [k, v] : kv) {
    put32(static_cast<int32_t>(k.size()));
    out += k;
    put32(static_cast<int32_t>(v.size()));
    out += v;
  }
  return out;
}

// ---- export -------------------------------------------------------------------------

namespace {

struct SchemaPrivate {
  std::string format, name, metadata;
  std::vector<ArrowSchema*> children_ptrs;
  std::vector<ArrowSchema> children;
};

void ReleaseSchema(ArrowSchema* s) {
  if (s->release == nullptr) return;
  auto* priv = static_cast<SchemaPrivate*>(s->private_data);
  for (ArrowSchema& c : priv->children) {
    if (c.release) c.release(&c);
  }
  delete priv;
  s->release = nullptr;
}

std::string FormatOf(const DataType& t) {
  switch (t.id) {
    case TypeId::kInt8: return "c";
    case TypeId::kInt16: return "s";
    case TypeId::kInt32: return "i";
    case TypeId::kInt64: return "l";
    case TypeId::kUInt8: return "C";
    case TypeId::kUInt16: return "S";
    case TypeId::kUInt32: return "I";
    case TypeId::kUInt64: return "L";
    case TypeId::kFloat32: return "f";
    case TypeId::kFloat64: return "g";
    case TypeId::kBool: return "b";
    case TypeId::kString: return "u";
    case TypeId::kLargeString: return "U";
    case TypeId::kBinary: return "z";
    case TypeId::kLargeBinary: return "Z";
    case TypeId::kList: return "+l";
    case TypeId::kLargeList: return "+L";
    case TypeId::kFixedSizeList: return "+w:" + std::to_string(t.list_size);
    case TypeId::kDate32: return "tdD";
    case TypeId::kTimestamp: {
      static const char units[] = {'s', 'm', 'u', 'n'};
      return std::string("ts") + units[static_cast<int>(t.unit)] + ":" + t.timezone;
    }
  }
  return "n";
}

void FillSchema(const std::string& format, const std::string& name, int64_t flags,
                const std::string& metadata, std::vector<const Field*> children,
                ArrowSchema* out) {
  auto* priv = new SchemaPrivate;
  priv->format = format;
  priv->name = name;
  priv->metadata = metadata;
  priv->children.resize(children.size());
  priv->children_ptrs.resize(children.size());
  for (size_t i = 0; i < children.size(); ++i) {
    ExportField(*children[i], &priv->children[i]);
    priv->children_ptrs[i] = &priv->children[i];
  }
  out->format = priv->format.c_str();
  out->name = priv->name.c_str();
  out->metadata = priv->metadata.empty() ? nullptr : priv->metadata.data();
  out->flags = flags;
  out->n_children = static_cast<int64_t>(children.size());
  out->children = children.empty() ? nullptr : priv->children_ptrs.data();
  out->dictionary = nullptr;
  out->release = ReleaseSchema;
  out->private_data = priv;
}

}  // namespace

void ExportField(const Field& f, ArrowSchema* out) {
  std::vector<const Field*> children;
  if (f.type.child) children.push_back(f.type.child.get());
  FillSchema(FormatOf(f.type), f.name, f.nullable ? ARROW_FLAG_NULLABLE : 0, "", children, out);
}

void ExportSchema(const Schema& schema, ArrowSchema* out) {
  std::vector<const Field*> children;
  for (const Field& f : schema.fields) children.push_back(&f);
  std::string md = schema.metadata.empty() ? "" : EncodeArrowMetadata(schema.metadata);
  FillSchema("+s", "", 0, md, children, out);
}

}  // namespace lamina
