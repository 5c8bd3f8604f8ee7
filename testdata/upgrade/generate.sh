#!/usr/bin/env bash
# Rewrites the upgrade fixtures (sqlite.sql, postgres.sql, expected.json) from the current
# schema: today's server writes the same realistic data on SQLite and on a throwaway PostgreSQL
# cluster through its API, and both databases are dumped. Needs sqlite3, initdb/pg_ctl and
# pg_dump. Only regenerate deliberately: the fixtures exist so that later migrations are tested
# against data an earlier version wrote; keep an old set beside a new one rather than replace
# it when the schema has changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test -p switchyard-server --test server -- --ignored --exact upgrade::generate_upgrade_fixtures
ls -l testdata/upgrade
