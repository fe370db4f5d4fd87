// test_util.h — helpers shared by the doctest suites.
#pragma once
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace bpr::test {

// A fresh, empty folder under the system temp dir, unique per process.
inline std::string temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path p = fs::temp_directory_path() / ("bpr_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

inline Tensor randn(const Shape& s, Rng& rng, DType dt = DType::F64, double scale = 1.0) {
  std::vector<double> v(static_cast<size_t>(shape_numel(s)));
  for (double& x : v) x = scale * rng.normal();
  return Tensor::from_vector(v, s).to(dt);
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto x = a.to(DType::F64).to_vector<double>();
  auto y = b.to(DType::F64).to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

// max |a-b| / (atol + rtol*|b|) <= 1 elementwise
inline bool all_close(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape()) return false;
  auto x = a.to(DType::F64).to_vector<double>();
  auto y = b.to(DType::F64).to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i)
    if (!(std::fabs(x[i] - y[i]) <= atol + rtol * std::fabs(y[i]))) return false;
  return true;
}

// Checks every input's backprop gradient against central finite differences in f64.
// f maps the inputs to any tensor; the scalar checked is sum(f(inputs) * R) for a fixed
// random R, so the upstream gradient is not uniform. Inputs must be f64 and require grad.
inline void gradcheck(const std::string& name, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                      std::vector<Tensor> inputs, double eps = 1e-6, double tol = 1e-6) {
  CAPTURE(name);
  Rng rng(1234);
  Tensor probe = f(inputs);
  Tensor r = randn(probe.shape(), rng);
  auto scalar = [&](const std::vector<Tensor>& xs) { return ops::sum(ops::mul(f(xs), r)); };
  for (Tensor& x : inputs) x.set_grad(Tensor());
  scalar(inputs).backward();
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].requires_grad()) continue;
    CAPTURE(k);
    Tensor analytic = inputs[k].grad();
    REQUIRE(analytic.defined());
    std::vector<double> num(static_cast<size_t>(inputs[k].numel()));
    {
      NoGradGuard ng;
      double* p = inputs[k].data<double>();
      for (int64_t i = 0; i < inputs[k].numel(); ++i) {
        double keep = p[i];
        p[i] = keep + eps;
        double up = scalar(inputs).item();
        p[i] = keep - eps;
        double down = scalar(inputs).item();
        p[i] = keep;
        num[i] = (up - down) / (2 * eps);
      }
    }
    auto ana = analytic.to_vector<double>();
    double worst = 0;
    for (size_t i = 0; i < num.size(); ++i)
      worst = std::max(worst, std::fabs(num[i] - ana[i]) / (1.0 + std::fabs(num[i])));
    CHECK(worst < tol);
  }
}

}  // namespace bpr::test
