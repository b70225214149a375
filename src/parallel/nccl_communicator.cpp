#include "parallel/nccl_communicator.h"

#include "core/error.h"

#if defined(TURBOLM_WITH_CUDA) && __has_include(<nccl.h>)
#define TURBOLM_WITH_NCCL 1
#include <dlfcn.h>
#include <nccl.h>

#include <cstring>
#include <mutex>

#include "ops/cuda/cuda_backend.h"
#endif

namespace turbolm {

#ifdef TURBOLM_WITH_NCCL
namespace {

// The NCCL entry points we use, resolved from the shared library once.
struct NcclLibrary {
    std::string error;  // empty when loaded
    decltype(&ncclGetUniqueId) get_unique_id = nullptr;
    decltype(&ncclCommInitRank) comm_init_rank = nullptr;
    decltype(&ncclCommDestroy) comm_destroy = nullptr;
    decltype(&ncclAllReduce) all_reduce = nullptr;
    decltype(&ncclAllGather) all_gather = nullptr;
    decltype(&ncclBroadcast) broadcast = nullptr;
    decltype(&ncclGetErrorString) error_string = nullptr;
};

const NcclLibrary& nccl() {
    static const NcclLibrary lib = [] {
        NcclLibrary l;
        void* h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
        if (!h) h = dlopen("libnccl.so", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char* e = dlerror();
            l.error = std::string("cannot load NCCL (libnccl.so.2): ") + (e ? e : "not found");
            return l;
        }
        auto bind = [&](auto& fn, const char* name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
            if (!fn && l.error.empty()) l.error = std::string("NCCL lacks ") + name;
        };
        bind(l.get_unique_id, "ncclGetUniqueId");
        bind(l.comm_init_rank, "ncclCommInitRank");
        bind(l.comm_destroy, "ncclCommDestroy");
        bind(l.all_reduce, "ncclAllReduce");
        bind(l.all_gather, "ncclAllGather");
        bind(l.broadcast, "ncclBroadcast");
        bind(l.error_string, "ncclGetErrorString");
        return l;
    }();
    return lib;
}

const NcclLibrary& loaded_nccl() {
    const NcclLibrary& l = nccl();
    if (!l.error.empty()) fail(StatusCode::kUnimplemented, l.error);
    return l;
}

void check(ncclResult_t r, const char* what) {
    if (r != ncclSuccess) fail(StatusCode::kInternal, what, " failed: ", nccl().error_string(r));
}

ncclDataType_t nccl_type(DType d) {
    switch (d) {
        case DType::kF32:
            return ncclFloat32;
        case DType::kBF16:
            return ncclBfloat16;
        case DType::kF16:
            return ncclFloat16;
        case DType::kI32:
            return ncclInt32;
        case DType::kI8:
            return ncclInt8;
        default:
            fail(StatusCode::kInvalidArgument, "NCCL collective on ", dtype_name(d), " tensors");
    }
}

class NcclCommunicator final : public Communicator {
  public:
    NcclCommunicator(int rank, int world, const ncclUniqueId& id) : rank_(rank), world_(world) {
        check(loaded_nccl().comm_init_rank(&comm_, world, id, rank), "ncclCommInitRank");
    }
    ~NcclCommunicator() override {
        if (comm_) nccl().comm_destroy(comm_);
    }
    int rank() const override { return rank_; }
    int world() const override { return world_; }

    void all_reduce_sum(Tensor& x) override {
        require(x, "all_reduce_sum");
        check(nccl().all_reduce(x.raw_data(), x.raw_data(), size_t(x.numel()), nccl_type(x.dtype()), ncclSum, comm_,
                                cuda::stream()),
              "ncclAllReduce");
    }
    void all_gather(const Tensor& in, Tensor& out) override {
        require(in, "all_gather input");
        require(out, "all_gather output");
        TURBOLM_CHECK(out.dtype() == in.dtype() && out.numel() == in.numel() * world_, "all_gather of ", in.describe(),
                      " into ", out.describe());
        check(nccl().all_gather(in.raw_data(), out.raw_data(), size_t(in.numel()), nccl_type(in.dtype()), comm_,
                                cuda::stream()),
              "ncclAllGather");
    }
    void broadcast(Tensor& x, int root) override {
        require(x, "broadcast");
        check(nccl().broadcast(x.raw_data(), x.raw_data(), size_t(x.numel()), nccl_type(x.dtype()), root, comm_,
                               cuda::stream()),
              "ncclBroadcast");
    }

  private:
    static void require(const Tensor& t, const char* what) {
        TURBOLM_CHECK(t.device() == Device::kCuda && t.is_contiguous(), what,
                      ": NCCL takes contiguous CUDA tensors, not ", t.describe());
    }
    int rank_, world_;
    ncclComm_t comm_ = nullptr;
};

}  // namespace

bool nccl_available(std::string* why) {
    const std::string& e = nccl().error;
    if (why) *why = e;
    return e.empty();
}

std::string nccl_unique_id() {
    ncclUniqueId id;
    check(loaded_nccl().get_unique_id(&id), "ncclGetUniqueId");
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < sizeof(id.internal); ++i) {
        const auto b = static_cast<unsigned char>(id.internal[i]);
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

std::shared_ptr<Communicator> nccl_communicator(int rank, int world, const std::string& id_hex) {
    TURBOLM_REQUIRE(world >= 1 && rank >= 0 && rank < world, "rank ", rank, " of ", world);
    ncclUniqueId id;
    TURBOLM_REQUIRE(id_hex.size() == 2 * sizeof(id.internal), "an NCCL group id has ", 2 * sizeof(id.internal),
                    " hex digits, not ", id_hex.size());
    auto digit = [&](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        fail(StatusCode::kInvalidArgument, "NCCL group id: '", c, "' is not a hex digit");
    };
    for (size_t i = 0; i < sizeof(id.internal); ++i)
        id.internal[i] = static_cast<char>(digit(id_hex[2 * i]) * 16 + digit(id_hex[2 * i + 1]));
    return std::make_shared<NcclCommunicator>(rank, world, id);
}

#else

bool nccl_available(std::string* why) {
    if (why) *why = "this build has no CUDA backend with NCCL";
    return false;
}

std::string nccl_unique_id() {
    fail(StatusCode::kUnimplemented, "tensor parallelism over NCCL: this build has no CUDA backend with NCCL");
}

std::shared_ptr<Communicator> nccl_communicator(int, int, const std::string&) {
    fail(StatusCode::kUnimplemented, "tensor parallelism over NCCL: this build has no CUDA backend with NCCL");
}

#endif

}  // namespace turbolm
