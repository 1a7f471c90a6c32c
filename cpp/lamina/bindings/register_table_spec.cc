#include <pybind11/stl.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lamina/arrow/widen.h"
#include "lamina/bindings/arrow_capsules.h"
#include "lamina/bindings/register.h"
#include "lamina/bindings/status_error.h"
#include "lamina/bindings/table_spec.h"
#include "lamina/merge/engine.h"

namespace pyb = pybind11;

namespace lamina::py {
namespace {

const char* const kTableKeys[] = {"key_columns", "engine", "aggregates", "table_schema"};

bool IsTableKey(const std::string& k) {
  for (const char* t : kTableKeys) {
    if (k == t) return true;
  }
  return false;
}

table::TableOptions MakeOptions(pyb::object schema, std::vector<std::string> key_columns,
                                const std::string& engine,
                                const std::map<std::string, std::string>& aggregates,
                                const std::optional<std::vector<int64_t>>& field_ids,
                                const std::map<std::string, pyb::bytes>& defaults = {}) {
  table::TableOptions o;
  o.table_schema = ImportSchemaArg(schema);
  o.key_columns = std::move(key_columns);
  o.engine = ValueOrThrow(merge::ParseEngine(engine));
  for (const auto& [column, fn] : aggregates) o.aggregates[column] = ValueOrThrow(merge::ParseAggFn(fn));
  if (field_ids) {
    ThrowIfError(table::SetSchemaFieldIds(*field_ids, &o));
  }
  for (const auto& [column, bytes] : defaults) {
    int c = o.table_schema.FieldIndex(column);
    if (c < 0) throw StatusError(Status::SchemaError("default for unknown column '" + column + "'"));
    ThrowIfError(table::SetDefault(&o, static_cast<size_t>(c), std::string(bytes)));
  }
  ThrowIfError(table::Validate(&o));
  return o;
}

std::string EngineName(merge::Engine e) {
  switch (e) {
    case merge::Engine::kDeduplicate: return "deduplicate";
    case merge::Engine::kPartialUpdate: return "partial_update";
    case merge::Engine::kAggregate: return "aggregate";
    case merge::Engine::kFirstRow: return "first_row";
  }
  return "?";
}

}  // namespace

table::TableOptions TableOptionsArg(pyb::handle options,
                                    const std::initializer_list<const char*>& extra_keys) {
  if (pyb::isinstance<TableSpec>(options)) return pyb::cast<const TableSpec&>(options).options;
  if (!pyb::isinstance<pyb::dict>(options)) {
    throw StatusError(Status::InvalidArgument("options must be a TableSpec or a dict"));
  }
  pyb::dict d = pyb::reinterpret_borrow<pyb::dict>(options);
  bool has_spec = d.contains("table");
  for (auto item : d) {
    std::string k = pyb::cast<std::string>(item.first);
    bool known = (k == "table") || (!has_spec && IsTableKey(k));
    for (const char* e : extra_keys) known = known || k == e;
    if (!known) throw StatusError(Status::InvalidArgument("unknown table option '" + k + "'"));
  }
  if (has_spec) {
    pyb::object spec = d["table"];
    if (!pyb::isinstance<TableSpec>(spec)) {
      throw StatusError(Status::InvalidArgument("options['table'] must be a TableSpec"));
    }
    return pyb::cast<const TableSpec&>(spec).options;
  }
  if (!d.contains("table_schema")) throw StatusError(Status::InvalidArgument("table_schema is required"));
  if (!d.contains("key_columns")) throw StatusError(Status::InvalidArgument("key_columns is required"));
  std::map<std::string, std::string> aggregates;
  if (d.contains("aggregates") && !d["aggregates"].is_none()) {
    aggregates = pyb::cast<std::map<std::string, std::string>>(d["aggregates"]);
  }
  std::string engine = d.contains("engine") ? pyb::cast<std::string>(d["engine"]) : "deduplicate";
  return MakeOptions(d["table_schema"], pyb::cast<std::vector<std::string>>(d["key_columns"]),
                     engine, aggregates, std::nullopt);
}

void RegisterTableSpec(pyb::module_& m) {
  m.def(
      "can_widen",
      [](pyb::object from, pyb::object to) {
        Schema f = ImportSchemaArg(from), t = ImportSchemaArg(to);
        if (f.fields.size() != 1 || t.fields.size() != 1) {
          throw StatusError(Status::InvalidArgument("can_widen takes one-field schemas"));
        }
        return CanWiden(f.fields[0].type, t.fields[0].type);
      },
      pyb::arg("from_schema"), pyb::arg("to_schema"),
      "True if the core reads a column of the first (one-field) schema's type as the "
      "second's (arrow/widen.h: the widenings update_schema().widen_column allows).");
  pyb::class_<TableSpec>(m, "TableSpec",
                         "An open table's options, parsed and validated once: pass it (or "
                         "{'table': spec, ...}) as the options of every core table call.")
      .def(pyb::init([](pyb::object schema, std::vector<std::string> key_columns,
                        const std::string& engine,
                        const std::map<std::string, std::string>& aggregates,
                        std::optional<std::vector<int64_t>> field_ids,
                        const std::map<std::string, pyb::bytes>& defaults) {
             return TableSpec{MakeOptions(schema, std::move(key_columns), engine, aggregates,
                                          field_ids, defaults)};
           }),
           pyb::arg("schema"), pyb::arg("key_columns"), pyb::arg("engine") = "deduplicate",
           pyb::arg("aggregates") = std::map<std::string, std::string>(),
           pyb::arg("field_ids") = pyb::none(),
           pyb::arg("defaults") = std::map<std::string, pyb::bytes>(),
           "schema: an arrow_schema capsule of the user columns; field_ids: the schema "
           "file's id of each top-level column (data files written with the spec carry "
           "them, and reads match file columns by them); defaults: {column: value bytes} "
           "(table/options.h SetDefault) that rows of files lacking the column read as.")
      .def_property_readonly("key_columns",
                             [](const TableSpec& s) { return s.options.key_columns; })
      .def_property_readonly("engine",
                             [](const TableSpec& s) { return EngineName(s.options.engine); })
      .def_property_readonly("field_ids", [](const TableSpec& s) {
        std::vector<int32_t> out;
        for (const Field& f : s.options.table_schema.fields) out.push_back(f.field_id);
        return out;
      });
}

}  // namespace lamina::py
