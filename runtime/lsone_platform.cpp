// llama-server-one: the runtime's operating-system calls, one section per system family.

#include "lsone_platform.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#if defined(_WIN32)
#    include <fcntl.h>
#    include <io.h>
#    include <sys/stat.h>
#    include <windows.h>
#else
#    include <climits>
#    include <fcntl.h>
#    include <sys/mman.h>
#    include <sys/stat.h>
#    include <unistd.h>
#    if defined(__APPLE__)
#        include <mach-o/dyld.h>
#    elif defined(__COSMOPOLITAN__)
#        include <cosmo.h>  // GetProgramExecutableName
#    endif
#endif

namespace lsone {

#if defined(_WIN32)

namespace {

std::wstring wide(const std::string & utf8) {
    const int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), (int) utf8.size(), nullptr, 0);
    std::wstring out(n, L'\0');
    MultiByteToWideChar(CP_UTF8, 0, utf8.data(), (int) utf8.size(), &out[0], n);
    return out;
}

HANDLE handle_of(int fd) {
    return (HANDLE) _get_osfhandle(fd);
}

}  // namespace

int open_for_reading(const std::string & path) {
    // _O_NOINHERIT is Windows' O_CLOEXEC; a FIFO cannot stand in a file's place here.
    return _wopen(wide(path).c_str(), _O_RDONLY | _O_BINARY | _O_NOINHERIT);
}

int open_self_exe(const std::string & path) {
    return open_for_reading(path);  // a running executable's file cannot be replaced under it
}

void close_file(int fd) {
    _close(fd);
}

bool file_status(int fd, uint64_t & size, bool & regular) {
    struct _stat64 st;
    if (_fstat64(fd, &st) != 0) {
        return false;
    }
    size = (uint64_t) st.st_size;
    regular = (st.st_mode & _S_IFMT) == _S_IFREG;
    return true;
}

bool read_at(int fd, uint64_t offset, void * buf, size_t len) {
    auto * p = static_cast<unsigned char *>(buf);
    while (len > 0) {
        OVERLAPPED at = {};
        at.Offset = (DWORD) offset;
        at.OffsetHigh = (DWORD) (offset >> 32);
        const DWORD chunk = (DWORD) std::min<size_t>(len, 1u << 30);
        DWORD got = 0;
        if (!ReadFile(handle_of(fd), p, chunk, &got, &at) || got == 0) {
            return false;  // ERROR_HANDLE_EOF past the end
        }
        p += got;
        len -= got;
        offset += got;
    }
    return true;
}

long long read_some(int fd, void * buf, size_t len) {
    return _read(fd, buf, (unsigned) std::min<size_t>(len, 1u << 30));
}

int reopen_descriptor(int fd) {
    const HANDLE h = ReOpenFile(handle_of(fd), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, 0);
    if (h == INVALID_HANDLE_VALUE) {
        return -1;
    }
    const int reopened = _open_osfhandle((intptr_t) h, _O_RDONLY | _O_BINARY);
    if (reopened < 0) {
        CloseHandle(h);
    }
    return reopened;
}

int duplicate_descriptor(int fd) {
    return _dup(fd);
}

bool seek_stream(FILE * stream, uint64_t offset) {
    return _fseeki64(stream, (__int64) offset, SEEK_SET) == 0;
}

const void * map_view(int fd, uint64_t offset, size_t size) {
    if (size == 0) {
        return nullptr;  // MapViewOfFile would map everything to the end of the file
    }
    const HANDLE mapping = CreateFileMappingW(handle_of(fd), nullptr, PAGE_READONLY, 0, 0, nullptr);
    if (!mapping) {
        return nullptr;
    }
    const void * view = MapViewOfFile(mapping, FILE_MAP_READ, (DWORD) (offset >> 32), (DWORD) offset, size);
    CloseHandle(mapping);  // the view keeps the mapping alive
    return view;
}

void unmap_view(const void * view, size_t) {
    UnmapViewOfFile(view);
}

std::string self_exe_path() {
    std::wstring buf(32768, L'\0');
    const DWORD n = GetModuleFileNameW(nullptr, &buf[0], (DWORD) buf.size());
    const int len = WideCharToMultiByte(CP_UTF8, 0, buf.data(), (int) n, nullptr, 0, nullptr, nullptr);
    std::string out(len, '\0');
    WideCharToMultiByte(CP_UTF8, 0, buf.data(), (int) n, &out[0], len, nullptr, nullptr);
    return out;
}

void set_env_default(const char * name, const std::string & value) {
    if (!std::getenv(name)) {
        _putenv_s(name, value.c_str());
    }
}

#else  // POSIX: Linux, macOS, Cosmopolitan

int open_for_reading(const std::string & path) {
    return open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
}

int open_self_exe(const std::string & path) {
    int fd = -1;
#    if defined(__linux__) && !defined(__COSMOPOLITAN__)
    fd = open_for_reading("/proc/self/exe");  // the file this process runs, even if a rebuild renamed another over it
#    endif
    return fd >= 0 ? fd : open_for_reading(path);  // the one time the executable is opened by name
}

void close_file(int fd) {
    close(fd);
}

bool file_status(int fd, uint64_t & size, bool & regular) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return false;
    }
    size = (uint64_t) st.st_size;
    regular = S_ISREG(st.st_mode);
    return true;
}

bool read_at(int fd, uint64_t offset, void * buf, size_t len) {
    auto * p = static_cast<unsigned char *>(buf);
    while (len > 0) {
        const ssize_t n = pread(fd, p, len, (off_t) offset);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t) n;
        offset += (uint64_t) n;
    }
    return true;
}

long long read_some(int fd, void * buf, size_t len) {
    ssize_t n;
    do {
        n = read(fd, buf, len);
    } while (n < 0 && errno == EINTR);
    return n;
}

int reopen_descriptor(int fd) {
#    if defined(__linux__) || defined(__COSMOPOLITAN__)
    // The same open file through the descriptor (not its name), with a file position of its own.
    const int reopened = open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDONLY | O_CLOEXEC);
    struct stat a, b;
    if (reopened >= 0 && fstat(reopened, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino) {
        return reopened;
    }
    if (reopened >= 0) {
        close(reopened);
    }
#    endif
    (void) fd;
    return -1;
}

int duplicate_descriptor(int fd) {
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

bool seek_stream(FILE * stream, uint64_t offset) {
    return fseeko(stream, (off_t) offset, SEEK_SET) == 0;
}

const void * map_view(int fd, uint64_t offset, size_t size) {
    void * view = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, (off_t) offset);
    return view == MAP_FAILED ? nullptr : view;
}

void unmap_view(const void * view, size_t size) {
    munmap(const_cast<void *>(view), size);
}

std::string self_exe_path() {
#    if defined(__COSMOPOLITAN__)
    const char * path = GetProgramExecutableName();
    return path ? path : "";
#    elif defined(__APPLE__)
    char buf[PATH_MAX];
    uint32_t size = sizeof(buf);
    if (_NSGetExecutablePath(buf, &size) != 0) {
        return "";
    }
    char real[PATH_MAX];
    return realpath(buf, real) ? real : buf;
#    else
    char buf[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, (size_t) n) : "";
#    endif
}

void set_env_default(const char * name, const std::string & value) {
    setenv(name, value.c_str(), 0);
}

#endif

bool read_to_end(int fd, std::string & out) {
    char buf[65536];
    long long n;
    while ((n = read_some(fd, buf, sizeof(buf))) > 0) {
        out.append(buf, (size_t) n);
    }
    return n == 0;
}

}  // namespace lsone
