// sparse_checkpoint.h — checkpoints that hold only the kept weights (bpr export --sparse).
// defines: kSparseLayout, SparseExportStats, export_sparse_checkpoint, expand_sparse_tensors
//
// Layout (safetensors; docs/checkpoints.md, "Sparse checkpoints"): every masked weight W of
// shape (O, d1, d2, ...) is stored as one CSR matrix of O rows and K = d1*d2*... columns
// (a convolution's column is (c*R + r)*S + s, as engine/csr.h orders them):
//   W.crow_indices  I32 (O+1)   row starts; crow[0] = 0, non-decreasing, crow[O] = nnz
//   W.col_indices   I32 (nnz)   columns, strictly increasing within each row, in [0, K)
//   W.values        F32 (nnz)   W at those positions
// and metadata "sparse.W" = the dense shape ("O,d1,d2,..."). The mask is 1 exactly at the
// stored positions (a kept weight whose value is 0 is still stored), so masks survive the
// round trip bit for bit. W and W_mask themselves are absent; every other tensor (biases,
// batch norm) is stored as is; optimizer state is dropped. Metadata "layout" =
// "bpr-sparse-csr-v1" marks the file; the rest of the checkpoint's metadata (format, config,
// epoch, ...) is kept, so eval, finetune and infer read it like the checkpoint it came from.
// torch.sparse_csr_tensor(crow, col, values, size=(O, K)).to_dense().reshape(shape) is W.
#pragma once
#include <cstdint>
#include <string>

#include "engine/io/safetensors.h"

namespace bpr {

inline constexpr const char* kSparseLayout = "bpr-sparse-csr-v1";

struct SparseExportStats {
  int64_t sparse_tensors = 0;   // masked weights written as CSR
  int64_t kept = 0, total = 0;  // their kept and total entries
  int64_t dropped_optimizer_tensors = 0;
};

// Reads the checkpoint at `in_path` (any file bpr loads: masks 0/1, weights zero under them)
// and writes its model part in the sparse layout to `out_path`, atomically.
SparseExportStats export_sparse_checkpoint(const std::string& in_path, const std::string& out_path);

// Replaces each CSR triplet of a file in the sparse layout by the dense weight and its mask,
// validating everything first (pieces present, dtypes, counts, row starts, column range and
// order); errors name `path` and the tensor. Files without sparse tensors are left as they are.
// Returns whether the file was sparse.
bool expand_sparse_tensors(TensorFile& f, const std::string& path);

}  // namespace bpr
