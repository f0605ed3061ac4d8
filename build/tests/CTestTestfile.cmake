# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(test_status "/work/main/build/tests/test_status")
set_tests_properties(test_status PROPERTIES  ENVIRONMENT "ELMO_FIXTURES=/work/shared/fixtures;ELMO_BIN=/work/main/build/elmo;ELMO_SOURCE_DIR=/work/main;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_pml=ob1;OMPI_MCA_btl=self,vader;OPENBLAS_NUM_THREADS=1" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;34;add_test;/work/main/tests/CMakeLists.txt;51;elmo_add_test;/work/main/tests/CMakeLists.txt;0;")
add_test(test_gemm "/work/main/build/tests/test_gemm")
set_tests_properties(test_gemm PROPERTIES  ENVIRONMENT "ELMO_FIXTURES=/work/shared/fixtures;ELMO_BIN=/work/main/build/elmo;ELMO_SOURCE_DIR=/work/main;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_pml=ob1;OMPI_MCA_btl=self,vader;OPENBLAS_NUM_THREADS=1" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;34;add_test;/work/main/tests/CMakeLists.txt;54;elmo_add_test;/work/main/tests/CMakeLists.txt;0;")
add_test(test_corpus "/work/main/build/tests/test_corpus")
set_tests_properties(test_corpus PROPERTIES  ENVIRONMENT "ELMO_FIXTURES=/work/shared/fixtures;ELMO_BIN=/work/main/build/elmo;ELMO_SOURCE_DIR=/work/main;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_pml=ob1;OMPI_MCA_btl=self,vader;OPENBLAS_NUM_THREADS=1" LABELS "unit" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;34;add_test;/work/main/tests/CMakeLists.txt;57;elmo_add_test;/work/main/tests/CMakeLists.txt;0;")
add_test(test_embed_mpi "bash" "/work/main/tests/embed/test_embed.sh")
set_tests_properties(test_embed_mpi PROPERTIES  ENVIRONMENT "ELMO_FIXTURES=/work/shared/fixtures;ELMO_BIN=/work/main/build/elmo;ELMO_SOURCE_DIR=/work/main;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_pml=ob1;OMPI_MCA_btl=self,vader;OPENBLAS_NUM_THREADS=1" LABELS "mpi" TIMEOUT "900" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;46;add_test;/work/main/tests/CMakeLists.txt;60;elmo_add_script_test;/work/main/tests/CMakeLists.txt;0;")
add_test(test_embed_fault "bash" "/work/main/tests/embed/test_embed_fault.sh")
set_tests_properties(test_embed_fault PROPERTIES  ENVIRONMENT "ELMO_FIXTURES=/work/shared/fixtures;ELMO_BIN=/work/main/build/elmo;ELMO_SOURCE_DIR=/work/main;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_pml=ob1;OMPI_MCA_btl=self,vader;OPENBLAS_NUM_THREADS=1" LABELS "mpi;fault" TIMEOUT "900" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;46;add_test;/work/main/tests/CMakeLists.txt;61;elmo_add_script_test;/work/main/tests/CMakeLists.txt;0;")
