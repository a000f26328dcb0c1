"""The NGO index behind ``search_ngos`` and the NGOs-by-status-and-county gauge.

Kept in the registry's own database (``shared.projection.TableProjection``), because it
grows with every NGO of the province: ``ngo_index`` (one row per NGO, its name's search
key beside it), ``ngo_index_fields`` (NGO by field of activity) and ``ngo_index_counts``
(NGOs by status and county, kept as they change, so the gauge costs no scan). A name is
found by any part of its search key (``shared.persian.search_key``: ZWNJ and spaces alike,
case folded) through a trigram index: PostgreSQL's ``pg_trgm`` (GIN), SQLite's FTS5
``trigram`` tokenizer; parts shorter than three letters are looked up by a scan.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import datetime
from typing import Any

from services.registry.domain import Ngo
from shared.persian import search_key
from shared.projection import Run, TableProjection

log = logging.getLogger(__name__)
ROWS_PER_STATEMENT = 500  # a multi-row INSERT's rows: 4,000 parameters at most
COLUMNS = "i.ngo_id, i.name, i.fields, i.scope, i.county, i.status, i.registered_at"


class NgoIndex(TableProjection):
    name = "ngo_index"

    def __init__(self, app: Any):
        self.postgres = app.sql.postgres
        self.ngos, self.fields, self.counts_table, self.names = (
            app.sql.table(t) for t in ("ngo_index", "ngo_index_fields", "ngo_index_counts",
                                       "ngo_index_names"))
        self.trigram_ops = _trigram_ops(app) if self.postgres else None
        self.tables_to_count = (self.ngos, self.fields, self.counts_table) + (
            () if self.postgres else (self.names,))
        super().__init__(app)

    def tables(self) -> list[str]:
        name = 'name COLLATE "C"' if self.postgres else "name"
        statements = [
            f"CREATE TABLE IF NOT EXISTS {self.ngos} (ngo_id TEXT PRIMARY KEY, "
            "name TEXT NOT NULL, search_key TEXT NOT NULL, fields TEXT NOT NULL, "
            "scope TEXT NOT NULL, county TEXT, status TEXT NOT NULL, "
            "registered_at TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS ngo_index_by_name ON {self.ngos} ({name}, ngo_id)",
            f"CREATE INDEX IF NOT EXISTS ngo_index_by_county ON {self.ngos} (county, status)",
            f"CREATE TABLE IF NOT EXISTS {self.fields} (field TEXT NOT NULL, "
            "ngo_id TEXT NOT NULL, PRIMARY KEY (field, ngo_id))",
            f"CREATE TABLE IF NOT EXISTS {self.counts_table} (status TEXT NOT NULL, "
            "county TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (status, county))",
        ]
        if self.postgres and self.trigram_ops:
            statements.append(f"CREATE INDEX IF NOT EXISTS ngo_index_by_key ON {self.ngos} "
                              f"USING gin (search_key {self.trigram_ops})")
        elif not self.postgres:  # rowid: the NGO's rowid in ngo_index
            statements.append(f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.names} USING "
                              "fts5(search_key, tokenize='trigram')")
        return statements

    # following the log

    def apply_in(self, run: Run, event: Any) -> None:
        if not isinstance(event, Ngo.Event):  # a name claim's
            return
        if isinstance(event, Ngo.Registered):  # written together at the page's end
            self.page.setdefault("registered", []).append(event)
            return
        self._register(run)  # what came before this change is in the tables first
        ngo_id = str(event.originator_id)
        found = run(f"SELECT status, county FROM {self.ngos} WHERE ngo_id = %s", (ngo_id,))
        if not found:
            return
        status, county = found[0]
        if isinstance(event, Ngo.DetailsChanged):
            changes = event.changes
            if "name" in changes:
                key = search_key(changes["name"])
                run(f"UPDATE {self.ngos} SET name = %s, search_key = %s WHERE ngo_id = %s",
                    (changes["name"], key, ngo_id))
                if not self.postgres:
                    run(f"UPDATE {self.names} SET search_key = %s WHERE rowid = "
                        f"(SELECT rowid FROM {self.ngos} WHERE ngo_id = %s)", (key, ngo_id))
            if "fields" in changes:
                run(f"UPDATE {self.ngos} SET fields = %s WHERE ngo_id = %s",
                    (json.dumps(list(changes["fields"])), ngo_id))
                run(f"DELETE FROM {self.fields} WHERE ngo_id = %s", (ngo_id,))
                self._fields(run, {ngo_id: changes["fields"]})
        elif isinstance(event, Ngo.Dissolved | Ngo.StatusChanged):
            new = "dissolved" if isinstance(event, Ngo.Dissolved) else event.status
            run(f"UPDATE {self.ngos} SET status = %s WHERE ngo_id = %s", (new, ngo_id))
            self._count(status, county, -1)
            self._count(new, county, +1)

    def finish(self, run: Run) -> None:
        self._register(run)
        for (status, county), delta in self.page.get("counts", {}).items():
            if delta:
                run(f"INSERT INTO {self.counts_table} AS c (status, county, n) "
                    "VALUES (%s, %s, %s) ON CONFLICT (status, county) "
                    "DO UPDATE SET n = c.n + excluded.n", (status, county, delta))

    def _register(self, run: Run) -> None:
        """The NGOs registered since the last write, in multi-row statements."""
        events = self.page.pop("registered", [])
        for first in range(0, len(events), ROWS_PER_STATEMENT):
            chunk = events[first:first + ROWS_PER_STATEMENT]
            inserted = {row[0] for row in run(
                f"INSERT INTO {self.ngos} (ngo_id, name, search_key, fields, scope, county, "
                "status, registered_at) VALUES "
                + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
                + " ON CONFLICT (ngo_id) DO NOTHING RETURNING ngo_id",
                [value for e in chunk for value in (
                    str(e.originator_id), e.name, search_key(e.name), json.dumps(list(e.fields)),
                    e.scope, e.county, "awaiting_licence", e.timestamp.isoformat())])}
            new = [e for e in chunk if str(e.originator_id) in inserted]  # once, in order
            if not new:
                continue
            self._fields(run, {str(e.originator_id): e.fields for e in new})
            for e in new:
                self._count("awaiting_licence", e.county, +1)
            if not self.postgres:
                ids = [str(e.originator_id) for e in new]
                run(f"INSERT INTO {self.names} (rowid, search_key) SELECT rowid, search_key "
                    f"FROM {self.ngos} WHERE ngo_id IN ({', '.join(['%s'] * len(ids))})", ids)

    def _fields(self, run: Run, fields_of: dict[str, Any]) -> None:
        pairs = [(field, ngo_id) for ngo_id, fields in fields_of.items()
                 for field in dict.fromkeys(fields)]
        for first in range(0, len(pairs), ROWS_PER_STATEMENT):
            chunk = pairs[first:first + ROWS_PER_STATEMENT]
            run(f"INSERT INTO {self.fields} (field, ngo_id) VALUES "
                + ", ".join(["(%s, %s)"] * len(chunk)), [v for pair in chunk for v in pair])

    def _count(self, status: str, county: str | None, delta: int) -> None:
        counts = self.page.setdefault("counts", {})  # written by finish()
        key = (status, county or "")
        counts[key] = counts.get(key, 0) + delta

    # reads

    def search(self, query: str | None = None, field: str | None = None,
               county: str | None = None, scope: str | None = None, status: str | None = None,
               page: int = 1, page_size: int = 20) -> dict[str, Any]:
        where, params = self._where(search_key(query) if query else "", field, county, scope,
                                    status)
        order = 'i.name COLLATE "C", i.ngo_id' if self.postgres else "i.name, i.ngo_id"
        with self.sql.transaction(write=False) as run:  # one snapshot for the page and total
            # one scan gives the page and, beside each row, how many matched in all
            rows = run(f"SELECT {COLUMNS}, COUNT(*) OVER () FROM {self.ngos} i WHERE {where} "
                       f"ORDER BY {order} LIMIT %s OFFSET %s",
                       (*params, page_size, (page - 1) * page_size))
            total = rows[0][-1] if rows else 0
            if not rows and page > 1:  # past the last page: the total alone
                total = run(f"SELECT COUNT(*) FROM {self.ngos} i WHERE {where}", params)[0][0]
        items = [{"ngo_id": r[0], "name": r[1], "fields": json.loads(r[2]), "scope": r[3],
                  "county": r[4], "status": r[5],
                  "registered_at": datetime.fromisoformat(r[6])} for r in rows]
        return {"items": items, "total": total, "page": page, "page_size": page_size}

    def _where(self, key: str, field: str | None, county: str | None, scope: str | None,
               status: str | None) -> tuple[str, list[Any]]:
        conditions, params = ["1 = 1"], []
        if key:
            if self.postgres:
                conditions.append("i.search_key LIKE %s ESCAPE '\\'")
                params.append("%" + _like_escaped(key) + "%")
            else:  # the trigram index (three letters or more), then the exact test
                if len(key) >= 3:
                    conditions.append(f"i.rowid IN (SELECT rowid FROM {self.names} "
                                      f"WHERE {self.names} MATCH %s)")
                    params.append('"' + key.replace('"', '""') + '"')
                conditions.append("instr(i.search_key, %s) > 0")
                params.append(key)
        if field is not None:
            conditions.append(f"i.ngo_id IN (SELECT ngo_id FROM {self.fields} WHERE field = %s)")
            params.append(field)
        for column, value in (("county", county), ("scope", scope), ("status", status)):
            if value is not None:
                conditions.append(f"i.{column} = %s")
                params.append(value)
        return " AND ".join(conditions), params

    def counts(self) -> Counter[tuple[str, str]]:
        rows = self.read(f"SELECT status, county, n FROM {self.counts_table} WHERE n > 0")
        return Counter({(status, county): n for status, county, n in rows})


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _trigram_ops(app: Any) -> str | None:
    """``pg_trgm``'s operator class, schema-qualified; the extension is made if it can be
    (a trusted extension: the database's owner may). Without it names are found by a scan."""
    try:
        with app.sql.transaction() as run:
            run("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as error:  # noqa: BLE001 - no right to, or another instance just did
        log.info("pg_trgm not created here (%s)", type(error).__name__)
    with app.sql.transaction(write=False) as run:
        found = run("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                    "ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'")
    if not found:
        log.warning("pg_trgm is not installed: NGO names are searched by a scan")
        return None
    return f'"{found[0][0]}".gin_trgm_ops'
