// Tensor: a typed, strided view of memory that may be shared (an mmap'd checkpoint, a buffer owned by
// the engine, device memory). Copying a Tensor copies the view, never the data.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "core/dtype.h"
#include "core/error.h"

namespace turbolm {

enum class Device : uint8_t { kCpu, kCuda };
const char* device_name(Device d);

// A fixed-capacity list of dimensions: tensors here have at most kMaxDims axes, and keeping shapes
// off the heap makes views free to create in hot loops.
class Shape {
public:
    static constexpr int kMaxDims = 6;

    Shape() = default;
    Shape(std::initializer_list<int64_t> dims);
    template <typename It>
    Shape(It first, It last) {
        for (; first != last; ++first) push_back(int64_t(*first));
    }

    int size() const { return n_; }
    int64_t operator[](int i) const { return dims_[i]; }
    int64_t& operator[](int i) { return dims_[i]; }
    const int64_t* begin() const { return dims_.data(); }
    const int64_t* end() const { return dims_.data() + n_; }
    void push_back(int64_t d);
    int64_t numel() const;
    bool operator==(const Shape& o) const;
    bool operator!=(const Shape& o) const { return !(*this == o); }
    std::string to_string() const;  // "[4, 64]"

private:
    std::array<int64_t, kMaxDims> dims_{};
    int n_ = 0;
};

// The memory a tensor points into. The keep-alive owner holds whatever must outlive the pointer
// (an aligned buffer, a memory map, a device allocation).
struct Storage {
    void* data = nullptr;
    size_t bytes = 0;
    Device device = Device::kCpu;
    std::shared_ptr<void> owner;
};

class Tensor {
public:
    Tensor() = default;

    // Fresh, uninitialized memory: 64-byte aligned on the CPU; from the device backend's pool elsewhere.
    static Tensor empty(const Shape& shape, DType dtype, Device device = Device::kCpu);
    static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::kCpu);
    // A view of memory owned by someone else; `owner` keeps it alive (may be null for static data).
    static Tensor wrap(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> owner,
                       Device device = Device::kCpu);

    bool defined() const { return storage_ != nullptr; }
    DType dtype() const { return dtype_; }
    Device device() const { return storage_ ? storage_->device : Device::kCpu; }
    const Shape& shape() const { return shape_; }
    int ndim() const { return shape_.size(); }
    // Negative axes count from the end, as in numpy.
    int64_t size(int axis) const { return shape_[norm_axis(axis)]; }
    int64_t stride(int axis) const { return strides_[norm_axis(axis)]; }
    int64_t numel() const { return shape_.numel(); }
    size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
    bool is_contiguous() const;

    void* raw_data() const { return static_cast<char*>(storage_->data) + offset_bytes_; }
    template <typename T>
    T* data() const {
        TURBOLM_CHECK(sizeof(T) == dtype_size(dtype_), "tensor of ", dtype_name(dtype_), " read as ",
                      sizeof(T), "-byte elements");
        return static_cast<T*>(raw_data());
    }
    // Pointer to row `i` of a tensor whose last axis is contiguous, for [rows, cols] style access.
    template <typename T>
    T* row(int64_t i) const {
        return data<T>() + i * strides_[0];
    }

    // Views (no copy).
    Tensor view(const Shape& shape) const;  // requires contiguity; one dim may be -1
    Tensor slice(int axis, int64_t start, int64_t stop) const;
    Tensor select(int axis, int64_t index) const;  // drops the axis
    Tensor transpose(int a, int b) const;
    // Splits one axis of size a*b into two axes (a, b), keeping the other strides: [T, H*hd] -> [T, H, hd]
    // works on a column slice of a wider buffer too.
    Tensor unflatten(int axis, int64_t a, int64_t b) const;

    // Copies.
    Tensor contiguous() const;
    Tensor to(DType dtype) const;  // CPU conversion between float types (and identity copies)
    // Same shape. On the CPU converts float dtypes and reads any strides; between devices the dtypes
    // must match and both sides need a contiguous last axis (rows copied with their pitches).
    void copy_from(const Tensor& src);
    Tensor to_device(Device device) const;  // a contiguous copy on `device` (this tensor when already there)

    std::string describe() const;  // "bf16[2048, 8192]"

private:
    int norm_axis(int axis) const;
    void copy_across_devices(const Tensor& src);
    void copy_from_rows(const Tensor& src);
    void init_contiguous_strides();

    std::shared_ptr<Storage> storage_;
    size_t offset_bytes_ = 0;
    DType dtype_ = DType::kF32;
    Shape shape_;
    std::array<int64_t, Shape::kMaxDims> strides_{};  // in elements
};

// Reads element i (row-major over the logical shape) of any float tensor as float; slow, for tests.
float tensor_get_float(const Tensor& t, int64_t flat_index);

}  // namespace turbolm
