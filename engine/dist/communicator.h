// communicator.h — the processes of one run and the collectives between them.
// defines: PendingSum, Communicator, SoloCommunicator, WorldOptions, launched_by_mpi, make_world_communicator
//
// A run is one process (SoloCommunicator: every collective is the identity) or N ranks started
// by an MPI launcher (`mpirun -np N bpr ...`, `srun`): MpiCommunicator (mpi_comm.cpp), built
// when Open MPI is installed. bpr invents no runtime of its own: processes, bootstrap and the
// host collectives are MPI's; GPU tensors go through NCCL where the build has it (its unique
// id broadcast over MPI), else through host memory.
//
// Contracts every implementation keeps:
//  * Collectives are called by every rank in the same order with the same shapes; the results
//    are the same bits on every rank (sums of f32/f64 in one fixed order per rank count).
//  * No collective waits forever: one that has not completed after `timeout_s` seconds (a rank
//    died, hangs, or took another path) ends the whole job with an error naming the collective.
//  * A communicator is owned by main and handed down as a pointer (TrainConfig::comm, ...);
//    null means one process. There is no global instance.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace bpr {

// A sum started by Communicator::start_allreduce_sum and not yet waited for. Until wait()
// returns, its tensors must be neither written nor read (the sum may be reading or writing
// them), and they must stay alive.
class PendingSum {
 public:
  virtual ~PendingSum() = default;
  // Lets the library advance the sum without blocking (MPI advances a non-blocking collective
  // only inside its calls); true once it is complete.
  virtual bool test() = 0;
  // Blocks until the sum is complete (past the timeout: ends the job, as every collective);
  // then the tensors hold the sums. Call once.
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "1 process" / "mpi: rank 0 of 2 (Open MPI 4.1.4)"
  virtual std::string describe() const = 0;
  // tensors[i] = sum over ranks of (scale * tensors[i]) in place: contiguous f32 or f64
  // tensors, all on one device; one collective for the whole list (the bucket). scale is
  // this rank's own factor (e.g. its share of the global batch).
  virtual void allreduce_sum(const std::vector<Tensor>& tensors, double scale = 1.0) = 0;
  // The same sum, started without waiting for it (overlapped with backward: GradientSync).
  // Sums started on different ranks pair up in the order they were started. The default runs
  // allreduce_sum now and returns a completed sum.
  virtual std::unique_ptr<PendingSum> start_allreduce_sum(const std::vector<Tensor>& tensors, double scale);
  // values[i] = sum over ranks of values[i] (host doubles: metrics, counts). `patience`
  // multiplies the timeout for this call: a collective that legitimately waits on other ranks'
  // long work (the RL search's candidates, each a mini-finetune on one rank).
  virtual void allreduce_sum(std::vector<double>& values, double patience = 1.0) = 0;
  // Every rank's tensors (and values) become root's.
  virtual void broadcast(const std::vector<Tensor>& tensors, int root) = 0;
  virtual void broadcast(std::vector<double>& values, int root) = 0;
  // Each rank's value, indexed by rank, on every rank.
  virtual std::vector<uint64_t> allgather(uint64_t value) = 0;
  // Ends every rank of the job now with exit code `code` (after this rank printed why).
  [[noreturn]] virtual void abort(int code) = 0;

  bool is_root() const { return rank() == 0; }
  bool is_parallel() const { return size() > 1; }
};

class SoloCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe() const override { return "1 process"; }
  void allreduce_sum(const std::vector<Tensor>& tensors, double scale) override;
  void allreduce_sum(std::vector<double>&, double) override {}
  void broadcast(const std::vector<Tensor>&, int) override {}
  void broadcast(std::vector<double>&, int) override {}
  std::vector<uint64_t> allgather(uint64_t value) override { return {value}; }
  [[noreturn]] void abort(int code) override;
};

struct WorldOptions {
  double timeout_s = 300;  // a collective that waits longer ends the job (--dist-timeout)
};

// Whether this process was started by an MPI launcher (Open MPI, PMI/PMIx, Slurm's srun with
// MPI): read from the environment, before any MPI call.
bool launched_by_mpi();
// The processes this one belongs to: MPI's world when launched by MPI (an error when this
// build has no MPI), else a SoloCommunicator. Called once, by main.
std::unique_ptr<Communicator> make_world_communicator(const WorldOptions& o);
// Whether this build can run more than one rank (MPI found at build time).
bool mpi_compiled();

}  // namespace bpr
