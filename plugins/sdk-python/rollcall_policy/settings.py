"""Reading a policy's settings, the JSON document ``configure`` receives."""

from __future__ import annotations

import json


class PolicyError(Exception):
    """An error meant for the operator: its message crosses to the host as
    it is (any other exception's type is named too, and its traceback goes
    to the host's log)."""


def read_settings(policy: str, document: str) -> dict:
    """The settings of the policy named ``policy``: ``document`` must be a
    JSON object. The error starts with ``invalid {policy} settings:``."""
    try:
        settings = json.loads(document)
    except json.JSONDecodeError as err:
        raise PolicyError(f"invalid {policy} settings: not JSON: {err}") from None
    if not isinstance(settings, dict):
        raise PolicyError(f"invalid {policy} settings: expected a JSON object")
    return settings
