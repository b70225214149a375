# turbolm eval: its metric code in tools/ is compiled in directly; the command itself runs as a user
# runs it, through the built binary.
set(eval_tool_sources eval_histogram.cpp eval_metrics.cpp eval_rouge.cpp eval_summaries.cpp eval_text.cpp eval_windows.cpp)
list(TRANSFORM eval_tool_sources PREPEND ${PROJECT_SOURCE_DIR}/tools/)
turbolm_test(test_eval LABEL unit
    SOURCES unit/eval/test_rouge.cpp unit/eval/test_metrics.cpp unit/eval/test_weight_rounding.cpp
            unit/eval/test_eval_text.cpp unit/eval/test_eval_cli.cpp ${eval_tool_sources}
    DEPS turbolm_models turbolm_engine nlohmann_json::nlohmann_json)
target_include_directories(test_eval PRIVATE ${PROJECT_SOURCE_DIR}/tools)
add_dependencies(test_eval turbolm)
