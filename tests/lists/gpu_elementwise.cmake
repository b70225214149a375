if(TURBOLM_WITH_CUDA)
    turbolm_test(test_gpu_elementwise LABEL gpu SOURCES gpu/test_cuda_elementwise.cpp gpu/test_cuda_elementwise_data.cpp
        DEPS turbolm_cuda_elementwise turbolm_ops)
endif()
