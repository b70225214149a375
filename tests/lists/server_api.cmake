# The HTTP APIs (OpenAI, KServe v2, metrics) driven through ApiService::handle with a recording
# Responder, over the demo model on the CPU.
turbolm_test(test_api LABEL server
    SOURCES server/test_api_support.cpp server/test_api_openai.cpp server/test_api_errors.cpp
            server/test_api_kserve.cpp server/test_api_metrics.cpp server/test_api_disconnect.cpp
            server/test_api_job.cpp
    DEPS turbolm_api)
