#!/usr/bin/env bash
# A one-node SLURM cluster on localhost for tests/test_slurm.py (Debian's slurm-wlm 22.05 and munge,
# run as root, no systemd: the daemons are started by hand). No accounting: the profile uses squeue.
# Usage: local_cluster.sh start|stop
# It writes /etc/slurm/slurm.conf only where none exists or where it wrote the one there (marker
# below), so a real cluster's configuration is never touched.
set -euo pipefail
MARK="# written by synpre tests/slurm/local_cluster.sh"
CONF=/etc/slurm/slurm.conf
RUN=/run/slurm
NODE="$(hostname -s)"

start() {
  [ "$(id -u)" = 0 ] || { echo "needs root (starts slurmctld, slurmd and munged)"; exit 2; }
  for b in slurmctld slurmd munged sbatch squeue; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || { echo "$b is not installed (apt-get install slurmctld slurmd slurm-client munge)"; exit 2; }
  done
  if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    echo "$CONF exists and was not written by this script: not touching a real cluster's configuration"; exit 2
  fi
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm "$RUN"
  local mem_mb=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
  cat > "$CONF" <<CONF
$MARK
ClusterName=synpretest
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=600
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=${RUN}/slurmctld.pid
SlurmdPidFile=${RUN}/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  rm -f /etc/slurm/gres.conf   # no GPUs: a GPU request must fail with SLURM's own message
  [ -s /etc/munge/munge.key ] || { mungekey --create; chown munge:munge /etc/munge/munge.key; }
  mkdir -p /run/munge && chown munge:munge /run/munge
  pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
  munge -n | unmunge >/dev/null
  pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
  pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
  for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -q -E '^(idle|mixed|allocated)'; then sinfo; exit 0; fi
    sleep 1
  done
  echo "the node did not come up within 60 s:"; sinfo || true; tail -5 /var/log/slurm/slurmctld.log || true
  exit 1
}

stop() {
  for p in slurmd slurmctld; do
    [ -f "$RUN/$p.pid" ] && kill "$(cat "$RUN/$p.pid")" 2>/dev/null || true
  done
  sleep 1
  [ -f /run/munge/munged.pid ] && kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
  return 0
}

"${1:?start or stop}"
