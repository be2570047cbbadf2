// The server's admin socket refuses what only the server itself may ask its worker.
#include <gtest/gtest.h>

#include "tests/support/fleet.hpp"

namespace pdsync::test {

TEST(AdminSocket, InternalJobsAreRefusedAndTheServerGoesOn) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    // Without a key this once crashed the worker; with one it rewrote the fleet status.
    Value no_key = server.admin({{"cmd", "_status-extra"}});
    EXPECT_FALSE(no_key.value("ok", true)) << no_key.dump();
    EXPECT_EQ(no_key.value("error", ""), "invalid_argument");
    Value forged =
        server.admin({{"cmd", "_status-extra"}, {"key", "last_backup"}, {"value", {{"ok", true}}}});
    EXPECT_FALSE(forged.value("ok", true)) << forged.dump();
    Value status = server.admin({{"cmd", "status"}});
    ASSERT_TRUE(status.value("ok", false)) << status.dump();
    EXPECT_FALSE(status.contains("last_backup") && status["last_backup"].value("ok", false))
        << status.dump();
    EXPECT_TRUE(server.running());
}

}  // namespace pdsync::test
