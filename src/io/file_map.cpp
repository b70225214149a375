#include "io/file_map.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace turbolm {

std::shared_ptr<FileMap> FileMap::open(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        fail(err == ENOENT ? StatusCode::kNotFound : StatusCode::kDataLoss, path.string(), ": cannot open: ",
             std::strerror(err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(StatusCode::kDataLoss, path.string(), ": not a regular file");
    }
    std::shared_ptr<FileMap> map(new FileMap());
    map->path_ = path;
    map->size_ = size_t(st.st_size);
    if (map->size_ > 0) {
        void* p = ::mmap(nullptr, map->size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int err = errno;
            ::close(fd);
            fail(StatusCode::kDataLoss, path.string(), ": mmap failed: ", std::strerror(err));
        }
        map->data_ = p;
    }
    ::close(fd);
    return map;
}

FileMap::~FileMap() {
    if (data_) ::munmap(data_, size_);
}

}  // namespace turbolm
