#!/usr/bin/env bash
# Example: make a workspace at /srv/accord that only the service account can write,
# with an inbox coordinators (group accord-inbox) can drop files into. Run as root.
set -euo pipefail
WS=${1:-/srv/accord}
id accord >/dev/null 2>&1 || useradd --system --home-dir /var/lib/accord --create-home --shell /usr/sbin/nologin accord
getent group accord-inbox >/dev/null || groupadd accord-inbox
[ -d "$WS/templates" ] || sudo -u accord /opt/accord/.venv/bin/accord init "$WS"
chown -R accord:accord "$WS"
chmod 0750 "$WS"
# The archive, the catalog and the PKI: the service account only.
chmod 0700 "$WS/archive" "$WS/pki" 2>/dev/null || true
# The inbox: coordinators may add files (setgid keeps the group); results stay readable to them.
chown accord:accord-inbox "$WS/inbox" "$WS/inbox/processed" "$WS/inbox/failed"
chmod 2770 "$WS/inbox"
chmod 2750 "$WS/inbox/processed" "$WS/inbox/failed"
setfacl -m g:accord-inbox:x "$WS" 2>/dev/null || chmod o+x "$WS"
echo "Workspace $WS ready; add coordinators with: usermod -aG accord-inbox NAME"
