
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/driver/cmd_model.c" "driver/CMakeFiles/elmo.dir/cmd_model.c.o" "gcc" "driver/CMakeFiles/elmo.dir/cmd_model.c.o.d"
  "/work/main/driver/cmd_run.c" "driver/CMakeFiles/elmo.dir/cmd_run.c.o" "gcc" "driver/CMakeFiles/elmo.dir/cmd_run.c.o.d"
  "/work/main/driver/cmd_store.c" "driver/CMakeFiles/elmo.dir/cmd_store.c.o" "gcc" "driver/CMakeFiles/elmo.dir/cmd_store.c.o.d"
  "/work/main/driver/cmd_stubs.c" "driver/CMakeFiles/elmo.dir/cmd_stubs.c.o" "gcc" "driver/CMakeFiles/elmo.dir/cmd_stubs.c.o.d"
  "/work/main/driver/embed.c" "driver/CMakeFiles/elmo.dir/embed.c.o" "gcc" "driver/CMakeFiles/elmo.dir/embed.c.o.d"
  "/work/main/driver/main.c" "driver/CMakeFiles/elmo.dir/main.c.o" "gcc" "driver/CMakeFiles/elmo.dir/main.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build/worker/CMakeFiles/elmo_worker.dir/DependInfo.cmake"
  "/work/main/build/io/CMakeFiles/elmo_io.dir/DependInfo.cmake"
  "/work/main/build/model/CMakeFiles/elmo_model.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
