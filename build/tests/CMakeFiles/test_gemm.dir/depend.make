# Empty dependencies file for test_gemm.
# This may be replaced when dependencies are built.
