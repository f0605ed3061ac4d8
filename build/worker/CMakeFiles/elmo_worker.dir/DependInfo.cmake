
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/worker/batcher.c" "worker/CMakeFiles/elmo_worker.dir/batcher.c.o" "gcc" "worker/CMakeFiles/elmo_worker.dir/batcher.c.o.d"
  "/work/main/worker/cache.c" "worker/CMakeFiles/elmo_worker.dir/cache.c.o" "gcc" "worker/CMakeFiles/elmo_worker.dir/cache.c.o.d"
  "/work/main/worker/embed.c" "worker/CMakeFiles/elmo_worker.dir/embed.c.o" "gcc" "worker/CMakeFiles/elmo_worker.dir/embed.c.o.d"
  "/work/main/worker/part.c" "worker/CMakeFiles/elmo_worker.dir/part.c.o" "gcc" "worker/CMakeFiles/elmo_worker.dir/part.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build/io/CMakeFiles/elmo_io.dir/DependInfo.cmake"
  "/work/main/build/model/CMakeFiles/elmo_model.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
