// write_file_atomic(): temporary file + fsync + rename, never replacing a file unless asked to.
#include "writer/atomic_write.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "core/error.hpp"

namespace kvscale {
namespace detail {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool write_all(int fd, std::string_view bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Creates "DIR/.BASE.tmp-XXXXXXXX" with O_EXCL; returns the fd, the name in *tmp.
int create_temp(const std::string& path, std::string* tmp) {
  std::random_device rd;
  const std::string prefix = directory_of(path) + "/." + base_of(path) + ".tmp-";
  for (int attempt = 0; attempt < 100; ++attempt) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
    *tmp = prefix + suffix;
    const int fd = ::open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

// Moves tmp to path without replacing an existing path: renameat2(RENAME_NOREPLACE) where the
// kernel and file system have it, else link() + unlink() (link fails with EEXIST).
int rename_noreplace(const std::string& tmp, const std::string& path) {
#if defined(SYS_renameat2)
  const long r = ::syscall(SYS_renameat2, AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), 1u /* RENAME_NOREPLACE */);
  if (r == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) return -1;
#endif
  if (::link(tmp.c_str(), path.c_str()) != 0) return -1;
  ::unlink(tmp.c_str());
  return 0;
}

void sync_directory(const std::string& path) {
  const int fd = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);  // best effort: the rename itself has happened
  ::close(fd);
}

}  // namespace

Status write_file_atomic(const std::string& path, std::string_view bytes, bool force) noexcept {
  try {
    struct stat st {};
    if (!force && ::lstat(path.c_str(), &st) == 0)
      return fail(Status::invalid_argument, path + " exists; not overwriting it without force (--force)");
    std::string tmp;
    const int fd = create_temp(path, &tmp);
    if (fd < 0)
      return fail(Status::invalid_argument,
                  "cannot create a temporary file next to " + path + ": " + errno_text(errno));
    const auto abandon = [&](const std::string& what) {
      const int e = errno;
      ::unlink(tmp.c_str());
      return fail(Status::invalid_argument, what + " " + path + ": " + errno_text(e));
    };
    if (!write_all(fd, bytes) || ::fsync(fd) != 0) {
      const int e = errno;
      ::close(fd);
      errno = e;
      return abandon("cannot write");
    }
    if (::close(fd) != 0) return abandon("cannot write");
    if (force ? ::rename(tmp.c_str(), path.c_str()) != 0 : rename_noreplace(tmp, path) != 0) {
      if (errno == EEXIST) {
        ::unlink(tmp.c_str());
        return fail(Status::invalid_argument, path + " appeared while writing; not overwriting it without force");
      }
      return abandon("cannot put in place");
    }
    sync_directory(path);
    return Status::success;
  } catch (const std::bad_alloc&) {
    return fail(Status::out_of_memory, "out of host memory while writing " + path);
  } catch (...) {
    return fail(Status::internal_error, "unexpected exception while writing " + path);
  }
}

}  // namespace detail
}  // namespace kvscale
