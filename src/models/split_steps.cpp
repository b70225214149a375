#include "models/split_steps.h"

#include <map>
#include <tuple>

#include "core/error.h"

namespace turbolm {
namespace {

bool announces(const Model& model) {
    const auto& tp = model.config().tp;
    return tp.split() && tp.rank == 0;
}

// Messages are i64 arrays, broadcast from rank 0 as a length and then the array (on the model's
// device, which is where the communicator's collectives run).
void send(Communicator& comm, Device dev, std::vector<int64_t> msg) {
    int64_t n = int64_t(msg.size());
    Tensor len = Tensor::wrap(&n, {1}, DType::kI64, nullptr).to_device(dev);
    comm.broadcast(len, 0);
    // to_device copies synchronously, so the host arrays may go; the device copies are freed in
    // stream order, after the broadcasts.
    Tensor body = Tensor::wrap(msg.data(), {n}, DType::kI64, nullptr).to_device(dev);
    comm.broadcast(body, 0);
}

std::vector<int64_t> receive(Communicator& comm, Device dev) {
    Tensor len = Tensor::zeros({1}, DType::kI64, dev);
    comm.broadcast(len, 0);
    const int64_t n = len.to_device(Device::kCpu).data<int64_t>()[0];
    TURBOLM_CHECK(n >= 1, "a step message of ", n, " values");
    Tensor body = Tensor::empty({n}, DType::kI64, dev);
    comm.broadcast(body, 0);
    Tensor host = body.to_device(Device::kCpu);
    const int64_t* p = host.data<int64_t>();
    return std::vector<int64_t>(p, p + n);
}

}  // namespace

void announce_step(const Model& model, SplitStep what, const KvCache& kv, const StepInputs& in, int64_t graph_key) {
    if (!announces(model)) return;
    std::vector<int64_t> msg = {int64_t(what), kv.capacity(), kv.n_seqs(), graph_key};
    const std::vector<int64_t> saved = in.save();
    msg.insert(msg.end(), saved.begin(), saved.end());
    send(*model.options().comm, model.device(), std::move(msg));
}

void announce_stop(const Model& model) {
    if (!announces(model)) return;
    send(*model.options().comm, model.device(), {int64_t(SplitStep::kStop)});
}

int64_t follow_split_steps(const Model& model) {
    const auto& tp = model.config().tp;
    TURBOLM_REQUIRE(tp.split() && tp.rank != 0, "follow_split_steps on rank ", tp.rank, " of ", tp.world);
    Communicator& comm = *model.options().comm;
    const Device dev = model.device();
    using Shape2 = std::pair<int64_t, int64_t>;  // (capacity, sequences)
    std::map<Shape2, KvCache> caches;
    struct Graph {
        StepInputs inputs;
        Tensor logits;
        std::unique_ptr<ops::DeviceGraph> graph;
    };
    std::map<std::tuple<int64_t, int64_t, int64_t>, Graph> graphs;
    const ops::DeviceGraph* pool = nullptr;  // every graph shares the first one's memory, as rank 0's do
    int64_t steps = 0;
    for (;;) {
        const std::vector<int64_t> msg = receive(comm, dev);
        const auto what = SplitStep(msg[0]);
        if (what == SplitStep::kStop) return steps;
        TURBOLM_CHECK(msg.size() >= 4, "a step message of ", msg.size(), " values");
        const Shape2 shape{msg[1], msg[2]};
        auto it = caches.find(shape);
        if (it == caches.end()) it = caches.emplace(shape, model.new_kv_cache(shape.first, shape.second)).first;
        KvCache& kv = it->second;
        const std::span<const int64_t> saved(msg.data() + 4, msg.size() - 4);
        ++steps;
        if (what == SplitStep::kRun) {
            StepInputs in;
            in.load(saved);
            in.upload(dev);
            model.run(in, kv);
            continue;
        }
        Graph& g = graphs[{shape.first, shape.second, msg[3]}];
        g.inputs.load(saved);
        g.inputs.upload(dev);
        if (what == SplitStep::kCapture) {
            g.logits = Tensor::empty({g.inputs.n_logit_rows(), model.config().n_vocab}, DType::kF32, dev);
            g.graph = pool ? std::make_unique<ops::DeviceGraph>(dev, *pool) : std::make_unique<ops::DeviceGraph>(dev);
            g.graph->capture([&] { model.run(g.inputs, kv, &g.logits); });
            if (!pool) pool = g.graph.get();
        } else {
            TURBOLM_CHECK(what == SplitStep::kReplay && g.graph, "step ", msg[0], " for graph ", msg[3]);
            g.graph->replay();
        }
    }
}

}  // namespace turbolm
