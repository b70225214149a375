// Real chat templates rendered byte for byte as HF transformers renders them:
//  - renders.json: the Qwen2 and Mistral v0.3 templates of ../shared/assets, rendered by transformers;
//  - cases.json + expected.json: our conversations for Llama 3.1/3.2, ChatML, Qwen 2.5/3, Gemma 2/3, Phi 3.5
//    and Mistral v0.3, expected strings written by make_expected.py (see the README beside them).
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "core/error.h"
#include "support/test_paths.h"

namespace {

using Json = nlohmann::ordered_json;

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in) << "cannot read " << path;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Json read_json(const std::filesystem::path& path) {
    return Json::parse(read_file(path));
}

std::filesystem::path fixtures() {
    return turbolm::test::fixtures_dir() / "chat-templates";
}

// The variables transformers passes: special tokens only when set.
Json make_context(const Json& messages, const Json& tools, const Json& documents, bool add_generation_prompt,
                  const Json& bos, const Json& eos, const Json& kwargs) {
    Json ctx = Json::object();
    ctx["messages"] = messages;
    ctx["tools"] = tools;
    ctx["documents"] = documents;
    ctx["add_generation_prompt"] = add_generation_prompt;
    if (bos.is_string()) ctx["bos_token"] = bos;
    if (eos.is_string()) ctx["eos_token"] = eos;
    for (auto it = kwargs.begin(); it != kwargs.end(); ++it) ctx[it.key()] = it.value();
    return ctx;
}

TEST(ChatTemplateFixtures, SharedRendersFromTransformers) {
    const auto renders_path = fixtures() / "renders.json";
    TURBOLM_SKIP_IF_MISSING(renders_path);
    const Json renders = read_json(renders_path);
    int checked = 0;
    for (auto it = renders.begin(); it != renders.end(); ++it) {
        const auto config_path = turbolm::test::shared_dir() / "assets" / it.key() / "tokenizer_config.json";
        if (!std::filesystem::exists(config_path)) continue;
        const Json config = read_json(config_path);
        const auto tmpl = turbolm::ChatTemplate::parse(config["chat_template"].get<std::string>());
        for (const Json& c : it.value()["cases"]) {
            SCOPED_TRACE(it.key() + " " + c["messages"].dump());
            const Json ctx =
                make_context(c["messages"], nullptr, nullptr, c["add_generation_prompt"].get<bool>(),
                             config.value("bos_token", Json()), config.value("eos_token", Json()), Json::object());
            EXPECT_EQ(tmpl.render(ctx), c["rendered"].get<std::string>());
            ++checked;
        }
    }
    if (checked == 0) GTEST_SKIP() << "no tokenizer_config.json under " << turbolm::test::shared_dir() / "assets";
}

TEST(ChatTemplateFixtures, ConversationsMatchExpected) {
    const Json cases = read_json(fixtures() / "cases.json");
    const Json expected = read_json(fixtures() / "expected.json");
    struct Loaded {
        std::optional<turbolm::ChatTemplate> tmpl;
        Json bos, eos;
    };
    std::map<std::string, Loaded> templates;
    for (auto it = cases["templates"].begin(); it != cases["templates"].end(); ++it) {
        const Json& spec = it.value();
        Loaded l;
        if (spec.contains("file")) {
            l.tmpl = turbolm::ChatTemplate::parse(read_file(fixtures() / spec["file"].get<std::string>()));
            l.bos = spec["bos_token"];
            l.eos = spec["eos_token"];
        } else {
            const auto path = turbolm::test::shared_dir() / "assets" / spec["asset"].get<std::string>();
            if (std::filesystem::exists(path)) {
                const Json config = read_json(path);
                l.tmpl = turbolm::ChatTemplate::parse(config["chat_template"].get<std::string>());
                l.bos = config.value("bos_token", Json());
                l.eos = config.value("eos_token", Json());
            }
        }
        templates.emplace(it.key(), std::move(l));
    }
    int rendered = 0;
    int rejected = 0;
    int skipped = 0;
    for (const Json& c : cases["cases"]) {
        const std::string name = c["name"];
        SCOPED_TRACE(name);
        const Loaded& l = templates.at(c["template"].get<std::string>());
        if (!l.tmpl) {
            ++skipped;
            continue;
        }
        ASSERT_TRUE(expected["cases"].contains(name)) << "expected.json has no entry; run make_expected.py";
        const Json& want = expected["cases"][name];
        const Json ctx =
            make_context(c["messages"], c.value("tools", Json()), c.value("documents", Json()),
                         c["add_generation_prompt"].get<bool>(), l.bos, l.eos, c.value("kwargs", Json::object()));
        if (want.contains("rendered")) {
            try {
                EXPECT_EQ(l.tmpl->render(ctx), want["rendered"].get<std::string>());
            } catch (const turbolm::Error& e) {
                ADD_FAILURE() << "threw: " << e.what();
            }
            ++rendered;
        } else {
            try {
                const std::string out = l.tmpl->render(ctx);
                ADD_FAILURE() << "rendered instead of failing with " << want["error"] << ":\n" << out;
            } catch (const turbolm::Error& e) {
                EXPECT_EQ(e.code(), turbolm::StatusCode::kInvalidArgument);
                // raise_exception() messages reach the caller unchanged.
                if (want["error_type"] == "TemplateError") {
                    EXPECT_EQ(std::string(e.what()), want["error"].get<std::string>());
                }
            }
            ++rejected;
        }
    }
    EXPECT_GT(rendered, 100);
    EXPECT_GT(rejected, 5);
    if (skipped) std::cout << "[ note ] " << skipped << " cases skipped: their template asset is absent\n";
}

}  // namespace
