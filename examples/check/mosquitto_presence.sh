#!/usr/bin/env bash
# Test of examples/mosquitto_presence.sh: a private mosquitto on a free loopback port, EMQX-style
# presence messages published on $SYS/brokers/<node>/clients/<id>/connected|disconnected, piped
# through mosquitto_sub into the replay tool, whose summary and online list are checked.
#
#   mosquitto_presence.sh MOSQUITTO REPLAY SCRIPT WORK_DIR
#
# mosquitto refuses client publishes to $SYS topics, so the broker bridges to itself: what is
# published on emqx/brokers/# comes back as $SYS/brokers/#, as EMQX itself would publish it.
# Prints "SKIPPED: ..." and exits 0 when mosquitto, mosquitto_sub or mosquitto_pub is missing.
# Nothing waits unbounded: the broker runs under `timeout`, the subscription ends after the
# expected number of messages or 20 s, and every wait below gives up after 10 s.
set -u
mosquitto=$1
replay=$2
script=$3
work=$4

for tool in "$mosquitto" mosquitto_sub mosquitto_pub timeout; do
    if ! command -v "$tool" > /dev/null 2>&1; then
        echo "SKIPPED: $tool not found (Debian: apt-get install mosquitto mosquitto-clients)"
        exit 0
    fi
done

rm -rf "$work"
mkdir -p "$work"
broker_pid=""
pipe_pid=""
cleanup() {
    [ -n "$pipe_pid" ] && kill "$pipe_pid" 2> /dev/null
    [ -n "$broker_pid" ] && kill "$broker_pid" 2> /dev/null
    wait 2> /dev/null
}
trap cleanup EXIT

fail() {
    echo "FAILED: $*"
    echo "--- mosquitto log (last 40 lines):"
    tail -n 40 "$work/broker.log" 2> /dev/null
    exit 1
}

# Waits up to 10 s for a line of the broker's log.
wait_for_log() {
    for _ in $(seq 1 100); do
        grep -qF -- "$1" "$work/broker.log" 2> /dev/null && return 0
        [ -n "$broker_pid" ] && ! kill -0 "$broker_pid" 2> /dev/null && return 1
        sleep 0.1
    done
    return 1
}

# A free loopback port: try random ones until the broker starts listening.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    cat > "$work/mosquitto.conf" << CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
log_type all
connection presence-bridge
address 127.0.0.1:$port
remote_clientid presence-bridge
topic # in 0 \$SYS/brokers/ emqx/brokers/
CONF
    : > "$work/broker.log"
    timeout 60 "$mosquitto" -c "$work/mosquitto.conf" > "$work/broker.log" 2>&1 &
    broker_pid=$!
    if wait_for_log "Received SUBACK from local.presence-bridge"; then break; fi
    kill "$broker_pid" 2> /dev/null
    wait "$broker_pid" 2> /dev/null
    broker_pid=""
    [ "$attempt" = 10 ] && fail "mosquitto did not start on a free port"
done
echo "mosquitto listening on 127.0.0.1:$port"

# The pipe under test: 12 messages, or 20 s at most.
MQTT_PRESENCE_REPLAY=$replay bash "$script" -h 127.0.0.1 -p "$port" -i presence-watch -C 12 -W 20 \
    -- --online-out "$work/online.txt" > "$work/summary.json" 2> "$work/stderr.txt" &
pipe_pid=$!
wait_for_log "Sending SUBACK to presence-watch" || fail "the subscription did not start"

publish() { # publish CLIENT connected|disconnected PAYLOAD
    mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t "emqx/brokers/emqx@127.0.0.1/clients/$1/$2" -m "$3" ||
        fail "mosquitto_pub failed"
}
T=17640000
# dev1 reconnects (takeover); the old session's disconnection comes after the new connection.
publish dev1 connected '{"username":"u1","ts":'$T'01001,"sockport":1883,"proto_ver":4,"proto_name":"MQTT","keepalive":60,"ipaddress":"192.0.2.1","expiry_interval":0,"connected_at":'$T'01000,"connack":0,"clientid":"dev1","clean_start":true}'
publish dev2 connected '{"username":"u2","ts":'$T'02001,"ipaddress":"192.0.2.2","connected_at":'$T'02000,"clientid":"dev2","clean_start":true}'
# dev3's disconnection is delivered before its connection.
publish dev3 disconnected '{"username":"u3","ts":'$T'09001,"reason":"tcp_closed","disconnected_at":'$T'09000,"connected_at":'$T'03000,"clientid":"dev3"}'
publish dev1 connected '{"username":"u1","ts":'$T'04001,"ipaddress":"192.0.2.1","connected_at":'$T'04000,"clientid":"dev1","clean_start":false}'
publish dev1 disconnected '{"username":"u1","ts":'$T'04101,"reason":"takenover","disconnected_at":'$T'04100,"connected_at":'$T'01000,"clientid":"dev1"}'
publish dev3 connected '{"username":"u3","ts":'$T'03001,"ipaddress":"192.0.2.3","connected_at":'$T'03000,"clientid":"dev3","clean_start":true}'
# dev4's connection arrives twice.
publish dev4 connected '{"username":"u4","ts":'$T'05001,"ipaddress":"192.0.2.4","connected_at":'$T'05000,"clientid":"dev4","clean_start":true}'
publish dev4 connected '{"username":"u4","ts":'$T'05001,"ipaddress":"192.0.2.4","connected_at":'$T'05000,"clientid":"dev4","clean_start":true}'
publish dev2 disconnected '{"username":"u2","ts":'$T'09001,"reason":"keepalive_timeout","disconnected_at":'$T'09000,"connected_at":'$T'02000,"clientid":"dev2"}'
# dev5: an older broker's disconnection without connected_at ends the connection before it.
publish dev5 connected '{"username":"u5","ts":'$T'06001,"ipaddress":"192.0.2.5","connected_at":'$T'06000,"clientid":"dev5","clean_start":true}'
publish dev5 disconnected '{"username":"u5","ts":'$T'08001,"reason":"normal","disconnected_at":'$T'08000,"clientid":"dev5"}'
# A message the adapter refuses: reported on standard error, counted, skipped.
publish dev6 connected '{"clientid":"dev6","connected_at":"soon"}'

for _ in $(seq 1 250); do kill -0 "$pipe_pid" 2> /dev/null || break; sleep 0.1; done
kill -0 "$pipe_pid" 2> /dev/null && fail "the pipe did not end after 25 s"
wait "$pipe_pid"
status=$?
pipe_pid=""

echo "summary: $(cat "$work/summary.json")"
echo "stderr: $(cat "$work/stderr.txt")"
[ "$status" = 0 ] || fail "mosquitto_presence.sh exited with status $status"
for field in '"events":12,' '"rejected":1,' '"duplicates":1,' '"clients":5,' '"online":2,' '"format":"emqx"'; do
    grep -qF -- "$field" "$work/summary.json" || fail "the summary lacks $field"
done
grep -qF -- '"connected_at"' "$work/stderr.txt" || fail "the refused message was not reported"
expected=$(printf 'dev1\ndev4')
[ "$(cat "$work/online.txt")" = "$expected" ] || fail "online: expected dev1 and dev4, got: $(cat "$work/online.txt")"
echo "PASSED: online dev1 dev4"
