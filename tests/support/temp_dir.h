// A fresh directory under the system temp folder, removed with everything in it on destruction.
#pragma once

#include <filesystem>
#include <string>

namespace turbolm::test {

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// Runs a shell command; returns its exit status and puts stdout+stderr in *output.
int run_command(const std::string& command, std::string* output);

}  // namespace turbolm::test
