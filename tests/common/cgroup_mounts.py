"""Where this host mounts its cgroup hierarchies (v1 and v2 alike; a pure v2 host has one), for
the leak checks of the Python and image suites."""


def cgroup_mounts():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                yield fields[4]
