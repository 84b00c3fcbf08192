"""Which check applies at which level and policy version, and how results read.

Each check has one or more rule versions, each in force from a minimum policy
version until the next; a restricted check may replace (override) a baseline check
from its own minimum version on. The restricted level is every baseline check not
overridden, plus the restricted checks. Checks run in the order of their ids,
baseline first, and the forbidden results are joined as Kubernetes joins them:
`reason (detail), reason (detail)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from quarterdeck.policy.pss import checks as c
from quarterdeck.policy.pss.versions import Level, LevelVersion


@dataclass(frozen=True, slots=True)
class Rule:
    since: int  # minimum minor version (v1.<since>)
    check: c.CheckFn
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    level: Level
    rules: tuple[Rule, ...]
    fields: str = ""  # what it looks at, for `qd policy list`


CHECKS: tuple[Check, ...] = (
    Check("appArmorProfile", "baseline", (Rule(0, c.app_armor),),
          "appArmorProfile.type and the container.apparmor annotations"),
    Check("capabilities_baseline", "baseline", (Rule(0, c.capabilities_baseline),),
          "capabilities.add beyond the default set"),
    Check("hostNamespaces", "baseline", (Rule(0, c.host_namespaces),),
          "hostNetwork, hostPID, hostIPC"),
    Check("hostPathVolumes", "baseline", (Rule(0, c.host_path_volumes),), "hostPath volumes"),
    Check("hostPorts", "baseline", (Rule(0, c.host_ports),), "ports[*].hostPort"),
    Check("hostProbesAndHostLifecycle", "baseline", (Rule(34, c.host_probes_and_lifecycle),),
          "host in probes and lifecycle handlers (v1.34+)"),
    Check("privileged", "baseline", (Rule(0, c.privileged),), "securityContext.privileged"),
    Check("procMount", "baseline",
          (Rule(0, c.proc_mount), Rule(35, c.proc_mount_user_namespaces)),
          "procMount (any value with hostUsers: false from v1.35)"),
    Check("seLinuxOptions", "baseline",
          (Rule(0, c._selinux(c.SELINUX_TYPES_1_0)), Rule(31, c._selinux(c.SELINUX_TYPES_1_31))),
          "seLinuxOptions type, user, role (container_engine_t from v1.31)"),
    Check("seccompProfile_baseline", "baseline",
          (Rule(0, c.seccomp_annotations), Rule(19, c.seccomp_baseline)),
          "seccomp annotations (before v1.19), seccompProfile.type not Unconfined"),
    Check("sysctls", "baseline",
          tuple(Rule(v, c._sysctls(s)) for v, s in (
              (0, c.SYSCTLS_1_0), (27, c.SYSCTLS_1_27), (29, c.SYSCTLS_1_29),
              (32, c.SYSCTLS_1_32), (37, c.SYSCTLS_1_37))),
          "sysctls outside the safe set of the version"),
    Check("windowsHostProcess", "baseline", (Rule(0, c.windows_host_process),),
          "windowsOptions.hostProcess"),
    Check("allowPrivilegeEscalation", "restricted",
          (Rule(8, c.allow_privilege_escalation),
           Rule(25, c._not_windows(c.allow_privilege_escalation))),
          "allowPrivilegeEscalation: false (Windows pods exempt from v1.25)"),
    Check("capabilities_restricted", "restricted",
          (Rule(22, c.capabilities_restricted, ("capabilities_baseline",)),
           Rule(25, c._not_windows(c.capabilities_restricted), ("capabilities_baseline",))),
          "drop ALL, add at most NET_BIND_SERVICE (v1.22+)"),
    Check("procMount_restricted", "restricted",
          (Rule(35, c.proc_mount, ("procMount",)),), "procMount Default even with hostUsers"),
    Check("restrictedVolumes", "restricted",
          (Rule(0, c.restricted_volumes, ("hostPathVolumes",)),), "volume types"),
    Check("runAsNonRoot", "restricted",
          (Rule(0, c.run_as_non_root), Rule(35, c._not_user_namespace(c.run_as_non_root))),
          "runAsNonRoot: true"),
    Check("runAsUser", "restricted",
          (Rule(23, c.run_as_user), Rule(35, c._not_user_namespace(c.run_as_user))),
          "runAsUser not 0 (v1.23+)"),
    Check("seccompProfile_restricted", "restricted",
          (Rule(19, c.seccomp_restricted, ("seccompProfile_baseline",)),
           Rule(25, c._not_windows(c.seccomp_restricted), ("seccompProfile_baseline",))),
          "seccompProfile RuntimeDefault or Localhost (v1.19+)"),
)


def _rule_at(check: Check, minor: int) -> Rule | None:
    found = None
    for rule in check.rules:
        if rule.since <= minor:
            found = rule
    return found


@cache
def checks_for(level: Level, minor: int) -> tuple[tuple[str, c.CheckFn], ...]:
    """(id, function) of every check in force at `level` and policy version v1.`minor`."""
    if level == "privileged":
        return ()
    active: dict[str, Rule] = {}
    for check in CHECKS:
        if check.level == "baseline" or level == "restricted":
            rule = _rule_at(check, minor)
            if rule is not None:
                active[check.id] = rule
    overridden = {o for rule in active.values() for o in rule.overrides}
    order = [x.id for x in sorted((x for x in CHECKS if x.level == "baseline"), key=_id)]
    order += [x.id for x in sorted((x for x in CHECKS if x.level == "restricted"), key=_id)]
    return tuple((i, active[i].check) for i in order if i in active and i not in overridden)


def _id(check: Check) -> str:
    return check.id


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one level:version for one pod: allowed, or why not."""

    policy: LevelVersion
    #: (check id, reason, detail) of every check that forbids the pod, in check order
    forbidden: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.forbidden

    def reason(self) -> str:
        return ", ".join(r for _, r, _ in self.forbidden)

    def detail(self) -> str:
        """`reason (detail), reason (detail)`, as the API server prints it."""
        return ", ".join(f"{r} ({d})" if d else r for _, r, d in self.forbidden)


def decide(policy: LevelVersion, meta: c.Obj, spec: c.Obj, cap: int | None = None,
           memo: dict[c.CheckFn, c.Finding] | None = None) -> Decision:
    """Judge one pod (metadata and spec) at `policy`; `cap` is the API server's minor
    version when predicting a cluster (it knows no rules newer than itself). `memo`
    (one dict per pod) keeps each check's result, so judging the same pod at several
    levels and versions runs each rule function once."""
    found = []
    for check_id, check in checks_for(policy.level, policy.version.effective(cap)):
        if memo is None:
            result = check(meta, spec)
        elif check in memo:
            result = memo[check]
        else:
            result = memo[check] = check(meta, spec)
        if result is not None:
            found.append((check_id, result[0] or "unknown forbidden reason", result[1]))
    return Decision(policy, found)
