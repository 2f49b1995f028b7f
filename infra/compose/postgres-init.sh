#!/usr/bin/env bash
# PostgreSQL's first start (docker-entrypoint-initdb.d, infra/compose.yaml): one role and one
# database per service of PLATFORM_SERVICES, each owned by its role; the password of <name>
# comes from <NAME>_DB_PASSWORD in the environment (never from this file). Services never read
# each other's database: a role connects to its own only.
set -euo pipefail
for service in $PLATFORM_SERVICES; do
  password_variable="${service^^}_DB_PASSWORD"
  password="${!password_variable:?$password_variable is not set}"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="$service" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
