turbolm_test(test_chat_template LABEL unit
    SOURCES unit/chat/test_chat_template.cpp unit/chat/test_chat_fixtures.cpp unit/chat/test_chat_errors.cpp
            unit/chat/test_chat_fuzz.cpp
    DEPS turbolm_chat)
