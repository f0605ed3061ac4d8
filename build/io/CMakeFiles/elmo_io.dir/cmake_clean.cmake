file(REMOVE_RECURSE
  "CMakeFiles/elmo_io.dir/job.c.o"
  "CMakeFiles/elmo_io.dir/job.c.o.d"
  "libelmo_io.a"
  "libelmo_io.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/elmo_io.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
