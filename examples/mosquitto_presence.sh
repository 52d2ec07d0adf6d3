#!/usr/bin/env bash
# mosquitto_presence.sh: who is online, from the presence messages a broker publishes over MQTT.
#
# EMQX publishes a message for every client connection and disconnection on
#   $SYS/brokers/<node>/clients/<clientid>/connected
#   $SYS/brokers/<node>/clients/<clientid>/disconnected
# This script subscribes to both with mosquitto_sub, which prints each payload on a line of its
# own (-F '%p'), and pipes those JSON Lines into the replay tool (mqtt_presence_replay --format
# emqx), which prints its summary when the subscription ends.
#
#   mosquitto_presence.sh [MOSQUITTO_SUB OPTIONS] [-- REPLAY OPTIONS]
#
#   # watch for a minute, then list who is online:
#   examples/mosquitto_presence.sh -h emqx.example.net -u monitor -P secret -W 60 -- --online-out online.txt
#
# The options before "--" go to mosquitto_sub (-h, -p, -u, -P, -i, --cafile, ...); give -C COUNT
# (stop after COUNT messages) or -W SECONDS (stop after that long), or it runs until interrupted.
# The topics above are subscribed to unless a -t is given. The options after "--" go to the
# replay tool (--online-out FILE, --snapshot-in FILE, --snapshot-out FILE, --group-counts, ...);
# --format emqx is always given. The replay tool is $MQTT_PRESENCE_REPLAY, else
# mqtt_presence_replay from the PATH.
#
# Exit status: the replay tool's (0: done, bad messages included), or mosquitto_sub's when it
# failed (a -W timeout is a normal end), or 2 for a bad command line.
#
# EMQX lets only clients on its own host subscribe to $SYS/# by default (its acl.conf): run this
# there, or grant your user that subscription. The messages are the broker's notes about events:
# late, duplicated and out of order after a takeover; the replay tool applies the library's
# rules to them (README, "EMQX").
set -u

replay=${MQTT_PRESENCE_REPLAY:-mqtt_presence_replay}
sub_args=()
replay_args=()
have_topic=0
in_replay_args=0
for arg in "$@"; do
    if [ "$in_replay_args" = 1 ]; then
        replay_args+=("$arg")
    elif [ "$arg" = "--" ]; then
        in_replay_args=1
    else
        [ "$arg" = "-t" ] || [ "$arg" = "--topic" ] && have_topic=1
        sub_args+=("$arg")
    fi
done
if [ "$have_topic" = 0 ]; then
    sub_args+=(-t '$SYS/brokers/+/clients/+/connected' -t '$SYS/brokers/+/clients/+/disconnected')
fi
for tool in mosquitto_sub "$replay"; do
    if ! command -v "$tool" > /dev/null 2>&1; then
        echo "mosquitto_presence.sh: $tool not found (Debian: apt-get install mosquitto-clients;" \
             "MQTT_PRESENCE_REPLAY names the replay tool)" >&2
        exit 2
    fi
done

mosquitto_sub "${sub_args[@]}" -F '%p' | "$replay" --format emqx "${replay_args[@]}"
statuses=("${PIPESTATUS[@]}")
sub_status=${statuses[0]}
replay_status=${statuses[1]}
if [ "$sub_status" != 0 ] && [ "$sub_status" != 27 ]; then # 27: the -W timeout ran out
    echo "mosquitto_presence.sh: mosquitto_sub failed (exit status $sub_status)" >&2
    [ "$replay_status" != 0 ] && exit "$replay_status"
    exit "$sub_status"
fi
exit "$replay_status"
