file(REMOVE_RECURSE
  "CMakeFiles/elmo_io.dir/corpus.c.o"
  "CMakeFiles/elmo_io.dir/corpus.c.o.d"
  "CMakeFiles/elmo_io.dir/job.c.o"
  "CMakeFiles/elmo_io.dir/job.c.o.d"
  "CMakeFiles/elmo_io.dir/sha256.c.o"
  "CMakeFiles/elmo_io.dir/sha256.c.o.d"
  "CMakeFiles/elmo_io.dir/store.c.o"
  "CMakeFiles/elmo_io.dir/store.c.o.d"
  "CMakeFiles/elmo_io.dir/utf8.c.o"
  "CMakeFiles/elmo_io.dir/utf8.c.o.d"
  "CMakeFiles/elmo_io.dir/weights.c.o"
  "CMakeFiles/elmo_io.dir/weights.c.o.d"
  "libelmo_io.a"
  "libelmo_io.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/elmo_io.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
