file(REMOVE_RECURSE
  "CMakeFiles/elmo_model.dir/bilm.c.o"
  "CMakeFiles/elmo_model.dir/bilm.c.o.d"
  "CMakeFiles/elmo_model.dir/bilm_ws.c.o"
  "CMakeFiles/elmo_model.dir/bilm_ws.c.o.d"
  "CMakeFiles/elmo_model.dir/charcnn.c.o"
  "CMakeFiles/elmo_model.dir/charcnn.c.o.d"
  "CMakeFiles/elmo_model.dir/charids.c.o"
  "CMakeFiles/elmo_model.dir/charids.c.o.d"
  "CMakeFiles/elmo_model.dir/gemm.c.o"
  "CMakeFiles/elmo_model.dir/gemm.c.o.d"
  "CMakeFiles/elmo_model.dir/lstm.c.o"
  "CMakeFiles/elmo_model.dir/lstm.c.o.d"
  "CMakeFiles/elmo_model.dir/mix.c.o"
  "CMakeFiles/elmo_model.dir/mix.c.o.d"
  "CMakeFiles/elmo_model.dir/rng.c.o"
  "CMakeFiles/elmo_model.dir/rng.c.o.d"
  "CMakeFiles/elmo_model.dir/status.c.o"
  "CMakeFiles/elmo_model.dir/status.c.o.d"
  "libelmo_model.a"
  "libelmo_model.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/elmo_model.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
