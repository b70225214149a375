// turbolm quantize: a checkpoint in, a quantized checkpoint directory out, which loads without
// recomputation (docs/quantization.md). The model runs on the CPU in f32: calibration statistics
// come from the unquantized model, and the rounding is the CPU's, which the GPU reproduces bit for
// bit, so the directory holds exactly what an in-memory quantization would.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "core/parallel.h"
#include "models/calibrated_quantization.h"
#include "models/model.h"
#include "models/quantized_checkpoint_writer.h"
#include "tokenizer/tokenizer.h"

namespace turbolm::cli {
namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(StatusCode::kNotFound, path, ": cannot open the calibration text");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class QuantizeCommand final : public Command {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* sub = app.add_subcommand("quantize", "Quantize a checkpoint into a directory that loads as it is");
        sub->add_option("--model,-m", model_dir_, "Hugging Face model directory")->required();
        sub->add_option("--method", method_,
                        "int8 (weight-only), int4 (round-to-nearest), int4-awq (AWQ, needs --calib), "
                        "fp8 (W8A8) or sq-w8a8 (SmoothQuant INT8 W8A8, needs --calib)")
            ->required()
            ->check(CLI::IsMember({"int8", "int4", "int4-awq", "fp8", "sq-w8a8"}));
        sub->add_option("--out,-o", out_dir_, "Directory to write (must not exist or be empty)")->required();
        sub->add_option("--calib", calib_path_, "Calibration text (plain text, tokenized whole)");
        sub->add_option("--calib-tokens", calib_tokens_, "Use at most this many calibration tokens (default: 65536)")
            ->check(CLI::PositiveNumber);
        sub->add_option("--window", calibration_.window, "Tokens per calibration pass (default: 512)")
            ->check(CLI::Range(2, 1 << 20));
        sub->add_option("--samples", calibration_.max_samples,
                        "Input rows kept per projection for the searches (default: 1024)")
            ->check(CLI::PositiveNumber);
        sub->add_option("--group", options_.group, "INT4 input columns per scale (default: 128)")
            ->check(CLI::IsMember({32, 64, 128, 256}));
        sub->add_flag("--no-clip", no_clip_, "AWQ: do not search clipping ranges");
        sub->add_option("--alpha", options_.alphas, "SmoothQuant: migration strengths to try (default: 0.3 ... 0.9)");
        sub->add_option("--threads,-t", threads_, "CPU threads (default: all cores)");
        sub->add_option("--report", report_path_, "Write what the searches chose to this JSON file");
        return sub;
    }

    int run() override {
        return run_guarded([&] { quantize(); });
    }

private:
    bool calibrated() const { return method_ == "int4-awq" || method_ == "sq-w8a8"; }

    void quantize() {
        if (threads_) set_num_threads(*threads_);
        if (calibrated() && calib_path_.empty())
            fail(StatusCode::kInvalidArgument, "--method ", method_, " needs a calibration text: --calib FILE");
        options_.clip = !no_clip_;
        check_output_dir(out_dir_);
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<int32_t> tokens;
        if (calibrated()) tokens = calibration_tokens();

        std::unique_ptr<Model> model = Model::load(model_dir_);
        std::fprintf(stderr, "loaded %s (%s of weights)\n", model->config().architecture.c_str(),
                     human_bytes(double(model->weight_bytes())).c_str());
        CalibratedQuantizationReport report;
        if (calibrated()) {
            std::fprintf(stderr, "calibrating on %zu tokens in windows of %lld\n", tokens.size(),
                         static_cast<long long>(calibration_.window));
            const CalibrationStats stats = calibrate(*model, tokens, calibration_);
            report = method_ == "int4-awq" ? quantize_int4_awq(*model, stats, options_)
                                           : quantize_smoothquant(*model, stats, options_);
            print_report(report);
        } else {
            quantize_weights(model->mutable_weights(), parse_weight_quantization(method_), Device::kCpu);
        }
        write_quantized_checkpoint(*model, model_dir_, out_dir_);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "wrote %s: %s of weights, in %.1f s\n", out_dir_.c_str(),
                     human_bytes(double(model->weight_bytes())).c_str(), seconds);
        if (!report_path_.empty()) write_report(report, tokens.size());
    }

    static void check_output_dir(const std::string& dir) {
        std::error_code ec;
        if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec))
            fail(StatusCode::kInvalidArgument, dir, ": the output directory exists and is not empty");
    }

    std::vector<int32_t> calibration_tokens() const {
        const auto tokenizer = Tokenizer::load(model_dir_);
        std::vector<int32_t> tokens = tokenizer->encode(read_text(calib_path_), /*add_special_tokens=*/false);
        if (tokens.size() < 2) fail(StatusCode::kInvalidArgument, calib_path_, ": the calibration text is empty");
        if (tokens.size() > size_t(calib_tokens_)) tokens.resize(size_t(calib_tokens_));
        // Each window starts as the model's training windows did, with the BOS when it has one.
        calibration_.bos = tokenizer->bos_id().value_or(-1);
        return tokens;
    }

    void print_report(const CalibratedQuantizationReport& r) const {
        const bool awq = method_ == "int4-awq";
        std::fprintf(stderr, "%-22s %8s %12s %12s %8s\n", "projections", awq ? "ratio" : "alpha", "error before",
                     "error after", "change");
        for (const ScaleSearchReport& s : r.searches) {
            const double change = s.error_before > 0 ? (s.error_after / s.error_before - 1.0) * 100.0 : 0.0;
            std::fprintf(stderr, "%-22s %8.2f %12.4g %12.4g %7.1f%%%s\n", s.where.c_str(), s.parameter, s.error_before,
                         s.error_after, change, s.folded ? "" : " (not foldable: unscaled)");
        }
        if (awq && options_.clip) std::fprintf(stderr, "mean clipping: %.3f of each group's range\n", r.mean_clip_shrink);
    }

    void write_report(const CalibratedQuantizationReport& r, size_t n_tokens) const {
        nlohmann::json j = {{"model", model_dir_},       {"method", method_},
                            {"out", out_dir_},           {"calibration_text", calib_path_},
                            {"calibration_tokens", n_tokens}, {"group", options_.group},
                            {"commit", build_commit()},  {"mean_clip_shrink", r.mean_clip_shrink}};
        j["searches"] = nlohmann::json::array();
        for (const ScaleSearchReport& s : r.searches)
            j["searches"].push_back({{"projections", s.where}, {"parameter", s.parameter}, {"duo", s.duo},
                                     {"folded", s.folded}, {"error_before", s.error_before},
                                     {"error_after", s.error_after}});
        std::ofstream(report_path_) << j.dump(2) << "\n";
    }

    std::string model_dir_, method_, out_dir_, calib_path_, report_path_;
    int64_t calib_tokens_ = 65536;
    mutable CalibrationOptions calibration_;
    CalibratedQuantizationOptions options_;
    bool no_clip_ = false;
    std::optional<int> threads_;
};

}  // namespace

std::unique_ptr<Command> make_quantize_command() { return std::make_unique<QuantizeCommand>(); }

}  // namespace turbolm::cli
