turbolm_test(test_int4 LABEL unit SOURCES unit/ops/test_int4.cpp DEPS turbolm_ops)
