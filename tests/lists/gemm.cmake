turbolm_test(test_gemm LABEL unit SOURCES unit/ops/test_gemm.cpp DEPS turbolm_ops)
