#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/backend.h"

namespace bpr {

namespace {
thread_local bool g_grad_enabled = true;

// a := a + b, where `a` may alias another gradient: always writes a fresh tensor.
Tensor sum_grads(const Tensor& a, const Tensor& b) {
  BPR_CHECK(a.shape() == b.shape(), "gradient shapes disagree: {} vs {}", a.str(), b.str());
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  backend_for(a.device()).binary(BinaryOp::Add, a, b, out);
  return out;
}

// Leaf .grad accumulates in place; the first gradient is copied so the leaf owns it.
void accumulate_leaf(const Tensor& leaf, const Tensor& g) {
  Tensor cur = leaf.grad();
  if (!cur.defined()) {
    const_cast<Tensor&>(leaf).set_grad(g.clone());
  } else {
    backend_for(cur.device()).axpby(1.0, g, 1.0, cur);
  }
}

// Owning pointers: releasing a node drops its inputs, which may hold the last reference to
// a node further down that backward has not visited yet.
std::vector<std::shared_ptr<Node>> topo_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> seen;
  // iterative DFS with an explicit stack: (node, next input index)
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root, 0}};
  seen.insert(root.get());
  while (!stack.empty()) {
    auto& [node, i] = stack.back();
    if (i < node->inputs().size()) {
      const std::shared_ptr<Node>& child = node->inputs()[i++].grad_fn();
      if (child && seen.insert(child.get()).second) stack.push_back({child, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  return order;  // children before parents; the root is last
}

// For each leaf that requires grad: the edges into it from nodes that have not run yet.
using LeafCountdown = std::unordered_map<const TensorImpl*, int>;

LeafCountdown count_leaf_edges(const std::vector<std::shared_ptr<Node>>& order) {
  LeafCountdown edges;
  for (const auto& node : order)
    for (const Tensor& in : node->inputs())
      if (in.is_leaf() && in.requires_grad()) ++edges[in.impl()];
  return edges;
}

// `node` has run (or was passed over): the leaves whose last edge this was are final.
void count_down(const Node& node, LeafCountdown& edges, const LeafReadyFn& ready) {
  for (const Tensor& in : node.inputs())
    if (in.is_leaf() && in.requires_grad() && --edges[in.impl()] == 0) ready(in);
}

// Runs one node on its summed output gradient: leaves accumulate, interior gradients wait in
// `pending` for their node.
void apply_node(Node& node, const Tensor& g, std::unordered_map<Node*, Tensor>& pending) {
  std::vector<Tensor> grads = node.apply(g);
  const auto& inputs = node.inputs();
  BPR_CHECK(grads.size() == inputs.size(), "node '{}' returned {} gradients for {} inputs", node.name(),
            grads.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    if (!in.requires_grad() || !grads[i].defined()) continue;
    if (in.is_leaf()) {
      accumulate_leaf(in, grads[i]);
    } else {
      Tensor& slot = pending[in.grad_fn().get()];
      slot = slot.defined() ? sum_grads(slot, grads[i]) : grads[i];
    }
  }
}
}  // namespace

Node::Node(std::string name, std::vector<Tensor> inputs, BackwardFn fn, Shape out_shape)
    : name_(std::move(name)), inputs_(std::move(inputs)), fn_(std::move(fn)),
      out_shape_(std::move(out_shape)) {}

std::vector<Tensor> Node::apply(const Tensor& grad_out) {
  BPR_CHECK(fn_ != nullptr,
            "backward through node '{}' whose graph was already released "
            "(call backward with retain_graph=true to run it twice)", name_);
  return fn_(grad_out);
}

void Node::release() {
  fn_ = nullptr;
  inputs_.clear();
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, Node::BackwardFn fn) {
  if (!g_grad_enabled) return out;
  bool any = false;
  for (const Tensor& t : inputs) any = any || t.requires_grad();
  if (!any) return out;
  out.set_grad_fn(std::make_shared<Node>(name, std::move(inputs), std::move(fn), out.shape()));
  out.set_requires_grad(true);
  return out;
}

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph, const LeafReadyFn& on_leaf_ready) {
  BPR_CHECK(root.requires_grad(), "backward() on a tensor that does not require grad");
  Tensor seed = grad;
  if (!seed.defined()) {
    BPR_CHECK(root.numel() == 1, "backward() without a gradient needs a scalar, got {}", root.str());
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  BPR_CHECK(seed.shape() == root.shape(), "backward(): gradient {} does not match {}", seed.str(),
            root.str());
  if (root.is_leaf()) {
    accumulate_leaf(root, seed);
    if (on_leaf_ready) on_leaf_ready(root);
    return;
  }
  NoGradGuard no_grad;  // gradient arithmetic is never itself recorded
  std::vector<std::shared_ptr<Node>> order = topo_order(root.grad_fn());
  LeafCountdown edges = on_leaf_ready ? count_leaf_edges(order) : LeafCountdown{};
  std::unordered_map<Node*, Tensor> pending{{root.grad_fn().get(), seed}};
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = it->get();
    auto found = pending.find(node);
    const bool reached = found != pending.end();  // else nothing flowed into this node
    if (reached) {
      Tensor g = std::move(found->second);
      pending.erase(found);
      apply_node(*node, g, pending);
    }
    if (on_leaf_ready) count_down(*node, edges, on_leaf_ready);
    if (reached && !retain_graph) node->release();
  }
}

std::vector<Tensor> reachable_leaves(const Tensor& root) {
  if (!root.requires_grad()) return {};
  if (root.is_leaf()) return {root};
  std::vector<Tensor> out;
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& node : topo_order(root.grad_fn()))
    for (const Tensor& in : node->inputs())
      if (in.is_leaf() && in.requires_grad() && seen.insert(in.impl()).second) out.push_back(in);
  return out;
}

std::string dump_graph(const Tensor& root) {
  if (!root.grad_fn()) return fmt::format("leaf {}\n", root.str());
  std::vector<std::shared_ptr<Node>> order = topo_order(root.grad_fn());
  std::unordered_map<Node*, size_t> id;
  for (size_t i = 0; i < order.size(); ++i) id[order[i].get()] = i;
  std::string out;
  for (const auto& sp : order) {
    Node* n = sp.get();
    out += fmt::format("#{} {} -> {}", id[n], n->name(), shape_str(n->out_shape()));
    const char* sep = "  <- ";
    for (const Tensor& in : n->inputs()) {
      if (in.grad_fn())
        out += fmt::format("{}#{}", sep, id[in.grad_fn().get()]);
      else
        out += fmt::format("{}leaf {}{}", sep, in.str(), in.requires_grad() ? " (requires_grad)" : "");
      sep = ", ";
    }
    out += "\n";
  }
  return out;
}

}  // namespace bpr
