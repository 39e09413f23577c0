"""The Elastic Grid rules as a pure function of settings and fleet, with the
reasons ``rollcall explain`` shows: the Rust policy
(``plugins/elastic-grid/src/policy.rs``) written again in Python, rule for
rule and reason for reason.

- Only ``running`` instances are members; self is evaluated whatever its
  state (at boot EC2 may still report it ``pending``).
- With ``require_tags``, an instance must carry every tag named there (with
  the value given, or any value for ``"*"``) to be a member at all.
- Role: ``monitor`` if in the monitor group (even if also in the agent
  group), else ``agent`` if in the agent group, else no role.
- Clusters: with a prefix, every group whose name starts with it, prefix
  stripped, sorted.
- With ``accounts``, only groups owned by one of those accounts count as the
  monitor, agent and cluster groups; a group whose owner is unknown counts
  as owned by its instance's account.
- A monitor registers with every other monitor, an agent with every monitor,
  an instance without a role with nobody. With clustering on, only with
  monitors that share a cluster with self (two instances without any cluster
  count as sharing). Monitors without an address of the chosen kind stay
  members but are no registration target; so do monitors that do not serve
  (leaving, or held out of service by Auto Scaling: ``Instance.serves``).
- Labels: every member gets ``zone`` (its availability zone) and
  ``instance_type`` when the fleet knows them, and, for each tag
  ``labels_from_tags`` names that the instance carries, a label of the tag's
  key with the tag's value."""

from __future__ import annotations

from typing import Iterable, Optional

from rollcall_policy import Answer, Fleet, Instance, Member, SecurityGroup
from rollcall_policy import quote, share_a_cluster, shared_clusters

from settings import INSTANCE_TYPE_LABEL, ZONE_LABEL, Settings

MONITOR = "monitor"
AGENT = "agent"


def decide(settings: Settings, fleet: Fleet, answer: Answer) -> None:
    """Decides members and self's registration targets into ``answer``, with
    the reasons when the operator asked to explain an instance.

    It works over the fleet's columns by index: each combination of
    security groups (with, under ``accounts``, whether the instance's
    account is listed) is classified once, each combination of labels made
    once, and an :class:`Instance` is made only for the instance the
    operator asked about."""
    monitors, agents, clusters_of = _group_meanings(settings, fleet, answer)
    monitor = answer.role(MONITOR)
    agent = answer.role(AGENT)
    columns = fleet.columns
    explained = fleet.explain_index
    own = fleet.self_index
    candidates = fleet.candidate_indices()
    if explained is not None and columns.states[explained] != "running" and explained != own:
        instance = fleet.instance(explained)
        answer.note(
            instance,
            f"not a member: it is {instance.state_name} "
            "(only running instances, and self, are members)",
        )
    runs = fleet.security_group_runs()
    addresses = settings.address.of_each(fleet)
    required = [
        (key, wanted, fleet.tag_values(key)) for key, wanted in settings.require_tags.items()
    ]
    from_tags = [(key, fleet.tag_values(key)) for key in settings.labels_from_tags]
    zones = fleet.optional_texts(columns.availability_zones)
    kinds = fleet.optional_texts(columns.instance_types)
    listed = _listed_instances(settings, fleet)
    groups = fleet.security_groups
    meanings = {}
    label_sets = {}
    # The monitors among the members, in member order: (index, clusters,
    # address).
    found = []
    own_clusters = None
    for index in candidates:
        if required:
            missing = _missing(required, index)
            if missing is not None:
                if index == explained:
                    answer.note(index, f"not a member: {missing}")
                continue
        key = runs[index] if listed is None else (runs[index], listed[index])
        meaning = meanings.get(key)
        if meaning is None:
            meaning = meanings[key] = _meaning(
                settings, groups, runs[index], listed is None or listed[index],
                monitors, agents, clusters_of, monitor, agent,
            )
        if not meaning:
            if index == explained:
                _explain_no_role(settings, fleet.instance(index), answer)
            continue
        role, port, clusters, in_both_groups = meaning
        if index == explained:
            _explain_member(settings, fleet.instance(index), answer, in_both_groups, list(clusters))
        labels_key = (zones[index], kinds[index], *(values[index] for _, values in from_tags))
        labels = label_sets.get(labels_key)
        if labels is None:
            labels = label_sets[labels_key] = _labels(answer, labels_key, from_tags)
        address = addresses[index]
        answer.add_member(index, role, clusters, address, port, labels)
        if role == monitor:
            found.append((index, clusters, address))
        if index == own:
            own_clusters = clusters
    _register(settings, fleet, answer, found, own_clusters)


def _listed_instances(settings: Settings, fleet: Fleet) -> Optional[list[bool]]:
    """Whether ``accounts`` lists each instance's account (a group of
    unknown owner counts as its instance's account's); ``None`` when every
    account counts."""
    if settings.accounts is None:
        return None
    accounts = fleet.optional_texts(fleet.columns.accounts)
    verdicts = {
        account: account is not None and settings.counts_account(account)
        for account in set(accounts)
    }
    return list(map(verdicts.__getitem__, accounts))


def _meaning(
    settings: Settings,
    groups: list[SecurityGroup],
    run: tuple[int, ...],
    instance_listed: bool,
    monitors: set[int],
    agents: set[int],
    clusters_of: dict[int, int],
    monitor: int,
    agent: int,
):
    """What an instance in the groups ``run`` is: ``(role, port, clusters,
    in both role groups)``, or ``False`` for no role."""
    if settings.accounts is not None:
        run = [
            group
            for group in run
            if (
                settings.counts_account(groups[group].owner)
                if groups[group].owner is not None
                else instance_listed
            )
        ]
    is_monitor = any(group in monitors for group in run)
    is_agent = any(group in agents for group in run)
    if not is_monitor and not is_agent:
        return False
    role, port = (monitor, settings.monitor_port) if is_monitor else (agent, settings.agent_port)
    # Cluster ids were handed out in name order: sorting them sorts the
    # names.
    clusters = tuple(sorted({clusters_of[group] for group in run if group in clusters_of}))
    return role, port, clusters, is_monitor and is_agent


def _missing(required: list, index: int) -> Optional[str]:
    """Why the instance at ``index`` fails ``require_tags``, if it does,
    from the tags' columns."""
    for key, wanted, values in required:
        value = values[index]
        if value is None:
            return f"it lacks the tag {key}, which require_tags requires"
        if wanted != "*" and value != wanted:
            return f"its tag {key} is {quote(value)}, and require_tags requires {quote(wanted)}"
    return None


def _explain_no_role(settings: Settings, instance: Instance, answer: Answer) -> None:
    """Why an instance has no role."""
    unlisted = _unlisted_groups(settings, instance)
    answer.note(
        instance,
        f"no role: {unlisted}"
        if unlisted
        else f"no role: in neither the monitor group {settings.monitor_group} "
        f"nor the agent group {settings.agent_group}",
    )


def _group_meanings(settings: Settings, fleet: Fleet, answer: Answer):
    """Classifies every security group of the fleet once: the monitor
    groups, the agent groups, and each cluster group's cluster, named in
    name order so that cluster ids sort as their names do."""
    groups = fleet.security_groups
    monitors = {group.index for group in groups if _is(group, settings.monitor_group)}
    agents = {group.index for group in groups if _is(group, settings.agent_group)}
    clusters_of = {}
    prefix = settings.cluster_group_prefix
    if prefix is not None:
        named = sorted(
            (group.name[len(prefix) :], group.index)
            for group in groups
            if group.name.startswith(prefix)
            and len(group.name) > len(prefix)
            and (group.owner is None or settings.counts_account(group.owner))
        )
        for name, group in named:
            clusters_of[group] = answer.cluster(name)
    return monitors, agents, clusters_of


def _labels(answer: Answer, values: tuple, from_tags: list) -> tuple:
    """A member's labels, from its zone, its instance type and the values
    of the tags ``labels_from_tags`` names (``None`` for a tag it does not
    carry): those tags it carries, its zone and its instance type."""
    zone, kind, *tags = values
    labels = [
        answer.label(key, value) for (key, _), value in zip(from_tags, tags) if value is not None
    ]
    if zone is not None:
        labels.append(answer.label(ZONE_LABEL, zone))
    if kind is not None:
        labels.append(answer.label(INSTANCE_TYPE_LABEL, kind))
    return tuple(labels)


def _missing_tag(settings: Settings, instance: Instance) -> Optional[str]:
    """Why ``instance`` fails ``require_tags``, if it does."""
    for key, wanted in settings.require_tags.items():
        value = instance.tag(key)
        if value is None:
            return f"it lacks the tag {key}, which require_tags requires"
        if wanted != "*" and value != wanted:
            return (
                f"its tag {key} is {quote(value)}, "
                f"and require_tags requires {quote(wanted)}"
            )
    return None


def _is(group: SecurityGroup, named: str) -> bool:
    """Whether ``group`` is the one a setting names, by name or by id."""
    return group.name == named or group.id == named


def _counts(settings: Settings, instance: Instance, group: SecurityGroup) -> bool:
    """Whether ``group`` counts for ``instance``: its owner (or, unknown,
    the instance's account) is an account ``accounts`` lists."""
    if settings.accounts is None:
        return True
    owner = group.owner if group.owner is not None else instance.account
    return owner is not None and settings.counts_account(owner)


def _register(
    settings: Settings, fleet: Fleet, answer: Answer, monitors: list, own_clusters
) -> None:
    """Self's registration targets: every other monitor (of ``monitors``,
    the monitor members in member order) with an address that shares a
    cluster with self (when clustering is on); with the reason for every
    monitor when the operator asked to explain self."""
    own = fleet.self_instance
    if own is None:
        return
    if own_clusters is None:
        answer.note(own, "self has no role, so it registers with nobody")
        return
    clustered = settings.cluster_group_prefix is not None
    for index, clusters, address in monitors:
        if (
            index != own.index
            and address is not None
            and fleet.instance(index).serves
            and (not clustered or share_a_cluster(own_clusters, clusters))
        ):
            answer.register_with(index)
    if answer.explains_targets:
        own_member = next(member for member in answer.members if member.instance == own.index)
        _explain_targets(settings, fleet, answer, own_member)


def _explain_member(
    settings: Settings,
    instance: Instance,
    answer: Answer,
    in_both_groups: bool,
    clusters: list[int],
) -> None:
    """The reasons for a member's role, clusters and address."""
    if settings.require_tags:
        answer.note(
            instance,
            "a member: it carries every tag require_tags requires "
            f"({_required_tags(settings)})",
        )
    monitor = _groups_named(settings, instance, settings.monitor_group)
    agent = _groups_named(settings, instance, settings.agent_group)
    if monitor and in_both_groups:
        role = (
            f"role monitor: in the monitor group {monitor}, "
            f"which wins over the agent group {agent} it is also in"
        )
    elif monitor:
        role = f"role monitor: in the monitor group {monitor}"
    else:
        role = f"role agent: in the agent group {agent}"
    answer.note(instance, role)
    prefix = settings.cluster_group_prefix
    if prefix is None:
        reason = "no clusters: clustering is off (no cluster_group_prefix)"
    elif not clusters:
        reason = f"no clusters: none of its groups' names starts with {prefix}"
    else:
        from_groups = _describe(
            group
            for group in instance.security_groups
            if len(group.name) > len(prefix)
            and group.name.startswith(prefix)
            and _counts(settings, instance, group)
        )
        reason = f"clusters {answer.cluster_names(clusters)}: from its groups {from_groups}"
    answer.note(instance, reason)
    unlisted = _unlisted_groups(settings, instance)
    if unlisted:
        answer.note(instance, f"not counted: {unlisted}")
    kind = settings.address
    address = kind.read(instance)
    if address is not None:
        answer.note(instance, f"address {address}: its {kind.value} address")
    else:
        answer.note(
            instance,
            f"no address: it has no {kind.value} address, so no one registers with it",
        )


def _explain_targets(settings: Settings, fleet: Fleet, answer: Answer, own: Member) -> None:
    """Why each instance of the monitor group is or is not self's
    registration target."""
    member_of = {member.instance: member for member in answer.members}
    taken = set(answer.targets)
    for candidate in fleet:
        if not any(_is(group, settings.monitor_group) for group in candidate.security_groups):
            continue
        member = member_of.get(candidate.index)
        missing = _missing_tag(settings, candidate)
        if candidate.is_self:
            reason = "not a target: it is self"
        elif not candidate.is_running:
            reason = f"not a target: it is {candidate.state_name}"
        elif not candidate.serves:
            reason = f"not a target: {candidate.unserving_reason}"
        elif missing is not None:
            reason = f"not a target: {missing}"
        elif not _groups_named(settings, candidate, settings.monitor_group):
            reason = f"not a target: {_unlisted_groups(settings, candidate)}"
        elif candidate.index in taken:
            if member is not None and settings.cluster_group_prefix is not None:
                reason = (
                    f"a target: a monitor in "
                    f"{_shared(answer, own.clusters, member.clusters)}, as self is"
                )
            else:
                reason = "a target: a monitor"
        elif member is not None and member.address is None:
            reason = f"not a target: it has no {settings.address.value} address"
        elif member is not None:
            reason = (
                f"not a target: its clusters ({answer.cluster_names(member.clusters)}) "
                f"share none with self's ({answer.cluster_names(own.clusters)})"
            )
        else:
            reason = "not a target: not a member"
        answer.note_target(candidate, reason)


def _required_tags(settings: Settings) -> str:
    """``key=value`` of each required tag, ``key`` alone for ``"*"``."""
    return ", ".join(
        key if value == "*" else f"{key}={value}" for key, value in settings.require_tags.items()
    )


def _groups_named(settings: Settings, instance: Instance, named: str) -> str:
    """The instance's groups a setting names and ``accounts`` counts,
    described."""
    return _describe(
        group
        for group in instance.security_groups
        if _is(group, named) and _counts(settings, instance, group)
    )


def _unlisted_groups(settings: Settings, instance: Instance) -> str:
    """The instance's monitor, agent and cluster groups that ``accounts``
    does not count, with their owners: ``its groups eg-monitor (sg-1) of
    account 222222222222 are of no account accounts lists``; empty when
    there are none."""
    prefix = settings.cluster_group_prefix
    described = []
    for group in instance.security_groups:
        meaningful = (
            _is(group, settings.monitor_group)
            or _is(group, settings.agent_group)
            or (
                prefix is not None
                and len(group.name) > len(prefix)
                and group.name.startswith(prefix)
            )
        )
        if not meaningful or _counts(settings, instance, group):
            continue
        owner = group.owner if group.owner is not None else instance.account
        whose = f"account {owner}" if owner is not None else "an unknown account"
        described.append(f"{group.name} ({group.id}) of {whose}")
    if not described:
        return ""
    return f"its groups {', '.join(described)} are of no account accounts lists"


def _describe(groups: Iterable[SecurityGroup]) -> str:
    """``name (id)`` of each group."""
    return ", ".join(f"{group.name} ({group.id})" for group in groups)


def _shared(answer: Answer, ours: list[int], theirs: list[int]) -> str:
    """The clusters two members share, described."""
    common = shared_clusters(ours, theirs)
    if not common:
        return "no cluster"
    word = "cluster" if len(common) == 1 else "clusters"
    return f"{word} {answer.cluster_names(common)}"
