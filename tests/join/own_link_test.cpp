// The server's own broker link (and every other pdsync client) cannot be hijacked: no
// password goes to a listener that has not proved, with a certificate the fleet CA signed,
// that it is the fleet's broker. Plays the local user who binds the broker's port first.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "tests/join/join_fleet.hpp"

namespace pdsync::test {
namespace {

int run(const std::string& cmd) {
    int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
}

std::string hex(const std::string& s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

// The listener records every TCP connection and, had a client accepted its certificate,
// every byte after the handshake (tests/join/fake_broker.py). First a client that trusts it
// shows that it would capture a CONNECT and its password; then the server's own link, a
// device's daemon and `pdsync watch` each try it, at least twice for the daemons, and it
// captures no byte of MQTT from any of them.
TEST(OwnBrokerLink, ServerSendsNoPasswordToAListenerTheFleetCaDidNotSign) {
    TempDir dir;
    JoinFleetOptions o;
    o.start_server = false;
    JoinFleet fleet(dir, o);
    fleet.broker().stop();  // the broker restarts; a local user binds its port first
    const std::string key = dir.file("thief.key"), crt = dir.file("thief.crt");
    ASSERT_EQ(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
                  key + " -out " + crt +
                  " -subj /CN=localhost -days 1 -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
                  " >/dev/null 2>&1"),
              0);
    const std::string capture = dir.file("thief.capture");
    const std::string port = std::to_string(fleet.tls_port());
    Process thief(
        {"/usr/bin/python3", std::string(PDSYNC_SOURCE_DIR) + "/tests/join/fake_broker.py", port,
         crt, key, capture},
        dir.file("thief.log"));
    ASSERT_TRUE(wait_until([&] { return port_open(fleet.tls_port()); }))
        << read_file(dir.file("thief.log"));
    ASSERT_TRUE(thief.running()) << read_file(dir.file("thief.log"));
    // port_open's probe is connection 1.
    ASSERT_TRUE(wait_until([&] { return count(read_file(capture), "connection ") >= 1; }));

    // Positive control: a client that trusts the thief's certificate hands it everything.
    ASSERT_NE(run("timeout 10 mosquitto_pub -V mqttv5 -h localhost -p " + port + " --cafile " +
                  crt + " -u bait-user -P bait-password -t x -m y >/dev/null 2>&1 </dev/null"),
              0);  // it never gets a CONNACK
    ASSERT_TRUE(wait_until([&] { return read_file(capture).find("data ") != std::string::npos; }))
        << read_file(capture);
    ASSERT_NE(read_file(capture).find(hex("MQTT")), std::string::npos) << read_file(capture);
    ASSERT_NE(read_file(capture).find(hex("bait-password")), std::string::npos)
        << read_file(capture);
    const std::size_t control_end = read_file(capture).size();
    auto captured_since = [&](std::size_t from) { return read_file(capture).substr(from); };
    auto connections_since = [&](std::size_t from) {
        return count(captured_since(from), "connection ");
    };

    // The server's own link: it tries (and retries), and its handshake fails each time.
    const std::string server_log = dir.file("server.log");
    {
        Process server(
            {PDSYNC_SERVER_BIN, "--config", fleet.fleet_dir() + "/pdsync-server.conf", "--store",
             dir.file("s.db"), "--admin-socket", dir.file("s.sock"), "--server-id", "fleet-server"},
            server_log);
        ASSERT_TRUE(wait_until([&] { return connections_since(control_end) >= 2; },
                               std::chrono::seconds(20)))
            << captured_since(control_end) << read_file(server_log);
        server.stop();
    }
    EXPECT_EQ(read_file(server_log).find("connected to"), std::string::npos)
        << read_file(server_log);
    const std::size_t server_end = read_file(capture).size();

    // A device's daemon with its credentials and the fleet CA.
    const std::string pw_file = dir.file("device.password");
    { std::ofstream(pw_file) << "device-secret-password"; }
    {
        Process device({PDSYNC_CLIENT_BIN, "--device-id", "d1", "--broker", fleet.uri(),
                        "--ca-file", fleet.ca_file(), "--username", "d1", "--password-file",
                        pw_file, "--store", dir.file("d1.db"), "--socket", dir.file("d1.sock")},
                       dir.file("device.log"));
        ASSERT_TRUE(wait_until([&] { return connections_since(server_end) >= 2; },
                               std::chrono::seconds(20)))
            << captured_since(server_end) << read_file(dir.file("device.log"));
        device.stop();
    }
    const std::size_t device_end = read_file(capture).size();

    // `pdsync watch` with the inspector's password.
    auto watch =
        run_cli({"watch", "--broker", fleet.uri(), "--ca-file", fleet.ca_file(), "--username",
                 "inspector", "--password", "watch-secret-password", "--timeout-ms", "3000"});
    EXPECT_GE(connections_since(device_end), 1u) << watch.out << watch.err;
    thief.stop();

    const std::string after = captured_since(control_end);
    EXPECT_EQ(after.find("handshake-ok"), std::string::npos) << after;
    EXPECT_EQ(after.find("data "), std::string::npos) << after;
    EXPECT_EQ(after.find(hex("MQTT")), std::string::npos) << after;
    for (const std::string& secret :
         {fleet.server_password(), std::string("device-secret-password"),
          std::string("watch-secret-password")}) {
        EXPECT_EQ(after.find(hex(secret)), std::string::npos) << secret;
    }
    EXPECT_GE(count(after, "handshake-failed"), 5u) << after;
}

TEST(OwnBrokerLink, NoPdsyncProgramSendsAPasswordOverPlaintext) {
    TempDir dir;
    const std::string err = dir.file("err");
    EXPECT_EQ(run(std::string(PDSYNC_SERVER_BIN) + " --broker mqtt://127.0.0.1:1 --password pw" +
                  " --store " + dir.file("s.db") + " --admin-socket '' 2>" + err),
              2);
    EXPECT_NE(read_file(err).find("refusing to send a password"), std::string::npos)
        << read_file(err);
    EXPECT_EQ(run(std::string(PDSYNC_CLIENT_BIN) + " --device-id d1 --broker mqtt://127.0.0.1:1" +
                  " --password pw --store " + dir.file("c.db") + " --socket " + dir.file("c.sock") +
                  " 2>" + err),
              2);
    EXPECT_NE(read_file(err).find("refusing to send a password"), std::string::npos)
        << read_file(err);
    // TLS without the CA to verify it is refused too.
    auto watch = run_cli({"watch", "--broker", "mqtts://127.0.0.1:1", "--password", "pw"});
    EXPECT_NE(watch.exit_code, 0);
    EXPECT_NE((watch.out + watch.err).find("refusing to send a password"), std::string::npos)
        << watch.out << watch.err;
}

}  // namespace
}  // namespace pdsync::test
