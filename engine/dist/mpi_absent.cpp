// A build without MPI (no libopenmpi-dev at configure time): one process only. Started by an
// MPI launcher anyway, each process would silently train alone; that is an error instead.
#include <cstdlib>

#include "engine/dist/communicator.h"
#include "engine/error.h"

namespace bpr {

bool mpi_compiled() { return false; }

std::unique_ptr<Communicator> make_world_communicator(const WorldOptions&) {
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!n) n = std::getenv("PMI_SIZE");
  BPR_CHECK(!launched_by_mpi() || (n && std::atoi(n) == 1),
            "started by an MPI launcher, but this bpr was built without MPI (install libopenmpi-dev, reconfigure "
            "and rebuild)");
  return std::make_unique<SoloCommunicator>();
}

}  // namespace bpr
