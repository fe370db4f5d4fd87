// rng.h — bpr's seeded random number generator.
// defines: Rng
//
// PCG32 (O'Neill, XSH-RR variant): 64-bit state + 64-bit stream, 32-bit outputs. Small,
// fast, and its whole state is two integers, so checkpoints save and restore it exactly.
// normal() uses Box-Muller without caching the second value, so the state stays two words.
#pragma once
#include <cstdint>

namespace bpr {

class Rng {
 public:
  Rng() : Rng(42) {}
  explicit Rng(uint64_t seed, uint64_t stream = 54);
  uint32_t next_u32();
  double uniform();                  // [0, 1), 53 random bits
  double uniform(double lo, double hi);
  double normal();                   // N(0, 1)
  uint32_t below(uint32_t n);        // uniform in [0, n), unbiased (rejection)
  uint64_t state() const { return state_; }
  uint64_t inc() const { return inc_; }
  void set_state(uint64_t state, uint64_t inc) { state_ = state; inc_ = inc; }

 private:
  uint64_t state_ = 0;
  uint64_t inc_ = 0;
};

// Derives an independent seed from a base seed and a tag (e.g. epoch number), so that
// per-epoch randomness depends only on (seed, epoch) and resumed runs replay it exactly.
uint64_t derive_seed(uint64_t seed, uint64_t tag);

}  // namespace bpr
