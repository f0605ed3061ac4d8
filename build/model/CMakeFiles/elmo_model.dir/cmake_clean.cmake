file(REMOVE_RECURSE
  "CMakeFiles/elmo_model.dir/gemm.c.o"
  "CMakeFiles/elmo_model.dir/gemm.c.o.d"
  "CMakeFiles/elmo_model.dir/status.c.o"
  "CMakeFiles/elmo_model.dir/status.c.o.d"
  "libelmo_model.a"
  "libelmo_model.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/elmo_model.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
