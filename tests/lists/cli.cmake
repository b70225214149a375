turbolm_test(test_cli LABEL unit SOURCES unit/cli/test_cli.cpp DEPS turbolm_io nlohmann_json::nlohmann_json)
add_dependencies(test_cli turbolm)
