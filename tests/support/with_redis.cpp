// mqtt_presence_with_redis: runs one command against a private redis-server, for tests that
// drive programs (the replay tool) against Redis from a `cmake -P` script.
//
//   mqtt_presence_with_redis [--unix-socket] [--requirepass PASSWORD] [--] COMMAND [ARG]...
//
// Starts a redis-server of its own on a free loopback port (support/redis_server.hpp), runs
// COMMAND with every "{port}" in its arguments replaced by that port, waits for it, stops the
// server and exits with the command's exit status (128 + N when a signal N ended it). The
// command inherits standard input, output and error. SIGTERM, SIGINT and SIGHUP (a test timeout,
// Ctrl-C) are passed on to the command, and the server is still stopped once it has ended.
//   --unix-socket           the server also listens on a Unix socket, in a fresh directory of
//                           its own (a short path: socket paths are limited to about 100
//                           bytes); "{socket}" in the arguments is replaced by its path
//   --requirepass PASSWORD  once started, the server requires AUTH with PASSWORD
// Exit status 125 when the server cannot be started or the command cannot be run.

#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "redis_server.hpp"

namespace {

constexpr int cannot_run = 125;

constexpr const char* usage =
    "usage: mqtt_presence_with_redis [--unix-socket] [--requirepass PASSWORD] [--] COMMAND [ARG]...\n";

void replace_all(std::string& text, std::string_view from, const std::string& to) {
    for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
}

// A fresh directory for the socket, removed when this goes.
class SocketDir {
public:
    SocketDir() {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/mqtt_presence-sock.XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
        m_dir = pattern;
    }
    SocketDir(const SocketDir&) = delete;
    SocketDir& operator=(const SocketDir&) = delete;
    ~SocketDir() {
        std::error_code ignored;
        std::filesystem::remove_all(m_dir, ignored);
    }
    [[nodiscard]] std::string socket() const { return m_dir + "/redis.sock"; }

private:
    std::string m_dir;
};

// The command while it runs, for the signal handler.
volatile sig_atomic_t command_pid = 0;

extern "C" void pass_on(int signal_number) {
    if (command_pid > 0) ::kill(static_cast<pid_t>(command_pid), signal_number);
}

// Runs argv, waits for it; its exit status, 128 + N for signal N, or cannot_run.
int run_command(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const pid_t child = ::fork();
    if (child < 0) {
        std::fprintf(stderr, "mqtt_presence_with_redis: fork: %s\n", std::strerror(errno));
        return cannot_run;
    }
    if (child == 0) {
        for (const int signal_number : {SIGTERM, SIGINT, SIGHUP}) ::signal(signal_number, SIG_DFL);
        ::execvp(argv[0], argv.data());
        const char* why = std::strerror(errno);
        std::fprintf(stderr, "mqtt_presence_with_redis: cannot run %s: %s\n", argv[0], why);
        ::_exit(cannot_run);
    }
    command_pid = child;
    int status = 0;
    while (::waitpid(child, &status, 0) < 0) { // EINTR: a signal was passed on; wait for the end
        if (errno != EINTR) {
            std::fprintf(stderr, "mqtt_presence_with_redis: waitpid: %s\n", std::strerror(errno));
            return cannot_run;
        }
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return cannot_run;
}

int run(int argc, char** argv) {
    bool unix_socket = false;
    std::optional<std::string> password;
    int i = 1;
    for (; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--") {
            ++i;
            break;
        }
        if (arg == "--unix-socket") {
            unix_socket = true;
        } else if (arg == "--requirepass" && i + 1 < argc) {
            password = argv[++i];
        } else if (!arg.empty() && arg[0] == '-') {
            std::fputs(usage, stderr);
            return cannot_run;
        } else {
            break;
        }
    }
    if (i >= argc) {
        std::fputs(usage, stderr);
        return cannot_run;
    }

    std::optional<SocketDir> socket_dir;
    test_support::RedisServerConfig config;
    if (unix_socket) {
        socket_dir.emplace();
        config.extra_args = {"--unixsocket", socket_dir->socket(), "--unixsocketperm", "700"};
    }
    test_support::RedisServer server(config);
    if (password) {
        const std::string reply = server.command({"CONFIG", "SET", "requirepass", *password});
        if (reply != "OK") {
            std::fprintf(stderr, "mqtt_presence_with_redis: CONFIG SET requirepass: %s\n", reply.c_str());
            return cannot_run;
        }
    }

    // From here the server runs: a signal must end the command, not this program.
    struct sigaction action {};
    action.sa_handler = pass_on;
    sigemptyset(&action.sa_mask);
    for (const int signal_number : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(signal_number, &action, nullptr);

    std::vector<std::string> command(argv + i, argv + argc);
    const std::string port = std::to_string(server.port());
    for (std::string& arg : command) {
        replace_all(arg, "{port}", port);
        if (socket_dir) replace_all(arg, "{socket}", socket_dir->socket());
    }
    std::fflush(stdout);
    std::fflush(stderr);
    const int status = run_command(std::move(command));
    server.stop();
    return status;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mqtt_presence_with_redis: %s\n", e.what());
    }
    return cannot_run;
}
