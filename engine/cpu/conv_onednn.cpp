// The oneDNN convolution path (onednn_conv.h): per-shape plans of primitives and reorders,
// grow-only scratch buffers shared by all plans (convolutions run one at a time), and the
// scratchpad handed to oneDNN instead of letting it allocate per call.
#include <dnnl.hpp>

#include <map>
#include <tuple>

#include "engine/cpu/onednn_conv.h"
#include "engine/error.h"

namespace bpr {

namespace {
using dnnl::memory;
using Tag = memory::format_tag;

memory::desc plain(const memory::dims& d, Tag tag) { return memory::desc(d, memory::data_type::f32, tag); }

// Everything about one convolution shape, built on its first use.
struct Plan {
  memory::desc x, w, b, y;  // bpr's layouts: nchw, oihw (goihw when grouped), x, nchw
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  // backward, built on the first backward of this shape
  bool have_bwd = false;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_data bwd_data;
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd;
  dnnl::convolution_backward_weights bwd_w;
};

// (N, C, H, W, O, R, S, stride, pad, groups, bias, training, relu)
using PlanKey = std::tuple<int, int, int, int, int, int, int, int, int, int, bool, bool, bool>;

// A grow-only buffer per role; oneDNN memories are views of them.
class Scratch {
 public:
  float* get(int role, size_t bytes) {
    auto& b = bufs_[role];
    if (b.size() < (bytes + sizeof(float) - 1) / sizeof(float) + 16) b.assign((bytes + sizeof(float) - 1) / sizeof(float) + 16, 0.0f);
    return align(b.data());
  }

 private:
  static float* align(float* p) {  // 64-byte aligned views for the vector kernels
    auto v = reinterpret_cast<uintptr_t>(p);
    return reinterpret_cast<float*>((v + 63) & ~uintptr_t(63));
  }
  std::map<int, std::vector<float>> bufs_;
};

enum Role { kX, kW, kY, kGY, kGX, kGW, kGYw, kXw, kPad };

class OneDnnConvImpl final : public OneDnnConv {
 public:
  OneDnnConvImpl() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  void forward(const Tensor& x, const Tensor& w, const Tensor* b, const ConvGeom& g, bool training, bool relu,
               Tensor& y) override {
    Plan& p = plan(g, b != nullptr, training, relu);
    memory ux(p.x, engine_, x.data<float>()), uw(p.w, engine_, w.data<float>());
    memory uy(p.y, engine_, y.data<float>());
    memory mx = into(ux, p.fwd_pd.src_desc(), kX), mw = into(uw, p.fwd_pd.weights_desc(), kW);
    memory my = view_or_scratch(uy, p.fwd_pd.dst_desc(), kY);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mx}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, my},
                                         {DNNL_ARG_SCRATCHPAD, scratchpad(p.fwd_pd.scratchpad_desc())}};
    if (b) args.emplace(DNNL_ARG_BIAS, memory(p.b, engine_, b->data<float>()));
    p.fwd.execute(stream_, args);
    out_of(my, uy);
    stream_.wait();
  }

  void backward(const Tensor& x, const Tensor& w, const Tensor& gy, const ConvGeom& g, Tensor* gx, Tensor* gw,
                Tensor* gb) override {
    Plan& p = plan(g, gb != nullptr, true, false);
    if (!p.have_bwd) build_backward(p, g, gb != nullptr);
    memory ugy(p.y, engine_, gy.data<float>());
    if (gx) {
      memory uw(p.w, engine_, w.data<float>()), ugx(p.x, engine_, gx->data<float>());
      memory mgy = into(ugy, p.bwd_data_pd.diff_dst_desc(), kGY), mw = into(uw, p.bwd_data_pd.weights_desc(), kW);
      memory mgx = view_or_scratch(ugx, p.bwd_data_pd.diff_src_desc(), kGX);
      p.bwd_data.execute(stream_, {{DNNL_ARG_DIFF_DST, mgy}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DIFF_SRC, mgx},
                                   {DNNL_ARG_SCRATCHPAD, scratchpad(p.bwd_data_pd.scratchpad_desc())}});
      out_of(mgx, ugx);
    }
    if (gw || gb) {
      // The weight gradient is needed for the bias gradient too: computed into scratch
      // when only gb was asked for.
      memory ux(p.x, engine_, x.data<float>());
      memory ugw(p.w, engine_, gw ? gw->data<float>() : scratch_.get(kGW + 10, p.w.get_size()));
      memory mx = into(ux, p.bwd_w_pd.src_desc(), kXw), mgy = into(ugy, p.bwd_w_pd.diff_dst_desc(), kGYw);
      memory mgw = view_or_scratch(ugw, p.bwd_w_pd.diff_weights_desc(), kGW);
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mx}, {DNNL_ARG_DIFF_DST, mgy}, {DNNL_ARG_DIFF_WEIGHTS, mgw},
                                           {DNNL_ARG_SCRATCHPAD, scratchpad(p.bwd_w_pd.scratchpad_desc())}};
      if (gb) args.emplace(DNNL_ARG_DIFF_BIAS, memory(p.b, engine_, gb->data<float>()));
      p.bwd_w.execute(stream_, args);
      out_of(mgw, ugw);
    }
    stream_.wait();
  }

  std::string describe() const override {
    const dnnl_version_t* v = dnnl_version();
    return fmt::format("oneDNN {}.{}.{}, ISA {}", v->major, v->minor, v->patch, isa_name());
  }

 private:
  static const char* isa_name() {
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::avx512_core_amx: return "avx512+amx";
      case dnnl::cpu_isa::avx512_core_bf16: return "avx512-bf16";
      case dnnl::cpu_isa::avx512_core_vnni: return "avx512-vnni";
      case dnnl::cpu_isa::avx512_core: return "avx512";
      case dnnl::cpu_isa::avx2_vnni: return "avx2-vnni";
      case dnnl::cpu_isa::avx2: return "avx2";
      case dnnl::cpu_isa::avx: return "avx";
      case dnnl::cpu_isa::sse41: return "sse4.1";
      default: return "other";
    }
  }

  static dnnl::primitive_attr attr(bool relu) {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      a.set_post_ops(ops);
    }
    return a;
  }

  Plan& plan(const ConvGeom& g, bool bias, bool training, bool relu) {
    const PlanKey key{g.N, g.C, g.H, g.W, g.O, g.R, g.S, g.stride, g.pad, g.groups, bias, training, relu};
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    Plan p;
    p.x = plain({g.N, g.C, g.H, g.W}, Tag::nchw);
    // bpr's (O, C/G, R, S) weight is oneDNN's (G, O/G, C/G, R, S) in goihw: the same bytes
    p.w = g.groups == 1 ? plain({g.O, g.C, g.R, g.S}, Tag::oihw)
                        : plain({g.groups, g.group_out(), g.group_in(), g.R, g.S}, Tag::goihw);
    p.b = plain({g.O}, Tag::x);
    p.y = plain({g.N, g.O, g.P, g.Q}, Tag::nchw);
    const memory::dims strides{g.stride, g.stride}, pad{g.pad, g.pad};
    auto any = [](const memory::desc& d) { return memory::desc(d.dims(), memory::data_type::f32, Tag::any); };
    const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    const auto desc = bias ? dnnl::convolution_forward::desc(prop, dnnl::algorithm::convolution_direct, any(p.x),
                                                             any(p.w), p.b, any(p.y), strides, pad, pad)
                           : dnnl::convolution_forward::desc(prop, dnnl::algorithm::convolution_direct, any(p.x),
                                                             any(p.w), any(p.y), strides, pad, pad);
    p.fwd_pd = dnnl::convolution_forward::primitive_desc(desc, attr(relu), engine_);
    p.fwd = dnnl::convolution_forward(p.fwd_pd);
    return plans_.emplace(key, std::move(p)).first->second;
  }

  void build_backward(Plan& p, const ConvGeom& g, bool bias) {
    const memory::dims strides{g.stride, g.stride}, pad{g.pad, g.pad};
    auto any = [](const memory::desc& d) { return memory::desc(d.dims(), memory::data_type::f32, Tag::any); };
    const auto alg = dnnl::algorithm::convolution_direct;
    p.bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(alg, any(p.x), any(p.w), any(p.y), strides, pad, pad), attr(false),
        engine_, p.fwd_pd);
    p.bwd_data = dnnl::convolution_backward_data(p.bwd_data_pd);
    const auto wdesc = bias ? dnnl::convolution_backward_weights::desc(alg, any(p.x), any(p.w), p.b, any(p.y), strides,
                                                                      pad, pad)
                            : dnnl::convolution_backward_weights::desc(alg, any(p.x), any(p.w), any(p.y), strides, pad,
                                                                      pad);
    p.bwd_w_pd = dnnl::convolution_backward_weights::primitive_desc(wdesc, attr(false), engine_, p.fwd_pd);
    p.bwd_w = dnnl::convolution_backward_weights(p.bwd_w_pd);
    p.have_bwd = true;
  }

  // `user` itself when the primitive takes its layout; else a reorder into scratch `role`.
  memory into(const memory& user, const memory::desc& want, int role) {
    if (user.get_desc() == want) return user;
    memory m(want, engine_, scratch_.get(role, want.get_size()));
    reorder(user.get_desc(), want).execute(stream_, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, m}});
    return m;
  }
  // Where a primitive writes: the user's buffer when the layouts agree, else scratch.
  memory view_or_scratch(const memory& user, const memory::desc& want, int role) {
    return user.get_desc() == want ? user : memory(want, engine_, scratch_.get(role, want.get_size()));
  }
  void out_of(const memory& result, const memory& user) {
    if (result.get_data_handle() == user.get_data_handle()) return;
    reorder(result.get_desc(), user.get_desc()).execute(stream_, {{DNNL_ARG_FROM, result}, {DNNL_ARG_TO, user}});
  }
  memory scratchpad(const memory::desc& d) { return memory(d, engine_, scratch_.get(kPad, d.get_size())); }

  // Reorder primitives by (from, to) layout, built once.
  dnnl::reorder& reorder(const memory::desc& from, const memory::desc& to) {
    for (auto& [f, t, r] : reorders_)
      if (f == from && t == to) return r;
    reorders_.emplace_back(from, to, dnnl::reorder(dnnl::reorder::primitive_desc(engine_, from, engine_, to)));
    return std::get<2>(reorders_.back());
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::map<PlanKey, Plan> plans_;
  std::vector<std::tuple<memory::desc, memory::desc, dnnl::reorder>> reorders_;
  Scratch scratch_;
};
}  // namespace

std::unique_ptr<OneDnnConv> make_onednn_conv() {
  try {
    return std::make_unique<OneDnnConvImpl>();
  } catch (const dnnl::error& e) {
    BPR_FAIL("oneDNN could not start: {}", e.what());
  }
}

}  // namespace bpr
