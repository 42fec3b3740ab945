#!/usr/bin/env bash
# make test-services: install SLURM (slurmctld, slurmd, the client commands) and munge from Debian's
# packages when they are missing. Never fails: without root or apt-get the SLURM test skips and
# says why (tests/services/slurm_cluster.py: missing()).
set -u
need=()
for cmd in slurmctld slurmd sbatch squeue srun; do command -v "$cmd" >/dev/null || { need+=(slurm-wlm); break; }; done
command -v munged >/dev/null || need+=(munge)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "test-services: ${need[*]} missing; installing needs root and apt-get, so the SLURM test will skip" >&2
    exit 0
fi
log=$(mktemp /tmp/step-apt-XXXXXX.log)
echo "test-services: apt-get install -y ${need[*]} (log: $log)"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q "${need[@]}" >"$log" 2>&1; then
    apt-get update -q >>"$log" 2>&1
    apt-get install -y -q "${need[@]}" >>"$log" 2>&1 \
        || { tail -n 20 "$log" >&2; echo "test-services: apt-get install failed; the SLURM test will skip" >&2; }
fi
exit 0
