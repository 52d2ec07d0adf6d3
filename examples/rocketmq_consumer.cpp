// rocketmq_consumer: the shape of a RocketMQ push consumer of Alibaba Cloud MQTT lifecycle events,
// without the RocketMQ library: messages are read from a file (or standard input) and handed to
// the listener in batches, as the push consumer hands them to its MessageListener.
//
//   mqtt_presence_rocketmq_consumer [--batch N] [--fail-batch K] [--snapshot FILE]
//                                   [--snapshot-every N] [--debounce-ms N] [--online-out FILE] [FILE]
//
// Input: one message body per line (the Alibaba JSON, see examples/data/sample.jsonl); a batch
// ends after N lines (--batch, default 32) or at a blank line. No FILE, or "-": standard input.
// --fail-batch K makes the storage fail part way through the K-th batch (after two events) the
// first time it is delivered, to show RECONSUME_LATER and a redelivery that changes nothing.
//
// What it shows, in PresenceListener::consumeMessage below:
//  * each message parsed with try_parse_alibaba_event (never throws), checked against the
//    message tag when there is one; a bad message is logged and acknowledged with its batch:
//    retrying it would fail again, forever;
//  * the batch ingested with ingest_batch, and acknowledged (CONSUME_SUCCESS) only once that
//    returned; a failure (here a simulated storage error) returns RECONSUME_LATER, and the
//    redelivered batch is harmless: what was stored before the failure comes back as duplicates
//    (rule 5), so every edge is still reported once;
//  * actions driven from the transition hook (queued there, run after the batch), and offline
//    alerts held back by a Debouncer until a client has stayed offline for a minute;
//  * a snapshot every few batches, saved with the offset it covers (README, "Snapshots").
//
// In a real consumer (rocketmq-client-cpp 2.x; delete the stand-ins in namespace rocketmq below
// and include the real headers instead):
//
//   #include <rocketmq/DefaultMQPushConsumer.h>
//
//   mqtt_presence::ClientStatusStore<mqtt_presence::ConcurrentStorage> store;  // consumer threads share it
//   mqtt_presence::Debouncer debouncer(60'000);
//   PresenceListener listener(store, debouncer);         // the class below, unchanged
//   rocketmq::DefaultMQPushConsumer consumer("GID_presence");       // your RocketMQ consumer group
//   consumer.setNamesrvAddr("<name server address>:9876");
//   consumer.setSessionCredentials(access_key, secret_key, "ALIYUN");
//   // Alibaba Cloud MQTT sends the lifecycle events of the clients of Group ID GID_demo to the
//   // RocketMQ topic "GID_demo_MQTT", the event type in the message tag:
//   consumer.subscribe(mqtt_presence::notification_topic("GID_demo"), "connect || disconnect || tcpclean");
//   consumer.setConsumeMessageBatchMaxSize(32);          // batches for ingest_batch (the default is 1)
//   consumer.registerMessageListener(&listener);         // MessageListenerConcurrently: a thread pool
//   consumer.start();                                    // ... consumer.shutdown() at exit
//
// The client then calls listener.consumeMessage(msgs) from its consume threads, with the
// messages of one queue at a time; CONSUME_SUCCESS acknowledges them, RECONSUME_LATER has the
// broker deliver them again later (through the group's retry topic, after a back-off, up to
// setMaxReconsumeTimes times; newer messages keep coming meanwhile, so the redelivery also
// arrives out of order, which the rules absorb as any reordering). Here a failed batch is
// delivered again right away, so that the output is the same on every run.

#include <mqtt_presence/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// --- Stand-ins for rocketmq-client-cpp 2.x (MQMessageListener.h, MQMessageExt.h): the same
// names and signatures, only what this example uses.
namespace rocketmq {

enum ConsumeStatus { CONSUME_SUCCESS, RECONSUME_LATER };

class MQMessageExt {
public:
    MQMessageExt(std::string msg_id, std::string tags, std::string body)
        : m_msg_id(std::move(msg_id)), m_tags(std::move(tags)), m_body(std::move(body)) {}
    const std::string& getMsgId() const { return m_msg_id; }
    const std::string& getTags() const { return m_tags; }
    const std::string& getBody() const { return m_body; }
    int getReconsumeTimes() const { return m_reconsume_times; }
    void setReconsumeTimes(int times) { m_reconsume_times = times; }

private:
    std::string m_msg_id;
    std::string m_tags;
    std::string m_body;
    int m_reconsume_times = 0;
};

class MessageListenerConcurrently {
public:
    virtual ~MessageListenerConcurrently() = default;
    virtual ConsumeStatus consumeMessage(const std::vector<MQMessageExt>& msgs) = 0;
};

} // namespace rocketmq

// --- A storage that can be told to fail: ConcurrentStorage, whose update() throws once after a
// given number of further calls (a database or Redis that went away in the middle of a batch).
class FlakyStorage {
public:
    static constexpr bool concurrent = true; // its members may be called from many threads

    FlakyStorage() = default;
    FlakyStorage(FlakyStorage&& other) noexcept // the store takes its storage by value
        : m_inner(std::move(other.m_inner)), m_fail_after(other.m_fail_after.load()) {}

    void fail_after(long updates) { m_fail_after.store(updates); }

    template <class Fn>
    void update(std::string_view client_id, Fn&& fn) {
        if (m_fail_after.load() >= 0 && m_fail_after.fetch_sub(1) == 0)
            throw std::runtime_error("storage unavailable (simulated)");
        m_inner.update(client_id, std::forward<Fn>(fn));
    }
    template <class Fn>
    void visit(std::string_view client_id, Fn&& fn) const {
        m_inner.visit(client_id, std::forward<Fn>(fn));
    }
    template <class Fn>
    void for_each(Fn&& fn) const {
        m_inner.for_each(std::forward<Fn>(fn));
    }
    [[nodiscard]] std::size_t size() const { return m_inner.size(); }

private:
    mqtt_presence::ConcurrentStorage m_inner;
    std::atomic<long> m_fail_after{-1};
};

using Store = mqtt_presence::ClientStatusStore<FlakyStorage>;

// What the transition hook asks for; run after the batch, outside the store's locks.
struct Action {
    std::string client_id;
    bool online = false;
    std::int64_t time_ms = 0;
    mqtt_presence::Cause cause = mqtt_presence::Cause::none;
};

// --- The listener: what a real consumer registers with registerMessageListener().
class PresenceListener : public rocketmq::MessageListenerConcurrently {
public:
    PresenceListener(Store& store, mqtt_presence::Debouncer& debouncer) : m_store(store), m_debouncer(debouncer) {
        // The hook runs once per flip, on the thread whose event caused it, under that client's
        // shard lock: keep it short (queue the work) and never call back into the store.
        m_store.on_transition([this](const mqtt_presence::Edge& e) {
            m_debouncer.observe(e);
            const std::lock_guard<std::mutex> lock(m_actions_mutex);
            m_actions.push_back(Action{std::string(e.client_id), e.online, e.time_ms, e.cause});
        });
    }

    rocketmq::ConsumeStatus consumeMessage(const std::vector<rocketmq::MQMessageExt>& msgs) override {
        std::vector<mqtt_presence::Event> events;
        events.reserve(msgs.size());
        for (const rocketmq::MQMessageExt& msg : msgs) {
            // Alibaba puts the event type in the message tag too: check that they agree.
            mqtt_presence::ParseResult parsed = msg.getTags().empty()
                                                        ? mqtt_presence::try_parse_alibaba_event(msg.getBody())
                                                        : mqtt_presence::try_parse_alibaba_event(msg.getBody(), msg.getTags());
            if (!parsed) {
                // Acknowledged with the batch: a message that cannot be parsed now never will be.
                std::cerr << "rocketmq_consumer: bad message " << msg.getMsgId() << " acknowledged, not retried: "
                          << parsed.error << '\n';
                ++m_bad_messages;
                continue;
            }
            events.push_back(std::move(*parsed.event));
        }
        try {
            m_store.ingest_batch(events.begin(), events.end(),
                                 [this](const mqtt_presence::Event& e, const mqtt_presence::Outcome&) {
                                     std::int64_t newest = m_newest_ms.load();
                                     while (e.time_ms > newest && !m_newest_ms.compare_exchange_weak(newest, e.time_ms)) {
                                     }
                                 });
        } catch (const std::exception& e) {
            // Not acknowledged: the broker delivers the batch again. The events stored before the
            // failure come back as duplicates and change nothing.
            std::cout << "  storage error: " << e.what() << " -> RECONSUME_LATER\n";
            return rocketmq::RECONSUME_LATER;
        }
        return rocketmq::CONSUME_SUCCESS;
    }

    /// The actions the hook queued since the last call.
    std::vector<Action> take_actions() {
        const std::lock_guard<std::mutex> lock(m_actions_mutex);
        return std::exchange(m_actions, {});
    }
    /// The newest event time ingested: the "now" up to which the edges have been observed.
    std::int64_t newest_ms() const { return m_newest_ms.load(); }
    std::size_t bad_messages() const { return m_bad_messages.load(); }

private:
    Store& m_store;
    mqtt_presence::Debouncer& m_debouncer;
    std::mutex m_actions_mutex;
    std::vector<Action> m_actions;
    std::atomic<std::int64_t> m_newest_ms{0};
    std::atomic<std::size_t> m_bad_messages{0};
};

namespace {

struct Config {
    std::size_t batch = 32;
    std::size_t fail_batch = 0; // 0: never
    std::string snapshot;
    std::size_t snapshot_every = 2;
    std::int64_t debounce_ms = 60'000;
    std::string online_out;
    std::string input = "-";
};

constexpr const char* usage =
        "usage: mqtt_presence_rocketmq_consumer [--batch N] [--fail-batch K] [--snapshot FILE]\n"
        "                                       [--snapshot-every N] [--debounce-ms N] [--online-out FILE] [FILE]\n";

bool number(const char* text, std::uint64_t& out) {
    if (text == nullptr || *text < '0' || *text > '9') return false;
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') return false;
    out = value;
    return true;
}

bool parse_args(int argc, char** argv, Config& config) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
        std::uint64_t n = 0;
        if (arg == "--batch" && number(value, n) && n > 0) {
            config.batch = static_cast<std::size_t>(n);
        } else if (arg == "--fail-batch" && number(value, n)) {
            config.fail_batch = static_cast<std::size_t>(n);
        } else if (arg == "--snapshot-every" && number(value, n) && n > 0) {
            config.snapshot_every = static_cast<std::size_t>(n);
        } else if (arg == "--debounce-ms" && number(value, n)) {
            config.debounce_ms = static_cast<std::int64_t>(n);
        } else if ((arg == "--snapshot" || arg == "--online-out") && value != nullptr) {
            (arg == "--snapshot" ? config.snapshot : config.online_out) = value;
        } else if (i + 1 == argc && (arg == "-" || arg.empty() || arg[0] != '-')) {
            config.input = std::string(arg);
            continue;
        } else {
            return false;
        }
        ++i;
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    Config config;
    if (!parse_args(argc, argv, config)) {
        std::cerr << usage;
        return 2;
    }
    std::ifstream file;
    if (config.input != "-") {
        file.open(config.input, std::ios::binary);
        if (!file) {
            std::cerr << "rocketmq_consumer: cannot read " << config.input << '\n';
            return 1;
        }
    }
    std::istream& in = config.input == "-" ? std::cin : file;

    Store store;
    mqtt_presence::Debouncer debouncer(config.debounce_ms);
    PresenceListener listener(store, debouncer);

    std::size_t messages = 0, batches = 0, deliveries = 0, redeliveries = 0, snapshots = 0, alerts = 0;
    std::uint64_t acknowledged = 0; // the consume offset: every message before it is ingested
    auto run_actions = [&] {
        for (const Action& a : listener.take_actions())
            std::cout << "  action: " << a.client_id << (a.online ? " online" : " offline") << " at " << a.time_ms
                      << " (" << to_string(a.cause) << ")\n";
        for (const mqtt_presence::Debouncer::Due& due : debouncer.poll(listener.newest_ms())) {
            std::cout << "  alert: " << due.client_id << " offline since " << due.offline_since_ms << " ("
                      << to_string(due.cause) << "), for " << config.debounce_ms / 1000 << " s or more\n";
            ++alerts;
        }
    };

    // What the push consumer does: hand each batch to the listener until it is acknowledged.
    auto deliver = [&](std::vector<rocketmq::MQMessageExt>& batch) {
        if (batch.empty()) return;
        ++batches;
        for (int attempt = 0;; ++attempt) {
            for (rocketmq::MQMessageExt& msg : batch) msg.setReconsumeTimes(attempt);
            if (batches == config.fail_batch && attempt == 0) store.storage().fail_after(2);
            ++deliveries;
            std::cout << "batch " << batches << (attempt > 0 ? " redelivered" : "") << ": " << batch.size()
                      << " messages, from " << batch.front().getMsgId() << '\n';
            const rocketmq::ConsumeStatus status = listener.consumeMessage(batch);
            run_actions();
            if (status == rocketmq::CONSUME_SUCCESS) break;
            if (attempt == 15) { // rocketmq's default maxReconsumeTimes: the broker then gives up
                std::cout << "  given up after 16 deliveries (the broker moves them to the dead-letter queue)\n";
                break;
            }
            ++redeliveries;
        }
        acknowledged += batch.size();
        batch.clear();
        if (!config.snapshot.empty() && batches % config.snapshot_every == 0) {
            const std::uint64_t records = store.save_snapshot_file(config.snapshot, "offset=" + std::to_string(acknowledged));
            std::cout << "  snapshot: " << records << " clients at offset " << acknowledged << '\n';
            ++snapshots;
        }
    };

    std::vector<rocketmq::MQMessageExt> batch;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) { // a blank line ends a batch
            deliver(batch);
            continue;
        }
        ++messages;
        batch.emplace_back("msg-" + std::to_string(messages), "", line);
        if (batch.size() == config.batch) deliver(batch);
    }
    deliver(batch);
    if (!config.snapshot.empty()) {
        const std::uint64_t records = store.save_snapshot_file(config.snapshot, "offset=" + std::to_string(acknowledged));
        std::cout << "snapshot: " << records << " clients at offset " << acknowledged << '\n';
        ++snapshots;
    }

    const mqtt_presence::Counters c = store.counters();
    std::cout << "summary: messages " << messages << ", batches " << batches << ", deliveries " << deliveries << " ("
              << redeliveries << " after RECONSUME_LATER), bad messages " << listener.bad_messages() << ", applied "
              << c.applied << ", duplicates " << c.duplicates << ", went online " << c.went_online << ", went offline "
              << c.went_offline << ", alerts " << alerts << ", snapshots " << snapshots << '\n';
    std::vector<std::string> online;
    store.for_each_online([&](std::string_view client_id) { online.emplace_back(client_id); });
    std::sort(online.begin(), online.end());
    std::cout << "online (" << online.size() << "):\n";
    for (const std::string& id : online) std::cout << id << '\n';
    if (!config.online_out.empty()) {
        std::ofstream out(config.online_out, std::ios::binary);
        for (const std::string& id : online) out << id << '\n';
        if (!out.flush()) {
            std::cerr << "rocketmq_consumer: cannot write " << config.online_out << '\n';
            return 1;
        }
    }
    return 0;
}
