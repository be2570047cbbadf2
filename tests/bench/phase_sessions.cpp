// Phase "sessions": what the broker's session plugin costs a login (docs/security.md). The
// same fleet twice, a broker without and then with pdsync_sessions.so (an ACL file allows
// the rest): login → ready on a real daemon for a user whose six documents the server holds,
// so the grant before the login reply and the plugin's check of every delivery are inside
// the figure. The row's baseline is the run without the plugin, in the same bench run.
#include <fstream>

#include "tests/bench/phases.hpp"
#include "tests/support/fleet.hpp"

namespace pdsync::bench {
namespace {

test::BrokerOptions broker_options(const test::TempDir& dir, bool plugin) {
    test::BrokerOptions o;
    if (!plugin) return o;
    std::string acl = dir.file("allow-all.acl");
    std::ofstream(acl) << "topic readwrite #\npattern readwrite #\n";
    o.acl_file = acl;
    o.extra = std::string("plugin ") + PDSYNC_SESSIONS_PLUGIN +
              "\nplugin_opt_root pds/v1\nplugin_opt_server server\n";
    return o;
}

Samples login_to_ready(std::size_t logins, bool plugin) {
    test::TempDir dir;
    test::Broker broker(dir, broker_options(dir, plugin));
    test::Server server(dir, {broker.uri()});
    test::Device writer(dir, {broker.uri()}, "mfp-writer");
    test::Device reader(dir, {broker.uri()}, "mfp-reader");
    if (!writer.wait_joined() || !reader.wait_joined()) throw std::runtime_error("no join");
    if (!writer.login("alice").value("ok", false)) throw std::runtime_error("login on the writer");
    for (const char* c : {"addressbook", "keychain", "buttons", "home", "prefs", "shortcuts"}) {
        Value op = {{"op", "add"}, {"id", "e1"}, {"fields", {{"name", "x"}}}};
        Value r = writer.edit(c, op);
        if (r.value("state", "") != "acked") throw std::runtime_error("edit: " + r.dump());
    }
    Samples ms;
    for (std::size_t i = 0; i < logins; ++i) {
        // The first round is a cold login; the reader's cache then holds alice's documents,
        // so the others are warm: what the plugin adds is the grant before the reply and
        // its check of each delivery.
        Value r = reader.login("alice");
        if (!r.value("ok", false) || r.value("source", "") != "server")
            throw std::runtime_error("login on the reader: " + r.dump());
        if (reader.show("keychain").size() != 1) throw std::runtime_error("keychain missing");
        ms.add(r.value("ms", 0.0));
        reader.logout();
    }
    return ms;
}

}  // namespace

void run_sessions(const BenchOptions& o, Report& report) {
    progress("sessions: login → ready without the session plugin");
    Samples without = login_to_ready(o.session_logins, false);
    progress("sessions: login → ready with the session plugin");
    Samples with = login_to_ready(o.session_logins, true);
    report.latency("h. login → ready, session plugin on (baseline: off)", with, without, 2.0);
}

}  // namespace pdsync::bench
