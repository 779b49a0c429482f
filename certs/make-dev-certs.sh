#!/bin/sh
# Development only: a self-signed certificate and key for localhost in certs/, named as the seed
# (Net::IMAP::Server) expected them: server-cert.pem and server-key.pem (mode 0600).
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "$dir/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 -m maildird cert localhost --out "$tmp" >/dev/null
mv "$tmp/fullchain.pem" "$dir/server-cert.pem"
mv "$tmp/privkey.pem" "$dir/server-key.pem"
chmod 600 "$dir/server-key.pem"
printf '[tls]\ncertificate = "%s"\nprivate_key = "%s"\n' "$dir/server-cert.pem" "$dir/server-key.pem"
