// A Responder that passes everything through and counts the reply's status in the metrics, so
// that every route is counted in one place.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "server/api/server_metrics.h"
#include "server/http/http_server.h"

namespace turbolm::server {

class CountingResponder : public http::Responder {
public:
    CountingResponder(std::shared_ptr<http::Responder> inner, std::shared_ptr<ServerMetrics> metrics)
        : inner_(std::move(inner)), metrics_(std::move(metrics)) {}

    void reply(int status, std::string content_type, std::string body, http::Headers extra) override {
        metrics_->http_response(status);
        inner_->reply(status, std::move(content_type), std::move(body), std::move(extra));
    }
    void begin_stream(int status, std::string content_type, http::Headers extra) override {
        metrics_->http_response(status);
        inner_->begin_stream(status, std::move(content_type), std::move(extra));
    }
    void write(std::string data) override { inner_->write(std::move(data)); }
    void end() override { inner_->end(); }
    void on_disconnect(std::function<void()> fn) override { inner_->on_disconnect(std::move(fn)); }
    bool disconnected() const override { return inner_->disconnected(); }

private:
    const std::shared_ptr<http::Responder> inner_;
    const std::shared_ptr<ServerMetrics> metrics_;
};

}  // namespace turbolm::server
