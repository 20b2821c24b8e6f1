// cell_spec and parse_cell_kind over the kinds' descriptions (each in nn/cells/<label>.cpp).
#include "tapegrad/nn/rnn_kinds.hpp"

#include <array>
#include <utility>

#include "tapegrad/autograd/error.hpp"

namespace tg::nn {

namespace {

constexpr std::size_t kKindCount = std::size(kCellKinds);

template <std::size_t... I>
constexpr bool listed_in_enum_order(std::index_sequence<I...>) {
  return ((kCellKinds[I] == static_cast<CellKind>(I)) && ...);
}
static_assert(listed_in_enum_order(std::make_index_sequence<kKindCount>{}),
              "kCellKinds lists every CellKind once, in the enum's order");

// The table is built on first use (no work when the library loads), from kCellKinds alone.
template <std::size_t... I>
std::array<const CellSpec*, kKindCount> describe_all(std::index_sequence<I...>) {
  return {&describe_cell<kCellKinds[I]>()...};
}

}  // namespace

const CellSpec& cell_spec(CellKind kind) {
  static const auto table = describe_all(std::make_index_sequence<kKindCount>{});
  const auto index = static_cast<std::size_t>(kind);
  if (index >= kKindCount) throw Error("cell_spec: not a CellKind");
  return *table[index];
}

CellKind parse_cell_kind(const std::string& name) {
  std::string names;
  for (CellKind kind : kCellKinds) {
    if (name == cell_spec(kind).label) return kind;
    names += std::string(names.empty() ? "" : ", ") + cell_spec(kind).label;
  }
  if (name == "rnn") return CellKind::RnnTanh;
  throw Error("unknown cell kind '" + name + "' (expected rnn, " + names + ")");
}

}  // namespace tg::nn
