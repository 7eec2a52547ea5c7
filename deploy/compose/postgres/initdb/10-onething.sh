#!/bin/sh
# The friction store's database and its owner, made once when the data folder is new.
# Temporal's own databases (temporal, temporal_visibility) are made by its auto-setup.
set -eu
: "${ONETHING_DB_PASSWORD:?set ONETHING_DB_PASSWORD in secrets/postgres.env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v password="$ONETHING_DB_PASSWORD" <<'SQL'
CREATE ROLE onething LOGIN PASSWORD :'password';
CREATE DATABASE onething OWNER onething;
SQL
