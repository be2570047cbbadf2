// The input format of fuzz_server_batch, shared by the target and the corpus generator so
// the seeds stay readable by the target.
//
//   byte 0        flags
//                   bit 0: dev-1 joins (a valid hello, epoch "e1") before the fuzzed records
//                   bit 1: dev-2 joins likewise (epoch "e2")
//                   bits 2-3: user limit: 0 -> 1000, 1 -> 1, 2 -> 2, 3 -> 3
//                   bit 4: the fleet synchronizes only addressbook, keychain and guest-home
//                   bit 5: machine limit 2 (the server machine and one device)
//   records       until the input ends:
//     byte sel      bit 7: commit the batch so far and start a new one before this record
//                   bit 6: the message arrives retained
//                   bits 0-5 modulo kTopicCount: the topic, from kTopics; the last one is
//                   "raw": the payload's first byte is the topic length, then the topic
//                   bytes, and the rest is the payload
//     2 bytes       payload length, little-endian (cut short at the end of the input)
//     payload
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pdsync::fuzz::batch {

inline constexpr std::array<const char*, 12> kTopics = {
    "pds/v1/devices/dev-1/hello",     "pds/v1/devices/dev-1/changes",
    "pds/v1/devices/dev-1/events",    "pds/v1/devices/dev-1/presence",
    "pds/v1/devices/dev-2/hello",     "pds/v1/devices/dev-2/changes",
    "pds/v1/devices/dev-2/events",    "pds/v1/devices/dev-2/presence",
    "pds/v1/users/alice/addressbook", "pds/v1/shared/guest-home",
    "pds/v1/devices/dev-1/inbox",     "pds/v1/server/status",
};
inline constexpr std::size_t kTopicCount = kTopics.size() + 1;  // + raw
inline constexpr uint8_t kRawTopic = kTopics.size();

inline constexpr uint8_t kJoinDev1 = 1 << 0;
inline constexpr uint8_t kJoinDev2 = 1 << 1;
inline constexpr uint8_t kUserLimitShift = 2;
inline constexpr uint8_t kFewCategories = 1 << 4;
inline constexpr uint8_t kMachineLimit2 = 1 << 5;

inline constexpr uint8_t kNewBatch = 0x80;
inline constexpr uint8_t kRetained = 0x40;

struct Message {
    std::string topic;
    std::string payload;
    bool retained = false;
};

struct Input {
    uint8_t flags = 0;
    std::vector<std::vector<Message>> batches;  // never empty batches

    int user_limit() const {
        int code = (flags >> kUserLimitShift) & 3;
        return code == 0 ? 1000 : code;
    }
};

// Parses any byte string; there is no invalid input, only short ones.
inline Input parse(const uint8_t* data, std::size_t size) {
    Input in;
    if (size == 0) return in;
    in.flags = data[0];
    std::size_t i = 1;
    std::vector<Message> current;
    while (i < size) {
        uint8_t sel = data[i++];
        if ((sel & kNewBatch) && !current.empty()) {
            in.batches.push_back(std::move(current));
            current.clear();
        }
        std::size_t len = 0;
        if (i < size) len = data[i++];
        if (i < size) len |= static_cast<std::size_t>(data[i++]) << 8;
        if (len > size - i) len = size - i;
        std::string payload(reinterpret_cast<const char*>(data + i), len);
        i += len;
        Message m;
        m.retained = (sel & kRetained) != 0;
        auto which = static_cast<uint8_t>((sel & 0x3F) % kTopicCount);
        if (which == kRawTopic) {
            std::size_t start = payload.empty() ? 0 : 1;
            std::size_t tlen =
                payload.empty()
                    ? 0
                    : std::min<std::size_t>(static_cast<uint8_t>(payload[0]), payload.size() - 1);
            m.topic = payload.substr(start, tlen);
            m.payload = payload.substr(start + tlen);
        } else {
            m.topic = kTopics[which];
            m.payload = std::move(payload);
        }
        current.push_back(std::move(m));
    }
    if (!current.empty()) in.batches.push_back(std::move(current));
    return in;
}

// For the corpus generator: appends one record.
inline void append(std::string& out, uint8_t sel, std::string_view payload) {
    out.push_back(static_cast<char>(sel));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
    out.push_back(static_cast<char>((payload.size() >> 8) & 0xFF));
    out.append(payload);
}

// A record on a topic of its own (at most 255 bytes; longer ones are cut).
inline void append_raw(std::string& out, uint8_t flags_bits, std::string_view topic,
                       std::string_view payload) {
    topic = topic.substr(0, 255);
    std::string body;
    body.push_back(static_cast<char>(topic.size()));
    body.append(topic);
    body.append(payload);
    append(out, static_cast<uint8_t>(kRawTopic | flags_bits), body);
}

}  // namespace pdsync::fuzz::batch
