-- One database per service (each owns its schema and migrations), created on the first start of
-- an empty data volume by the postgres image's /docker-entrypoint-initdb.d hook.
CREATE DATABASE roster;
CREATE DATABASE requests;
CREATE DATABASE matching;
CREATE DATABASE portal;
CREATE DATABASE notifier;
