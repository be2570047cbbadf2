#!/usr/bin/env bash
# Security: what a device may read (docs/protocol.md §6). A device reads users/# (with the
# dynamic security plugin: only the users the server's session table grants it), shared/#,
# server/status and its own inbox, and nothing else: not another device's inbox, changes,
# hello or presence, and not the inspector's JSON view. The broker grants every SUBSCRIBE
# and filters each message, so "cannot read" is asserted as "never receives", ended by a
# control message on the device's own inbox.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_fleet
enroll mfp-1 mfp-2
start_fleet_broker
R=$ROOT

echo "# topics a device must not read"
# The plugin refuses a wildcard SUBSCRIBE it does not grant outright, so there the control
# message needs a filter of its own (with the ACL file, devices/# delivers it).
own=()
[ "$SEC_AUTH" = passwd ] || own=("$R/devices/mfp-1/inbox")
watch_start snoop mfp-1 1 "$R/devices/mfp-2/inbox" "$R/devices/+/inbox" "$R/devices/#" \
    "$R/devices/mfp-2/changes" "$R/devices/+/hello" "$R/devices/mfp-2/presence" \
    "$R/inspect/#" "$R/test-ready/#" "${own[@]}"
expect_pub_ok "the server replies to mfp-2" server "$R/devices/mfp-2/inbox" for-mfp-2
expect_pub_ok "mfp-2 sends changes" mfp-2 "$R/devices/mfp-2/changes" c
expect_pub_ok "mfp-2 says hello" mfp-2 "$R/devices/mfp-2/hello" h
expect_pub_ok "mfp-2 publishes presence" mfp-2 "$R/devices/mfp-2/presence" online -r
expect_pub_ok "the server publishes the JSON view" server "$R/inspect/users/alice/home" '{"v":1}' -r
expect_pub_ok "the server publishes a watcher marker" server "$R/test-ready/x" y
pub server "$R/devices/mfp-1/inbox" control || fail "control publish failed" "$PUB_OUT"
expect_watch "mfp-1 received only its own inbox message" snoop "$R/devices/mfp-1/inbox control"

echo "# a late subscriber does not get another device's retained presence either"
watch_start late mfp-1 1 "$R/devices/mfp-2/presence" "$R/devices/mfp-1/inbox"
pub server "$R/devices/mfp-1/inbox" control || fail "control publish failed" "$PUB_OUT"
expect_watch "no retained presence of mfp-2 for mfp-1" late "$R/devices/mfp-1/inbox control"

echo "# what a device reads (positive control)"
expect_pub_ok "the server publishes a user document" server "$R/users/alice/home" doc -r
expect_pub_ok "the server publishes a shared document" server "$R/shared/guest-home" shared -r
expect_pub_ok "the server publishes its status" server "$R/server/status" status -r
if [ "$SEC_AUTH" = dynsec ]; then
    # The broker's session plugin: a member reads users/{uid}/... only while the server's
    # session table grants it that user, and only the server's own account writes the table.
    echo "# users/ only within a session (the session plugin)"
    watch_start nogrant mfp-1 1 "$R/users/alice/home" "$R/users/+/home" "$R/devices/mfp-1/inbox"
    pub server "$R/devices/mfp-1/inbox" control || fail "control publish failed" "$PUB_OUT"
    expect_watch "mfp-1 reads no user's document without a session" nogrant \
        "$R/devices/mfp-1/inbox control"
    expect_pub_denied "mfp-1 cannot write the session table" mfp-1 "$R/server/sessions" "grant mfp-1 alice"
    expect_pub_ok "the test's server stand-in publishes a grant" server "$R/server/sessions" "grant mfp-1 alice"
    watch_start standin mfp-1 1 "$R/users/alice/home" "$R/devices/mfp-1/inbox"
    pub server "$R/devices/mfp-1/inbox" control || fail "control publish failed" "$PUB_OUT"
    expect_watch "a grant from another account than the server's is ignored" standin \
        "$R/devices/mfp-1/inbox control"
    expect_pub_ok "the server's own account grants mfp-1 alice" realserver "$R/server/sessions" "grant mfp-1 alice"
fi
# Retained messages arrive per filter in SUBSCRIBE order, then the live inbox message.
watch_start reads mfp-1 4 "$R/users/alice/home" "$R/shared/guest-home" "$R/server/status" \
    "$R/devices/mfp-1/inbox"
pub server "$R/devices/mfp-1/inbox" reply || fail "inbox publish failed" "$PUB_OUT"
expect_watch "mfp-1 reads users/, shared/, server/status and its own inbox" reads \
    "$R/users/alice/home doc" "$R/shared/guest-home shared" "$R/server/status status" \
    "$R/devices/mfp-1/inbox reply"

finish
