// The subcommand interface: each declares its flags on a CLI11 sub-app and runs after parsing.
#pragma once

#include <memory>

#include <CLI/CLI.hpp>

namespace turbolm::cli {

class Command {
public:
    virtual ~Command() = default;
    virtual CLI::App* add_to(CLI::App& app) = 0;
    virtual int run() = 0;  // process exit code
};

std::unique_ptr<Command> make_bench_command();
std::unique_ptr<Command> make_eval_command();
std::unique_ptr<Command> make_generate_command();
std::unique_ptr<Command> make_inspect_command();
std::unique_ptr<Command> make_quantize_command();
std::unique_ptr<Command> make_serve_command();
std::unique_ptr<Command> make_tokenize_command();
std::unique_ptr<Command> make_tp_worker_command();

}  // namespace turbolm::cli
