if(TURBOLM_WITH_CUDA)
    turbolm_test(test_gpu LABEL gpu SOURCES gpu/test_cuda_rms_norm.cpp DEPS turbolm_cuda turbolm_ops)
endif()
