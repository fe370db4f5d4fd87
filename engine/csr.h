// csr.h — the sparse form of a masked weight: compressed sparse rows derived from its mask.
// defines: SparseMode, sparse_mode_names, CsrMatrix, CsrPattern, SparseWeight
//
// A masked weight W is a matrix of O rows (output channels) and K columns: a convolution's
// (O, C, R, S) has K = C*R*S with column (c*R + r)*S + s, a linear's (O, I) has K = I. A
// grouped convolution of G groups has weight (O, C/G, R, S): K = (C/G)*R*S, and row o reads
// the input channels of its group, c + (o / (O/G)) * (C/G) (the matrix records G). Its
// sparse form keeps only the entries whose mask byte is nonzero, row by row, columns
// ascending within a row:
//   row_ptr (O+1, i32), col (nnz, i32), val (nnz, the weight's dtype), val[k] = W[row, col[k]].
// The transposed form serves the convolution's input gradient (and the linear's): rows c,
// columns (o*R + (R-1-r))*S + (S-1-s), i.e. W with input and output swapped and the kernel
// flipped, so gx = conv(gy, W^T, padding R-1-pad) runs the same kernel as the forward. With
// G groups it is grouped too: rows c = g*(C/G) + c' of all C input channels, columns
// ((o - g*(O/G))*R + (R-1-r))*S + (S-1-s) over the O/G outputs of group g.
//
// The mask is the source of truth. SparseWeight keeps a copy of the mask its pattern was
// built from and rebuilds the pattern whenever the mask it is handed differs (a byte compare:
// prune, regrow, load and direct edits are all seen); values are gathered from the dense
// weight on every use. So the sparse form equals value ⊙ mask at every use, by construction.
// Patterns are immutable once built (shared by the graph nodes that captured them).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/enum_names.h"
#include "engine/tensor.h"

namespace bpr {

// How masked layers execute: off = always the dense masked path; on = the sparse kernels
// wherever the layer and backend support them; auto = sparse where the backend's cost model
// (calibrated by `bpr bench sparse`) predicts it is faster for the layer's shape and density.
enum class SparseMode { Off, On, Auto };
const std::vector<EnumName<SparseMode>>& sparse_mode_names();  // off, on, auto

// One CSR matrix with its values: what the sparse kernels read. Tensors on one device.
struct CsrMatrix {
  int64_t rows = 0, cols = 0;
  int64_t groups = 1;  // rows split into `groups` equal bands, each reading its own input channels
  Tensor row_ptr;  // i32 (rows + 1)
  Tensor col;      // i32 (nnz)
  Tensor val;      // floating (nnz)
  int64_t nnz() const { return col.defined() ? col.numel() : 0; }
};

// The structure of one mask: both orientations and the maps back to the dense tensor.
struct CsrPattern {
  Shape shape;                  // the weight's shape, (O, C/G, R, S) or (O, I)
  int64_t groups = 1;           // G: 1 for a linear and a plain convolution
  int64_t rows = 0, cols = 0;   // O and K = (C/G)*R*S
  int64_t t_rows = 0, t_cols = 0;  // C and (O/G)*R*S (linear: I and O)
  Tensor row_ptr, col;          // forward orientation (i32, CPU)
  Tensor t_row_ptr, t_col;      // transposed, flipped orientation (i32, CPU)
  std::vector<int64_t> flat;    // flat[k]: index into the dense weight of forward entry k
  std::vector<int32_t> t_from;  // t_from[k']: the forward entry that transposed entry k' holds
  int64_t nnz() const { return static_cast<int64_t>(flat.size()); }

  // The index arrays on an accelerator: uploaded on first use there, then cached with the
  // (immutable) pattern. flat is i64, t_from i32, the rest i32 as above.
  struct OnDevice {
    Tensor row_ptr, col, t_row_ptr, t_col, flat, t_from;
  };
  const OnDevice& on(Device device) const;

 private:
  mutable std::mutex device_mu_;
  mutable std::map<int, OnDevice> device_copies_;  // by device index
};

class SparseWeight {
 public:
  explicit SparseWeight(int64_t groups = 1) : groups_(groups) {}
  // Makes the pattern match `mask` (u8 CPU tensor, 2-D or 4-D). Returns true when it rebuilt.
  bool sync(const Tensor& mask);
  bool built() const { return pattern_ != nullptr; }
  const std::shared_ptr<const CsrPattern>& pattern() const { return pattern_; }
  int64_t nnz() const { return pattern_ ? pattern_->nnz() : 0; }

 private:
  int64_t groups_;
  std::shared_ptr<const CsrPattern> pattern_;
  std::vector<uint8_t> mask_copy_;
};

// The pattern of `mask` (u8, 2-D or 4-D, on the CPU) of a convolution in `groups` groups
// (O divisible by it; 2-D masks: 1), built from scratch.
std::shared_ptr<const CsrPattern> build_csr_pattern(const Tensor& mask, int64_t groups = 1);
// The forward matrix: values gathered from `value` (the pattern's shape; on the CPU, or on an
// accelerator through Backend::gather_flat with the pattern's indices uploaded there).
CsrMatrix csr_forward(const CsrPattern& p, const Tensor& value);
// The transposed, flipped matrix with values taken from a forward matrix's `val`.
CsrMatrix csr_transposed(const CsrPattern& p, const Tensor& forward_val);
// dense = 0 everywhere, entries[k] at flat[k]: per-entry gradients back to the weight's shape,
// on the entries' device.
Tensor csr_scatter(const CsrPattern& p, const Tensor& entries);

}  // namespace bpr
