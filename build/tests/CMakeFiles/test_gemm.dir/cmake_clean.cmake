file(REMOVE_RECURSE
  "CMakeFiles/test_gemm.dir/test_gemm.c.o"
  "CMakeFiles/test_gemm.dir/test_gemm.c.o.d"
  "test_gemm"
  "test_gemm.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_gemm.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
