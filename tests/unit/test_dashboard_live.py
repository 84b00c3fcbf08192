"""Live pages: which cache changes reach which page, under which access question, and the
streams that carry them from the watch threads to the event loop."""

from __future__ import annotations

import asyncio
import json
import threading

from quarterdeck.dashboard.access import Ask
from quarterdeck.dashboard.cache import DELIVERY, QUEUEING, SHOWBACK, DashboardCache
from quarterdeck.dashboard.live import Change, Interest, asks_for, event, interest
from quarterdeck.dashboard.live_stream import Hub, Stream, events
from quarterdeck.delivery.resources import ApplicationRes
from quarterdeck.kube.informer import Informer, SharedInformers


def test_each_page_path_names_what_it_shows() -> None:
    assert interest("/applications/team-a/web") == Interest(
        frozenset({"applications", "sources"}), "team-a", "web")
    assert interest("/queues/gpu?x=1") == Interest(
        frozenset({"clusterqueues", "localqueues", "workloads"}), name="gpu")
    assert interest("/") is not None and "pods" in interest("/").kinds  # type: ignore[union-attr]
    assert interest("/showback?window=week") == Interest(
        frozenset({"usagerecords", "pricings", "budgets"}))
    assert interest("/signin") is None and interest("/applications/a") is None


def test_a_change_is_asked_about_as_the_page_asks_about_its_object() -> None:
    detail = interest("/applications/team-a/web")
    assert detail is not None
    assert asks_for(detail, Change("applications", "team-a", "web")) == (
        Ask("get", DELIVERY, "applications", "team-a", "web"),)
    assert asks_for(detail, Change("applications", "team-b", "web")) is None  # another app
    assert asks_for(detail, Change("sources", "team-a", "repo")) == (
        Ask("get", DELIVERY, "applications", "team-a", "web"),)
    assert asks_for(detail, Change("workloads", "team-a", "w")) is None  # not on this page
    listing = Interest(frozenset({"applications"}))
    assert asks_for(listing, Change("applications", "team-b", "web")) == (
        Ask("list", DELIVERY, "applications", "team-b"),)
    queue = interest("/queues/gpu-a")
    assert queue is not None
    assert asks_for(queue, Change("clusterqueues", "", "gpu-b")) is None
    assert asks_for(queue, Change("workloads", "team-b", "w")) == (
        Ask("list", QUEUEING, "workloads", "team-b"),)
    gpus = interest("/gpus")
    assert gpus is not None and len(asks_for(gpus, Change("pods", "x", "p")) or ()) == 2
    showback = interest("/showback")
    assert showback is not None
    assert asks_for(showback, Change("budgets", "", "team-a")) == (
        Ask("list", SHOWBACK, "usagerecords"), Ask("list", SHOWBACK, "budgets"))
    assert asks_for(showback, Change("usagerecords", "", "r")) == (
        Ask("list", SHOWBACK, "usagerecords"),)


def test_an_event_names_the_first_objects_and_counts_them_all() -> None:
    changes = [Change("workloads", "a", f"w{i:02d}") for i in range(30)]
    text = event("change", changes + changes[:3])
    name, data = text.split("\n")[:2]
    assert name == "event: change" and text.endswith("\n\n")
    body = json.loads(data.removeprefix("data: "))
    assert body["total"] == 30 and len(body["changes"]) == 20
    assert body["changes"][0] == {"kind": "workloads", "namespace": "a", "name": "w00"}


def test_a_hub_hands_each_informer_change_to_every_open_stream_once() -> None:
    informer = Informer(None, ApplicationRes)  # type: ignore[arg-type]  # never run: fed here
    hub = Hub({"applications": informer})
    handler = informer._handlers[0]

    async def scenario() -> tuple[set[Change], set[Change], list[str]]:
        first, second = hub.open(), hub.open()
        feeder = threading.Thread(target=lambda: [
            handler("MODIFIED", {"metadata": {"namespace": "a", "name": "web"}})
            for _ in range(3)])
        feeder.start()
        feeder.join()
        got_first, got_second = await first.next(5), await second.next(5)
        hub.close(second)
        handler("ADDED", {"metadata": {"namespace": "a", "name": "api"}})
        texts = []
        stream = events(hub, first, lambda changes: sorted(changes))
        texts.append(await anext(stream))
        texts.append(await anext(stream))
        first.end()
        texts.extend([t async for t in stream])
        return got_first, got_second, texts

    got_first, got_second, texts = asyncio.run(scenario())
    assert got_first == got_second == {Change("applications", "a", "web")}
    assert texts[0].startswith("event: ready") and '"name":"api"' in texts[1]
    assert len(texts) == 2 and len(hub) == 0  # the ended stream closed itself


def test_a_stream_whose_session_is_gone_says_signin_and_ends() -> None:
    async def scenario() -> list[str]:
        hub = Hub({})
        stream = hub.open()
        stream.push(Change("applications", "a", "web"))
        return [t async for t in events(hub, stream, lambda changes: None)]

    texts = asyncio.run(scenario())
    assert [t.split("\n")[0] for t in texts] == ["event: ready", "event: signin"]


def test_a_quiet_stream_sends_only_a_comment_and_hidden_changes_send_nothing() -> None:
    async def scenario() -> list[str]:
        hub = Hub({})
        stream: Stream = hub.open()
        out = events(hub, stream, lambda changes: [], keepalive=0.01)
        texts = [await anext(out)]
        stream.push(Change("applications", "b", "hidden"))
        texts.append(await anext(out))  # the hidden change sent nothing; then quiet
        await out.aclose()
        return texts

    texts = asyncio.run(scenario())
    assert texts[1] == ": keepalive\n\n"


def test_the_dashboard_caches_no_secret_so_no_page_can_show_one() -> None:
    cache = DashboardCache(SharedInformers(client=None))  # type: ignore[arg-type]  # never started
    kinds = {informer.target.kind for informer in cache.by_kind().values()}
    assert "Budget" in kinds and "Workload" in kinds
    assert "Secret" not in kinds and "secrets" not in cache.by_kind()


def test_a_stream_whose_page_went_away_ends_at_its_next_wake_and_leaves_the_hub() -> None:
    async def scenario() -> tuple[list[str], int]:
        hub = Hub({})
        stream = hub.open()

        async def gone() -> bool:
            return True  # as Request.is_disconnected answers once the page closed

        texts = [t async for t in events(hub, stream, lambda changes: [], keepalive=0.01,
                                         gone=gone)]
        return texts, len(hub)

    texts, left = asyncio.run(scenario())
    assert [t.split("\n")[0] for t in texts] == ["event: ready"] and left == 0
