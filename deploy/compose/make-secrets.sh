#!/bin/sh
# Makes secrets/*.env with random keys and passwords, and a self-signed TLS pair for a
# trial (replace secrets/tls.crt and tls.key with the city's certificate). Run once:
# it never overwrites a file that exists, since a new payload key would leave every
# case sealed under the old one unreadable.
set -eu
cd "$(dirname "$0")/secrets"
umask 077
host="${ONETHING_PUBLIC_HOST:-$(sed -n 's/^ONETHING_PUBLIC_HOST=//p' ../.env 2>/dev/null)}"
: "${host:?set ONETHING_PUBLIC_HOST in ../.env first (see ../.env.example)}"
hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
new() { if [ -e "$1" ]; then echo "keeping $1"; return 1; fi; echo "making $1"; }
db_password="$(hex)"
if new postgres.env; then
    printf 'POSTGRES_PASSWORD=%s\nONETHING_DB_PASSWORD=%s\n' "$(hex)" "$db_password" >postgres.env
else
    db_password="$(sed -n 's/^ONETHING_DB_PASSWORD=//p' postgres.env)"
fi
if new temporal.env; then
    printf 'POSTGRES_PWD=%s\n' "$(sed -n 's/^POSTGRES_PASSWORD=//p' postgres.env)" >temporal.env
fi
redis_password="$(hex)"
if new redis.env; then
    printf 'REDIS_PASSWORD=%s\n' "$redis_password" >redis.env
else
    redis_password="$(sed -n 's/^REDIS_PASSWORD=//p' redis.env)"
fi
if new onething.env; then
    {
        printf 'ONETHING_PAYLOAD_KEYS=k1:%s\n' "$(head -c 32 /dev/urandom | base64)"
        printf 'ONETHING_PSEUDONYM_KEY=%s\n' "$(hex)"
        printf 'ONETHING_SECRET_KEY=%s\n' "$(hex)"
        printf 'ONETHING_FRICTION_DSN=postgresql://onething:%s@postgresql:5432/onething\n' \
            "$db_password"
        printf 'ONETHING_REDIS_URL=redis://:%s@redis:6379/0\n' "$redis_password"
    } >onething.env
fi
if new tls.crt; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 365 -subj "/CN=$host" \
        -addext "subjectAltName=DNS:$host" -keyout tls.key -out tls.crt 2>/dev/null
fi
