"""The Elastic Grid policy as a rollcall plugin, in Python: the module
componentize-py builds (``scripts/plugins``). ``settings`` reads the
operator's settings, ``policy`` holds the rules and their reasons, and this
file binds both to the ``rollcall:policy`` world through the SDK."""

from rollcall_policy import export_policy

import policy
from settings import Settings


class ElasticGrid:
    """The policy, configured."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @classmethod
    def configure(cls, settings: dict) -> "ElasticGrid":
        return cls(Settings.from_dict(settings))

    def decide(self, fleet, answer) -> None:
        policy.decide(self.settings, fleet, answer)


WitWorld = export_policy(ElasticGrid, name="elastic-grid")
