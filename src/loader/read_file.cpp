// Bounded file reading: stat, size limit before reading, open, regular-file check on the opened
// descriptor, read at most limit + 1 bytes.
#include "read_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kvscale {
namespace loader {

namespace {

bool fail(Sink& sink, DiagCode code, std::string message) {
  sink.add(code, "", std::move(message));
  return false;
}

const char* file_type_name(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "a special file";
}

bool fail_not_regular(Sink& sink, mode_t m) {
  return fail(sink, DiagCode::not_a_regular_file, std::string("expected a regular file, found ") + file_type_name(m));
}

/// A stat() or open() of `path` that failed with errno e; `what` is what the call was for ("read",
/// "open").
bool fail_errno(Sink& sink, const std::string& path, int e, const char* what) {
  if (e == ENOENT || e == ENOTDIR || path.empty())
    return fail(sink, DiagCode::file_not_found, "expected a file, found nothing at this path");
  if (e == EACCES || e == EPERM)
    return fail(sink, DiagCode::permission_denied, "expected read permission, found access denied");
  return fail(sink, DiagCode::read_error,
              std::string("expected to ") + what + " the file, found an error: " + std::strerror(e));
}

bool too_large(Sink& sink, std::uint64_t max_bytes, const std::string& found) {
  return fail(sink, DiagCode::file_too_large,
              "expected at most " + std::to_string(max_bytes) + " bytes, found " + found);
}

/// stat() before open(): a FIFO or device must be refused without opening it (opening a FIFO
/// blocks), and a file over the limit without reading a byte.
bool check_path(const std::string& path, std::uint64_t max_bytes, Sink& sink) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail_errno(sink, path, errno, "read");
  if (!S_ISREG(st.st_mode)) return fail_not_regular(sink, st.st_mode);
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    return too_large(sink, max_bytes, std::to_string(static_cast<std::uint64_t>(st.st_size)) + " bytes");
  return true;
}

/// Reads to EOF, but never more than max_bytes + 1 bytes: a file that grew past the limit since
/// stat() is still refused, and memory stays bounded by the limit.
bool read_bounded(int fd, std::uint64_t size_hint, std::uint64_t max_bytes, Sink& sink, std::string* out) {
  std::string& buf = *out;
  buf.resize(static_cast<std::size_t>(std::min(size_hint, max_bytes)) + 1);
  std::size_t got = 0;
  for (;;) {
    if (got == buf.size()) {
      if (got > max_bytes) return too_large(sink, max_bytes, "more than " + std::to_string(max_bytes) + " bytes");
      buf.resize(std::min<std::size_t>(buf.size() * 2, static_cast<std::size_t>(max_bytes) + 1));
    }
    const ssize_t r = ::read(fd, buf.data() + got, buf.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail(sink, DiagCode::read_error,
                  std::string("expected to read the whole file, found an error: ") + std::strerror(errno));
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  if (got > max_bytes) return too_large(sink, max_bytes, "more than " + std::to_string(max_bytes) + " bytes");
  buf.resize(got);
  return true;
}

}  // namespace

// O_NONBLOCK: should the path have been swapped for a FIFO since the caller's stat(), open() must
// not hang; the fstat() below then refuses it.
bool open_regular_file(const std::string& path, Sink& sink, int* fd, std::uint64_t* size) {
  do {
    *fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  } while (*fd < 0 && errno == EINTR);
  if (*fd < 0) return fail_errno(sink, path, errno, "open");
  struct stat st {};
  if (::fstat(*fd, &st) != 0)
    return fail(sink, DiagCode::read_error,
                std::string("expected to stat the file, found an error: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail_not_regular(sink, st.st_mode);
  *size = static_cast<std::uint64_t>(st.st_size);
  return true;
}

bool read_file(const std::string& path, std::uint64_t max_bytes, Sink& sink, std::string* out) {
  if (!check_path(path, max_bytes, sink)) return false;
  int fd = -1;
  std::uint64_t size = 0;
  const bool opened = open_regular_file(path, sink, &fd, &size);
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) ::close(fd);
    }
  } closer{fd};
  return opened && read_bounded(fd, size, max_bytes, sink, out);
}

}  // namespace loader
}  // namespace kvscale
