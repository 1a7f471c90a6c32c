#include "lamina/bindings/arrow_capsules.h"

#include <string>

#include "lamina/bindings/status_error.h"

namespace pyb = pybind11;

namespace lamina::py {

ImportedStream::~ImportedStream() {
  for (ArrowArray& a : batches) {
    if (a.release) a.release(&a);
  }
  if (schema.release) schema.release(&schema);
}

std::unique_ptr<ImportedStream> ImportStream(pyb::capsule cap) {
  if (std::string(cap.name() ? cap.name() : "") != "arrow_array_stream") {
    throw StatusError(Status::InvalidArgument("expected an arrow_array_stream capsule"));
  }
  auto* src = cap.get_pointer<ArrowArrayStream>();
  ArrowArrayStream stream = *src;
  src->release = nullptr;  // ownership moves to us
  struct Guard {
    ArrowArrayStream* s;
    ~Guard() { if (s->release) s->release(s); }
  } guard{&stream};

  auto out = std::make_unique<ImportedStream>();
  auto stream_error = [&](int code) {
    const char* msg = stream.get_last_error ? stream.get_last_error(&stream) : nullptr;
    return StatusError(Status::InvalidArgument(
        std::string("reading the Arrow stream failed: ") + (msg ? msg : std::to_string(code))));
  };
  int rc = stream.get_schema(&stream, &out->schema);
  if (rc != 0) throw stream_error(rc);
  ThrowIfError(ImportSchema(out->schema, &out->parsed));
  while (true) {
    ArrowArray a{};
    rc = stream.get_next(&stream, &a);
    if (rc != 0) throw stream_error(rc);
    if (a.release == nullptr) break;
    out->batches.push_back(a);
    const ArrowArray& b = out->batches.back();
    if (b.n_children != static_cast<int64_t>(out->parsed.fields.size())) {
      throw StatusError(Status::InvalidArgument("batch does not match the stream's schema"));
    }
    std::vector<ArrayView> cols(out->parsed.fields.size());
    for (size_t c = 0; c < cols.size(); ++c) {
      const Field& f = out->parsed.fields[c];
      ArrowArray child = *b.children[c];
      // A struct's offset applies to its children too.
      child.offset += b.offset;
      child.length = b.length;
      if (b.offset != 0) child.null_count = -1;
      ThrowIfError(MakeArrayView(child, f.type, f.name, &cols[c]));
    }
    out->views.push_back(std::move(cols));
  }
  return out;
}

namespace {

void FreeSchemaCapsule(PyObject* cap) {
  auto* s = static_cast<ArrowSchema*>(PyCapsule_GetPointer(cap, "arrow_schema"));
  if (s == nullptr) return;
  if (s->release) s->release(s);
  delete s;
}

void FreeArrayCapsule(PyObject* cap) {
  auto* a = static_cast<ArrowArray*>(PyCapsule_GetPointer(cap, "arrow_array"));
  if (a == nullptr) return;
  if (a->release) a->release(a);
  delete a;
}

}  // namespace

Schema ImportSchemaArg(pyb::object obj) {
  if (pyb::hasattr(obj, "__arrow_c_schema__")) obj = obj.attr("__arrow_c_schema__")();
  if (!pyb::isinstance<pyb::capsule>(obj)) {
    throw StatusError(Status::InvalidArgument("table_schema must be an arrow_schema capsule"));
  }
  auto cap = pyb::reinterpret_borrow<pyb::capsule>(obj);
  if (std::string(cap.name() ? cap.name() : "") != "arrow_schema") {
    throw StatusError(Status::InvalidArgument("table_schema must be an arrow_schema capsule"));
  }
  Schema s;
  ThrowIfError(ImportSchema(*cap.get_pointer<ArrowSchema>(), &s));
  return s;
}

pyb::object ExportSchemaCapsule(const Schema& schema) {
  auto* s = new ArrowSchema;
  ExportSchema(schema, s);
  return pyb::reinterpret_steal<pyb::object>(PyCapsule_New(s, "arrow_schema", FreeSchemaCapsule));
}

pyb::tuple ExportBatch(const Schema& schema, std::vector<OwnedArray> columns, int64_t length) {
  auto* s = new ArrowSchema;
  ExportSchema(schema, s);
  auto* a = new ArrowArray;
  ExportRecordBatch(std::move(columns), length, a);
  pyb::object sc = pyb::reinterpret_steal<pyb::object>(
      PyCapsule_New(s, "arrow_schema", FreeSchemaCapsule));
  pyb::object ac = pyb::reinterpret_steal<pyb::object>(
      PyCapsule_New(a, "arrow_array", FreeArrayCapsule));
  return pyb::make_tuple(sc, ac);
}

}  // namespace lamina::py
