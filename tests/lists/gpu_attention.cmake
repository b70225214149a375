if(TURBOLM_WITH_CUDA)
    turbolm_test(test_gpu_attention LABEL gpu SOURCES gpu/test_cuda_attention.cpp DEPS turbolm_cuda_attention turbolm_ops)
endif()
