#!/bin/sh
# First process of a rig worker (deploy/Dockerfile.worker): host key on first start, the head's
# public key ($NNI_RIG_AUTHORIZED_KEY) authorized for user nni, then sshd in the foreground as PID 1
# (it also reaps orphaned trial processes).
set -eu
[ -s /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
install -d -m 700 -o nni -g nni /home/nni/.ssh
if [ -n "${NNI_RIG_AUTHORIZED_KEY:-}" ]; then
    printf '%s\n' "$NNI_RIG_AUTHORIZED_KEY" > /home/nni/.ssh/authorized_keys
    chown nni:nni /home/nni/.ssh/authorized_keys
    chmod 600 /home/nni/.ssh/authorized_keys
else
    echo "worker: NNI_RIG_AUTHORIZED_KEY is empty: nobody can log in" >&2
fi
exec /usr/sbin/sshd -D -e -o UsePAM=no -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
    -o AllowUsers=nni -o AllowTcpForwarding=yes -o HostKey=/etc/ssh/ssh_host_ed25519_key
