#!/usr/bin/env bash
# Security: the read-only 'inspector' account (MQTT Explorer / MQTTX). It reads the server's
# JSON view under {root}/inspect/# and nothing else, and writes nothing: not the view, and not
# as a "device" named inspector (the device patterns of the ACL would otherwise apply to it).
# With the dynamic security plugin it holds only the role `inspector` pdsync-server wrote.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_fleet
enroll mfp-1
start_fleet_broker
R=$ROOT

echo "# what the inspector must not read"
watch_start blind inspector 1 "$R/users/#" "$R/shared/#" "$R/server/status" \
    "$R/devices/#" "$R/devices/inspector/inbox" "$R/inspect/users/alice/home"
expect_pub_ok "the server publishes a user document" server "$R/users/alice/home" doc -r
expect_pub_ok "the server publishes a shared document" server "$R/shared/guest-home" shared -r
expect_pub_ok "the server publishes its status" server "$R/server/status" status -r
expect_pub_ok "a device publishes changes" mfp-1 "$R/devices/mfp-1/changes" c
expect_pub_ok "the server replies to a device" server "$R/devices/mfp-1/inbox" r
expect_pub_ok "the server writes an inbox named like the inspector" server "$R/devices/inspector/inbox" r
pub server "$R/inspect/users/alice/home" '{"control":true}' || fail "control publish failed" "$PUB_OUT"
expect_watch "the inspector received only the JSON view" blind "$R/inspect/users/alice/home {\"control\":true}"

echo "# what the inspector reads (positive control)"
expect_pub_ok "the server publishes the JSON status view" server "$R/inspect/server/status" '{"users":0}' -r
watch_start sees inspector 1 "$R/inspect/server/#"
expect_watch "the inspector reads the retained JSON view" sees "$R/inspect/server/status {\"users\":0}"

if [ "$SEC_AUTH" = dynsec ]; then
    echo "# over TLS with its password and client id (MQTT Explorer / MQTTX on a PC)"
else
    echo "# over TLS with the certificate fleet-init issued (MQTT Explorer / MQTTX on a PC)"
fi
expect_connect_ok "the inspector's certificate is accepted" tlsinspector
watch_start tls-blind tlsinspector 1 "$R/users/#" "$R/devices/#" "$R/inspect/users/bob/home"
expect_pub_ok "the server publishes a user document" server "$R/users/bob/home" doc
pub server "$R/inspect/users/bob/home" '{"control":true}' || fail "control publish failed" "$PUB_OUT"
expect_watch "over TLS too, the inspector reads only the JSON view" tls-blind "$R/inspect/users/bob/home {\"control\":true}"
expect_pub_denied "the inspector's certificate cannot write the view" tlsinspector "$R/inspect/users/bob/home" forged

echo "# the inspector writes nothing"
for topic in "$R/inspect/users/alice/home" "$R/users/alice/home" "$R/shared/guest-home" \
    "$R/server/status" "$R/devices/inspector/hello" "$R/devices/inspector/changes" \
    "$R/devices/inspector/presence" "$R/devices/mfp-1/inbox"; do
    expect_pub_denied "inspector -> $topic refused" inspector "$topic" forged
done

finish
