file(REMOVE_RECURSE
  "CMakeFiles/elmo_worker.dir/batcher.c.o"
  "CMakeFiles/elmo_worker.dir/batcher.c.o.d"
  "CMakeFiles/elmo_worker.dir/cache.c.o"
  "CMakeFiles/elmo_worker.dir/cache.c.o.d"
  "CMakeFiles/elmo_worker.dir/embed.c.o"
  "CMakeFiles/elmo_worker.dir/embed.c.o.d"
  "CMakeFiles/elmo_worker.dir/part.c.o"
  "CMakeFiles/elmo_worker.dir/part.c.o.d"
  "libelmo_worker.a"
  "libelmo_worker.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/elmo_worker.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
