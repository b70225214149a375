// Engine outputs become HTTP replies off the engine's thread: its callbacks only queue them, and
// these threads format JSON and queue writes. Formatting every token of hundreds of streams on the
// engine thread would otherwise stretch the engine's steps.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace turbolm::server {

class OutputDelivery {
public:
    explicit OutputDelivery(int threads);
    ~OutputDelivery();  // shutdown()
    OutputDelivery(const OutputDelivery&) = delete;
    OutputDelivery& operator=(const OutputDelivery&) = delete;

    // Runs `task` on one of the threads, in the order posted; after shutdown(), on the caller's.
    void post(std::function<void()> task);
    // Runs what is queued and joins the threads. Never call it from a task.
    void shutdown();

private:
    void run();

    std::mutex mu_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> tasks_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace turbolm::server
