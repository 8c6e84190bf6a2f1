#!/bin/sh
# `trunkctl reconcile apply|destroy` for the CDKTF constructs' local-exec provisioners, which run
#     sh <checkout>/control-plane/bin/trunkctl-reconcile.sh apply|destroy
# in the stack directory with the resource input in $TRUNKCTL_RESOURCE. Same output, exit code and
# per-resource failure as `node trunkctl.js reconcile apply|destroy`, but all the steps of one
# `terraform apply` share one trunkctl process: starting node once per trunk and set cost more
# than reconciling them. This script queues the step and waits for its result; the first step
# that finds no live host execs `trunkctl reconcile serve-queue`, which runs every queued step.
# Protocol and layout: control-plane/src/cli/reconcile-queue.ts. Needs a POSIX sh and a `sleep`
# that takes fractions of a second (GNU, BusyBox and macOS do); ControlPlane's reconcileRunner
# PROCESS_PER_RESOURCE runs node once per step instead.
set -u

step=${1-}
case $step in
  apply | destroy) ;;
  *)
    echo "usage: sh trunkctl-reconcile.sh apply|destroy (input in \$TRUNKCTL_RESOURCE)" >&2
    exit 2
    ;;
esac
case $0 in
  */*) bin=${0%/*} ;;
  *) bin=. ;;
esac

# One queue per Terraform process: runs never mix, and the host has that run's environment.
# Only shell builtins on the common path, plus `sleep` while waiting: this runs once per resource.
# Private (0700/0600): the host acts on what it finds there with the admin token.
umask 077
run=.trunkctl-reconcile/$PPID
id=$$
request=$run/requests/$id.$step
result=$run/results/$id
[ -d "$run/results" ] || mkdir -p "$run/inputs" "$run/requests" "$run/work" "$run/results" || exit 1
[ ! -f "$result" ] || rm -f "$result" # left by an earlier process with this pid
printf '%s' "${TRUNKCTL_RESOURCE-}" >"$run/inputs/$id" || exit 1
: >"$request" || exit 1

become_host() {
  # noclobber: creating host.pid fails while another step holds it. exec keeps this pid.
  if (set -C && echo "$id" >"$run/host.pid") 2>/dev/null; then
    exec node "$bin/trunkctl.js" reconcile serve-queue "$run" "$id"
  fi
}

nap=0.02
unknown=0
lost=0
while :; do
  if [ -f "$result" ]; then
    # Line 1: the exit code; then "1 <line>" for stdout and "2 <line>" for stderr.
    code=1
    first=1
    while IFS= read -r line; do
      if [ -n "$first" ]; then
        code=$line
        first=
        continue
      fi
      case $line in
        '1 '*) printf '%s\n' "${line#1 }" ;;
        '2 '*) printf '%s\n' "${line#2 }" >&2 ;;
      esac
    done <"$result"
    exit "$code"
  fi
  if [ -f "$request" ]; then
    # Not taken yet: make sure a host is running.
    if [ ! -f "$run/host.pid" ]; then
      become_host
    else
      host=
      { read -r host <"$run/host.pid"; } 2>/dev/null # gone meanwhile: looked at again next round
      if [ -z "$host" ]; then
        # Being written; a host that died before writing its pid is given up after ~5 s.
        unknown=$((unknown + 1))
        [ "$unknown" -lt 50 ] || rm -f "$run/host.pid"
      elif ! kill -0 "$host" 2>/dev/null; then
        rm -f "$run/host.pid"
        become_host
      fi
    fi
  else
    # Taken (work/<id>.<step>.<host pid>): fail if that host ended without answering.
    held=
    for taken in "$run/work/$id.$step".*; do
      [ -f "$taken" ] || continue
      held=1
      if ! kill -0 "${taken##*.}" 2>/dev/null && [ ! -f "$result" ]; then
        rm -f "$taken"
        echo "trunkctl: the shared reconcile process (pid ${taken##*.}) ended before finishing this step; run the deploy again" >&2
        exit 1
      fi
    done
    if [ -z "$held" ] && [ ! -f "$result" ]; then
      # Neither queued, taken nor answered (someone removed the queue): give up after ~5 s.
      lost=$((lost + 1))
      if [ "$lost" -ge 50 ]; then
        echo "trunkctl: this step disappeared from the reconcile queue in $run; run the deploy again" >&2
        exit 1
      fi
    fi
  fi
  sleep "$nap"
  case $nap in
    0.02) nap=0.03 ;;
    0.03) nap=0.05 ;;
    *) nap=0.1 ;;
  esac
done
