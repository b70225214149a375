// The web page served at / : a chat playground that streams answers from /v1/chat/completions,
// with sampling controls, and a live view of /metrics (throughput, queue, KV cache usage). Plain
// HTML and JavaScript, compiled into the binary from index.html.
#pragma once

#include <string_view>

namespace turbolm::server {

std::string_view web_page_html();

}  // namespace turbolm::server
