"""The Elastic Grid policy's settings: the JSON document the operator passes
to ``configure``, read and checked as the Rust policy does
(``plugins/elastic-grid/src/settings.rs``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from rollcall_policy import AddressKind, PolicyError, quote, read_settings

POLICY = "elastic-grid"

#: The labels every member gets: its availability zone and instance type.
ZONE_LABEL = "zone"
INSTANCE_TYPE_LABEL = "instance_type"
#: The labels a member may carry (the host's limit); ``zone`` and
#: ``instance_type`` take two of them.
LABELS_PER_MEMBER = 16
#: The longest label name (the host's limit).
LABEL_NAME_BYTES = 64


@dataclass(frozen=True)
class Settings:
    """Every setting is optional; the defaults reproduce the original
    Elastic Grid."""

    #: Security group (name or id) whose instances are monitors.
    monitor_group: str = "eg-monitor"
    #: Security group (name or id) whose instances are agents.
    agent_group: str = "eg-cybernode"
    #: Groups whose name starts with this prefix name clusters; ``None``
    #: turns clustering off.
    cluster_group_prefix: Optional[str] = None
    #: Which address goes into each member's ``address``.
    address: AddressKind = AddressKind.PRIVATE_IP
    #: Port put on every monitor member.
    monitor_port: Optional[int] = None
    #: Port put on every agent member.
    agent_port: Optional[int] = None
    #: Tags every member must carry, key to value; ``"*"`` takes any value.
    require_tags: dict[str, str] = field(default_factory=dict)
    #: The AWS accounts (12 digits each) whose security groups count as the
    #: monitor, agent and cluster groups; a group of unknown owner counts as
    #: its instance's account's. ``None``: every account's.
    accounts: Optional[tuple[str, ...]] = None
    #: Tags whose value becomes a member's label of the same name, when the
    #: instance carries the tag (beside ``zone`` and ``instance_type``, which
    #: every member gets). Each key must be a label name (:func:`is_label_name`).
    labels_from_tags: tuple[str, ...] = ()

    def counts_account(self, account: str) -> bool:
        """Whether ``accounts`` counts the groups of ``account``: every
        account does when the setting is absent."""
        return self.accounts is None or account in self.accounts

    @classmethod
    def from_json(cls, document: str) -> "Settings":
        """Parses and checks the settings; the error is meant for the
        operator."""
        return cls.from_dict(read_settings(POLICY, document))

    @classmethod
    def from_dict(cls, settings: dict) -> "Settings":
        """Checks settings already read from JSON."""
        known = cls.__dataclass_fields__
        for key in settings:
            if key not in known:
                expected = ", ".join(f"`{name}`" for name in known)
                _invalid(f"unknown field `{key}`, expected one of {expected}")
        values = {}
        for key in ("monitor_group", "agent_group"):
            if key in settings:
                values[key] = _string(settings, key)
                if not values[key]:
                    _invalid(f"`{key}` is empty")
        prefix = settings.get("cluster_group_prefix")
        if prefix is not None:
            values["cluster_group_prefix"] = _string(settings, "cluster_group_prefix")
            if not prefix:
                _invalid("`cluster_group_prefix` is empty (leave it out to turn clustering off)")
        if "address" in settings:
            try:
                values["address"] = AddressKind.parse(_string(settings, "address"))
            except ValueError as err:
                _invalid(str(err))
        for key in ("monitor_port", "agent_port"):
            if settings.get(key) is not None:
                values[key] = _port(settings, key)
        tags = settings.get("require_tags")
        if tags is not None:
            if not isinstance(tags, dict):
                _invalid("`require_tags` must be an object of tag key to value")
            for key, value in tags.items():
                if not key:
                    _invalid("`require_tags` names an empty tag key")
                if not isinstance(value, str):
                    _invalid(f"`require_tags.{key}` must be a string (\"*\" for any value)")
            values["require_tags"] = dict(sorted(tags.items()))
        accounts = settings.get("accounts")
        if accounts is not None:
            if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
                _invalid("`accounts` must be a list of AWS account ids")
            if not accounts:
                _invalid("`accounts` is empty (leave it out to count every account's groups)")
            for account in accounts:
                if not _is_account_id(account):
                    _invalid(
                        f"`accounts` holds {quote(account)}, "
                        "which is not an AWS account id (12 digits)"
                    )
            values["accounts"] = tuple(accounts)
        tags = settings.get("labels_from_tags")
        if tags is not None:
            values["labels_from_tags"] = _labels_from_tags(tags)
        return cls(**values)


def _labels_from_tags(tags) -> tuple[str, ...]:
    """The ``labels_from_tags`` setting, checked as the Rust policy checks
    it."""
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        _invalid("`labels_from_tags` must be a list of tag keys")
    most = LABELS_PER_MEMBER - 2
    if len(tags) > most:
        _invalid(
            f"`labels_from_tags` names {len(tags)} tags, more than {most} "
            f"(a member carries at most {LABELS_PER_MEMBER} labels, "
            f"{ZONE_LABEL} and {INSTANCE_TYPE_LABEL} among them)"
        )
    for at, tag in enumerate(tags):
        if not is_label_name(tag):
            _invalid(
                f"`labels_from_tags` names the tag {quote(tag)}, whose key is no label name "
                f"(1 to {LABEL_NAME_BYTES} bytes of ASCII letters, digits and _, "
                "not starting with a digit or __)"
            )
        if tag in (ZONE_LABEL, INSTANCE_TYPE_LABEL):
            _invalid(f"`labels_from_tags` names the tag {quote(tag)}, a label {POLICY} sets itself")
        if tag in tags[:at]:
            _invalid(f"`labels_from_tags` names the tag {quote(tag)} twice")
    return tuple(tags)


def is_label_name(name: str) -> bool:
    """Whether ``name`` is a label name as the host takes it:
    ``[a-zA-Z_][a-zA-Z0-9_]*``, 1 to 64 bytes, not starting with ``__``."""
    return (
        0 < len(name) <= LABEL_NAME_BYTES
        and name.isascii()
        and (name[0].isalpha() or name[0] == "_")
        and not name.startswith("__")
        and all(char.isalnum() or char == "_" for char in name)
    )


def _is_account_id(text: str) -> bool:
    """Whether ``text`` is an AWS account id: 12 decimal digits."""
    return len(text) == 12 and all("0" <= char <= "9" for char in text)


def _invalid(message: str):
    raise PolicyError(f"invalid {POLICY} settings: {message}")


def _string(settings: dict, key: str) -> str:
    value = settings[key]
    if not isinstance(value, str):
        _invalid(f"`{key}` must be a string, not {value!r}")
    return value


def _port(settings: dict, key: str) -> int:
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        _invalid(f"`{key}` must be a port number from 0 to 65535, not {value!r}")
    return value
