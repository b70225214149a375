// Bringing separately started processes into one group: under mpirun (or any launcher that starts
// every rank itself) each process learns its rank from the environment, and rank 0 hands NCCL's
// group id to the others over TCP at an agreed address, as torch.distributed's store does. The
// single-machine launcher (engine/tensor_parallel_group.h) passes the id on the command line instead.
#pragma once

#include <optional>
#include <string>

namespace turbolm {

struct LaunchedRank {
    int rank = 0;
    int world = 1;
    int local_rank = 0;  // among the ranks on this machine: which GPU to use
};

// The rank mpirun gave this process: OpenMPI's OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK}, or MPICH's
// and Slurm's PMI_RANK / PMI_SIZE with MPI_LOCALRANKID. None outside such a launcher.
std::optional<LaunchedRank> launched_rank_from_environment();

// Rank 0 serves `id` at `address` ("host:port"; rank 0 listens on the port on every interface)
// until world - 1 ranks have fetched it; the others connect (retrying while rank 0 starts) and
// return it. Throws after timeout_s seconds without the exchange completing.
std::string exchange_group_id(int rank, int world, const std::string& address, const std::string& id,
                              int timeout_s = 120);

}  // namespace turbolm
