#!/bin/busybox sh
# The init of the pure cgroup v2 VM (scripts/vm-test.sh builds the initramfs around it).
#
# Stage 1 (the initramfs root): copy everything onto a tmpfs and switch_root there, because
# runc's pivot_root fails on the initramfs root. Stage 2 (pid 1 on the tmpfs): set the host up
# the way systemd leaves a pure v2 host (controllers enabled down to a delegated
# user@1000.service that the user owns), then run the suites listed in /vm/suites, each with
# a time limit, and report over the serial console:
#   VM-SUITE <name>: PASS | FAIL (exit N) | TIMEOUT
#   VM-TEST: PASS <n> suites | VM-TEST: FAIL <names>
# then power off. The host side reads those lines; anything else printed is the log.
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox --install -s /bin

if [ ! -e /.vm-stage2 ]; then
  mount -t proc proc /proc
  mkdir -p /newroot
  mount -t tmpfs -o size=2200m,mode=0755 tmpfs /newroot
  for e in /*; do
    case "$e" in /newroot | /proc | /sys | /dev) ;; *) cp -a "$e" /newroot/ ;; esac
  done
  mkdir -p /newroot/proc /newroot/sys /newroot/dev
  touch /newroot/.vm-stage2
  umount /proc
  exec switch_root /newroot /init
fi

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /tmp /run /home /root
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# The root is a tmpfs already: /tmp and /run get their own only when empty, since the build
# tree sits at its host path, which may be under either (a clone in /tmp).
[ -z "$(ls -A /tmp)" ] && mount -t tmpfs -o mode=1777 tmpfs /tmp
[ -z "$(ls -A /run)" ] && mount -t tmpfs -o mode=0755 tmpfs /run
chmod 1777 /tmp
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
hostname ociexec-vm
ip link set lo up
insmod /vm/overlay.ko
[ -w /proc/sys/kernel/unprivileged_userns_clone ] && echo 1 >/proc/sys/kernel/unprivileged_userns_clone

# As systemd leaves it: every controller enabled from the root down, pid 1 in init.scope,
# services in system.slice, and user 1000's own subtree, user@1000.service, delegated
# (Delegate=yes: the directory and its control files chowned to the user).
cg=/sys/fs/cgroup
controllers=$(cat $cg/cgroup.controllers)
enable() { for c in $2; do echo "+$c" >"$1/cgroup.subtree_control"; done; }
enable $cg "$controllers"
mkdir -p $cg/init.scope $cg/system.slice/vm-tests.scope
echo $$ >$cg/init.scope/cgroup.procs
enable $cg/system.slice "$controllers"
user=$cg/user.slice/user-1000.slice/user@1000.service
mkdir -p $user/session.scope
enable $cg/user.slice "cpu memory pids"
enable $cg/user.slice/user-1000.slice "cpu memory pids"
enable $user "cpu memory pids"
chown 1000:1000 $user $user/cgroup.procs $user/cgroup.subtree_control $user/cgroup.threads
chown -R 1000:1000 $user/session.scope
mkdir -p /home/ociexec-test
chown 1000:1000 /home/ociexec-test

echo "vm: $(uname -r), cgroup2 controllers: $controllers; delegated: $(cat $user/cgroup.subtree_control)"

# Runs a command in a cgroup (a new shell moves itself there first: in a subshell, $$ would
# still be pid 1).
in_cgroup() { sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$@"; }

# Each suite: a name, a time limit in seconds, and a command line, one per line of
# /vm/suites ("name|seconds|command"), run from the test scope (as root) or, for lines whose
# name starts with "rootless", as user 1000 from its session scope.
failed=""
count=0
while IFS='|' read -r name limit command; do
  case "$name" in '' | '#'*) continue ;; esac
  count=$((count + 1))
  echo "== VM suite $name (limit ${limit}s): $command"
  start=$(date +%s)
  case "$name" in
    rootless*)
      in_cgroup $user/session.scope /usr/bin/setpriv --reuid=1000 --regid=1000 --clear-groups -- \
        env -i HOME=/home/ociexec-test PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin CI=true \
        timeout -s KILL "$limit" sh -c "$command"
      ;;
    *)
      in_cgroup $cg/system.slice/vm-tests.scope env CI=true timeout -s KILL "$limit" sh -c "$command"
      ;;
  esac
  rc=$?
  took=$(($(date +%s) - start))
  if [ $rc -eq 0 ]; then
    echo "VM-SUITE $name: PASS (${took}s)"
  elif [ $rc -eq 137 ] && [ $took -ge "$limit" ]; then
    echo "VM-SUITE $name: TIMEOUT (${took}s)"
    failed="$failed $name"
  else
    echo "VM-SUITE $name: FAIL (exit $rc, ${took}s)"
    failed="$failed $name"
  fi
done </vm/suites

if [ -z "$failed" ]; then
  echo "VM-TEST: PASS $count suites"
else
  echo "VM-TEST: FAIL$failed"
fi
sync
poweroff -f
