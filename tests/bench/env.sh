# tests/bench/env.sh: the environment the bench scripts run mpiexec in; sourced by them, not
# run. Open MPI may run as root (containers, CI) and may place more ranks than cores (the
# scripts run 4 to 32 ranks on small machines); ob1 with the self and vader transports skips
# probing fabrics a single node does not have (docs/platform.md). Each is a default: a value
# already in the environment wins. OpenBLAS runs one thread (elmo sets its own GEMM threads).
: "${OMPI_ALLOW_RUN_AS_ROOT:=1}" "${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:=1}"
: "${OMPI_MCA_rmaps_base_oversubscribe:=1}" "${OMPI_MCA_pml:=ob1}" "${OMPI_MCA_btl:=self,vader}"
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM OMPI_MCA_rmaps_base_oversubscribe \
       OMPI_MCA_pml OMPI_MCA_btl
export OPENBLAS_NUM_THREADS=1
