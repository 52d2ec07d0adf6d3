#pragma once
// A private redis-server for tests. Each RedisServer runs its own redis-server on a free loopback
// port, in a fresh temporary directory, and talks to it over a plain TCP socket with a minimal
// RESP client (command() renders each reply as text). The server can be stopped, killed (a crash)
// and started again on the same port and directory, so a test can check what an append-only file
// brings back. shared_redis_server() is one server for the whole test process; a forked child may
// use it, but only the process that started a server ever stops it or removes its directory.
// Standard library and POSIX only.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace test_support {

/// The path of the program `name` (e.g. redis-server, redis-benchmark): from $PATH, else
/// /usr/bin, /usr/sbin, /usr/local/bin; nullopt if none.
inline std::optional<std::string> find_program(const std::string& name) {
    std::vector<std::string> dirs;
    const char* path = std::getenv("PATH");
    for (std::string rest = path ? path : ""; !rest.empty();) {
        const std::size_t colon = rest.find(':');
        dirs.push_back(rest.substr(0, colon));
        rest = colon == std::string::npos ? "" : rest.substr(colon + 1);
    }
    dirs.insert(dirs.end(), {"/usr/bin", "/usr/sbin", "/usr/local/bin"});
    for (const auto& dir : dirs) {
        const std::string candidate = dir + "/" + name;
        struct stat st {};
        if (!dir.empty() && ::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return std::nullopt;
}

/// The path of redis-server, or nullopt.
inline std::optional<std::string> find_redis_server() { return find_program("redis-server"); }

struct RedisServerConfig {
    bool appendonly = false;
    bool cluster = false;
    std::vector<std::string> extra_args;
};

namespace redis_server_detail {

inline sockaddr_in loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    return addr;
}

/// A loopback socket bound to a port the kernel chose (kept open while more ports are picked).
inline int bind_free_port(int& port_out) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = loopback(0);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const int error = errno;
        if (fd >= 0) ::close(fd);
        throw std::system_error(error, std::generic_category(), "bind 127.0.0.1:0");
    }
    port_out = ntohs(addr.sin_port);
    return fd;
}

inline std::string tail_of(const std::string& path, std::size_t max_lines = 20) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        if (lines.push_back(std::move(line)); lines.size() > max_lines) lines.erase(lines.begin());
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
}

/// One RESP2 connection to 127.0.0.1:port; any failure closes it and throws std::runtime_error.
class RespConnection {
public:
    RespConnection() = default;
    RespConnection(const RespConnection&) = delete;
    RespConnection& operator=(const RespConnection&) = delete;
    ~RespConnection() { close(); }

    bool is_open() const { return fd_ >= 0; }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buf_.clear();
        pos_ = 0;
    }
    /// False (errno set) if nothing accepts on the port.
    bool open(int port, int timeout_ms) {
        close();
        if ((fd_ = ::socket(AF_INET, SOCK_STREAM, 0)) < 0) return false;
        ::fcntl(fd_, F_SETFD, FD_CLOEXEC);
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(timeout_ms / 1000);
        tv.tv_usec = static_cast<suseconds_t>((timeout_ms % 1000) * 1000);
        const int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const sockaddr_in addr = loopback(port);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return true;
        const int error = errno;
        close();
        errno = error;
        return false;
    }
    std::string command(const std::vector<std::string>& args) {
        std::string out = "*" + std::to_string(args.size()) + "\r\n";
        for (const auto& arg : args) out.append("$").append(std::to_string(arg.size())).append("\r\n").append(arg).append("\r\n");
        for (std::size_t sent = 0; sent < out.size();) {
            const ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL); // no SIGPIPE
            if (n < 0 && errno != EINTR) fail("send to redis-server: ", errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno);
            sent += n > 0 ? static_cast<std::size_t>(n) : 0;
        }
        return reply();
    }

private:
    [[noreturn]] void fail(const std::string& what, int error = 0) {
        close();
        throw std::runtime_error(error ? what + std::strerror(error) : what);
    }
    void fill() {
        if (pos_ == buf_.size()) buf_.clear(), pos_ = 0;
        char chunk[16384];
        ssize_t n;
        while ((n = ::recv(fd_, chunk, sizeof chunk, 0)) < 0 && errno == EINTR) {}
        if (n > 0) return buf_.append(chunk, static_cast<std::size_t>(n)), void();
        fail("recv from redis-server: ", n == 0 ? ECONNRESET : errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno);
    }
    std::string line() {
        std::size_t end;
        while ((end = buf_.find("\r\n", pos_)) == std::string::npos) fill();
        std::string text = buf_.substr(pos_, end - pos_);
        pos_ = end + 2;
        return text;
    }
    long long length(const std::string& text) {
        errno = 0;
        char* end = nullptr;
        const long long value = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || errno != 0) fail("redis-server sent a bad length: " + text);
        return value;
    }
    std::string reply() {
        const std::string head = line();
        const std::string rest = head.empty() ? "" : head.substr(1);
        switch (head.empty() ? '\0' : head[0]) {
        case '+': case ':': return rest;
        case '-': return head;
        case '$': {
            const long long n = length(rest);
            if (n < 0) return "(nil)";
            const std::size_t size = static_cast<std::size_t>(n);
            while (buf_.size() - pos_ < size + 2) fill();
            std::string data = buf_.substr(pos_, size);
            pos_ += size + 2;
            return data;
        }
        case '*': {
            const long long n = length(rest);
            if (n < 0) return "(nil)";
            std::string out;
            for (long long i = 0; i < n; ++i) out += (i ? "\n" : "") + reply();
            return out;
        }
        default: fail("redis-server sent an unknown reply: " + head);
        }
    }

    int fd_ = -1;
    std::string buf_;
    std::size_t pos_ = 0;
};

} // namespace redis_server_detail

class RedisServer {
public:
    explicit RedisServer(RedisServerConfig config = {}) : config_(std::move(config)) {
        const auto exe = find_redis_server();
        if (!exe) throw std::runtime_error("redis-server not found in $PATH, /usr/bin, /usr/sbin or /usr/local/bin");
        exe_ = *exe;
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/mqtt_presence-redis.XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
        dir_ = pattern;
        try {
            std::lock_guard<std::mutex> lock(mutex_);
            for (int attempt = 1; !boot_on_new_ports(); ++attempt) // the port may be taken between picking and binding it
                if (attempt == 5) throw failure("exited at start 5 times; last port " + std::to_string(port_));
        } catch (...) {
            if (pid_ > 0) ::kill(pid_, SIGKILL), reap();
            std::error_code ignored;
            std::filesystem::remove_all(dir_, ignored);
            throw;
        }
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;
    ~RedisServer() {
        try { stop(); } catch (...) {}
        std::error_code ignored;
        if (owner_ == ::getpid()) std::filesystem::remove_all(dir_, ignored);
    }

    int port() const { return port_; }
    std::string host() const { return "127.0.0.1"; }
    const std::string& dir() const { return dir_; }
    pid_t pid() const { return pid_; }
    bool running() const {
        if (pid_ <= 0) return false;
        siginfo_t info{};
        if (owner_ == ::getpid() && ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0) return info.si_pid == 0;
        return ::kill(pid_, 0) == 0;
    }

    /// SIGTERM, up to 10 s to exit, then SIGKILL. Does nothing in a process that did not start the server.
    void stop() {
        std::lock_guard<std::mutex> lock(mutex_);
        conn_.close();
        if (owner_ != ::getpid() || pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        for (const auto deadline = now() + std::chrono::seconds(10); now() < deadline; pause()) {
            int status = 0;
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_ || (r < 0 && errno == ECHILD)) return void(pid_ = -1);
        }
        ::kill(pid_, SIGKILL);
        reap();
    }
    /// SIGKILL: a crash, with no chance to flush or clean up.
    void kill_hard() {
        std::lock_guard<std::mutex> lock(mutex_);
        require_owner("kill_hard");
        conn_.close();
        if (pid_ > 0) ::kill(pid_, SIGKILL), reap();
    }
    /// Starts the server again on the same port and directory (an AOF is loaded back); nothing if it runs.
    void start() {
        std::lock_guard<std::mutex> lock(mutex_);
        require_owner("start");
        conn_.close();
        if (pid_ > 0 && running()) return;
        if (pid_ > 0) reap();
        if (!boot()) throw failure("exited while restarting on port " + std::to_string(port_));
    }

    /// Sends one command and returns its reply as text: a string or an integer as is, nil as "(nil)",
    /// an error as "-ERR ...", an array as its elements joined with '\n' (nested arrays flattened).
    /// Throws std::runtime_error if the server cannot be reached.
    std::string command(const std::vector<std::string>& args) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (conn_pid_ != ::getpid()) conn_.close(); // inherited over fork: the parent's replies are not ours
        if (!conn_.is_open() && !conn_.open(port_, 5000))
            throw std::runtime_error("cannot connect to redis-server at 127.0.0.1:" + std::to_string(port_) + ": " + std::strerror(errno));
        conn_pid_ = ::getpid();
        return conn_.command(args);
    }

private:
    static std::chrono::steady_clock::time_point now() { return std::chrono::steady_clock::now(); }
    static void pause() { std::this_thread::sleep_for(std::chrono::milliseconds(10)); }

    void require_owner(const char* what) const {
        if (owner_ != ::getpid()) throw std::logic_error(std::string("RedisServer::") + what + " called in a process that did not start the server");
    }
    std::runtime_error failure(const std::string& what) const {
        return std::runtime_error("redis-server " + what + " (dir " + dir_ + ")\n--- redis.log ---\n" + redis_server_detail::tail_of(dir_ + "/redis.log") +
                                  "--- stdout/stderr ---\n" + redis_server_detail::tail_of(dir_ + "/redis.stdout"));
    }
    void reap() {
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {}
        pid_ = -1;
    }
    bool boot_on_new_ports() {
        const int held = redis_server_detail::bind_free_port(port_);
        if (config_.cluster) ::close(redis_server_detail::bind_free_port(cluster_port_)); // the bus port, distinct from port_
        ::close(held);
        return boot();
    }

    /// Spawns redis-server and waits until it answers PING; false if it exited first.
    bool boot() {
        std::vector<std::string> args = {exe_, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir", dir_, "--save", "",
                                         "--daemonize", "no", "--protected-mode", "yes", "--logfile", dir_ + "/redis.log",
                                         "--appendonly", config_.appendonly ? "yes" : "no"};
        if (config_.appendonly) args.insert(args.end(), {"--appendfsync", "always"});
        if (config_.cluster)
            args.insert(args.end(), {"--cluster-enabled", "yes", "--cluster-config-file", dir_ + "/nodes.conf", "--cluster-port", std::to_string(cluster_port_)});
        args.insert(args.end(), config_.extra_args.begin(), config_.extra_args.end());
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        const std::string out = dir_ + "/redis.stdout"; // config errors are printed before the log file opens

        const pid_t child = ::fork();
        if (child < 0) throw std::system_error(errno, std::generic_category(), "fork");
        if (child == 0) { // async-signal-safe calls only until exec
            const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) ::dup2(fd, 1), ::dup2(fd, 2), ::close(fd);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        pid_ = child;

        redis_server_detail::RespConnection probe;
        const std::string identity = "process_id:" + std::to_string(pid_) + "\r\n";
        for (const auto deadline = now() + std::chrono::seconds(10);; pause()) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                if (WIFEXITED(status) && WEXITSTATUS(status) == 127) throw failure("could not be run: " + exe_);
                return false;
            }
            try { // -LOADING while an AOF is read; a PONG from another process that won the port race does not count
                if ((probe.is_open() || probe.open(port_, 2000)) && probe.command({"PING"}) == "PONG" &&
                    probe.command({"INFO", "server"}).find(identity) != std::string::npos)
                    break;
            } catch (const std::runtime_error&) {}
            if (now() > deadline) {
                ::kill(pid_, SIGKILL), reap();
                throw failure("did not answer PING within 10 s on port " + std::to_string(port_));
            }
        }
        if (!config_.cluster) return true;
        if (probe.command({"CLUSTER", "INFO"}).find("cluster_slots_assigned:0\r") != std::string::npos) { // not yet in nodes.conf
            const std::string reply = probe.command({"CLUSTER", "ADDSLOTSRANGE", "0", "16383"});
            if (reply != "OK") throw failure("refused CLUSTER ADDSLOTSRANGE 0 16383: " + reply);
        }
        for (const auto deadline = now() + std::chrono::seconds(10);; pause()) { // redis holds a fresh node in fail for ~2 s
            if (probe.command({"CLUSTER", "INFO"}).find("cluster_state:ok") != std::string::npos) return true;
            if (now() > deadline) throw failure("cluster_state did not become ok within 10 s");
        }
    }

    RedisServerConfig config_;
    std::string exe_;
    std::string dir_;
    int port_ = 0;
    int cluster_port_ = 0;
    pid_t pid_ = -1;
    const pid_t owner_ = ::getpid();
    redis_server_detail::RespConnection conn_;
    pid_t conn_pid_ = 0;
    std::mutex mutex_;
};

/// One server for the whole test process, started on first use and stopped at exit, only by the
/// process that started it: a forked child that exits (even through exit()) leaves it running.
inline RedisServer& shared_redis_server() {
    static RedisServer server;
    return server;
}

} // namespace test_support
