"""The platform demo's story on a running cluster (the shell around `story_checks`).

`examples/platform/` is the platform team's view of a cluster: two teams with Projects,
their GPU queues in one cohort, a guardrail and prices (`cluster/`), the teams' apps in
Git (`repo/`) and their GPU Jobs (`jobs/`). The story applies the platform objects,
makes a real local Git repository of `repo/`, starts `qd operator` (every controller
and the dashboard) as a child process, and then plays each step, waiting with a bound
for what the step shows and printing it: apps synced from Git, a commit refused by the
guardrail, an edit taken back, a team borrowing idle GPUs and the other reclaiming them,
and what each team's GPUs cost.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import yaml
from lightkube import ApiError, Client
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, Namespace, Pod, ServiceAccount
from lightkube.types import CascadeType, PatchType

from quarterdeck.dashboard import story_checks as checks
from quarterdeck.dashboard.cache import ClusterQueueRes, WorkloadRes
from quarterdeck.dashboard.showback_view import team_costs
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.resources import ApplicationRes
from quarterdeck.kube.crds import install_crds
from quarterdeck.kube.wait import wait_for
from quarterdeck.showback.resources import BudgetResource, PricingResource, UsageRecordResource

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "platform"
DEPLOY = ROOT / "deploy"
FIELD_MANAGER = "quarterdeck-demo"
TEAMS = {"team-a": "web", "team-b": "api"}
GIT_ENV = {"GIT_AUTHOR_NAME": "Grace Hopper", "GIT_AUTHOR_EMAIL": "grace@example.com",
           "GIT_COMMITTER_NAME": "Grace Hopper", "GIT_COMMITTER_EMAIL": "grace@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
T = TypeVar("T")


class StoryError(Exception):
    """A step did not reach its end state in time; the message says which and where to look."""


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def platform_objects(examples: Path = EXAMPLES) -> list[dict[str, Any]]:
    """What the platform team applies, in order: the dashboard's RBAC, then `cluster/`."""
    objs = documents(DEPLOY / "dashboard-rbac.yaml")
    for name in ("teams", "access", "queues", "guardrails", "pricing", "budgets"):
        objs += documents(examples / "cluster" / f"{name}.yaml")
    return objs


class GitRepo:
    """The teams' repository: `repo/` copied into a fresh git repository, commits by CLI."""

    def __init__(self, path: Path, template: Path) -> None:
        self.path = path
        if path.exists():
            shutil.rmtree(path)
        shutil.copytree(template, path)
        self.git("init", "-q", "-b", "main")

    @property
    def url(self) -> str:
        return self.path.resolve().as_uri()

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True,
                              text=True, env={**os.environ, **GIT_ENV}, check=False)
        if done.returncode != 0:
            raise StoryError(f"git {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def commit(self, message: str, edit: tuple[str, str, str] | None = None) -> str:
        """Commit everything, after replacing `old` by `new` in `file` when given."""
        if edit is not None:
            file, old, new = edit
            target = self.path / file
            target.write_text(target.read_text().replace(old, new))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@dataclass
class OperatorChild:
    """`qd operator` with the dashboard, as a child process logging to a file."""

    kubeconfig: Path
    workdir: Path
    dashboard_port: int
    prometheus_url: str = ""
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / "operator.log"

    def start(self) -> None:
        qd = Path(sys.executable).parent / "qd"
        args = [str(qd), "operator", "--kubeconfig", str(self.kubeconfig),
                "--cache-dir", str(self.workdir / "cache"), "--allow-file-sources",
                "--dashboard-port", str(self.dashboard_port)]
        if self.prometheus_url:
            args += ["--prometheus-url", self.prometheus_url]
        env = {**os.environ, "QD_SHOWBACK_INTERVAL": "2"}  # records fill in seconds
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait (the operator stops its controllers in order); its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def _serving(url: str) -> bool | None:
    try:
        with urllib.request.urlopen(f"{url}/signin", timeout=2) as answer:  # loopback only
            return answer.status == 200 or None
    except OSError:
        return None


@dataclass
class Story:
    """The steps, played in order against `client`; `say` prints each line."""

    client: Client
    kubeconfig: Path
    workdir: Path
    dashboard_port: int
    say: Callable[[str], None]
    prometheus_url: str = ""  # showback reads GPU utilisation from it ("": not measured)
    examples: Path = EXAMPLES
    timeout: float = 120.0
    done: list[str] = field(default_factory=list)
    operator: OperatorChild | None = None
    repo: GitRepo | None = None
    first: str = ""  # the first commit

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def step(self, title: str, probe: Callable[[], T | None], timeout: float | None = None
             ) -> T:
        """Wait until `probe` holds and print the step as done with what it returned."""
        self.say(f"  … {title}")
        try:
            result = wait_for(probe, title, timeout or self.timeout, 0.5)
        except TimeoutError:
            where = f"; the operator's log: {self.operator.log}" if self.operator else ""
            raise StoryError(f"step not done in time: {title}{where}") from None
        self.done.append(title)
        self.say(f"  ✓ {title}" + (f": {result}" if isinstance(result, str) else ""))
        return result

    # --- the cluster's objects ---------------------------------------------------------

    def _apply(self, obj: dict[str, Any]) -> None:
        """Server-side apply as the demo (kinds of CRDs found by discovery)."""
        meta = obj["metadata"]
        cls = Cluster(self.client).resource(obj["apiVersion"], obj["kind"])
        try:
            self.client.patch(cls, meta["name"], obj, namespace=meta.get("namespace") or None,
                              patch_type=PatchType.APPLY, field_manager=FIELD_MANAGER, force=True)
        except ApiError as err:
            raise StoryError(f"{obj['kind']}/{meta['name']}: {err.status.message}") from None

    def _app(self, ns: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.get(ApplicationRes, TEAMS[ns], namespace=ns))
        except ApiError:
            return None

    def _workloads(self, ns: str) -> list[dict[str, Any]]:
        return [dict(w) for w in self.client.list(WorkloadRes, namespace=ns)]

    def _queue(self, name: str) -> dict[str, Any]:
        return dict(self.client.get(ClusterQueueRes, name))

    def _synced(self, ns: str, revision: str) -> str | None:
        return checks.synced_at(self._app(ns), revision)

    def token(self, namespace: str, name: str, hours: int = 24) -> str:
        spec = TokenRequestSpec(audiences=[], expirationSeconds=hours * 3600)
        answer = self.client.create(ServiceAccount.Token(metadata=ObjectMeta(), spec=spec),
                                    name, namespace=namespace)
        return str(answer.status.token) if answer.status else ""

    # --- the story ---------------------------------------------------------------------

    def setup(self) -> None:
        self.say("The platform team sets up the cluster (examples/platform/cluster/):")
        crds = [documents(p)[0] for p in sorted((DEPLOY / "crds").glob("*.yaml"))]
        install_crds(self.client, crds, timeout=self.timeout)
        for obj in platform_objects(self.examples):
            self._apply(obj)
        self.done.append("platform objects applied")
        self.say("  ✓ teams team-a and team-b with Projects, GPU queues in cohort `platform`, "
                 "guardrail platform-pinned-images, H100 prices, daily GPU-hour Budgets, "
                 "dashboard RBAC")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.repo = GitRepo(self.workdir / "repo", self.examples / "repo")
        first = self.repo.commit("team-a web 1.4.2 and team-b api 2.0.1")
        for ns, app in TEAMS.items():
            self._apply({"apiVersion": "delivery.quarterdeck.dev/v1alpha1", "kind": "Source",
                         "metadata": {"name": "apps", "namespace": ns},
                         "spec": {"url": self.repo.url, "ref": {"branch": "main"},
                                  "interval": "3s"}})
            self._apply({"apiVersion": "delivery.quarterdeck.dev/v1alpha1",
                         "kind": "Application", "metadata": {"name": app, "namespace": ns},
                         "spec": {"sourceRef": {"name": "apps"}, "path": f"{ns}/{app}",
                                  "project": ns, "interval": "1m", "timeout": "60s"}})
        self.operator = OperatorChild(self.kubeconfig, self.workdir, self.dashboard_port,
                                      self.prometheus_url)
        self.operator.start()
        self.step("the operator runs, with the dashboard",
                  lambda: (self.operator is not None and self.operator.alive()
                           and _serving(self.url) and self.url))
        self.first = first

    def delivery(self) -> None:
        assert self.repo is not None
        self.say("Delivery: the teams' apps come from Git (a local repository of "
                 "examples/platform/repo/):")
        for ns in TEAMS:
            self.step(f"{ns}'s app synced from Git", partial(self._synced, ns, self.first))
        bad = self.repo.commit("web: follow the latest image", (
            "team-a/web/deployment.yaml", "web:1.4.2", "web:latest"))
        self.step("a commit breaking the guardrail is refused",
                  lambda: checks.refused(self._app("team-a"), bad))
        image = self.client.get(Deployment, "web", namespace="team-a")
        running = image.spec.template.spec.containers[0].image if image.spec and \
            image.spec.template.spec else "?"
        self.say(f"    team-a/web still runs {running}")
        fixed = self.repo.commit("web: pin 1.4.3", (
            "team-a/web/deployment.yaml", "web:latest", "web:1.4.3"))
        self.step("the fixed commit syncs", lambda: checks.synced_at(self._app("team-a"), fixed))
        self.client.patch(ConfigMap, "web-config", {"data": {"log-level": "debug"}},
                          namespace="team-a", patch_type=PatchType.MERGE,
                          field_manager="kubectl-edit")
        self.say("    `kubectl edit configmap web-config` in team-a: log-level=debug")
        self.step("the out-of-band edit is taken back (self-heal)",
                  lambda: checks.field_is(self.client.get(ConfigMap, "web-config",
                                                          namespace="team-a").to_dict(),
                                          "log-level", "info"))

    def queueing(self) -> None:
        self.say("Queueing: 8 GPUs of quota per team, 16 H100s in the cohort:")
        jobs = self.examples / "jobs"
        for name in ("team-a-train-1", "team-a-train-2"):
            self._apply(documents(jobs / f"{name}.yaml")[0])
        self.step("team-a's two 8-GPU Jobs run, one on team-b's idle quota",
                  lambda: checks.borrowing_story(self._queue("team-a"),
                                                 self._workloads("team-a")))
        self._apply(documents(jobs / "team-b-finetune.yaml")[0])
        self.step("team-b's Job reclaims its quota",
                  lambda: checks.reclaim_story(self._queue("team-a"), self._workloads("team-a"),
                                               self._workloads("team-b")))

    def showback(self) -> dict[str, Any]:
        self.say("Showback: GPU-hours and cost per team today (Pricing/default: H100 $2.50/h):")

        measured = bool(self.prometheus_url)

        def costs() -> dict[str, Any] | None:
            records = [r.to_dict() for r in self.client.list(UsageRecordResource)]  # type: ignore[no-untyped-call]
            pricing = [p.to_dict() for p in self.client.list(PricingResource)]  # type: ignore[no-untyped-call]
            out = team_costs(records, pricing, time.time(), set(TEAMS))
            return out if checks.costs_story(out, set(TEAMS), measured) else None

        title = ("each team's GPU time is recorded, measured (Prometheus) and priced"
                 if measured else "each team's GPU time is recorded and priced")
        out = self.step(title, costs)
        self.say(f"    today so far: {out['total']['gpuHours']:.3f} GPU-h, "
                 f"{out['currency']} {out['total']['gpuCost']}")
        for row in out["teams"]:
            self.say(f"    {row['team']}: {row['gpuHours']:.3f} GPU-h, "
                     f"{out['currency']} {row['gpuCost']} (idle {row['idleHours']:.3f} h, "
                     f"not measured {row['unmeasuredHours']:.3f} h)")

        def budgets() -> str | None:
            found = {str(b["metadata"]["name"]): b for b in
                     (dict(o) for o in self.client.list(BudgetResource))}
            return checks.budgets_story([found.get(ns) for ns in TEAMS], measured)

        self.step("each team's Budget is evaluated", budgets)
        return out

    def reset(self) -> None:
        """Take away the Jobs of a previous run (and wait for their pods), so that the
        queueing steps start from idle GPUs again."""
        for ns in TEAMS:
            for job in self._jobs(ns):
                with contextlib.suppress(ApiError):
                    self.client.delete(Job, job, namespace=ns, cascade=CascadeType.FOREGROUND)
        wait_for(lambda: not any(self._pods(ns) for ns in TEAMS if self._exists(ns)),
                 "the previous run's GPU pods to go", self.timeout, 0.5)

    def _exists(self, ns: str) -> bool:
        try:
            self.client.get(Namespace, ns)
        except ApiError:
            return False
        return True

    def _jobs(self, ns: str) -> list[str]:
        if not self._exists(ns):
            return []
        return [j.metadata.name for j in self.client.list(Job, namespace=ns)
                if j.metadata is not None and j.metadata.name]

    def _pods(self, ns: str) -> list[str]:
        """The pods of Jobs (the GPU pods) in `ns`."""
        return [p.metadata.name for p in self.client.list(Pod, namespace=ns)
                if p.metadata is not None and p.metadata.name
                and any(o.kind == "Job" for o in p.metadata.ownerReferences or [])]

    def clean(self) -> None:
        """Remove what the story made: the Jobs (their pods first), the namespaces, and
        the cluster-scoped platform objects and UsageRecords of the teams."""
        self.reset()
        objs = platform_objects(self.examples)
        for obj in reversed(objs):
            meta = obj["metadata"]
            if meta.get("namespace") and obj["kind"] != "Namespace":
                continue  # goes with its namespace
            cls = Cluster(self.client).resource(obj["apiVersion"], obj["kind"])
            with contextlib.suppress(ApiError):
                self.client.delete(cls, meta["name"], namespace=meta.get("namespace") or None)
        for record in self.client.list(UsageRecordResource):
            obj = dict(record)
            if (obj.get("spec") or {}).get("namespace") in TEAMS:
                with contextlib.suppress(ApiError):
                    self.client.delete(UsageRecordResource, obj["metadata"]["name"])

    def play(self) -> None:
        self.reset()
        self.setup()
        self.delivery()
        self.queueing()
        self.showback()

    def guide(self) -> str:
        """What to open and with which token, once the story is done."""
        admin, viewer = self.token("platform", "admin"), self.token("team-a", "viewer")
        return "\n".join([
            f"Every step is done ({len(self.done)}). Open the dashboard: {self.url}",
            "  sign in as the platform team (everything):",
            f"    {admin}",
            "  or as team-a's viewer (team-a only; team-b's URLs answer 403):",
            f"    {viewer}",
            f"  pages: {self.url}/applications/team-a/web  {self.url}/queues  "
            f"{self.url}/gpus  {self.url}/showback",
            f"  terminal: export KUBECONFIG={self.kubeconfig}; qd get apps -A; "
            "qd queue list; qd showback",
        ])

    def stop(self) -> int | None:
        return self.operator.stop() if self.operator is not None else None
