turbolm_test(test_http_server LABEL server SOURCES server/test_http_server.cpp DEPS turbolm_http)
