if(TURBOLM_WITH_CUDA)
    turbolm_test(test_gpu_moe LABEL gpu SOURCES gpu/test_cuda_moe.cpp DEPS turbolm_cuda_moe turbolm_ops)
endif()
