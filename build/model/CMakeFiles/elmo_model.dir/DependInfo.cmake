
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/model/bilm.c" "model/CMakeFiles/elmo_model.dir/bilm.c.o" "gcc" "model/CMakeFiles/elmo_model.dir/bilm.c.o.d"
  "/work/main/model/bilm_ws.c" "model/CMakeFiles/elmo_model.dir/bilm_ws.c.o" "gcc" "model/CMakeFiles/elmo_model.dir/bilm_ws.c.o.d"
  "/work/main/model/charcnn.c" "model/CMakeFiles/elmo_model.dir/charcnn.c.o" "gcc" "model/CMakeFiles/elmo_model.dir/charcnn.c.o.d"
  "/work/main/model/charids.c" "model/CMakeFiles/elmo_model.dir/charids.c.o" "gcc" "model/CMakeFiles/elmo_model.dir/charids.c.o.d"
  "/work/main/model/gemm.c" "model/CMakeFiles/elmo_model.dir/gemm.c.o" "gcc" "model/CMakeFiles/elmo_model.dir/gemm.c.o.d"
  "/work/main/model/lstm.c" "model/CMakeFiles/elmo_model.dir/lstm.c.o" "gcc" "model/CMakeFiles/elmo_model.dir/lstm.c.o.d"
  "/work/main/model/mix.c" "model/CMakeFiles/elmo_model.dir/mix.c.o" "gcc" "model/CMakeFiles/elmo_model.dir/mix.c.o.d"
  "/work/main/model/rng.c" "model/CMakeFiles/elmo_model.dir/rng.c.o" "gcc" "model/CMakeFiles/elmo_model.dir/rng.c.o.d"
  "/work/main/model/status.c" "model/CMakeFiles/elmo_model.dir/status.c.o" "gcc" "model/CMakeFiles/elmo_model.dir/status.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
