turbolm_test(test_tokenizer LABEL unit
    SOURCES
        unit/tokenizer/tokenizer_test_data.cpp
        unit/tokenizer/test_errors.cpp
        unit/tokenizer/test_gguf_reader.cpp
        unit/tokenizer/test_incremental.cpp
        unit/tokenizer/test_roundtrip.cpp
        unit/tokenizer/test_toy_tokenizer.cpp
        unit/tokenizer/test_vocab_vectors.cpp
    DEPS turbolm_tokenizer)
