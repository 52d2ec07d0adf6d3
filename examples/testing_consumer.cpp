// testing_consumer: tests a consumer against realistic delivery with <mqtt_presence/testing.hpp>
// (late, reordered and duplicated events, flaps, lost closes, reconcile answers) and checks its
// final answers against the truth of the generated timelines. Two consumers: one built on the
// library (matches the truth), and one where the last event delivered wins (does not).
//
//   mqtt_presence_testing_consumer [SEED]     # exit status 0 when both turn out as expected

#include <mqtt_presence/mqtt_presence.hpp>
#include <mqtt_presence/testing.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

namespace mpt = mqtt_presence::testing;

// Your consumer: here the library behind a small class, as an application wraps it.
class MyConsumer {
public:
    explicit MyConsumer(const mqtt_presence::Options& options) : m_store(options) {}
    void handle(const mpt::Delivery& d) {
        if (d.kind == mpt::Delivery::Kind::event)
            (void)m_store.ingest(d.event);
        else // the broker's answer to "is it online?" (Alibaba QuerySessionByClientId)
            (void)m_store.reconcile(d.event.client_id, d.online, d.as_of_ms);
    }
    bool is_online(const std::string& client_id) const { return m_store.is_online(client_id); }

private:
    mqtt_presence::ClientStatusStore<> m_store;
};

// The first attempt of many: the last event delivered decides.
class LastEventWins {
public:
    void handle(const mpt::Delivery& d) {
        if (d.kind == mpt::Delivery::Kind::event)
            m_online[d.event.client_id] = d.event.type == mqtt_presence::EventType::connect;
    }
    bool is_online(const std::string& client_id) const {
        const auto it = m_online.find(client_id);
        return it != m_online.end() && it->second;
    }

private:
    std::map<std::string, bool> m_online;
};

int main(int argc, char** argv) {
    const std::uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 42;

    // --- the code of the README section "Testing your own consumer" ---
    mpt::GeneratorOptions options; // 100 clients; options.delivery.in_order, options.history...
    options.clients = 1000;
    const mpt::History history = mpt::generate_history(seed, options); // the same for the same seed

    MyConsumer mine(mpt::store_options(options)); // the Options the history is made for
    for (const mpt::Delivery& d : history.deliveries) mine.handle(d);

    const mpt::Comparison result =
            mpt::compare_online(history, [&](const std::string& id) { return mine.is_online(id); });
    if (!result.ok()) std::cerr << result.report(); // which clients, what differs, their story
    // --- end of the README code ---

    std::cout << "seed " << seed << ": " << history.timelines.size() << " clients, " << history.deliveries.size()
              << " deliveries, " << result.expected_online << " truly online at the end\n";
    std::cout << "MyConsumer: " << (result.ok() ? "matches the truth" : "differs from the truth") << '\n';

    LastEventWins naive;
    for (const mpt::Delivery& d : history.deliveries) naive.handle(d);
    const mpt::Comparison wrong =
            mpt::compare_online(history, [&](const std::string& id) { return naive.is_online(id); }, 1);
    std::cout << "LastEventWins: " << (wrong.ok() ? "matches the truth" : "differs from the truth") << '\n';
    if (!wrong.ok()) std::cout << wrong.report(1);
    return result.ok() && !wrong.ok() ? 0 : 1;
}
