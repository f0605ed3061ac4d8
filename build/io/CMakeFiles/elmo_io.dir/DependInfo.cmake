
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/io/corpus.c" "io/CMakeFiles/elmo_io.dir/corpus.c.o" "gcc" "io/CMakeFiles/elmo_io.dir/corpus.c.o.d"
  "/work/main/io/job.c" "io/CMakeFiles/elmo_io.dir/job.c.o" "gcc" "io/CMakeFiles/elmo_io.dir/job.c.o.d"
  "/work/main/io/sha256.c" "io/CMakeFiles/elmo_io.dir/sha256.c.o" "gcc" "io/CMakeFiles/elmo_io.dir/sha256.c.o.d"
  "/work/main/io/store.c" "io/CMakeFiles/elmo_io.dir/store.c.o" "gcc" "io/CMakeFiles/elmo_io.dir/store.c.o.d"
  "/work/main/io/utf8.c" "io/CMakeFiles/elmo_io.dir/utf8.c.o" "gcc" "io/CMakeFiles/elmo_io.dir/utf8.c.o.d"
  "/work/main/io/weights.c" "io/CMakeFiles/elmo_io.dir/weights.c.o" "gcc" "io/CMakeFiles/elmo_io.dir/weights.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build/model/CMakeFiles/elmo_model.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
