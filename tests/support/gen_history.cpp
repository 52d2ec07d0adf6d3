// mqtt_presence_gen_history: writes a generated, delivered stream of Alibaba lifecycle events
// (JSON Lines) and the true final online set of its clients, to check a consumer end to end.
//
//   mqtt_presence_gen_history --events-out FILE --online-out FILE [--seed N] [--clients N] [--in-order]
//
// The stream is late, reordered and duplicated, with lost closes that rule 6 covers (see
// <mqtt_presence/testing.hpp>). It carries no reconcile answers (JSON Lines has no place for
// them), so no connect and no final close is lost. --online-out gets the client ids that are
// truly online at the end, sorted bytewise, one per line. Standard output: one JSON summary line.
// Built on the public testing API only: generate_history(), to_alibaba_json(), online_clients().

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <mqtt_presence/testing.hpp>

namespace {

constexpr const char* usage =
    "usage: mqtt_presence_gen_history --events-out FILE --online-out FILE [--seed N] [--clients N] [--in-order]\n";

bool parse_number(std::string_view text, std::uint64_t& value) {
    if (text.empty()) return false;
    const std::string copy(text);
    char* end = nullptr;
    errno = 0;
    const unsigned long long parsed = std::strtoull(copy.c_str(), &end, 0);
    if (errno != 0 || end == nullptr || *end != '\0' || copy[0] == '-') return false;
    value = static_cast<std::uint64_t>(parsed);
    return true;
}

} // namespace

int main(int argc, char** argv) {
    using namespace mqtt_presence;
    using namespace mqtt_presence::testing;

    std::uint64_t seed = 20191011;
    std::uint64_t clients = 1000;
    std::string events_out;
    std::string online_out;
    bool in_order = false;
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        const bool has_value = i + 1 < args.size();
        if (arg == "--seed" && has_value && parse_number(args[i + 1], seed)) {
            ++i;
        } else if (arg == "--clients" && has_value && parse_number(args[i + 1], clients) && clients > 0) {
            ++i;
        } else if (arg == "--events-out" && has_value) {
            events_out = std::string(args[++i]);
        } else if (arg == "--online-out" && has_value) {
            online_out = std::string(args[++i]);
        } else if (arg == "--in-order") {
            in_order = true;
        } else {
            std::cerr << "mqtt_presence_gen_history: bad argument \"" << arg << "\"\n" << usage;
            return 2;
        }
    }
    if (events_out.empty() || online_out.empty()) {
        std::cerr << usage;
        return 2;
    }

    try {
        GeneratorOptions options;
        options.clients = static_cast<std::size_t>(clients);
        options.reconcile_answers = false; // a JSON Lines stream carries no reconcile answers
        options.delivery.in_order = in_order;
        const History history = generate_history(seed, options);

        std::ofstream events(events_out, std::ios::binary);
        if (!events) {
            std::cerr << "mqtt_presence_gen_history: cannot write " << events_out << "\n";
            return 1;
        }
        std::size_t lines = 0;
        for (const Delivery& d : history.deliveries) {
            events << to_alibaba_json(d.event) << '\n';
            ++lines;
        }
        events.close();
        if (!events) {
            std::cerr << "mqtt_presence_gen_history: cannot write " << events_out << "\n";
            return 1;
        }

        const std::vector<std::string> online = history.online_clients();
        std::ofstream out(online_out, std::ios::binary);
        for (const std::string& id : online) out << id << '\n';
        out.close();
        if (!out) {
            std::cerr << "mqtt_presence_gen_history: cannot write " << online_out << "\n";
            return 1;
        }
        std::cout << "{\"clients\":" << history.timelines.size() << ",\"events\":" << lines
                  << ",\"online\":" << online.size() << ",\"seed\":" << seed << "}\n";
    } catch (const std::exception& e) {
        std::cerr << "mqtt_presence_gen_history: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
