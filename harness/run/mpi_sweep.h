/* Sweeps on MPI: `mpirun -np K mechbench-mpi sweep X.ini` (harness/run/mpi_sweep.c). Rank 0 plans, hands points
 * out and alone writes the file; worker ranks measure. Compiled for real into mechbench-mpi (MB_WITH_MPI); the
 * plain mechbench gets stubs that say so. */
#ifndef MB_MPI_SWEEP_H
#define MB_MPI_SWEEP_H

#include "run/runner.h"

/* 1 when this binary has MPI. */
int mb_mpi_built(void);
/* The number of ranks of the job this process was started in, from the launcher's environment (mpirun:
   OMPI_COMM_WORLD_SIZE; Slurm srun / PMI: PMI_SIZE); 1 when not started by one. */
int mb_mpi_launched_size(void);
/* Run the experiment across the job's ranks. Rank 0 returns as mb_sweep_run does (events through so->on_event,
   plus MB_SWEEP_NOTE warnings); other ranks report nothing and return 0 or 1 (*is_root = 0).
   share_node: let every rank measure even where ranks share a host (default: the lowest worker rank of each host
   measures, the others idle). Must be called once; end the process with mb_mpi_end. */
int mb_mpi_sweep_run(const struct mb_experiment *e, const struct mb_sweep_opts *so, int share_node, int *is_root,
                     char *err, size_t errlen);
/* Leave MPI: finalize when rc == 0, else abort the whole job with rc (workers still measuring stop). */
void mb_mpi_end(int rc);

#endif
