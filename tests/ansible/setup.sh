#!/usr/bin/env bash
# Prepare the Ansible and cloud-init tests (tests/ansible.rs):
#  - target/ansible-venv: a virtual environment with ansible-core 2.19.x from
#    PyPI (the newest line that runs on Debian 12's Python 3.11) and the Python
#    libraries `cloud-init schema` imports;
#  - target/cloud-init/root: Debian's cloud-init package unpacked, not
#    installed (`apt-get download` + `dpkg-deb -x`), so no cloud-init service
#    is enabled and the machine's network configuration is never touched.
#
# Run from anywhere: bash tests/ansible/setup.sh. Re-running is instant: a
# marker file names what was installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/target/ansible-venv"
cloud="$repo/target/cloud-init"
ansible_spec='ansible-core>=2.19,<2.20'
# What cloudinit.cmd.main imports for `schema` (Debian's python3-* dependencies).
libs=(PyYAML jsonschema Jinja2 configobj jsonpatch requests oauthlib)
marker="$venv/.certsd-setup"
want="$ansible_spec ${libs[*]}"

python=/usr/bin/python3
[ -x "$python" ] || python="$(command -v python3)"

if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$want" ]; then
    echo "ansible setup: creating $venv ($want)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q "$ansible_spec" "${libs[@]}" >&2
    printf '%s' "$want" >"$marker"
fi
# Not `| head -n1`: with pipefail, ansible's broken pipe would fail the script.
version="$("$venv/bin/ansible-playbook" --version)"
echo "ansible setup: ${version%%$'\n'*}" >&2

if [ ! -f "$cloud/root/usr/bin/cloud-init" ]; then
    echo "ansible setup: unpacking Debian's cloud-init into $cloud/root" >&2
    rm -rf "$cloud"
    mkdir -p "$cloud/deb"
    if ! (cd "$cloud/deb" && apt-get download -qq cloud-init >&2); then
        # The package lists may be missing on a fresh machine.
        apt-get update -qq >&2
        (cd "$cloud/deb" && apt-get download -qq cloud-init >&2)
    fi
    dpkg-deb -x "$cloud"/deb/cloud-init_*.deb "$cloud/root"
fi
echo "ansible setup: cloud-init $(dpkg-deb -f "$cloud"/deb/cloud-init_*.deb Version) in $cloud/root" >&2
