turbolm_test(test_gemm LABEL unit SOURCES unit/ops/test_gemm.cpp DEPS turbolm_ops)
turbolm_test(test_cpu_ops LABEL unit SOURCES unit/ops/test_cpu_ops.cpp DEPS turbolm_ops)
turbolm_test(test_int8 LABEL unit SOURCES unit/ops/test_int8.cpp DEPS turbolm_ops)
