// mqtt_presence_damage_file: damages a file in place, to test how a reader of it fails.
//
//   mqtt_presence_damage_file FILE truncate N    keep the first N bytes (N < 0: all but the last -N)
//   mqtt_presence_damage_file FILE flip N        invert the bits of byte N (N < 0: from the end)
//
// Exit status 0 when done, 1 when the file cannot be read or written or N is out of range,
// 2 for a bad command line.

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace {

bool parse(std::string_view text, long long& value) {
    try {
        std::size_t used = 0;
        value = std::stoll(std::string(text), &used);
        return used == text.size();
    } catch (...) {
        return false;
    }
}

} // namespace

int main(int argc, char** argv) {
    long long n = 0;
    if (argc != 4 || !parse(argv[3], n) || (std::string_view(argv[2]) != "truncate" && std::string_view(argv[2]) != "flip")) {
        std::fputs("usage: mqtt_presence_damage_file FILE truncate|flip N\n", stderr);
        return 2;
    }
    std::string bytes;
    {
        std::ifstream in(argv[1], std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "mqtt_presence_damage_file: cannot read %s\n", argv[1]);
            return 1;
        }
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const auto size = static_cast<long long>(bytes.size());
    const long long at = n < 0 ? size + n : n;
    if (at < 0 || at > size || (std::string_view(argv[2]) == "flip" && at == size)) {
        std::fprintf(stderr, "mqtt_presence_damage_file: %lld is outside the %lld bytes of %s\n", n, size, argv[1]);
        return 1;
    }
    const auto index = static_cast<std::size_t>(at);
    if (std::string_view(argv[2]) == "truncate") bytes.resize(index);
    else bytes[index] = static_cast<char>(~static_cast<unsigned char>(bytes[index]));
    std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
        std::fprintf(stderr, "mqtt_presence_damage_file: cannot write %s\n", argv[1]);
        return 1;
    }
    return 0;
}
