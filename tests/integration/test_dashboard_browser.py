"""The dashboard in real Chromium against the dev cluster, with the operator running
delivery and queueing: each page renders, the Sync button syncs, team-a's token sees no
team-b object and gets 403 on team-b's URLs, and a POST without the CSRF token is
refused; a page changes without a reload when its Application's status changes, and
team-a's event stream never names team-b's objects; suspend, resume and rollback
patch the Application (a wrong CSRF token or a revision not in its history refused);
the queues page shows train-1's admission wait; the GPU and showback pages render,
the latter with showback's verdict on team-a's Budget. Screenshots of each page go to a
temporary directory; `QD_DASHBOARD_SCREENSHOTS=docs/img` makes the ones docs/dashboard.md
shows (an explicit command: a test run never rewrites tracked files)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client, codecs
from lightkube.models.authentication_v1 import TokenRequestSpec, TokenReviewSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.authentication_v1 import TokenReview
from lightkube.resources.core_v1 import Namespace, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding
from lightkube.types import PatchType
from queueing_setup import gpu_job, gpu_queue
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from gitrepo import Repo
from operator_process import OperatorProcess
from quarterdeck.dashboard.access import REVIEW_TTL
from quarterdeck.dashboard.server import DashboardServer
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import ApplicationRes
from quarterdeck.delivery.resources import REQUEST_ANNOTATION, SourceRes
from quarterdeck.kube.client import load_client
from quarterdeck.kube.wait import wait_for
from quarterdeck.showback.resources import BudgetResource

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
CRDS = ROOT / "deploy" / "crds"
SCREENSHOTS = os.environ.get("QD_DASHBOARD_SCREENSHOTS", "")
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
API = "delivery.quarterdeck.dev/v1alpha1"


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


def app_objects(ns: str, url: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": API, "kind": "Source", "metadata": {"name": "repo", "namespace": ns},
         "spec": {"url": url, "ref": {"branch": "main"}, "interval": "1m"}},
        {"apiVersion": API, "kind": "Application", "metadata": {"name": "web", "namespace": ns},
         "spec": {"sourceRef": {"name": "repo"}, "path": "web", "timeout": "30s",
                  "interval": "10m"}},
    ]


def reader_rbac(ns: str, queue: str) -> list[dict[str, Any]]:
    """ServiceAccount `viewer` in `ns`: Applications and Workloads of `ns` (and sync them),
    its ConfigMaps and Secrets (a pending commit's diff: even so, never a Secret's data),
    the one ClusterQueue `queue`, and the GPU and showback pages (nodes, pods, records)."""
    rbac = "rbac.authorization.k8s.io/v1"
    subject = [{"kind": "ServiceAccount", "name": "viewer", "namespace": ns}]
    role = {"apiVersion": rbac, "kind": "Role", "metadata": {"name": "viewer", "namespace": ns},
            "rules": [{"apiGroups": ["delivery.quarterdeck.dev"], "resources": ["applications"],
                       "verbs": ["get", "list", "patch"]},
                      {"apiGroups": [""], "resources": ["configmaps", "secrets"],
                       "verbs": ["get"]},
                      {"apiGroups": ["queueing.quarterdeck.dev"], "resources": ["workloads"],
                       "verbs": ["get", "list"]}]}
    cluster_role = {"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": f"{ns}-q"},
                    "rules": [{"apiGroups": ["queueing.quarterdeck.dev"],
                               "resources": ["clusterqueues"], "resourceNames": [queue],
                               "verbs": ["get"]},
                              {"apiGroups": [""], "resources": ["nodes", "pods"],
                               "verbs": ["list"]},
                              {"apiGroups": ["showback.quarterdeck.dev"],
                               "resources": ["usagerecords", "budgets"], "verbs": ["list"]}]}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "viewer", "namespace": ns}},
        role,
        {"apiVersion": rbac, "kind": "RoleBinding", "metadata": {"name": "viewer", "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
         "subjects": subject},
        cluster_role,
        {"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": f"{ns}-q"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": f"{ns}-q"},
         "subjects": subject},
    ]


def budget_of(ns: str) -> dict[str, Any]:
    """A daily GPU-hour Budget for team `ns`, its pods labelled `team: NS` (showback
    evaluates it and writes its status)."""
    return {"apiVersion": "showback.quarterdeck.dev/v1alpha1", "kind": "Budget",
            "metadata": {"name": ns},
            "spec": {"team": ns, "teamLabel": "team", "period": "daily", "gpuHours": "2",
                     "thresholds": [10, 50, 100]}}


def token_of(kube: Client, ns: str) -> str:
    """A 10-minute token of `viewer` in `ns` (TokenRequest)."""
    spec = TokenRequestSpec(audiences=[], expirationSeconds=600)
    answer = kube.create(ServiceAccount.Token(metadata=ObjectMeta(), spec=spec), "viewer",
                         namespace=ns)
    assert answer.status is not None
    return str(answer.status.token)


def last_sync(kube: Client, ns: str) -> tuple[str, int]:
    history = dict(kube.get(ApplicationRes, "web", namespace=ns)).get("status", {}).get(
        "history") or [{}]
    return str(history[0].get("time", "")), int(history[0].get("attempts", 0))


def spec_of(kube: Client, ns: str) -> dict[str, Any]:
    return dict(dict(kube.get(ApplicationRes, "web", namespace=ns))["spec"])


@pytest.fixture(scope="module")
def platform(dev_cluster: Any, kube: Client, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[dict[str, Any]]:
    """Two teams with an Application each, team-a's GPU queue with an admitted Job and a
    waiting one, the operator (delivery for team-a, queueing) and the dashboard."""
    cluster = Cluster(kube)
    for path in sorted(CRDS.glob("*.yaml")):
        cluster.apply(yaml.safe_load(path.read_text()))
    cluster.wait_established([p.stem for p in CRDS.glob("*.yaml")], timeout=30)
    suffix = uuid.uuid4().hex[:6]
    team_a, team_b = f"team-a-{suffix}", f"team-b-{suffix}"
    tmp = tmp_path_factory.mktemp("dashboard")
    repo = Repo(tmp / "repo")
    repo.commit("web: two config maps", {"web/a.yaml": cm("a"), "web/b.yaml": cm("b")})
    for ns in (team_a, team_b):
        kube.create(Namespace(metadata=ObjectMeta(name=ns)))
    operator = OperatorProcess(dev_cluster.kubeconfig, tmp, team_a, "dash",
                               controllers=("delivery", "queueing"))
    server = DashboardServer(load_client(dev_cluster.kubeconfig), port=0)
    try:
        with gpu_queue(kube, team_a, nominal=8) as queue_a, gpu_queue(kube, team_b, 8) as queue_b:
            for ns, queue in ((team_a, queue_a), (team_b, queue_b)):
                for obj in [*app_objects(ns, repo.url), *reader_rbac(ns, queue)]:
                    kube.apply(codecs.from_dict(obj), field_manager="quarterdeck-tests")
            kube.apply(codecs.from_dict(budget_of(team_a)), field_manager="quarterdeck-tests")
            for name in ("train-1", "train-2"):
                job = gpu_job(team_a, name, gpus=8, duration="10m")
                job["spec"]["template"]["metadata"]["labels"] = {"team": team_a}  # the Budget's
                kube.create(codecs.from_dict(job))
            operator.start()
            wait_for(lambda: last_sync(kube, team_a)[0] or None, "team-a's first sync", 60)
            server.sync_caches(30)
            server.start()
            yield {"a": team_a, "b": team_b, "queue_a": queue_a, "queue_b": queue_b,
                   "url": f"http://127.0.0.1:{server.port}", "repo": repo, "server": server,
                   "token_a": token_of(kube, team_a)}
    finally:
        server.stop()
        operator.stop()
        for ns in (team_a, team_b):
            kube.delete(Namespace, ns)
            kube.delete(ClusterRole, f"{ns}-q")
            kube.delete(ClusterRoleBinding, f"{ns}-q")
        kube.delete(BudgetResource, team_a)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.fail("chromium and chromedriver are needed: make install installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,800",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: a temporary directory unless QD_DASHBOARD_SCREENSHOTS names one."""
    where = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path_factory.mktemp("screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


def shot(driver: webdriver.Chrome, where: Path, name: str) -> None:
    driver.save_screenshot(str(where / f"dashboard-{name}.png"))


def submit(driver: webdriver.Chrome, button: str) -> None:
    """Press a form's button and wait until the page it loads has replaced this one (a
    lookup right after the click could otherwise find the old page's elements)."""
    # Mark this document and wait for one without the mark. (Waiting for the old <html>
    # element to go stale raced the navigation: chromedriver may answer "Node with given
    # id does not belong to the document" instead of a stale-element error.) While the
    # document is being replaced a script may fail to run: that is "not yet", not an error.
    driver.execute_script("window.qdOldPage = true")
    driver.find_element(By.ID, button).click()
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && !window.qdOldPage"))


def text_of(driver: webdriver.Chrome, element_id: str) -> str:
    """The text of the element `element_id`, read in one script: a live page may swap its
    content in between a lookup and a read of the element it found (a stale element).
    Table cells are joined by a space, as WebElement.text joins them."""
    found = driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : null",
        element_id)
    if found is None:
        raise AssertionError(f"no element #{element_id} on {driver.current_url}")
    return str(found).replace("\t", " ")


def text(driver: webdriver.Chrome) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def fetch(driver: webdriver.Chrome, method: str, path: str, body: str = "") -> tuple[int, str]:
    """A request from the page itself (same origin, the session cookie included)."""
    script = """
        const [method, path, body, done] = arguments;
        const init = {method, headers: {"Content-Type": "application/x-www-form-urlencoded"}};
        if (method === "POST") init.body = body;
        fetch(path, init).then(async r => done([r.status, await r.text()]),
                               e => done([0, String(e)]));
    """
    status, answer = driver.execute_async_script(script, method, path, body)
    return int(status), str(answer)


def test_dashboard_pages_access_and_sync_in_chromium(
    platform: dict[str, Any], browser: webdriver.Chrome, kube: Client, shots: Path
) -> None:
    url, a, b = platform["url"], platform["a"], platform["b"]
    browser.get(f"{url}/")
    assert "Sign in" in browser.title

    browser.find_element(By.ID, "token").send_keys("not-a-token")
    submit(browser, "signin")
    assert "token refused" in text_of(browser, "reason")
    shot(browser, shots, "signin")

    browser.find_element(By.ID, "token").send_keys(platform["token_a"])
    submit(browser, "signin")
    assert text_of(browser, "user") == f"system:serviceaccount:{a}:viewer"
    overview = text(browser)
    assert "Applications: 1" in overview and platform["queue_a"] in overview
    assert platform["queue_b"] not in overview
    shot(browser, shots, "overview")

    browser.get(f"{url}/applications")
    rows = text_of(browser, "applications")
    assert a in rows and b not in rows
    shot(browser, shots, "applications")

    browser.get(f"{url}/applications/{a}/web")
    assert text_of(browser, "sync-state") == "Synced"
    assert "ConfigMap" in text_of(browser, "objects")
    before = last_sync(kube, a)
    submit(browser, "sync")
    wait_for(lambda: last_sync(kube, a) != before or None, "the sync the button asked for", 30)
    browser.get(f"{url}/applications/{a}/web")
    assert "Succeeded" in text_of(browser, "history")
    revision = dict(kube.get(ApplicationRes, "web", namespace=a))["status"]["history"][0][
        "revision"]
    submit(browser, "suspend")  # the patch is made before the answer redirects
    assert spec_of(kube, a).get("suspend") is True
    csrf = browser.find_element(By.NAME, "csrf").get_attribute("value")
    status, _ = fetch(browser, "POST", f"/applications/{a}/web/resume", f"csrf={csrf}")
    assert status == 200 and spec_of(kube, a).get("suspend") is False
    status, _ = fetch(browser, "POST", f"/applications/{a}/web/rollback",
                      f"csrf={csrf}&revision={revision}")
    assert status == 200 and spec_of(kube, a).get("revision") == revision
    status, answer = fetch(browser, "POST", f"/applications/{a}/web/rollback",
                           f"csrf={csrf}&revision=0000000")
    assert status == 404 and "not in the history" in answer
    status, _ = fetch(browser, "POST", f"/applications/{a}/web/suspend", "csrf=wrong")
    assert status == 403 and spec_of(kube, a).get("suspend") is False
    shot(browser, shots, "application")

    browser.get(f"{url}/queues")
    queues = text(browser)
    assert platform["queue_a"] in queues and platform["queue_b"] not in queues
    seen: list[str] = []

    def waiting_reason() -> str | None:
        seen[:] = [fetch(browser, "GET", "/queues?format=json")[1]]
        (queue,) = json.loads(seen[0])["queues"]
        reasons = [w["reason"] for w in queue["pending"]]
        return reasons[0] if reasons and reasons[0] != "not yet considered" else None

    try:
        reason = wait_for(waiting_reason, "the waiting Job's reason", 30)
    except TimeoutError:
        pytest.fail(f"no reason for the waiting Job: {seen}")
    assert "quota" in reason.lower(), reason
    (queue,) = json.loads(seen[0])["queues"]
    last_hour = queue["waits"][0]
    assert last_hour["window"] == "last hour" and last_hour["workloads"] == 1  # train-1
    assert last_hour["p50"] is not None and last_hour["p50"] >= 0
    browser.get(f"{url}/queues")
    waits = text_of(browser, f"waits-{platform['queue_a']}")
    assert "last hour 1" in waits, waits
    shot(browser, shots, "queues")

    browser.get(f"{url}/gpus")
    assert "GPUs:" in text_of(browser, "gpu-totals")
    assert "gpu-h100-8" in text_of(browser, "heatmap")  # the rack groups
    shot(browser, shots, "gpus")
    def budget_evaluated() -> dict[str, Any] | None:
        answer = json.loads(fetch(browser, "GET", "/showback?format=json")[1])
        rows = [r for r in answer["showback"]["budgets"] if r["name"] == a]
        return rows[0] if rows and rows[0]["state"] != "not evaluated" else None

    budget = wait_for(budget_evaluated, "showback's verdict on team-a's Budget", 60)
    assert budget["limit"] == "2 GPU-hours" and budget["state"] in ("ok", "warning")
    browser.get(f"{url}/showback")
    assert "GPU-hours" in text_of(browser, "showback")
    budgets = text_of(browser, "budgets")
    assert a in budgets and "2 GPU-hours" in budgets and budget["state"] in budgets
    shot(browser, shots, "showback")

    for path in (f"/applications/{b}/web", f"/queues/{platform['queue_b']}"):
        browser.get(url + path)
        assert text_of(browser, "status").startswith("403"), path
    shot(browser, shots, "forbidden")
    browser.get(f"{url}/applications/{a}/missing")
    assert text_of(browser, "status").startswith("404")

    status, answer = fetch(browser, "GET", "/applications?format=json")
    assert status == 200 and b not in answer and a in answer
    status, answer = fetch(browser, "POST", f"/applications/{a}/web/sync")
    assert status == 403 and "CSRF" in answer
    status, _ = fetch(browser, "GET", f"/applications/{a}/web/sync")
    assert status == 405


def sign_in(driver: webdriver.Chrome, url: str, token: str) -> None:
    driver.get(f"{url}/signin")
    driver.find_element(By.ID, "token").send_keys(token)
    submit(driver, "signin")


def poke(kube: Client, ns: str, annotation: str, value: str) -> None:
    patch = {"metadata": {"annotations": {annotation: value}}}
    kube.patch(ApplicationRes, "web", patch, namespace=ns, patch_type=PatchType.MERGE)


def test_a_page_changes_live_when_its_application_changes(
    platform: dict[str, Any], browser: webdriver.Chrome, kube: Client
) -> None:
    url, a, b = platform["url"], platform["a"], platform["b"]
    sign_in(browser, url, platform["token_a"])
    browser.get(f"{url}/applications/{a}/web")
    wait = WebDriverWait(browser, 60, ignored_exceptions=(WebDriverException,))
    wait.until(lambda d: d.execute_script(
        "return document.getElementById('live').dataset.stream === 'open'"))
    before = text_of(browser, "history")
    # A second stream, as the Applications list opens it, records what it is told.
    browser.execute_async_script("""
        const done = arguments[0];
        window.qdSamePage = true;
        window.qdSeen = [];
        const source = new EventSource("/events?path=/applications");
        source.addEventListener("change", e => window.qdSeen.push(...JSON.parse(e.data).changes));
        source.addEventListener("ready", () => done(true));
    """)
    poke(kube, b, "quarterdeck.dev/test-poke", uuid.uuid4().hex)  # team-b's change first
    poke(kube, a, REQUEST_ANNOTATION, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    wait.until(lambda d: text_of(d, "history") != before)
    assert browser.execute_script("return window.qdSamePage === true")  # swapped, no reload

    def told_of_team_a(driver: webdriver.Chrome) -> list[dict[str, str]] | None:
        got: list[dict[str, str]] = driver.execute_script("return window.qdSeen")
        return got if any(c["namespace"] == a and c["name"] == "web" for c in got) else None

    seen = wait.until(told_of_team_a)
    assert seen and all(c["namespace"] != b for c in seen), seen  # team-b's came first


SECRET_VALUE = "the-dashboard-never-shows-this"


def source_revision(kube: Client, ns: str) -> str:
    status = dict(kube.get(SourceRes, "repo", namespace=ns)).get("status") or {}
    return str((status.get("artifact") or {}).get("revision", ""))


def test_a_pending_commits_diff_is_shown_without_a_secrets_data(
    platform: dict[str, Any], browser: webdriver.Chrome, kube: Client, shots: Path
) -> None:
    url, a, repo = platform["url"], platform["a"], platform["repo"]
    merge = PatchType.MERGE
    kube.patch(ApplicationRes, "web", {"spec": {"suspend": True, "revision": None}},
               namespace=a, patch_type=merge)  # not synced, so the commit stays pending
    secret = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
              f"stringData:\n  password: {SECRET_VALUE}\n")
    sha = repo.commit("web: b says 2; c and a Secret added", {
        "web/b.yaml": cm("b").replace("'1'", "'2'"), "web/c.yaml": cm("c"), "web/s.yaml": secret})
    try:
        # A new generation of the Source is fetched at once (its interval is a minute).
        kube.patch(SourceRes, "repo", {"spec": {"interval": "59s"}}, namespace=a,
                   patch_type=merge)
        wait_for(lambda: source_revision(kube, a) == sha or None, "the Source to fetch", 60)
        sign_in(browser, url, platform["token_a"])
        browser.get(f"{url}/applications/{a}/web")
        assert text_of(browser, "pending").count(sha[:12]) == 1
        # The first view queued the diff; the live page swaps it in when it is ready.
        wait = WebDriverWait(browser, 120, ignored_exceptions=(WebDriverException,))
        wait.until(lambda d: text_of(d, "pending-state") != "computing")
        state = text_of(browser, "pending-state")
        assert state == "ready", text_of(browser, "pending")
        objects = text_of(browser, "pending-objects")
        assert f"ConfigMap {a}/c create" in objects and f"ConfigMap {a}/b configure" in objects
        assert f"Secret {a}/s create" in objects and f"ConfigMap {a}/a" not in objects
        diff = text_of(browser, "pending-diff")
        assert "-  a: '1'" in diff and "+  a: '2'" in diff, diff
        assert "(a Secret: its data is never shown)" in diff
        encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
        status, answer = fetch(browser, "GET", f"/applications/{a}/web?format=json")
        for page in (browser.page_source, answer):
            assert SECRET_VALUE not in page and encoded not in page
        assert status == 200 and json.loads(answer)["application"]["pending"]["revision"] == sha
        shot(browser, shots, "application-pending")
    finally:
        kube.patch(ApplicationRes, "web", {"spec": {"suspend": False}}, namespace=a,
                   patch_type=merge)


def test_a_revoked_token_ends_the_session_with_the_reason(
    platform: dict[str, Any], browser: webdriver.Chrome, kube: Client
) -> None:
    """A token that stops passing TokenReview (its ServiceAccount deleted: as an expired
    one, the API server refuses it) ends the session at its next review, the next page
    is the sign-in page with the API server's reason (whichever request made the review),
    and signing in with it again shows the reason too."""
    url, a, server = platform["url"], platform["a"], platform["server"]
    kube.create(ServiceAccount(metadata=ObjectMeta(name="leaver", namespace=a)))
    spec = TokenRequestSpec(audiences=[], expirationSeconds=600)
    answer = kube.create(ServiceAccount.Token(metadata=ObjectMeta(), spec=spec), "leaver",
                         namespace=a)
    assert answer.status is not None
    token = str(answer.status.token)
    sign_in(browser, url, token)
    assert text_of(browser, "user") == f"system:serviceaccount:{a}:leaver"
    # Leave the live page: its stream may be the one whose review ends the session, and
    # the page's own reload would then be the view that shows the reason.
    browser.get(f"{url}/signin")
    kube.delete(ServiceAccount, "leaver", namespace=a)

    def refused() -> bool | None:
        review = kube.create(TokenReview(spec=TokenReviewSpec(token=token)))
        return (review.status is None or not review.status.authenticated) or None

    wait_for(refused, "the API server to refuse the deleted ServiceAccount's token", 30)
    clock = server.access.clock
    server.access.clock = lambda: clock() + REVIEW_TTL + 1  # the session is due for review
    try:
        browser.get(f"{url}/applications")
    finally:
        server.access.clock = clock
    assert "Sign in" in browser.title
    assert "token refused" in text_of(browser, "reason")
    browser.find_element(By.ID, "token").send_keys(token)
    submit(browser, "signin")
    assert "token refused" in text_of(browser, "reason")
    for path in ("/applications", "/"):  # nothing of the session is left
        browser.get(url + path)
        assert "Sign in" in browser.title, path


def test_unknown_urls_get_a_404_page(platform: dict[str, Any], browser: webdriver.Chrome
                                     ) -> None:
    url, a = platform["url"], platform["a"]
    sign_in(browser, url, platform["token_a"])
    # (A ClusterQueue the viewer may not get answers 403 whether it exists or not.)
    for path in (f"/applications/{a}/missing", "/no-such-page", "/showback?window=fortnight"):
        browser.get(url + path)
        assert text_of(browser, "status").startswith("404"), path
        assert "Traceback" not in browser.page_source, path
