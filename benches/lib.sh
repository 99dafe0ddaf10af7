# Shared by benches/run-*.sh (sourced, not run): real-time priority for a run, and starting / stopping
# one server pinned to core 0. The caller sets $target (results go to $target/bench-results) and
# defines log().

# use_rt NAME: when RT=1 (the default), sets rt=(chrt -f 10) and lifts the kernel's RT throttling
# (sched_rt_runtime_us) for the run, restoring it on exit; otherwise a saturated server is stopped for
# 50 ms every second, which shows up as a 50-70 ms latency tail. RT=0: rt=() (normal priority).
use_rt() {
  rt=()
  [ "${RT:-1}" = 1 ] || return 0
  rt=(chrt -f 10)
  rt_knob=/proc/sys/kernel/sched_rt_runtime_us
  if [ -w "$rt_knob" ]; then
    rt_saved="$(cat "$rt_knob")"
    trap 'echo "$rt_saved" > "$rt_knob"' EXIT
    echo -1 > "$rt_knob"
  else
    echo "$1: cannot lift RT throttling ($rt_knob not writable): expect a 50 ms stall per second" >&2
  fi
}

# launch_server NAME PORT COMMAND...: starts COMMAND pinned to core 0 (under $rt) with PORT and HOST
# set, output in $target/bench-results/NAME.log; sets $server_pid and waits until the port accepts.
# taskset, chrt and env exec the command, so $server_pid is the server's own PID.
launch_server() {
  local name="$1" p="$2"
  shift 2
  PORT="$p" HOST=127.0.0.1 taskset -c 0 "${rt[@]}" "$@" > "$target/bench-results/$name.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 200); do
    if ! kill -0 "$server_pid" 2> /dev/null; then
      log "$name exited at start-up:"; cat "$target/bench-results/$name.log" >&2; return 1
    fi
    if (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then return 0; fi
    sleep 0.1
  done
  log "$name did not listen on port $p within 20 s"; return 1
}

# stop_server: SIGTERM to $server_pid, SIGKILL after 5 s.
stop_server() {
  kill -TERM "$server_pid" 2> /dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$server_pid" 2> /dev/null || { wait "$server_pid" 2> /dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$server_pid" 2> /dev/null || true
  wait "$server_pid" 2> /dev/null || true
}

# keep_rows ROUND: appends the JSON lines of the last run ($target/bench-results/last.txt) to $out,
# each tagged with "round": ROUND.
keep_rows() {
  grep '^{' "$target/bench-results/last.txt" | sed "s/^{/{\"round\":$1,/" >> "$out" || true
}
