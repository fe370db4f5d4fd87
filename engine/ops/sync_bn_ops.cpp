// batch_norm2d_sync: batch norm whose statistics are those of the global batch of a
// data-parallel step (ops.h has the contract; engine/train/data_parallel.h uses it).
//
// Per channel c, over this rank's (N, H, W) and then summed across ranks by sync.sum:
//   forward:  s1 = sum x, s2 = sum x^2, n -> mean = S1/n, var = S2/n - mean^2 (biased),
//             invstd = 1/sqrt(var + eps), y = (x - mean) * invstd * gamma + beta; running
//             statistics updated with the unbiased var * n/(n-1), as batch_norm2d does.
//   backward: the global loss is sum_r share_r * L_r (L_r: rank r's mean loss), so rank r's
//             dL/dy_i = share_r * gy_i. With G1 = sum_r share_r sum gy and
//             G2 = sum_r share_r sum gy * xhat (summed across ranks), rank r returns
//             gx_i = gamma * invstd * (gy_i - (G1 + xhat_i * G2) / (n * share_r)),
//             the gradient of L_r that, weighted by share_r like every other gradient of
//             the step (GradientSync), gives the global loss's. ggamma and gbeta are the
//             local sums (sum gy * xhat, sum gy); the step's gradient sum combines them.
// The arithmetic runs on the host in f64 (device tensors are copied): an option for small
// per-rank batches, not the fast path.
#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/op_util.h"
#include "engine/ops/ops.h"

namespace bpr::ops {

namespace {
struct Dims {
  int64_t N, C, HW;
};

std::vector<double> host_values(const Tensor& t) { return t.to(cpu_device()).to(DType::F64).to_vector<double>(); }

Tensor like(const std::vector<double>& v, const Tensor& t) {
  return Tensor::from_vector(v, t.shape()).to(t.dtype()).to(t.device());
}

// Per channel [sum a*b over (N, H, W)] (b null: sum a), as C values.
std::vector<double> channel_sums(const std::vector<double>& a, const std::vector<double>* b, Dims d) {
  std::vector<double> s(static_cast<size_t>(d.C), 0.0);
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t i = 0; i < d.HW; ++i) {
        const size_t at = static_cast<size_t>((n * d.C + c) * d.HW + i);
        s[static_cast<size_t>(c)] += b ? a[at] * (*b)[at] : a[at];
      }
  return s;
}
}  // namespace

Tensor batch_norm2d_sync(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                         Tensor& running_var, double momentum, double eps, const BatchNormSync& sync) {
  const char* op = "batch_norm2d_sync";
  check_rank(op, x, 4, "input");
  BPR_CHECK(sync.sum && sync.share > 0 && sync.share <= 1, "{}: needs a cross-rank sum and a share in (0, 1]", op);
  const Dims d{x.size(0), x.size(1), x.size(2) * x.size(3)};
  BPR_CHECK(gamma.numel() == d.C && beta.numel() == d.C, "{}: gamma/beta must have {} values", op, d.C);
  const std::vector<double> xv = host_values(x), g = host_values(gamma), bt = host_values(beta);
  std::vector<double> stats = channel_sums(xv, nullptr, d);  // [S1 (C), S2 (C), n]
  const std::vector<double> sq = channel_sums(xv, &xv, d);
  stats.insert(stats.end(), sq.begin(), sq.end());
  stats.push_back(static_cast<double>(d.N * d.HW));
  sync.sum(stats);
  const double n = stats.back();
  BPR_CHECK(n > 1, "{}: {} values per channel in the global batch; batch norm needs more than 1", op, n);
  std::vector<double> mean(static_cast<size_t>(d.C)), invstd(mean.size()), rm = host_values(running_mean),
      rv = host_values(running_var);
  for (size_t c = 0; c < mean.size(); ++c) {
    mean[c] = stats[c] / n;
    const double var = std::max(stats[c + mean.size()] / n - mean[c] * mean[c], 0.0);
    invstd[c] = 1.0 / std::sqrt(var + eps);
    rm[c] = (1 - momentum) * rm[c] + momentum * mean[c];
    rv[c] = (1 - momentum) * rv[c] + momentum * var * n / (n - 1);
  }
  running_mean.copy_(like(rm, running_mean));
  running_var.copy_(like(rv, running_var));
  std::vector<double> xhat(xv.size()), yv(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    const size_t c = (i / static_cast<size_t>(d.HW)) % static_cast<size_t>(d.C);
    xhat[i] = (xv[i] - mean[c]) * invstd[c];
    yv[i] = xhat[i] * g[c] + bt[c];
  }
  const Tensor y = like(yv, x);
  return record(op, y, {x, gamma, beta},
                [xhat, g, invstd, d, n, sync, xs = x](const Tensor& gy) {
                  const std::vector<double> gv = host_values(gy);
                  std::vector<double> sums = channel_sums(gv, nullptr, d);  // [G1 (C), G2 (C)]
                  const std::vector<double> gx_hat = channel_sums(gv, &xhat, d);
                  std::vector<double> local = sums;
                  local.insert(local.end(), gx_hat.begin(), gx_hat.end());
                  std::vector<double> global = local;
                  for (double& v : global) v *= sync.share;
                  sync.sum(global);
                  const size_t C = static_cast<size_t>(d.C);
                  std::vector<double> gx(gv.size());
                  for (size_t i = 0; i < gv.size(); ++i) {
                    const size_t c = (i / static_cast<size_t>(d.HW)) % C;
                    gx[i] = g[c] * invstd[c] * (gv[i] - (global[c] + xhat[i] * global[C + c]) / (n * sync.share));
                  }
                  const std::vector<double> ggamma(local.begin() + static_cast<long>(C), local.end()),
                      gbeta(local.begin(), local.begin() + static_cast<long>(C));
                  return std::vector<Tensor>{like(gx, xs), Tensor::from_vector(ggamma, {d.C}).to(gy.dtype()).to(gy.device()),
                                             Tensor::from_vector(gbeta, {d.C}).to(gy.dtype()).to(gy.device())};
                });
}

}  // namespace bpr::ops
