// The graph's lifetime and PyTorch's backward semantics: several losses from one forward,
// retain_graph, freed parts, unguarded forwards, tg::backward of several roots, tg::grad, hooks,
// retain_grad, and no access to the arrays of a temporary tensor.
#include <catch2/catch.hpp>

#include <memory>
#include <type_traits>
#include <vector>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/nn/nn.hpp"

using namespace tg;

namespace {

Tensor vec64(const std::vector<double>& v) {
  return Tensor::from_vector(v, {v.size()}, DType::Float64, true);
}

std::vector<double> grad_of(const Tensor& t) { return t.grad_tensor().to_vector(); }

// Whether `value()` can be called on an expression of type T (a temporary must not compile).
template <class T, class = void>
struct can_read_value : std::false_type {};
template <class T>
struct can_read_value<T, std::void_t<decltype(std::declval<T>().template value<float>())>>
    : std::true_type {};
template <class T, class = void>
struct can_read_grad : std::false_type {};
template <class T>
struct can_read_grad<T, std::void_t<decltype(std::declval<T>().template grad<float>())>>
    : std::true_type {};

}  // namespace

TEST_CASE("two losses of one forward: retain_graph then a second backward accumulates",
          "[graph]") {
  // y is shared; d l1/dx = 2x = {2, 4, 6}, d l2/dx = 3: PyTorch gives x.grad = {5, 7, 9}.
  const Tensor x = vec64({1, 2, 3});
  const Tensor y = x * 1.0;
  const Tensor l1 = sum(y * y);
  const Tensor l2 = sum(y * 3.0);
  l1.backward(Tensor(), /*retain_graph=*/true);
  CHECK(grad_of(x) == std::vector<double>{2, 4, 6});
  l2.backward();
  CHECK(grad_of(x) == std::vector<double>{5, 7, 9});
}

TEST_CASE("without retain_graph, back-propagating through a freed part throws and computes "
          "nothing",
          "[graph]") {
  const Tensor x = vec64({1, 2, 3});
  const Tensor y = x * 1.0;
  const Tensor l1 = sum(y * y);
  const Tensor l2 = sum(y * 3.0);
  l1.backward();
  CHECK_THROWS_WITH(l2.backward(), Catch::Contains("freed") && Catch::Contains("retain_graph") &&
                                       Catch::Contains("mul"));
  CHECK(grad_of(x) == std::vector<double>{2, 4, 6});  // the failed pass added nothing
  CHECK_THROWS_WITH(l1.backward(), Catch::Contains("retain_graph"));  // the same loss again
}

TEST_CASE("independent graphs: backward frees only its own, in either order", "[graph]") {
  // Two graphs over the same parameters, interleaved. Expected values are PyTorch's: the sum of
  // d/dw sum(tanh(w * a)) = a (1 - tanh^2(w a)) and d/dw sum(w * w * b) = 2 w b.
  const std::vector<double> w0{0.5, -1.0, 2.0}, a{1.5, 0.25, -0.5}, b{2.0, -3.0, 0.5};
  std::vector<double> expected(3);
  for (int i = 0; i < 3; ++i) {
    const double t = std::tanh(w0[i] * a[i]);
    expected[i] = a[i] * (1 - t * t) + 2 * w0[i] * b[i];
  }
  for (bool first_a : {true, false}) {
    const Tensor w = vec64(w0);
    const Tensor ta = Tensor::from_vector(a, {3}, DType::Float64);
    const Tensor tb = Tensor::from_vector(b, {3}, DType::Float64);
    const Tensor ha = tanh(w * ta);
    const Tensor hb = w * w;
    const Tensor la = sum(ha);
    const Tensor lb = sum(hb * tb);
    (first_a ? la : lb).backward();
    (first_a ? lb : la).backward();  // the other graph is intact
    const std::vector<double> g = grad_of(w);
    for (int i = 0; i < 3; ++i) CHECK(g[i] == Approx(expected[i]).epsilon(1e-14));
  }
}

TEST_CASE("several roots in one call, with and without seeds", "[graph]") {
  const Tensor x = vec64({1, 2, 3});
  const Tensor y = x * x;
  const Tensor l1 = sum(y);
  const Tensor l2 = sum(y * x);  // d/dx = 3x^2
  backward({l1, l2});
  CHECK(grad_of(x) == std::vector<double>{2 + 3, 4 + 12, 6 + 27});

  const Tensor z = vec64({1, 2});
  const Tensor u = z * 2.0, v = z * z;
  backward({u, v}, {Tensor::from_vector({1, 10}, {2}, DType::Float64),
                    Tensor::from_vector({100, 1000}, {2}, DType::Float64)});
  CHECK(grad_of(z) == std::vector<double>{2 + 200, 20 + 4000});

  CHECK_THROWS_WITH(backward({u}, {Tensor::ones({2}, DType::Float64)}),
                    Catch::Contains("retain_graph"));
  CHECK_THROWS_WITH(backward({sum(z * 1.0), z * 1.0}), Catch::Contains("not a scalar"));
  CHECK_THROWS_WITH(backward({sum(z * 1.0)}, {Tensor::ones({2}, DType::Float64)}),
                    Catch::Contains("seed"));
  CHECK_THROWS_WITH(backward({}), Catch::Contains("no tensors"));
}

TEST_CASE("the graph lives as long as its tensors: unguarded forwards free themselves",
          "[graph]") {
  const std::size_t before = live_node_count();
  const Tensor w = vec64({0.5, -1, 2});
  {
    const Tensor x = Tensor::from_vector({1, 2, 3}, {3}, DType::Float64);
    std::weak_ptr<TensorImpl> hidden;
    Tensor loss;
    {
      const Tensor h = tanh(w * x);
      hidden = h.impl_ptr();
      loss = sum(h * h);
    }
    CHECK(live_node_count() - before == 4);  // mul, tanh, mul, sum
    CHECK_FALSE(hidden.expired());           // the graph holds h
    loss.backward();
    CHECK(hidden.expired());  // released by backward: h's node and array are gone
    loss = Tensor();
    CHECK(live_node_count() == before);
  }
  {
    std::weak_ptr<TensorImpl> hidden;
    Tensor out = tanh(w * 2.0);
    hidden = (out * 1.0).impl_ptr();  // a result nobody keeps dies at once, with its node
    CHECK(hidden.expired());
    out = Tensor();  // no backward: dropping the last tensor frees the graph
    CHECK(live_node_count() == before);
  }
}

TEST_CASE("10,000 forwards of a recurrent model without NoGradGuard keep the node count flat",
          "[graph]") {
  Generator gen(1);
  nn::RecurrentOptions o;
  o.input_size(4);
  o.hidden_size(8);
  o.num_layers(2);
  nn::LSTM lstm(o, gen);
  nn::Linear head(8, 3, true, gen);
  const Tensor x = Tensor::uniform({6, 2, 4}, -1, 1, DType::Float32, gen);
  const std::size_t before = live_node_count();
  std::size_t after_first = 0, most = 0;
  for (int i = 0; i < 10000; ++i) {
    const Tensor logits = head(lstm.forward(x, {}).last);
    if (i == 0) {
      REQUIRE(logits.requires_grad());
      after_first = live_node_count();
    }
    most = std::max(most, live_node_count());
  }
  INFO("nodes before " << before << ", after one forward " << after_first << ", most " << most
                       << ", at the end " << live_node_count());
  CHECK(after_first - before >= 4);  // the forward did record (a node per layer, gathers, head)
  CHECK(most == after_first);          // each forward's graph went with its result
  CHECK(live_node_count() == before);  // and nothing (the layer's buffer pool included) holds one
}

TEST_CASE("tg::grad returns what .grad would hold, touching no .grad", "[graph]") {
  const Tensor x = vec64({0.5, -1, 2});
  const Tensor w = vec64({3, 1, -2});
  auto f = [&] { return sum(tanh(x * w) * x); };
  f().backward();
  const std::vector<double> gx = grad_of(x), gw = grad_of(w);

  x.zero_grad();
  sum(x * 100.0).backward();  // .grad holds something else now
  const std::vector<Tensor> g = grad({f()}, {x, w});
  CHECK(g[0].to_vector() == gx);
  CHECK(g[1].to_vector() == gw);
  CHECK(grad_of(x) == std::vector<double>{100, 100, 100});  // untouched
  CHECK_FALSE(g[0].requires_grad());

  const Tensor unused = vec64({1});
  CHECK_THROWS_WITH(grad({f()}, {x, unused}), Catch::Contains("input 1") &&
                                                   Catch::Contains("not used") &&
                                                   Catch::Contains("allow_unused"));
  const std::vector<Tensor> g2 =
      grad({f()}, {unused, w}, {}, false, /*create_graph=*/false, /*allow_unused=*/true);
  CHECK_FALSE(g2[0].defined());
  CHECK(g2[1].to_vector() == gw);

  // With respect to an intermediate tensor, and the graph freed unless retained.
  const Tensor h = tanh(x * w);
  const Tensor loss = sum(h * h);
  const Tensor gh = grad({loss}, {h}, {}, /*retain_graph=*/true)[0];
  const std::vector<double> hv = h.to_vector(), ghv = gh.to_vector();
  for (int i = 0; i < 3; ++i) CHECK(ghv[i] == Approx(2 * hv[i]).epsilon(1e-15));
  grad({loss}, {h});
  CHECK_THROWS_WITH(grad({loss}, {h}), Catch::Contains("retain_graph"));
}

TEST_CASE("retain_grad keeps a non-leaf's gradient, and without it grad() says so", "[graph]") {
  const Tensor x = vec64({1, 2});
  const Tensor h = x * 3.0;
  const Tensor kept = h * 1.0;
  kept.retain_grad();
  const Tensor loss = sum(kept * h);  // d/dkept = h = {3, 6}
  loss.backward(Tensor(), true);
  CHECK_THROWS_WITH(h.grad<double>(), Catch::Contains("non-leaf") &&
                                          Catch::Contains("retain_grad"));
  CHECK(grad_of(kept) == std::vector<double>{3, 6});
  loss.backward();
  CHECK(grad_of(kept) == std::vector<double>{6, 12});  // accumulates as a leaf's does
  kept.zero_grad();
  CHECK_FALSE(kept.has_grad());
}

TEST_CASE("hooks see each gradient once it is complete, and may change it", "[graph]") {
  const Tensor w1 = vec64({1, 2});
  const Tensor w2 = vec64({3, 4});
  std::vector<std::string> calls;
  std::vector<double> seen_w1, seen_h;
  w1.register_hook([&](Tensor& g) {
    calls.push_back("w1");
    seen_w1 = g.to_vector();
  });
  w2.register_hook([&](Tensor&) { calls.push_back("w2"); });
  const Tensor h = w1 * w1;  // used twice below: its gradient is complete only after both
  h.register_hook([&](Tensor& g) {
    calls.push_back("h");
    seen_h = g.to_vector();
    g.mutable_value<double>() *= 2.0;  // doubles what flows on into w1
  });
  const Tensor loss = sum(h * w2) + sum(h);
  loss.backward();
  // w2 is used last, so its gradient is complete first: a data-parallel trainer can start
  // averaging it while backward goes on to w1.
  CHECK(calls == std::vector<std::string>{"w2", "h", "w1"});
  CHECK(seen_h == std::vector<double>{4, 5});              // w2 + 1
  CHECK(seen_w1 == std::vector<double>{2 * 4 * 2, 2 * 5 * 4});  // 2 * (w2 + 1) * 2 w1
  CHECK(grad_of(w1) == seen_w1);
  CHECK_THROWS_WITH(Tensor::ones({1}).register_hook([](Tensor&) {}),
                    Catch::Contains("does not require grad"));
}

TEST_CASE("a hook that throws stops backward with its error", "[graph]") {
  const Tensor x = vec64({1});
  const Tensor h = x * 2.0;
  h.register_hook([](Tensor&) { throw Error("hook says no"); });
  CHECK_THROWS_WITH(sum(h).backward(), "hook says no");
}

TEST_CASE("the arrays of a temporary tensor cannot be referenced", "[graph]") {
  static_assert(!can_read_value<Tensor>::value, "value() on a temporary must not compile");
  static_assert(!can_read_grad<Tensor>::value, "grad() on a temporary must not compile");
  static_assert(can_read_value<Tensor&>::value && can_read_value<const Tensor&>::value);
  static_assert(can_read_grad<Tensor&>::value && can_read_grad<const Tensor&>::value);
  const Tensor x = Tensor::ones({2});
  const Tensor y = x * 2.0f;
  const auto& v = y.value();  // a named tensor: fine
  CHECK(v(1) == 2.0f);
}

TEST_CASE("graph_nodes lists what the roots reach, in execution order", "[graph]") {
  const Tensor x = vec64({1, 2});
  const Tensor a = tanh(x);
  const Tensor other = exp(x);
  const Tensor b = sum(a * 2.0);
  std::vector<std::string> ops;
  for (const auto& node : graph_nodes({b})) ops.push_back(node->op);
  CHECK(ops == std::vector<std::string>{"tanh", "mul", "sum"});
  CHECK(graph_nodes({other}).size() == 1);
  CHECK(graph_nodes({x}).empty());
}
