file(REMOVE_RECURSE
  "../elmo"
  "../elmo.pdb"
  "CMakeFiles/elmo.dir/cmd_model.c.o"
  "CMakeFiles/elmo.dir/cmd_model.c.o.d"
  "CMakeFiles/elmo.dir/cmd_run.c.o"
  "CMakeFiles/elmo.dir/cmd_run.c.o.d"
  "CMakeFiles/elmo.dir/cmd_store.c.o"
  "CMakeFiles/elmo.dir/cmd_store.c.o.d"
  "CMakeFiles/elmo.dir/cmd_stubs.c.o"
  "CMakeFiles/elmo.dir/cmd_stubs.c.o.d"
  "CMakeFiles/elmo.dir/embed.c.o"
  "CMakeFiles/elmo.dir/embed.c.o.d"
  "CMakeFiles/elmo.dir/main.c.o"
  "CMakeFiles/elmo.dir/main.c.o.d"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/elmo.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
