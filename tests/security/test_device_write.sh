#!/usr/bin/env bash
# Security: what a device may publish (docs/protocol.md §6). A device writes only its own
# devices/{id}/hello|changes|events|presence; everything the server owns (users/, shared/,
# server/, any inbox, inspect/) and everything of another device is refused, including a
# forged will message. Each refusal is asserted twice: the PUBACK says "Not authorized", and
# a subscriber with the server's credentials never receives the message (a control message
# published legitimately afterwards ends the wait).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_fleet
enroll mfp-1 mfp-2
start_fleet_broker
R=$ROOT

echo "# a device's own topics (positive control)"
watch_start own server 4 "$R/devices/mfp-1/hello" "$R/devices/mfp-1/changes" \
    "$R/devices/mfp-1/events" "$R/devices/mfp-1/presence"
expect_pub_ok "mfp-1 may publish its hello" mfp-1 "$R/devices/mfp-1/hello" h1
expect_pub_ok "mfp-1 may publish its changes" mfp-1 "$R/devices/mfp-1/changes" c1
expect_pub_ok "mfp-1 may publish its events" mfp-1 "$R/devices/mfp-1/events" e1
expect_pub_ok "mfp-1 may publish its retained presence" mfp-1 "$R/devices/mfp-1/presence" p1 -r
expect_watch "the server receives all four" own \
    "$R/devices/mfp-1/hello h1" "$R/devices/mfp-1/changes c1" \
    "$R/devices/mfp-1/events e1" "$R/devices/mfp-1/presence p1"

echo "# topics a device must not write"
forbidden=(
    "$R/devices/mfp-2/hello" "$R/devices/mfp-2/changes" "$R/devices/mfp-2/events"
    "$R/devices/mfp-2/presence" "$R/devices/mfp-2/inbox" "$R/devices/mfp-1/inbox"
    "$R/users/alice/home" "$R/users/mfp-1/addressbook" "$R/shared/guest-home"
    "$R/server/status" "$R/inspect/users/alice/home" "$R/devices/mfp-1/other"
    "$R/devices/mfp-1" "$R/pwn" "elsewhere/devices/mfp-1/changes"
)
control="$R/devices/mfp-1/events"
watch_start forbidden server 1 "${forbidden[@]}" "$control"
for topic in "${forbidden[@]}"; do
    expect_pub_denied "mfp-1 -> $topic refused" mfp-1 "$topic" forged
done
pub mfp-1 "$control" control || fail "control publish failed" "$PUB_OUT"
expect_watch "the server received none of them, only the control message" forbidden "$control control"

echo "# a forged retained document is not stored either"
expect_pub_denied "mfp-1 -> retained $R/users/alice/home refused" mfp-1 "$R/users/alice/home" forged -r
expect_pub_denied "mfp-1 -> retained $R/shared/guest-home refused" mfp-1 "$R/shared/guest-home" forged -r
# A fresh subscriber gets retained messages first: a stored forgery would precede the control.
watch_start retained server 1 "$R/users/alice/home" "$R/shared/guest-home"
pub server "$R/users/alice/home" control || fail "control publish failed" "$PUB_OUT"
expect_watch "no forged retained document was stored" retained "$R/users/alice/home control"

echo "# a device cannot speak for another through its will message"
watch_start will server 1 "$R/devices/mfp-2/presence"
client_start forger mfp-1 -t "$R/devices/mfp-1/inbox" \
    --will-topic "$R/devices/mfp-2/presence" --will-payload forged --will-qos 1 --will-retain
client_kill forger
client_start honest mfp-2 -t "$R/devices/mfp-2/inbox" \
    --will-topic "$R/devices/mfp-2/presence" --will-payload offline --will-qos 1 --will-retain
client_kill honest
expect_watch "only mfp-2's own will reached its presence topic" will "$R/devices/mfp-2/presence offline"

echo "# the server may write what it owns (positive control)"
expect_pub_ok "the server may publish a user document" server "$R/users/alice/home" doc -r
expect_pub_ok "the server may publish to an inbox" server "$R/devices/mfp-1/inbox" reply
expect_pub_ok "the server may publish its status" server "$R/server/status" status -r
expect_pub_denied "the server may not publish outside its root" server "elsewhere/x" y

finish
