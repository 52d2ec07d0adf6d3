// Compiled with MISSING_<member> defined, this storage lacks that member and
// ClientStatusStore<BrokenStorage> must fail with the static_assert naming it.
#include <mqtt_presence/mqtt_presence.hpp>

#include <cstddef>
#include <string_view>

struct BrokenStorage {
#ifndef MISSING_update
    template <class Fn>
    void update(std::string_view id, Fn&& fn) {
        m_inner.update(id, fn);
    }
#endif
#ifndef MISSING_visit
    template <class Fn>
    void visit(std::string_view id, Fn&& fn) const {
        m_inner.visit(id, fn);
    }
#endif
#ifndef MISSING_for_each
    template <class Fn>
    void for_each(Fn&& fn) const {
        m_inner.for_each(fn);
    }
#endif
#ifndef MISSING_size
    [[nodiscard]] std::size_t size() const { return m_inner.size(); }
#endif
    mqtt_presence::InMemoryStorage m_inner;
};

int main() {
    mqtt_presence::ClientStatusStore<BrokenStorage> store;
    return store.is_online("GID_x@@@d") ? 1 : 0;
}
