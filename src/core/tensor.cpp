#include "core/tensor.h"

#include "core/device_backend.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/cpu_allocator.h"
#include "core/half.h"

namespace turbolm {

const char* device_name(Device d) { return d == Device::kCpu ? "cpu" : "cuda"; }

Shape::Shape(std::initializer_list<int64_t> dims) {
    for (int64_t d : dims) push_back(d);
}

void Shape::push_back(int64_t d) {
    TURBOLM_CHECK(n_ < kMaxDims, "more than ", kMaxDims, " dimensions");
    dims_[n_++] = d;
}

int64_t Shape::numel() const {
    int64_t n = 1;
    for (int i = 0; i < n_; ++i) n *= dims_[i];
    return n;
}

bool Shape::operator==(const Shape& o) const {
    if (n_ != o.n_) return false;
    for (int i = 0; i < n_; ++i)
        if (dims_[i] != o.dims_[i]) return false;
    return true;
}

std::string Shape::to_string() const {
    std::ostringstream out;
    out << '[';
    for (int i = 0; i < n_; ++i) out << (i ? ", " : "") << dims_[i];
    out << ']';
    return out.str();
}

namespace {

std::shared_ptr<Storage> allocate_cpu(size_t bytes) {
    void* p = cpu_alloc(bytes);
    auto st = std::make_shared<Storage>();
    st->data = p;
    st->bytes = bytes;
    st->owner = std::shared_ptr<void>(p, [bytes](void* q) { cpu_free(q, bytes); });
    return st;
}

std::shared_ptr<Storage> allocate_device(Device device, size_t bytes) {
    DeviceBackend& backend = device_backend(device);
    void* p = bytes ? backend.allocate(bytes) : nullptr;
    auto st = std::make_shared<Storage>();
    st->data = p;
    st->bytes = bytes;
    st->device = device;
    st->owner = std::shared_ptr<void>(p, [&backend, bytes](void* q) {
        if (q) backend.deallocate(q, bytes);
    });
    return st;
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
    Tensor t;
    t.dtype_ = dtype;
    t.shape_ = shape;
    t.init_contiguous_strides();
    t.storage_ = device == Device::kCpu ? allocate_cpu(t.nbytes()) : allocate_device(device, t.nbytes());
    return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
    Tensor t = empty(shape, dtype, device);
    if (device == Device::kCpu) {
        std::memset(t.raw_data(), 0, t.nbytes());
    } else {
        device_backend(device).fill_zero(t.raw_data(), t.nbytes());
    }
    return t;
}

Tensor Tensor::wrap(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> owner, Device device) {
    Tensor t;
    t.dtype_ = dtype;
    t.shape_ = shape;
    t.init_contiguous_strides();
    t.storage_ = std::make_shared<Storage>();
    t.storage_->data = data;
    t.storage_->bytes = t.nbytes();
    t.storage_->device = device;
    t.storage_->owner = std::move(owner);
    return t;
}

void Tensor::init_contiguous_strides() {
    int64_t s = 1;
    for (int i = shape_.size() - 1; i >= 0; --i) {
        strides_[i] = s;
        s *= shape_[i];
    }
}

int Tensor::norm_axis(int axis) const {
    int a = axis < 0 ? axis + ndim() : axis;
    TURBOLM_CHECK(a >= 0 && a < ndim(), "axis ", axis, " out of range for ", describe());
    return a;
}

bool Tensor::is_contiguous() const {
    int64_t s = 1;
    for (int i = ndim() - 1; i >= 0; --i) {
        if (shape_[i] != 1 && strides_[i] != s) return false;
        s *= shape_[i];
    }
    return true;
}

Tensor Tensor::view(const Shape& shape) const {
    TURBOLM_CHECK(is_contiguous(), "view of a non-contiguous tensor ", describe());
    Shape resolved = shape;
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < resolved.size(); ++i) {
        if (resolved[i] == -1) {
            TURBOLM_CHECK(infer < 0, "two -1 dims in view");
            infer = i;
        } else {
            known *= resolved[i];
        }
    }
    if (infer >= 0) resolved[infer] = known ? numel() / known : 0;
    TURBOLM_CHECK(resolved.numel() == numel(), "view ", resolved.to_string(), " of ", describe());
    Tensor t = *this;
    t.shape_ = resolved;
    t.init_contiguous_strides();
    return t;
}

Tensor Tensor::slice(int axis, int64_t start, int64_t stop) const {
    int a = norm_axis(axis);
    TURBOLM_CHECK(0 <= start && start <= stop && stop <= shape_[a], "slice [", start, ", ", stop, ") of axis ", a,
                  " of ", describe());
    Tensor t = *this;
    t.offset_bytes_ += size_t(start * strides_[a]) * dtype_size(dtype_);
    t.shape_[a] = stop - start;
    return t;
}

Tensor Tensor::select(int axis, int64_t index) const {
    int a = norm_axis(axis);
    TURBOLM_CHECK(0 <= index && index < shape_[a], "select ", index, " of axis ", a, " of ", describe());
    Tensor t;
    t.storage_ = storage_;
    t.dtype_ = dtype_;
    t.offset_bytes_ = offset_bytes_ + size_t(index * strides_[a]) * dtype_size(dtype_);
    for (int i = 0; i < ndim(); ++i) {
        if (i == a) continue;
        t.strides_[t.shape_.size()] = strides_[i];
        t.shape_.push_back(shape_[i]);
    }
    return t;
}

Tensor Tensor::transpose(int a, int b) const {
    a = norm_axis(a);
    b = norm_axis(b);
    Tensor t = *this;
    std::swap(t.shape_[a], t.shape_[b]);
    std::swap(t.strides_[a], t.strides_[b]);
    return t;
}

Tensor Tensor::unflatten(int axis, int64_t a, int64_t b) const {
    int ax = norm_axis(axis);
    TURBOLM_CHECK(a * b == shape_[ax], "unflatten ", shape_[ax], " into ", a, " x ", b);
    Tensor t;
    t.storage_ = storage_;
    t.dtype_ = dtype_;
    t.offset_bytes_ = offset_bytes_;
    for (int i = 0; i < ndim(); ++i) {
        if (i == ax) {
            t.strides_[t.shape_.size()] = strides_[i] * b;
            t.shape_.push_back(a);
            t.strides_[t.shape_.size()] = strides_[i];
            t.shape_.push_back(b);
        } else {
            t.strides_[t.shape_.size()] = strides_[i];
            t.shape_.push_back(shape_[i]);
        }
    }
    return t;
}

namespace {

// Calls fn(dst_offset, src_offset) for every element, both in elements, walking src's logical order.
template <typename Fn>
void for_each_index(const Shape& shape, const int64_t* src_strides, Fn&& fn) {
    int n = shape.size();
    std::array<int64_t, Shape::kMaxDims> idx{};
    int64_t total = shape.numel();
    for (int64_t flat = 0; flat < total; ++flat) {
        int64_t off = 0;
        for (int i = 0; i < n; ++i) off += idx[i] * src_strides[i];
        fn(flat, off);
        for (int i = n - 1; i >= 0; --i) {
            if (++idx[i] < shape[i]) break;
            idx[i] = 0;
        }
    }
}

float load_float(const void* base, DType dt, int64_t i) {
    switch (dt) {
        case DType::kF32: return static_cast<const float*>(base)[i];
        case DType::kF64: return float(static_cast<const double*>(base)[i]);
        case DType::kF16: return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
        case DType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
        case DType::kF8E4M3: return f8e4m3_to_f32(static_cast<const uint8_t*>(base)[i]);
        default: fail(StatusCode::kInternal, "not a float dtype: ", dtype_name(dt));
    }
}

void store_float(void* base, DType dt, int64_t i, float v) {
    switch (dt) {
        case DType::kF32: static_cast<float*>(base)[i] = v; return;
        case DType::kF64: static_cast<double*>(base)[i] = v; return;
        case DType::kF16: static_cast<uint16_t*>(base)[i] = f32_to_f16(v); return;
        case DType::kBF16: static_cast<uint16_t*>(base)[i] = f32_to_bf16(v); return;
        default: fail(StatusCode::kInternal, "cannot store float into ", dtype_name(dt));
    }
}

}  // namespace

void Tensor::copy_from(const Tensor& src) {
    TURBOLM_CHECK(shape_ == src.shape_, "copy ", src.describe(), " into ", describe());
    if (device() != Device::kCpu || src.device() != Device::kCpu) {
        copy_across_devices(src);
        return;
    }
    TURBOLM_CHECK(is_contiguous(), "copy into non-contiguous ", describe());
    if (dtype_ == src.dtype_ && src.is_contiguous()) {
        std::memcpy(raw_data(), src.raw_data(), nbytes());
        return;
    }
    const size_t esize = dtype_size(dtype_);
    if (dtype_ == src.dtype_ && ndim() >= 2 && src.strides_[ndim() - 1] == 1) {
        // Row by row: the common case of copying a strided slice of rows.
        const int64_t cols = shape_[ndim() - 1];
        const size_t row_bytes = size_t(cols) * esize;
        char* dst = static_cast<char*>(raw_data());
        const char* s = static_cast<const char*>(src.raw_data());
        Shape outer(shape_.begin(), shape_.end() - 1);
        for_each_index(outer, src.strides_.data(), [&](int64_t d, int64_t o) {
            std::memcpy(dst + size_t(d) * row_bytes, s + size_t(o) * esize, row_bytes);
        });
        return;
    }
    if (dtype_ == src.dtype_) {
        char* dst = static_cast<char*>(raw_data());
        const char* s = static_cast<const char*>(src.raw_data());
        for_each_index(shape_, src.strides_.data(),
                       [&](int64_t d, int64_t o) { std::memcpy(dst + d * esize, s + o * esize, esize); });
        return;
    }
    TURBOLM_CHECK(dtype_is_float(dtype_) && dtype_is_float(src.dtype_), "conversion ", src.describe(), " -> ",
                  dtype_name(dtype_));
    void* dst = raw_data();
    const void* s = src.raw_data();
    for_each_index(shape_, src.strides_.data(),
                   [&](int64_t d, int64_t o) { store_float(dst, dtype_, d, load_float(s, src.dtype_, o)); });
}

void Tensor::copy_from_rows(const Tensor& src) {
    // Either tensor may be a row slice of a wider buffer: [rows..., cols] with a contiguous last axis
    // and rows that are evenly spaced (2-D views, or contiguous leading axes).
    TURBOLM_CHECK(dtype_ == src.dtype_, "copy between devices needs one dtype: ", src.describe(), " -> ",
                  describe());
    if (numel() == 0) return;
    const Device dev = device() != Device::kCpu ? device() : src.device();
    DeviceBackend& backend = device_backend(dev);
    if (is_contiguous() && src.is_contiguous()) {
        backend.copy(raw_data(), device(), src.raw_data(), src.device(), nbytes());
        return;
    }
    auto row_pitch = [](const Tensor& t) -> int64_t {
        const int n = t.ndim();
        TURBOLM_CHECK(n >= 1 && t.strides_[n - 1] == 1, "device copy needs a contiguous last axis: ", t.describe());
        if (n == 1) return t.shape_[0];
        // Leading axes must collapse into one evenly strided row axis.
        for (int i = 0; i + 2 < n; ++i)
            TURBOLM_CHECK(t.strides_[i] == t.strides_[i + 1] * t.shape_[i + 1], "device copy of ", t.describe(),
                          " with uneven row strides");
        return t.strides_[n - 2];
    };
    const int64_t cols = shape_[ndim() - 1];
    const int64_t rows = numel() / cols;
    const size_t es = dtype_size(dtype_);
    backend.copy_rows(raw_data(), size_t(row_pitch(*this)) * es, device(), src.raw_data(),
                      size_t(row_pitch(src)) * es, src.device(), size_t(cols) * es, size_t(rows));
}

void Tensor::copy_across_devices(const Tensor& src) { copy_from_rows(src); }

Tensor Tensor::to_device(Device device) const {
    if (this->device() == device) return *this;
    Tensor t = empty(shape_, dtype_, device);
    t.copy_from(*this);
    return t;
}

Tensor Tensor::contiguous() const {
    if (is_contiguous()) return *this;
    Tensor t = empty(shape_, dtype_);
    t.copy_from(*this);
    return t;
}

Tensor Tensor::to(DType dtype) const {
    Tensor t = empty(shape_, dtype);
    t.copy_from(*this);
    return t;
}

std::string Tensor::describe() const { return std::string(dtype_name(dtype_)) + shape_.to_string(); }

float tensor_get_float(const Tensor& t, int64_t flat_index) {
    int64_t off = 0, rem = flat_index;
    for (int i = t.ndim() - 1; i >= 0; --i) {
        off += (rem % t.size(i)) * t.stride(i);
        rem /= t.size(i);
    }
    return load_float(t.raw_data(), t.dtype(), off);
}

}  // namespace turbolm
