// autograd.h — reverse-mode automatic differentiation on a tape of nodes.
// defines: Node, record, LeafReadyFn, run_backward, reachable_leaves, grad_enabled, NoGradGuard,
//          dump_graph
//
// How it works (the whole of it is in autograd.cpp):
//  * An op that produced `out` from `inputs` while grad mode is on, and at least one input
//    requires grad, attaches a Node to `out`: its name, its inputs and a backward closure
//    mapping dL/d(out) to one dL/d(input) per input (undefined where not needed).
//  * backward() sorts the nodes reachable from the root topologically (depth-first), then
//    walks them from the root down, summing gradients that reach a tensor along several
//    paths. Leaves that require grad accumulate into .grad (+=, so call zero_grad between
//    steps); interior gradients are freed as soon as they are consumed.
//  * A leaf's gradient is final once every node that consumes it has run, or been passed
//    over because no gradient reached it; run_backward counts those edges down and, when
//    asked, reports each leaf at that moment (LeafReadyFn). Data-parallel training starts
//    summing a layer's gradients across ranks there, while backward goes on below it.
//  * Closures capture only what their backward needs (flashlight's lesson); after backward
//    the graph is released unless retain_graph is set.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace bpr {

class Node {
 public:
  using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

  Node(std::string name, std::vector<Tensor> inputs, BackwardFn fn, Shape out_shape);
  const std::string& name() const { return name_; }
  const std::vector<Tensor>& inputs() const { return inputs_; }
  const Shape& out_shape() const { return out_shape_; }
  // Runs the closure; throws if the graph was already released.
  std::vector<Tensor> apply(const Tensor& grad_out);
  void release();  // drops the closure and the edges (frees saved tensors)

 private:
  std::string name_;
  std::vector<Tensor> inputs_;
  BackwardFn fn_;
  Shape out_shape_;
};

// True unless a NoGradGuard is alive on this thread.
bool grad_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Attaches a Node to `out` when grad mode is on and any input requires grad; returns `out`.
Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, Node::BackwardFn fn);

// Called by run_backward once per leaf that requires grad and is reachable from the root, as
// soon as its .grad is final for this pass (it may be undefined: no gradient reached it).
// Leaves come in the order their gradients complete, which is fixed by the graph.
using LeafReadyFn = std::function<void(const Tensor& leaf)>;

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph,
                  const LeafReadyFn& on_leaf_ready = nullptr);
// The leaves that require grad and that a backward from `root` would report (the root itself
// when it is one), each once. A leaf not among them gets no gradient from that backward.
std::vector<Tensor> reachable_leaves(const Tensor& root);

// Human-readable listing of the graph below `root`, one node per line in execution order:
//   #3 conv2d -> [8, 16, 32, 32]  <- #2, leaf f32[16, 8, 3, 3] (requires_grad)
std::string dump_graph(const Tensor& root);

}  // namespace bpr
