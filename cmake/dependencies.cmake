# Third-party libraries, all from Debian packages (see scripts/install-deps.sh).
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
if(TURBOLM_BUILD_TESTS)
    find_package(GTest REQUIRED)
endif()
# Asio and Beast are header-only; nothing from Boost is linked.
find_package(Boost 1.74 REQUIRED)
