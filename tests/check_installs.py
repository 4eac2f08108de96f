#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""./run's package installs start no service and change no configuration
the tests can do without (build-aux/lib.sh: ensure_pkgs).

Usage: check_installs.py SRCROOT

1. A real install, through ensure_pkgs and apt-get, of a probe package
   built here with dpkg-deb: it ships a System V init script and a systemd
   unit, and its postinst does what dh_installinit and dh_installsystemd
   make packages do (enable, then invoke-rc.d start), records which
   policy-rc.d it met, and writes a configuration file the project lists
   as unwanted. Afterwards: the daemon never started (its init script is
   the only thing that writes its marker, which the control step shows),
   invoke-rc.d was refused, the service is disabled for every runlevel and
   for systemd, the file is gone, the machine's own policy-rc.d is back
   byte for byte, and the probe is purged.
2. An install killed in the middle (a stand-in apt-get that signals the
   shell running it, under DPKG_ROOT) still puts the machine's policy
   back.

Needs root, dpkg-deb and apt-get (else: skip, exit 77).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

PKG = "xpipe-probe-daemon"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def sh(root, script, env_extra=None, timeout=600):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(["bash", "-c", f". build-aux/lib.sh\n{script}"],
                          cwd=root, env=env, capture_output=True, text=True,
                          timeout=timeout)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


def make_probe(tmp, state):
    """The probe package, with its state directory baked in."""
    tree = os.path.join(tmp, "pkg")
    write(f"{tree}/DEBIAN/control", f"""Package: {PKG}
Version: 1.0
Architecture: all
Maintainer: xpipe tests <tests@xpipe.invalid>
Description: stand-in daemon package for xpipe's install check
 Installed and purged by tests/check_installs.py.
""")
    write(f"{tree}/etc/init.d/{PKG}", f"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          {PKG}
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: xpipe's install probe
### END INIT INFO
case "$1" in
start) echo "$1" >>{state}/started; : >{state}/running ;;
stop) rm -f {state}/running ;;
status) [ -e {state}/running ] ;;
restart|force-reload) "$0" stop; "$0" start ;;
esac
""", 0o755)
    write(f"{tree}/lib/systemd/system/{PKG}.service", f"""[Unit]
Description=xpipe's install probe
[Service]
ExecStart=/etc/init.d/{PKG} start
[Install]
WantedBy=multi-user.target
""")
    # What debhelper's snippets do, in their order, plus the records.
    write(f"{tree}/DEBIAN/postinst", f"""#!/bin/sh
set -e
if [ "$1" = configure ]; then
    /usr/sbin/policy-rc.d {PKG} start >/dev/null 2>&1 && rc=0 || rc=$?
    echo "$rc" >{state}/policy-rc
    cat /usr/sbin/policy-rc.d >{state}/policy-text 2>/dev/null || true
    echo "probe configuration" >/etc/{PKG}.conf
    if [ -x /usr/bin/deb-systemd-helper ]; then
        deb-systemd-helper unmask {PKG}.service >/dev/null || true
        deb-systemd-helper enable {PKG}.service >/dev/null || true
    fi
    update-rc.d {PKG} defaults >/dev/null
    if [ -d /run/systemd/system ]; then
        deb-systemd-invoke start {PKG}.service >/dev/null || true
    else
        invoke-rc.d {PKG} start || exit 1
    fi
fi
""", 0o755)
    write(f"{tree}/DEBIAN/postrm", f"""#!/bin/sh
set -e
if [ "$1" = purge ]; then
    update-rc.d {PKG} remove >/dev/null || true
    if [ -x /usr/bin/deb-systemd-helper ]; then
        deb-systemd-helper purge {PKG}.service >/dev/null || true
    fi
    rm -f /etc/{PKG}.conf
fi
""", 0o755)
    deb = os.path.join(tmp, f"{PKG}_1.0_all.deb")
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", tree, deb],
                   check=True, capture_output=True)
    return deb


def read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def real_install(root, tmp):
    state = os.path.join(tmp, "state")
    os.makedirs(state)
    deb = make_probe(tmp, state)
    policy = "/usr/sbin/policy-rc.d"
    policy_before = read(policy)
    logs = os.path.join(tmp, "logs")
    r = sh(root, f'XPIPE_UNWANTED_CONF="{PKG}:/etc/{PKG}.conf"\n'
           f'ensure_pkgs "the install probe" {deb}',
           {"XPIPE_LOGS": logs, "XPIPE_APT_UPDATED": "1"})
    print(r.stderr.strip())
    apt_log = (read(os.path.join(logs, "apt.log")) or b"").decode(errors="replace")
    print("apt-get's output:\n" + apt_log)
    try:
        check(r.returncode == 0, f"ensure_pkgs installed the probe (exit {r.returncode})")
        check(read(f"{state}/policy-rc") == b"101\n",
              "the postinst met a policy-rc.d that refuses (exit 101)")
        check(b"xpipe-policy-rc" in (read(f"{state}/policy-text") or b""),
              "that policy was ./run's own, whatever the machine has")
        check(not os.path.exists(f"{state}/started"),
              "the probe daemon never started")
        check("denied execution of start" in apt_log
              or os.path.isdir("/run/systemd/system"),
              "invoke-rc.d said the start was denied")
        starts = [d for d in "2345"
                  if any(n.startswith("S") and n.endswith(PKG)
                         for n in os.listdir(f"/etc/rc{d}.d"))]
        check(not starts, f"no runlevel starts it (S links in: {starts or 'none'})")
        check(not os.path.exists(
            f"/etc/systemd/system/multi-user.target.wants/{PKG}.service"),
            "systemd does not start it at boot")
        check("disabled and not running: " in r.stderr and PKG in r.stderr,
              "./run said which services it disabled")
        check(not os.path.exists(f"/etc/{PKG}.conf"),
              "the configuration file its postinst wrote was removed again")
        check(read(policy) == policy_before,
              "the machine's policy-rc.d is as before ("
              + ("absent" if policy_before is None else "same bytes") + ")")
        check(not os.path.exists(policy + ".xpipe-saved"), "nothing kept aside is left")
        # Control: the marker does record a start.
        subprocess.run([f"/etc/init.d/{PKG}", "start"], timeout=30)
        check(os.path.exists(f"{state}/started"),
              "control: the probe's init script, run by hand, records its start")
        subprocess.run([f"/etc/init.d/{PKG}", "stop"], timeout=30)
    finally:
        subprocess.run(["dpkg", "--purge", PKG], capture_output=True, timeout=300)
    check(subprocess.run(["dpkg-query", "-W", PKG], capture_output=True).returncode != 0
          or b"not-installed" in subprocess.run(
              ["dpkg-query", "-W", "-f=${Status}", PKG], capture_output=True).stdout,
          "the probe is purged")


def killed_install(root, tmp):
    """DPKG_ROOT moves the policy file into tmp: nothing real is touched."""
    droot = os.path.join(tmp, "droot")
    policy = f"{droot}/usr/sbin/policy-rc.d"
    mine = b"#!/bin/sh\n# the machine's own policy\nexit 0\n"
    write(policy, mine.decode(), 0o755)
    fake = os.path.join(tmp, "bin")
    # apt-get runs in ensure_pkgs' subshell: it kills that shell, as a
    # Ctrl-C or a CI timeout would, while ./run's policy is in place.
    write(f"{fake}/apt-get", f"""#!/bin/sh
[ "$1" = install ] || exit 0
grep -q xpipe-policy-rc {policy} && echo held >{tmp}/held
kill -TERM $PPID
sleep 5
""", 0o755)
    env = {"DPKG_ROOT": droot, "PATH": f"{fake}:" + os.environ["PATH"],
           "XPIPE_LOGS": os.path.join(tmp, "logs2"), "XPIPE_APT_UPDATED": "1"}
    sh(root, "ensure_pkgs 'the killed install' xpipe-no-such-package-probe",
       env, timeout=60)
    check(read(f"{tmp}/held") == b"held\n",
          "killed install: ./run's policy was in place while apt-get ran")
    check(read(policy) == mine,
          "killed install: the machine's policy-rc.d is back, byte for byte")
    check(not os.path.exists(policy + ".xpipe-saved"),
          "killed install: nothing kept aside is left")


def main():
    root = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        print("SKIP: installing packages needs root")
        return 77
    for prog in ("dpkg-deb", "apt-get", "dpkg-query", "update-rc.d"):
        if not shutil.which(prog, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            print(f"SKIP: {prog} is not installed (not a Debian system)")
            return 77
    with tempfile.TemporaryDirectory(prefix="xpipe-installs-") as tmp:
        os.chmod(tmp, 0o755)  # apt's sandbox user reads the .deb
        killed_install(root, tmp)
        real_install(root, tmp)
    print(f"{len(failures)} failed" if failures else "OK")
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
