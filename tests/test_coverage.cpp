// README's coverage table, generated from the op registry and the public module classes with
// PyTorch's name beside each: the test fails when README.md's table differs from the generated
// one (and writes the generated one to the build folder to paste), when a registered op has no
// PyTorch name here, or a public module class is missing from the catalogue below.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "autograd/op_registry.hpp"
#include "op_cases.hpp"

namespace {

// Registered op name -> (tapegrad call, PyTorch equivalent).
const std::map<std::string, std::pair<std::string, std::string>> kOps = {
    {"abs", {"tg::abs", "torch.abs"}},
    {"add", {"tg::add, +", "torch.add, +"}},
    {"avg_pool1d", {"tg::avg_pool1d", "F.avg_pool1d"}},
    {"binary_cross_entropy", {"tg::binary_cross_entropy", "F.binary_cross_entropy"}},
    {"binary_cross_entropy_with_logits", {"tg::binary_cross_entropy_with_logits", "F.binary_cross_entropy_with_logits"}},
    {"broadcast_to", {"tg::broadcast_to, tg::expand", "torch.broadcast_to, Tensor.expand"}},
    {"clamp", {"tg::clamp", "torch.clamp"}},
    {"concat", {"tg::concat", "torch.cat"}},
    {"conv1d", {"tg::conv1d", "F.conv1d"}},
    {"cos", {"tg::cos", "torch.cos"}},
    {"cross_entropy", {"tg::cross_entropy", "F.cross_entropy"}},
    {"cumsum", {"tg::cumsum", "torch.cumsum"}},
    {"div", {"tg::div, /", "torch.div, /"}},
    {"dropout", {"tg::dropout", "F.dropout"}},
    {"embedding", {"tg::embedding", "F.embedding"}},
    {"erf", {"tg::erf", "torch.erf"}},
    {"exp", {"tg::exp", "torch.exp"}},
    {"flip", {"tg::flip", "torch.flip"}},
    {"fold1d", {"tg::fold1d", "F.fold (one spatial axis)"}},
    {"gather", {"tg::gather", "torch.gather"}},
    {"gelu", {"tg::gelu", "F.gelu"}},
    {"gelu_tanh", {"tg::gelu(x, GeluApproximation::Tanh)", "F.gelu(x, approximate=\"tanh\")"}},
    {"huber_loss", {"tg::huber_loss", "F.huber_loss"}},
    {"index_add", {"tg::index_add", "Tensor.index_add"}},
    {"index_select", {"tg::index_select", "torch.index_select"}},
    {"l1_loss", {"tg::l1_loss", "F.l1_loss"}},
    {"layer_norm", {"tg::layer_norm", "F.layer_norm"}},
    {"linear", {"tg::linear", "F.linear"}},
    {"log", {"tg::log", "torch.log"}},
    {"log1p", {"tg::log1p", "torch.log1p"}},
    {"log_softmax", {"tg::log_softmax", "F.log_softmax"}},
    {"logsumexp", {"tg::logsumexp", "torch.logsumexp"}},
    {"masked_fill", {"tg::masked_fill", "Tensor.masked_fill"}},
    {"masked_softmax", {"tg::masked_softmax", "softmax after masked_fill(-inf) (zeros where all hidden)"}},
    {"matmul", {"tg::matmul, tg::einsum", "torch.matmul, torch.einsum"}},
    {"max", {"tg::max", "torch.amax"}},
    {"max_pool1d", {"tg::max_pool1d", "F.max_pool1d"}},
    {"maximum", {"tg::maximum", "torch.maximum"}},
    {"mean", {"tg::mean", "torch.mean"}},
    {"min", {"tg::min", "torch.amin"}},
    {"minimum", {"tg::minimum", "torch.minimum"}},
    {"mse_loss", {"tg::mse_loss", "F.mse_loss"}},
    {"mul", {"tg::mul, *", "torch.mul, *"}},
    {"neg", {"tg::neg, unary -", "torch.neg"}},
    {"nll_loss", {"tg::nll_loss", "F.nll_loss"}},
    {"pow", {"tg::pow (tensor exponent)", "torch.pow"}},
    {"pow_scalar", {"tg::pow (number exponent)", "torch.pow"}},
    {"relu", {"tg::relu", "F.relu"}},
    {"repeat", {"tg::repeat", "Tensor.repeat"}},
    {"reshape", {"tg::reshape", "torch.reshape"}},
    {"scatter_add", {"tg::scatter_add", "Tensor.scatter_add"}},
    {"sigmoid", {"tg::sigmoid", "torch.sigmoid"}},
    {"sin", {"tg::sin", "torch.sin"}},
    {"slice", {"tg::slice, tg::split, tg::chunk", "x[a:b:step], torch.split, torch.chunk"}},
    {"smooth_l1_loss", {"tg::smooth_l1_loss", "F.smooth_l1_loss"}},
    {"softmax", {"tg::softmax", "F.softmax"}},
    {"softplus", {"tg::softplus", "F.softplus"}},
    {"sqrt", {"tg::sqrt", "torch.sqrt"}},
    {"squeeze", {"tg::squeeze", "torch.squeeze"}},
    {"stack", {"tg::stack", "torch.stack"}},
    {"std", {"tg::stddev", "torch.std"}},
    {"sub", {"tg::sub, -", "torch.sub, -"}},
    {"sum", {"tg::sum", "torch.sum"}},
    {"tanh", {"tg::tanh", "torch.tanh"}},
    {"topk", {"tg::topk", "torch.topk"}},
    {"transpose", {"tg::transpose", "torch.permute"}},
    {"tril", {"tg::tril", "torch.tril"}},
    {"triu", {"tg::triu", "torch.triu"}},
    {"unfold1d", {"tg::unfold1d", "F.unfold (one spatial axis)"}},
    {"unsqueeze", {"tg::unsqueeze", "torch.unsqueeze"}},
    {"var", {"tg::var", "torch.var"}},
    {"where", {"tg::where", "torch.where"}},
};

// Public module class -> PyTorch equivalent ("" for tapegrad's own building blocks).
const std::map<std::string, std::string> kModules = {
    {"Activation", "(any function as a module)"},
    {"AvgPool1d", "nn.AvgPool1d"},
    {"BCELoss", "nn.BCELoss"},
    {"BCEWithLogitsLoss", "nn.BCEWithLogitsLoss"},
    {"BatchNorm1d", "nn.BatchNorm1d"},
    {"Conv1d", "nn.Conv1d"},
    {"CrossEntropyLoss", "nn.CrossEntropyLoss"},
    {"CustomCell", "(a recurrent cell written with ops)"},
    {"CustomRecurrent", "(a layer over custom cells)"},
    {"Dropout", "nn.Dropout"},
    {"ELU", "nn.ELU"},
    {"Embedding", "nn.Embedding"},
    {"Forwarding", "(operator() for any forward signature)"},
    {"FusedCell", "(the fused cell of any kind)"},
    {"FusedRecurrent", "(the fused layer of any kind)"},
    {"GELU", "nn.GELU"},
    {"GRU", "nn.GRU"},
    {"GRUCell", "nn.GRUCell"},
    {"HuberLoss", "nn.HuberLoss"},
    {"Identity", "nn.Identity"},
    {"L1Loss", "nn.L1Loss"},
    {"LSTM", "nn.LSTM"},
    {"LSTMCell", "nn.LSTMCell"},
    {"LSTMProj", "nn.LSTM(proj_size=...)"},
    {"LayerNorm", "nn.LayerNorm"},
    {"LeakyReLU", "nn.LeakyReLU"},
    {"Linear", "nn.Linear"},
    {"LogSoftmax", "nn.LogSoftmax"},
    {"MGU", "(minimal gated unit; no PyTorch layer)"},
    {"MSELoss", "nn.MSELoss"},
    {"MaxPool1d", "nn.MaxPool1d"},
    {"ModuleDict", "nn.ModuleDict"},
    {"ModuleList", "nn.ModuleList"},
    {"MultiheadAttention", "nn.MultiheadAttention"},
    {"NLLLoss", "nn.NLLLoss"},
    {"OpsCell", "(a fused kind written with ops: differentiable twice)"},
    {"RNN", "nn.RNN"},
    {"RNNCell", "nn.RNNCell"},
    {"ReLU", "nn.ReLU"},
    {"RecurrentCell", "(base of the cells)"},
    {"RecurrentDriver", "(the recurrent driver)"},
    {"RecurrentLayer", "(base of the fused layers)"},
    {"Sequential", "nn.Sequential"},
    {"SiLU", "nn.SiLU"},
    {"Sigmoid", "nn.Sigmoid"},
    {"SmoothL1Loss", "nn.SmoothL1Loss"},
    {"Softmax", "nn.Softmax"},
    {"Softplus", "nn.Softplus"},
    {"Tanh", "nn.Tanh"},
    {"TransformerDecoder", "nn.TransformerDecoder"},
    {"TransformerDecoderLayer", "nn.TransformerDecoderLayer"},
    {"TransformerEncoder", "nn.TransformerEncoder"},
    {"TransformerEncoderLayer", "nn.TransformerEncoderLayer"},
};

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every class of the public nn headers that derives from a module class, and every name of a
// kind's fused layer (`using LSTM = FusedRecurrent<CellKind::Lstm>`).
std::set<std::string> public_module_classes() {
  namespace fs = std::filesystem;
  const std::regex derived(R"(class (\w+) : public (\w+)|using (\w+) = \w+<CellKind::)");
  std::set<std::string> found;
  for (const auto& entry : fs::directory_iterator(fs::path(TAPEGRAD_SOURCE_DIR) / "include/tapegrad/nn")) {
    const std::string text = read(entry.path());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), derived); it != std::sregex_iterator(); ++it)
      found.insert((*it)[1].matched ? (*it)[1] : (*it)[3]);
  }
  return found;
}

std::string generated_table(const std::vector<std::string>& ops) {
  std::string out = "| tape op | tapegrad | PyTorch |\n|---|---|---|\n";
  for (const auto& op : ops) {
    const auto it = kOps.find(op);
    if (it != kOps.end()) out += "| `" + op + "` | `" + it->second.first + "` | `" + it->second.second + "` |\n";
  }
  out += "\n| tg::nn module | PyTorch |\n|---|---|\n";
  for (const auto& [name, torch] : kModules)
    out += "| `" + name + "` | " + (torch.rfind("(", 0) == 0 ? torch : "`" + torch + "`") + " |\n";
  return out;
}

}  // namespace

TEST_CASE("every registered op and public module has its PyTorch name in the coverage table", "[docs]") {
  tg::testing::op_cases();  // (the linker keeps every op file: see tests/CMakeLists.txt)
  const std::vector<std::string> ops = tg::registered_ops();
  REQUIRE(ops.size() > 60);
  for (const auto& op : ops) {
    if (kOps.count(op)) continue;
    INFO("registered op without a PyTorch name in tests/test_coverage.cpp: " << op);
    CHECK(op.find("rnn") != std::string::npos);
  }
  for (const auto& [op, names] : kOps) {
    INFO("op in the table but not registered: " << op);
    CHECK(std::find(ops.begin(), ops.end(), op) != ops.end());
  }
  const std::set<std::string> classes = public_module_classes();
  REQUIRE(classes.size() > 40);
  for (const auto& c : classes) {
    INFO("public module class without a row in tests/test_coverage.cpp: " << c);
    CHECK(kModules.count(c) == 1);
  }
  for (const auto& [c, torch] : kModules) {
    INFO("module row for a class that is not public: " << c);
    CHECK(classes.count(c) == 1);
  }
}

TEST_CASE("README.md's coverage table is the generated one", "[docs]") {
  const std::string table = generated_table(tg::registered_ops());
  const std::string readme = read(std::filesystem::path(TAPEGRAD_SOURCE_DIR) / "README.md");
  const std::string begin = "<!-- coverage:begin -->\n", end = "<!-- coverage:end -->";
  const std::size_t a = readme.find(begin), b = readme.find(end);
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  const std::string written = readme.substr(a + begin.size(), b - a - begin.size());
  if (written != table) {
    std::ofstream("coverage_table.md") << table;
    FAIL("README.md's coverage table differs from the registries: paste build/tests/coverage_table.md "
         "between the coverage markers");
  }
  SUCCEED("README's table matches");
}
