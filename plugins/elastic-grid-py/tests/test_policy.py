"""The Elastic Grid rules and reasons in Python, natively: the same cases as
the Rust policy's unit tests (``plugins/elastic-grid/src/policy.rs``)."""

import unittest

from rollcall_policy import InstanceRecord, PolicyError, resolve_records

import policy
from settings import Settings

MONITOR, AGENT = policy.MONITOR, policy.AGENT


def instance(id, state, groups, ip=None, tags=()):
    return InstanceRecord(
        id=id,
        state=state,
        private_ipv4=ip,
        public_ipv4=f"54.{ip}" if ip else None,
        private_dns_name=f"ip-{ip.replace('.', '-')}.ec2.internal" if ip else None,
        ipv6_addresses=[f"2600:1f18::{ip.replace('.', ':')}"] if ip else [],
        security_groups=[(f"sg-{name}", name) for name in groups],
        tags=list(tags),
        availability_zone="us-east-1a",
    )


def decided(settings, self_id, fleet, explain=None):
    return resolve_records(
        fleet, lambda fleet, answer: policy.decide(settings, fleet, answer), self_id, explain
    )


def roles(decision):
    return [(member["id"], member["role"]) for member in decision["members"]]


def notes_about(decision, id, topic="decision"):
    return [text for about, kind, text in decision["notes"] if about == id and kind == topic]


def seed_fleet():
    return [
        instance("i-2271a74b", "running", ["default", "eg-monitor", "elastic-grid"], "10.251.199.99"),
        instance("i-df71a7b6", "running", ["default", "elastic-grid", "eg-cybernode"], "10.251.199.131"),
    ]


def cluster_fleet():
    return [
        instance("i-mb", "running", ["eg-monitor", "cluster-blue"], "10.0.0.1"),
        instance("i-mg", "running", ["eg-monitor", "cluster-green"], "10.0.0.2"),
        instance("i-mbg", "running", ["cluster-green", "eg-monitor", "cluster-blue"], "10.0.0.3"),
        instance("i-m0", "running", ["eg-monitor"], "10.0.0.4"),
        instance("i-ab", "running", ["eg-cybernode", "cluster-blue"], "10.0.1.1"),
        instance("i-a0", "running", ["eg-cybernode"], "10.0.1.2"),
    ]


DEFAULT = Settings()
CLUSTERED = Settings(cluster_group_prefix="cluster-")

A, B = "111111111111", "222222222222"
ONLY_A = Settings(cluster_group_prefix="cluster-", accounts=(A,))


def owned(record, account, owner):
    """``record`` in ``account``, each of its groups owned by ``owner``
    (``None``: unknown), its group ids telling the owners' groups apart."""
    record.account = account
    record.security_groups = [
        (f"{id}-{owner or 'unknown'}", name, owner) for id, name in record.security_groups
    ]
    return record


def two_account_fleet():
    """Instances of accounts A and B, all in groups named ``eg-monitor``,
    ``eg-cybernode`` and ``cluster-blue``, owned by their own account, by
    the other or by nobody known."""

    def monitor(id, ip):
        return instance(id, "running", ["eg-monitor", "cluster-blue"], ip)

    mixed = owned(instance("i-b-mixed", "running", ["eg-monitor", "eg-cybernode"], "10.2.0.9"), B, B)
    # A's agent group, shared with B's instance (a shared VPC).
    mixed.security_groups[1] = ("sg-eg-cybernode-a", "eg-cybernode", A)
    return [
        owned(monitor("i-a-monitor", "10.1.0.1"), A, A),
        owned(monitor("i-b-monitor", "10.2.0.1"), B, B),
        owned(monitor("i-a-unknown", "10.1.0.2"), A, None),
        owned(monitor("i-b-unknown", "10.2.0.2"), B, None),
        owned(monitor("i-nobody", "10.3.0.1"), None, None),
        owned(instance("i-a-agent", "running", ["eg-cybernode", "cluster-blue"], "10.1.1.1"), A, A),
        mixed,
    ]


class Rules(unittest.TestCase):
    def test_the_seed_agent_registers_with_the_monitor(self):
        decision = decided(DEFAULT, "i-df71a7b6", seed_fleet())
        self.assertEqual(roles(decision), [("i-2271a74b", MONITOR), ("i-df71a7b6", AGENT)])
        self.assertEqual(decision["register_with"], ["i-2271a74b"])
        self.assertEqual(decision["members"][0]["address"], "10.251.199.99")
        self.assertEqual(decision["notes"], [], "no notes unless asked")

    def test_monitors_peer_with_every_other_monitor(self):
        fleet = seed_fleet() + [
            instance("i-m2", "running", ["eg-monitor"], "10.0.0.2"),
            instance("i-m3", "running", ["eg-monitor"], "10.0.0.3"),
        ]
        self.assertEqual(decided(DEFAULT, "i-m2", fleet)["register_with"], ["i-2271a74b", "i-m3"])

    def test_the_monitor_group_wins_over_the_agent_group(self):
        fleet = [instance("i-both", "running", ["eg-cybernode", "eg-monitor"], "10.0.0.1")]
        self.assertEqual(roles(decided(DEFAULT, None, fleet)), [("i-both", MONITOR)])

    def test_only_running_instances_are_members_but_self_counts_whatever_its_state(self):
        fleet = seed_fleet() + [
            instance("i-stopped", "stopped", ["eg-monitor"], "10.0.0.4"),
            instance("i-dead", "terminated", ["eg-monitor"]),
            instance("i-booting", "pending", ["eg-cybernode"], "10.0.0.5"),
        ]
        decision = decided(DEFAULT, "i-booting", fleet)
        self.assertEqual(
            roles(decision),
            [("i-2271a74b", MONITOR), ("i-df71a7b6", AGENT), ("i-booting", AGENT)],
        )
        self.assertEqual(decision["register_with"], ["i-2271a74b"])

    def test_groups_match_by_id_as_well_as_by_name(self):
        settings = Settings(monitor_group="sg-eg-monitor", agent_group="sg-eg-cybernode")
        decision = decided(settings, "i-df71a7b6", seed_fleet())
        self.assertEqual(roles(decision), [("i-2271a74b", MONITOR), ("i-df71a7b6", AGENT)])

    def test_clusters_scope_registration(self):
        fleet = cluster_fleet()
        agent = decided(CLUSTERED, "i-ab", fleet)
        self.assertEqual(agent["register_with"], ["i-mb", "i-mbg"])
        both = next(member for member in agent["members"] if member["id"] == "i-mbg")
        self.assertEqual(both["clusters"], ["blue", "green"], "sorted by name")
        self.assertEqual(decided(CLUSTERED, "i-mg", fleet)["register_with"], ["i-mbg"])
        self.assertEqual(decided(CLUSTERED, "i-a0", fleet)["register_with"], ["i-m0"])

    def test_a_group_named_just_the_prefix_is_no_cluster(self):
        fleet = [instance("i-m", "running", ["eg-monitor", "cluster-"], "10.0.0.1")]
        self.assertEqual(decided(CLUSTERED, None, fleet)["members"][0]["clusters"], [])

    def test_monitors_without_an_address_are_members_but_not_targets(self):
        fleet = seed_fleet() + [instance("i-noip", "running", ["eg-monitor"])]
        decision = decided(DEFAULT, "i-df71a7b6", fleet)
        self.assertIsNone(decision["members"][2]["address"])
        self.assertEqual(decision["register_with"], ["i-2271a74b"])

    def test_address_kind_and_ports_are_applied(self):
        settings = Settings.from_json(
            '{"address": "private-dns", "monitor_port": 7070, "agent_port": 7071}'
        )
        members = decided(settings, None, seed_fleet())["members"]
        self.assertEqual(members[0]["address"], "ip-10-251-199-99.ec2.internal")
        self.assertEqual((members[0]["port"], members[1]["port"]), (7070, 7071))
        for kind, expected in (("public-ip", "54.10.251.199.99"), ("ipv6", "2600:1f18::10:251:199:99")):
            settings = Settings.from_json(f'{{"address": "{kind}"}}')
            self.assertEqual(decided(settings, None, seed_fleet())["members"][0]["address"], expected)

    def test_require_tags_keeps_out_whoever_lacks_a_tag_or_its_value(self):
        fleet = [
            instance("i-blue-m", "running", ["eg-monitor"], "10.0.0.1", [("fleet", "blue"), ("owner", "ops")]),
            instance("i-green-m", "running", ["eg-monitor"], "10.0.0.2", [("fleet", "green"), ("owner", "ops")]),
            instance("i-blue-nobody", "running", ["eg-monitor"], "10.0.0.3", [("fleet", "blue")]),
            instance("i-blue-a", "running", ["eg-cybernode"], "10.0.1.1", [("fleet", "blue"), ("owner", "")]),
        ]
        settings = Settings.from_dict({"require_tags": {"fleet": "blue", "owner": "*"}})
        decision = decided(settings, "i-blue-a", fleet)
        self.assertEqual(roles(decision), [("i-blue-m", MONITOR), ("i-blue-a", AGENT)])
        self.assertEqual(decision["register_with"], ["i-blue-m"])
        self.assertEqual(decided(settings, "i-green-m", fleet)["register_with"], [])


class Labels(unittest.TestCase):
    def test_members_are_labelled_with_their_zone_type_and_the_tags_asked_for(self):
        settings = Settings(labels_from_tags=("team", "Name", "absent"))
        first = instance(
            "i-1", "running", ["eg-monitor"], "10.0.0.1",
            tags=[("team", "payments"), ("Name", "node-1"), ("other", "x")],
        )
        first.instance_type = "m1.small"
        second = instance("i-2", "running", ["eg-cybernode"], "10.0.0.2", tags=[("team", "")])
        bare = instance("i-3", "running", ["eg-cybernode"], "10.0.0.3")
        bare.availability_zone = None
        fleet = [first, second, bare]

        def labels(settings):
            return [member["labels"] for member in decided(settings, None, fleet)["members"]]

        self.assertEqual(
            labels(settings),
            [
                {"team": "payments", "Name": "node-1", "zone": "us-east-1a", "instance_type": "m1.small"},
                {"team": "", "zone": "us-east-1a"},
                {},
            ],
        )
        self.assertEqual(labels(Settings())[0], {"zone": "us-east-1a", "instance_type": "m1.small"})


class Reasons(unittest.TestCase):
    def test_an_explained_member_gets_its_role_clusters_and_address_in_words(self):
        decision = decided(CLUSTERED, "i-ab", cluster_fleet(), explain="i-mbg")
        self.assertEqual(
            notes_about(decision, "i-mbg"),
            [
                "role monitor: in the monitor group eg-monitor (sg-eg-monitor)",
                "clusters blue, green: from its groups cluster-green (sg-cluster-green), "
                "cluster-blue (sg-cluster-blue)",
                "address 10.0.0.3: its private-ip address",
            ],
        )
        self.assertTrue(all(topic == "decision" for _, topic, _ in decision["notes"]))

    def test_instances_that_are_no_members_say_why(self):
        fleet = seed_fleet() + [
            instance("i-stopped", "stopped", ["eg-monitor"], "10.0.0.4"),
            instance("i-web", "running", ["web"], "10.0.0.9"),
            instance("i-untagged", "running", ["eg-monitor"], "10.0.0.5", [("fleet", "green")]),
        ]
        settings = Settings.from_dict({"require_tags": {"fleet": "blue"}})

        def why(settings, id):
            return " | ".join(notes_about(decided(settings, None, fleet, explain=id), id))

        self.assertEqual(
            why(settings, "i-stopped"),
            "not a member: it is stopped (only running instances, and self, are members)",
        )
        self.assertEqual(
            why(settings, "i-web"),
            "not a member: it lacks the tag fleet, which require_tags requires",
        )
        self.assertEqual(
            why(settings, "i-untagged"),
            'not a member: its tag fleet is "green", and require_tags requires "blue"',
        )
        self.assertEqual(
            why(DEFAULT, "i-web"),
            "no role: in neither the monitor group eg-monitor nor the agent group eg-cybernode",
        )

    def test_explaining_self_says_why_each_monitor_is_a_target_or_not(self):
        fleet = cluster_fleet() + [
            instance("i-mstop", "stopped", ["eg-monitor", "cluster-blue"], "10.0.0.8"),
            instance("i-mnoip", "running", ["eg-monitor", "cluster-blue"]),
        ]
        decision = decided(CLUSTERED, "i-mb", fleet, explain="i-mb")
        targets = [(id, text) for id, topic, text in decision["notes"] if topic == "target"]
        self.assertEqual(
            targets,
            [
                ("i-mb", "not a target: it is self"),
                ("i-mg", "not a target: its clusters (green) share none with self's (blue)"),
                ("i-mbg", "a target: a monitor in cluster blue, as self is"),
                ("i-m0", "not a target: its clusters (none) share none with self's (blue)"),
                ("i-mstop", "not a target: it is stopped"),
                ("i-mnoip", "not a target: it has no private-ip address"),
            ],
        )
        self.assertEqual(decision["register_with"], ["i-mbg"])

    def test_monitors_that_do_not_serve_stay_members_but_are_no_targets(self):
        def monitor(id, ip, **living):
            record = instance(id, "running", ["eg-monitor"], ip)
            for field, value in living.items():
                setattr(record, field, value)
            return record

        fleet = [
            monitor("i-serving", "10.0.0.1"),
            monitor("i-standby", "10.0.0.2", lifecycle="standby"),
            monitor("i-draining", "10.0.0.3", lifecycle="terminating-wait"),
            monitor(
                "i-spot",
                "10.0.0.4",
                leaving_reason="spot-interruption",
                leaving_deadline="2026-12-07T10:00:00Z",
            ),
            instance("i-agent", "running", ["eg-cybernode"], "10.0.0.9"),
        ]
        decision = decided(DEFAULT, "i-agent", fleet, explain="i-agent")
        self.assertEqual(
            roles(decision),
            [
                ("i-serving", MONITOR),
                ("i-standby", MONITOR),
                ("i-draining", MONITOR),
                ("i-spot", MONITOR),
                ("i-agent", AGENT),
            ],
        )
        self.assertEqual(decision["register_with"], ["i-serving"])
        targets = [text for _, topic, text in decision["notes"] if topic == "target"]
        self.assertEqual(
            targets,
            [
                "a target: a monitor",
                "not a target: in Auto Scaling standby",
                "not a target: in Auto Scaling terminating-wait",
                "not a target: leaving (spot-interruption by 2026-12-07T10:00:00Z)",
            ],
        )

    def test_a_self_without_a_role_says_so(self):
        fleet = seed_fleet() + [instance("i-web", "running", ["web"], "10.0.0.9")]
        decision = decided(DEFAULT, "i-web", fleet, explain="i-web")
        self.assertEqual(
            notes_about(decision, "i-web"),
            [
                "no role: in neither the monitor group eg-monitor nor the agent group eg-cybernode",
                "self has no role, so it registers with nobody",
            ],
        )

    def test_with_accounts_only_their_groups_are_role_and_cluster_groups(self):
        fleet = two_account_fleet()
        decision = decided(ONLY_A, "i-a-agent", fleet)
        self.assertEqual(
            roles(decision),
            [
                ("i-a-monitor", MONITOR),
                ("i-a-unknown", MONITOR),
                ("i-a-agent", AGENT),
                ("i-b-mixed", AGENT),
            ],
        )
        self.assertEqual(
            [(member["id"], member["clusters"]) for member in decision["members"]],
            [
                ("i-a-monitor", ["blue"]),
                ("i-a-unknown", ["blue"]),
                ("i-a-agent", ["blue"]),
                ("i-b-mixed", []),
            ],
        )
        self.assertEqual(decision["register_with"], ["i-a-monitor", "i-a-unknown"])
        every = [record.id for record in fleet]
        members = lambda settings: [m["id"] for m in decided(settings, "i-a-agent", fleet)["members"]]
        self.assertEqual(members(CLUSTERED), every)
        both = Settings(cluster_group_prefix="cluster-", accounts=(B, A))
        self.assertEqual(members(both), [id for id in every if id != "i-nobody"])

    def test_an_unlisted_accounts_groups_are_said_to_count_for_nothing(self):
        fleet = two_account_fleet()

        def why(id):
            return " | ".join(notes_about(decided(ONLY_A, "i-a-agent", fleet, explain=id), id))

        self.assertEqual(
            why("i-b-monitor"),
            "no role: its groups eg-monitor (sg-eg-monitor-222222222222) of account "
            "222222222222, cluster-blue (sg-cluster-blue-222222222222) of account "
            "222222222222 are of no account accounts lists",
        )
        self.assertEqual(
            why("i-nobody"),
            "no role: its groups eg-monitor (sg-eg-monitor-unknown) of an unknown account, "
            "cluster-blue (sg-cluster-blue-unknown) of an unknown account are of no account "
            "accounts lists",
        )
        self.assertEqual(
            why("i-b-mixed"),
            "role agent: in the agent group eg-cybernode (sg-eg-cybernode-a) | "
            "no clusters: none of its groups' names starts with cluster- | "
            "not counted: its groups eg-monitor (sg-eg-monitor-222222222222) of account "
            "222222222222 are of no account accounts lists | "
            "address 10.2.0.9: its private-ip address",
        )
        targets = decided(ONLY_A, "i-a-agent", fleet, explain="i-a-agent")
        self.assertEqual(
            notes_about(targets, "i-b-unknown", "target"),
            [
                "not a target: its groups eg-monitor (sg-eg-monitor-unknown) of account "
                "222222222222, cluster-blue (sg-cluster-blue-unknown) of account 222222222222 "
                "are of no account accounts lists"
            ],
        )
        self.assertEqual(
            notes_about(targets, "i-a-unknown", "target"),
            ["a target: a monitor in cluster blue, as self is"],
        )


class SettingsTest(unittest.TestCase):
    def test_an_empty_document_gives_the_defaults(self):
        self.assertEqual(Settings.from_json("{}"), Settings())

    def test_every_setting_is_read(self):
        settings = Settings.from_json(
            '{"monitor_group": "sg-1", "agent_group": "workers", '
            '"cluster_group_prefix": "cluster-", "address": "public-dns", '
            '"monitor_port": 7070, "agent_port": 7071, '
            '"require_tags": {"owner": "*", "fleet": "blue"}, '
            '"accounts": ["111111111111", "222222222222"], '
            '"labels_from_tags": ["team", "Name"]}'
        )
        self.assertEqual(settings.monitor_group, "sg-1")
        self.assertEqual(settings.agent_group, "workers")
        self.assertEqual(settings.cluster_group_prefix, "cluster-")
        self.assertEqual(settings.address.value, "public-dns")
        self.assertEqual((settings.monitor_port, settings.agent_port), (7070, 7071))
        self.assertEqual(list(settings.require_tags.items()), [("fleet", "blue"), ("owner", "*")])
        self.assertEqual(settings.accounts, ("111111111111", "222222222222"))
        self.assertEqual(settings.labels_from_tags, ("team", "Name"))

    def test_labels_from_tags_must_name_tags_whose_keys_are_label_names_once(self):
        def err(tags):
            with self.assertRaises(PolicyError) as raised:
                Settings.from_json(f'{{"labels_from_tags": {tags}}}')
            return str(raised.exception)

        def no_label_name(shown):
            return (
                f"invalid elastic-grid settings: `labels_from_tags` names the tag {shown}, "
                "whose key is no label name (1 to 64 bytes of ASCII letters, digits and _, "
                "not starting with a digit or __)"
            )

        for bad in (
            '"cost-center"',
            '"aws:autoscaling:groupName"',
            '"9lives"',
            '"__meta"',
            '""',
            '"team name"',
            '"équipe"',
            '"' + "a" * 65 + '"',
        ):
            with self.subTest(bad=bad):
                self.assertEqual(err(f"[{bad}]"), no_label_name(bad))
        Settings.from_json('{"labels_from_tags": ["' + "a" * 64 + '", "_team", "Team_2"]}')
        self.assertEqual(
            err('["team", "zone"]'),
            'invalid elastic-grid settings: `labels_from_tags` names the tag "zone", '
            "a label elastic-grid sets itself",
        )
        self.assertIn("a label elastic-grid sets itself", err('["instance_type"]'))
        self.assertEqual(
            err('["team", "team"]'),
            'invalid elastic-grid settings: `labels_from_tags` names the tag "team" twice',
        )
        fifteen = [f'"t{n}"' for n in range(15)]
        self.assertEqual(
            err(f"[{','.join(fifteen)}]"),
            "invalid elastic-grid settings: `labels_from_tags` names 15 tags, more than 14 "
            "(a member carries at most 16 labels, zone and instance_type among them)",
        )
        Settings.from_json(f'{{"labels_from_tags": [{",".join(fifteen[:14])}]}}')
        self.assertIn("must be a list", err('"team"'))

    def test_accounts_must_be_account_ids_and_not_none(self):
        with self.assertRaisesRegex(
            PolicyError,
            r"^invalid elastic-grid settings: `accounts` is empty "
            r"\(leave it out to count every account's groups\)$",
        ):
            Settings.from_json('{"accounts": []}')
        for bad, shown in (
            ("12345678901", '"12345678901"'),
            ("1234567890123", '"1234567890123"'),
            ("12345678901a", '"12345678901a"'),
            ("", '""'),
        ):
            with self.subTest(bad=bad), self.assertRaises(PolicyError) as raised:
                Settings.from_json(f'{{"accounts": ["111111111111", "{bad}"]}}')
            self.assertEqual(
                str(raised.exception),
                f"invalid elastic-grid settings: `accounts` holds {shown}, "
                "which is not an AWS account id (12 digits)",
            )

    def test_without_accounts_every_account_counts(self):
        self.assertTrue(Settings().counts_account(B))
        one = Settings.from_json('{"accounts": ["111111111111"]}')
        self.assertTrue(one.counts_account(A))
        self.assertFalse(one.counts_account(B))

    def test_unknown_settings_are_rejected_by_name(self):
        with self.assertRaisesRegex(PolicyError, "unknown field `monitor_grup`"):
            Settings.from_json('{"monitor_grup": "x"}')

    def test_bad_values_are_rejected(self):
        for document in (
            '{"address": "ipv9"}',
            '{"monitor_port": 70000}',
            '{"monitor_port": true}',
            '{"monitor_port": "7070"}',
            '{"monitor_group": ""}',
            '{"monitor_group": 1}',
            '{"cluster_group_prefix": ""}',
            '{"require_tags": {"": "x"}}',
            '{"require_tags": {"fleet": 1}}',
            '{"require_tags": ["fleet"]}',
            '{"accounts": "111111111111"}',
            '{"accounts": [111111111111]}',
            "[]",
            "{",
        ):
            with self.subTest(document=document), self.assertRaisesRegex(
                PolicyError, "^invalid elastic-grid settings: "
            ):
                Settings.from_json(document)


if __name__ == "__main__":
    unittest.main()
