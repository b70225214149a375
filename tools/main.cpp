// turbolm: the command-line front end. Each subcommand lives in its own file (cmd_*.cpp).
#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
    CLI::App app{"turbolm: large language model inference on CPUs and NVIDIA GPUs"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "turbolm 0.1.0");
    turbolm::cli::Command* selected = nullptr;
    std::vector<std::unique_ptr<turbolm::cli::Command>> commands;
    commands.push_back(turbolm::cli::make_bench_command());
    commands.push_back(turbolm::cli::make_eval_command());
    commands.push_back(turbolm::cli::make_generate_command());
    commands.push_back(turbolm::cli::make_inspect_command());
    commands.push_back(turbolm::cli::make_quantize_command());
    commands.push_back(turbolm::cli::make_serve_command());
    commands.push_back(turbolm::cli::make_tokenize_command());
    commands.push_back(turbolm::cli::make_tp_worker_command());
    for (auto& c : commands) {
        CLI::App* sub = c->add_to(app);
        sub->callback([&selected, cmd = c.get()] { selected = cmd; });
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return selected ? selected->run() : 1;
}
