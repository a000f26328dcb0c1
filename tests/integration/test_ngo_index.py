"""The registry's NGO index kept in its own database (``shared.projection.TableProjection``):
it survives a restart without reading the log again, instances share it and agree, a name
is found by any part of it (through the trigram index or, for one or two letters, a scan),
and a rebuild from the log gives the same index."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from services.registry import schemas
from services.registry.application import Registry, build
from shared.schemas import load
from tests.conftest import OFFICER, ngo_payload

AUDIT = {"actor": OFFICER, "correlation_id": "c", "causation_id": None}
KASHAN = {**AUDIT, "actor": {**OFFICER, "county": "kashan"}}


def register(app: Registry, name: str, **overrides: Any) -> str:
    data = load(schemas.RegisterArgs(), {"ngo": ngo_payload(name=name, **overrides)})["ngo"]
    audit = KASHAN if overrides.get("county") == "kashan" else AUDIT
    return app.register_ngo(data, audit)["ngo_id"]


def names(result: dict[str, Any]) -> list[str]:
    return [item["name"] for item in result["items"]]


def reads_of_the_log(app: Registry) -> list[int]:
    """Count the pages the index reads from the log from now on."""
    pages: list[int] = []
    read = app.notifications

    def counted(after: int, limit: int) -> Any:
        found = read(after, limit)
        pages.append(len(found))
        return found

    app.notifications = counted  # type: ignore[method-assign]
    return pages


def test_a_restart_reads_nothing_again_and_finds_everything(store):
    app = build()
    for i in range(30):
        register(app, f"انجمن یاوران {i}")
    assert app.search_ngos(query="یاوران")["total"] == 30
    app.close()

    again = build()
    pages = reads_of_the_log(again)
    assert again.search_ngos(query="یاوران", page_size=100)["total"] == 30
    assert pages == [0]  # one look for anything new, no replay of the 60 events
    again.close()


def test_instances_share_one_index_and_see_each_others_writes(store):
    first, second = build(), build()
    ngo_id = register(first, "انجمن مهر نخست")
    assert names(second.search_ngos(query="مهر نخست")) == ["انجمن مهر نخست"]
    second.dissolve_ngo(ngo_id, "انحلال به تصمیم مجمع", AUDIT)
    assert first.search_ngos(status="dissolved")["total"] == 1
    assert first.index.counts()[("dissolved", "najafabad")] == 1
    assert first.index.counts()[("awaiting_licence", "najafabad")] == 0
    first.close(), second.close()


def test_instances_catching_up_at_once_apply_every_event_once(store):
    writer, readers = build(), [build() for _ in range(3)]
    for i in range(120):
        register(writer, f"انجمن همزمان {i}", county="kashan" if i % 3 else "najafabad")
    start = threading.Barrier(len(readers))

    def catch_up(app: Registry) -> None:
        start.wait()
        app.index.catch_up()

    threads = [threading.Thread(target=catch_up, args=(app,)) for app in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for app in readers:
        assert app.search_ngos(query="همزمان", page_size=200)["total"] == 120
        counts = app.index.counts()
        assert (counts[("awaiting_licence", "kashan")],
                counts[("awaiting_licence", "najafabad")]) == (80, 40)
    assert writer.index.sizes()["ngo_index_fields"] == 240  # two fields each, once
    for app in [writer, *readers]:
        app.close()


def test_a_name_is_found_by_any_part_of_it_and_wildcards_are_letters(store):
    app = build()
    register(app, "خانه کودک ۱۲ نجف‌آباد")
    register(app, "انجمن 100% سبز", fields=["environment"])
    register(app, "انجمن 100 درصد سبز")
    register(app, "کانون a_b")
    register(app, "کانون axb")
    for typed in ["كودك", "کودک 12", "نجف آباد", "نجفآباد", "۱۲", "خ", "کو"]:
        assert names(app.search_ngos(query=typed)) == ["خانه کودک ۱۲ نجف‌آباد"], typed
    assert names(app.search_ngos(query="100%")) == ["انجمن 100% سبز"]
    assert names(app.search_ngos(query="a_b")) == ["کانون a_b"]
    assert names(app.search_ngos(query="A_B")) == ["کانون a_b"]  # case folded
    assert names(app.search_ngos(query='"')) == []
    assert names(app.search_ngos(query="سبز", field="environment")) == ["انجمن 100% سبز"]
    assert names(app.search_ngos(query="سبز")) == ["انجمن 100 درصد سبز", "انجمن 100% سبز"]
    app.close()


def test_a_renamed_ngo_is_found_by_its_new_name_only(store):
    app = build()
    ngo_id = register(app, "انجمن نام کهنه")
    app.change_details(ngo_id, {"name": "انجمن نام تازه", "fields": ["environment"]}, AUDIT)
    assert names(app.search_ngos(query="کهنه")) == []
    assert names(app.search_ngos(query="تازه", field="environment")) == ["انجمن نام تازه"]
    assert app.search_ngos(field="social-charity")["total"] == 0
    app.close()


def test_pages_are_in_name_order_and_a_rebuild_gives_the_same_index(store):
    app = build()
    for name in ["انجمن ب", "انجمن آ", "انجمن پ", "انجمن ا", "انجمن ی"]:
        register(app, name)
    expected = ["انجمن آ", "انجمن ا", "انجمن ب", "انجمن پ", "انجمن ی"]  # by code point
    pages = [names(app.search_ngos(query="انجمن", page=p, page_size=2)) for p in (1, 2, 3)]
    assert [name for page in pages for name in page] == expected
    before = (app.index.sizes(), app.index.counts(), app.search_ngos(page_size=10))
    app.index.rebuild()
    assert (app.index.sizes(), app.index.counts(), app.search_ngos(page_size=10)) == before
    app.close()


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_names_are_searched_through_the_trigram_index(store):
    app = build()
    assert app.index.trigram_ops is not None  # pg_trgm is there on this machine and in CI
    with app.sql.transaction(write=False) as run:
        run("SET LOCAL enable_seqscan = off")  # an empty table: would the index serve?
        plan = run(f"EXPLAIN SELECT ngo_id FROM {app.index.ngos} i WHERE "
                   "i.search_key LIKE %s ESCAPE '\\'", ("%یاوران%",))
    assert "ngo_index_by_key" in " ".join(str(row[0]) for row in plan)
    app.close()
