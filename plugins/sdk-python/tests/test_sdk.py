"""The Python SDK natively: the fleet's columns read back through the
accessors, the answer's interning and notes, addresses and settings."""

import contextlib
import io
import json
import unittest
from dataclasses import replace
from pathlib import Path

from rollcall_policy import (
    AddressKind,
    Answer,
    Fleet,
    LIFECYCLE_STATES,
    InstanceRecord,
    PolicyError,
    export_policy,
    fleet_from_records,
    quote,
    read_settings,
    share_a_cluster,
    shared_clusters,
)
from rollcall_policy.records import Columns


def full(id, **fields):
    return InstanceRecord(
        id=id,
        state="running",
        private_ipv4=f"{id}-private-ipv4",
        public_ipv4=f"{id}-public-ipv4",
        private_dns_name=f"{id}-private-dns",
        public_dns_name=f"{id}-public-dns",
        ipv6_addresses=[f"{id}-v6a", f"{id}-v6b"],
        security_groups=[("sg-1", "eg-monitor", None), (f"sg-{id}", f"own-{id}", f"{id}-owner")],
        tags=[("Name", f"{id}-name"), ("fleet", "blue")],
        availability_zone=f"{id}-zone",
        region=f"{id}-region",
        vpc_id=f"{id}-vpc",
        subnet_id=f"{id}-subnet",
        instance_type=f"{id}-type",
        image_id=f"{id}-image",
        launch_time=f"{id}-launch",
        account=f"{id}-account",
        lifecycle_group=f"{id}-group",
        **fields,
    )


TEXT_FIELDS = (
    "private_ipv4",
    "public_ipv4",
    "private_dns_name",
    "public_dns_name",
    "availability_zone",
    "region",
    "vpc_id",
    "subnet_id",
    "instance_type",
    "image_id",
    "launch_time",
    "account",
    "lifecycle_group",
)

#: Every lifecycle state, and whether an instance in it serves.
SERVING = {
    "not-in-group": True,
    "pending": True,
    "pending-wait": False,
    "in-service": True,
    "standby": False,
    "terminating": False,
    "terminating-wait": False,
    "detaching": False,
    "warmed": False,
    "other": True,
}


class FleetTest(unittest.TestCase):
    def test_every_field_reads_back_as_it_was_written(self):
        records = [
            full(
                "i-1",
                lifecycle="terminating-wait",
                leaving_reason="spot-interruption",
                leaving_deadline="2026-12-07T10:00:00Z",
            ),
            full("i-2", lifecycle="in-service", leaving_reason="announced"),
            InstanceRecord(id="i-3", state="stopped"),
        ]
        fleet = fleet_from_records(records, self_id="i-2", explain="i-3")
        self.assertEqual(len(fleet), 3)
        for record, instance in zip(records, fleet):
            self.assertEqual(instance.id, record.id)
            self.assertEqual(instance.state, record.state)
            for field in TEXT_FIELDS:
                self.assertEqual(getattr(instance, field), getattr(record, field), field)
            self.assertEqual(instance.ipv6_addresses, record.ipv6_addresses)
            self.assertEqual(
                [(group.id, group.name, group.owner) for group in instance.security_groups],
                record.security_groups,
            )
            self.assertEqual(list(instance.tags.items()), record.tags)
            self.assertEqual(instance.lifecycle, record.lifecycle)
            leaving = instance.leaving
            self.assertEqual(leaving and leaving.reason, record.leaving_reason)
            self.assertEqual(leaving and leaving.deadline, record.leaving_deadline)
        self.assertIsNone(fleet.instance(2).leaving)
        self.assertEqual(fleet.instance(2).lifecycle, "not-in-group")
        self.assertEqual(fleet.self_instance.id, "i-2")
        self.assertEqual(fleet.explained.id, "i-3")
        self.assertTrue(fleet.instance(1).is_self)
        self.assertIsNone(fleet.instance(3))
        self.assertEqual(fleet.find("i-3").index, 2)
        self.assertIsNone(fleet.find("i-9"))

    def test_instances_serve_unless_leaving_or_held_out_of_service(self):
        self.assertEqual(set(SERVING), set(LIFECYCLE_STATES))
        records = [InstanceRecord(id=state, lifecycle=state) for state in SERVING]
        records.append(InstanceRecord(id="i-going", lifecycle="in-service", leaving_reason="other"))
        fleet = fleet_from_records(records)
        self.assertEqual(
            [instance.serves for instance in fleet],
            [*SERVING.values(), False],
        )

    def test_an_unserving_reason_names_the_leave_or_the_state(self):
        records = [
            InstanceRecord(
                id="i-spot",
                leaving_reason="spot-interruption",
                leaving_deadline="2026-12-07T10:00:00Z",
            ),
            InstanceRecord(id="i-going", leaving_reason="announced"),
            InstanceRecord(id="i-standby", lifecycle="standby"),
            InstanceRecord(id="i-serving", lifecycle="in-service"),
        ]
        self.assertEqual(
            [instance.unserving_reason for instance in fleet_from_records(records)],
            [
                "leaving (spot-interruption by 2026-12-07T10:00:00Z)",
                "leaving (announced)",
                "in Auto Scaling standby",
                None,
            ],
        )

    def test_an_unknown_lifecycle_state_or_leave_reason_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "unknown lifecycle state 'InService'"):
            fleet_from_records([InstanceRecord(id="i-1", lifecycle="InService")])
        with self.assertRaisesRegex(ValueError, "unknown leave reason 'meteor'"):
            fleet_from_records([InstanceRecord(id="i-1", leaving_reason="meteor")])

    def test_each_security_group_is_listed_once(self):
        fleet = fleet_from_records([full("i-1"), full("i-2")])
        names = [group.name for group in fleet.security_groups]
        self.assertEqual(names, ["eg-monitor", "own-i-1", "own-i-2"])
        self.assertEqual([g.index for g in fleet.security_groups], [0, 1, 2])
        self.assertEqual(fleet.instance(1).security_group_indices, [0, 2])

    def test_a_group_is_listed_once_per_owner_and_two_items_mean_no_owner(self):
        fleet = fleet_from_records(
            [
                InstanceRecord(id="i-a", security_groups=[("sg-1", "eg-monitor", "111111111111")]),
                InstanceRecord(id="i-b", security_groups=[("sg-1", "eg-monitor", "222222222222")]),
                InstanceRecord(id="i-c", security_groups=[("sg-1", "eg-monitor")]),
                InstanceRecord(id="i-d", security_groups=[("sg-1", "eg-monitor", "111111111111")]),
            ]
        )
        self.assertEqual(
            [group.owner for group in fleet.security_groups],
            ["111111111111", "222222222222", None],
        )
        self.assertEqual(
            [instance.security_group_indices for instance in fleet], [[0], [1], [2], [0]]
        )

    def test_text_that_is_not_ascii_is_cut_at_the_right_bytes(self):
        records = [
            InstanceRecord(id="i-ü", tags=[("city", "Zürich"), ("名前", "東京")]),
            InstanceRecord(id="i-2", tags=[("city", "Łódź")], private_ipv4="10.0.0.2"),
        ]
        fleet = fleet_from_records(records)
        self.assertEqual(fleet.instance(0).id, "i-ü")
        self.assertEqual(fleet.instance(0).tags, {"city": "Zürich", "名前": "東京"})
        self.assertEqual(fleet.instance(1).tag("city"), "Łódź")
        self.assertEqual(fleet.instance(1).private_ipv4, "10.0.0.2")
        self.assertIsNone(fleet.instance(1).tag("名前"))

    def test_candidates_are_running_instances_and_self(self):
        records = [
            InstanceRecord(id="i-run"),
            InstanceRecord(id="i-stop", state="stopped"),
            InstanceRecord(id="i-boot", state="pending"),
            InstanceRecord(id="i-gone", state="terminated"),
        ]
        fleet = fleet_from_records(records, self_id="i-boot")
        self.assertEqual([i.id for i in fleet.candidates()], ["i-run", "i-boot"])
        self.assertEqual(fleet.instance(3).state_name, "terminated")

    def test_a_state_the_interface_does_not_name_is_never_running(self):
        fleet = fleet_from_records([InstanceRecord(id="i-1", state="other")])
        self.assertFalse(fleet.instance(0).is_running)
        self.assertEqual(fleet.instance(0).state_name, "in a state this interface does not name")

    def test_columns_that_disagree_in_length_are_named(self):
        columns = Columns([InstanceRecord(id="i-1"), InstanceRecord(id="i-2")])
        columns.tag_ends = [0]
        with self.assertRaisesRegex(ValueError, "tag-ends has 1 entries for 2 instances"):
            Fleet(columns, None, None)
        columns = Columns([InstanceRecord(id="i-1")])
        with self.assertRaisesRegex(ValueError, "named instance 5 as self"):
            Fleet(columns, 5, None)

    def test_an_unknown_id_or_state_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "i-9 is not in the fleet"):
            fleet_from_records([InstanceRecord(id="i-1")], self_id="i-9")
        with self.assertRaisesRegex(ValueError, "unknown state 'rebooting'"):
            fleet_from_records([InstanceRecord(id="i-1", state="rebooting")])


class BulkReadersTest(unittest.TestCase):
    """Each bulk reader says, for every instance at once, what the
    per-instance accessor says: on a fleet with missing values, repeated
    and non-ASCII strings, a stopped self and a tag key given twice."""

    def fleet(self, self_id="i-4"):
        records = [
            replace(full("i-1"), tags=[("team", "pay"), ("fleet", "blue")]),
            InstanceRecord(id="i-2", state="stopped", tags=[("team", "Zürich")]),
            replace(full("i-3"), tags=[("team", "東京"), ("team", "second")], ipv6_addresses=[]),
            InstanceRecord(id="i-4", state="pending", security_groups=[("sg-1", "eg-monitor")]),
            full("i-5"),
        ]
        return fleet_from_records(records, self_id)

    def test_bulk_readers_agree_with_the_accessors(self):
        for self_id in ("i-4", "i-1", None):
            fleet = self.fleet(self_id)
            instances = list(fleet)
            self.assertEqual(
                fleet.candidate_indices(), [instance.index for instance in fleet.candidates()]
            )
            self.assertEqual(
                fleet.security_group_runs(),
                [tuple(instance.security_group_indices) for instance in instances],
            )
            for key in ("team", "fleet", "Name", "absent"):
                self.assertEqual(
                    fleet.tag_values(key), [instance.tag(key) for instance in instances], key
                )
            columns = fleet.columns
            self.assertEqual(
                fleet.optional_texts(columns.availability_zones),
                [instance.availability_zone for instance in instances],
            )
            self.assertEqual(
                fleet.texts(columns.ids), [instance.id for instance in instances]
            )
            for kind in AddressKind:
                self.assertEqual(
                    kind.of_each(fleet), [kind.of(instance) for instance in instances], kind
                )

    def test_a_shared_tuple_of_labels_is_taken_as_it_is(self):
        fleet = self.fleet()
        answer = Answer(fleet)
        agent = answer.role("agent")
        labels = (answer.label("zone", "a"), answer.label("team", "pay"))
        clusters = (answer.cluster("blue"),)
        for index in (0, 2):
            answer.add_member(index, agent, clusters, labels=labels)
        answer.add_member(4, agent, labels=[("zone", "a")])
        self.assertEqual(answer.member_count, 3)
        self.assertIs(answer._member_labels[0], answer._member_labels[1])
        self.assertEqual(
            [member.labels for member in answer.members], [[(0, 0), (1, 1)]] * 2 + [[(0, 0)]]
        )
        self.assertEqual(
            [member["labels"] for member in answer.resolved()["members"]],
            [{"zone": "a", "team": "pay"}] * 2 + [{"zone": "a"}],
        )


class AnswerTest(unittest.TestCase):
    def fleet(self, self_id=None, explain=None):
        records = [
            InstanceRecord(id=f"i-{n}", private_ipv4=f"10.0.0.{n}") for n in (1, 2, 3)
        ]
        return fleet_from_records(records, self_id, explain)

    def test_names_are_interned_in_the_order_first_asked_for(self):
        answer = Answer(self.fleet())
        self.assertEqual([answer.role("monitor"), answer.role("agent"), answer.role("monitor")], [0, 1, 0])
        blue, green = answer.cluster("green"), answer.cluster("blue")
        self.assertEqual(answer.sort_clusters([blue, green, blue]), [green, blue])
        self.assertEqual(answer.cluster_names([]), "none")
        self.assertEqual(answer.cluster_names([green, blue]), "blue, green")
        with self.assertRaises(ValueError):
            answer.role("")

    def test_members_and_targets_resolve_to_ids_and_addresses(self):
        fleet = self.fleet(self_id="i-1")
        answer = Answer(fleet)
        monitor = answer.role("monitor")
        for instance in fleet:
            answer.add_member(
                instance, monitor, [answer.cluster("blue")], AddressKind.PRIVATE_IP.of(instance), 7070
            )
        answer.add_member(2, monitor, address="monitor.example.com")
        answer.register_with(fleet.instance(1))
        resolved = answer.resolved()
        self.assertEqual(
            resolved["members"][0],
            {
                "id": "i-1",
                "role": "monitor",
                "clusters": ["blue"],
                "address": "10.0.0.1",
                "port": 7070,
                "labels": {},
            },
        )
        self.assertEqual(resolved["members"][3]["address"], "monitor.example.com")
        self.assertEqual(resolved["register_with"], ["i-2"])

    def test_labels_cross_as_names_and_values_each_listed_once(self):
        fleet = self.fleet()
        answer = Answer(fleet)
        agent = answer.role("agent")
        for index, zone in ((0, "us-east-1a"), (1, "us-east-1b"), (2, "us-east-1a")):
            answer.add_member(index, agent, labels={"zone": zone, "team": "blue"})
        answer.add_member(1, agent, labels=[("team", "red")])
        answer.add_member(2, agent)
        self.assertEqual(answer.label_names, ["zone", "team"])
        self.assertEqual(answer.label_values, ["us-east-1a", "blue", "us-east-1b", "red"])
        self.assertEqual(
            [member.labels for member in answer.members],
            [[(0, 0), (1, 1)], [(0, 2), (1, 1)], [(0, 0), (1, 1)], [(1, 3)], []],
        )
        self.assertEqual(
            [member["labels"] for member in answer.resolved()["members"]],
            [
                {"zone": "us-east-1a", "team": "blue"},
                {"zone": "us-east-1b", "team": "blue"},
                {"zone": "us-east-1a", "team": "blue"},
                {"team": "red"},
                {},
            ],
        )

    def test_notes_are_kept_only_for_the_explained_instance(self):
        calls = []

        def text():
            calls.append(1)
            return "made"

        answer = Answer(self.fleet(self_id="i-1", explain="i-2"))
        answer.note(0, text)
        answer.note(1, text)
        answer.note(1, "plain")
        answer.note_target(1, "not self: dropped")
        self.assertEqual(answer.resolved()["notes"], [("i-2", "decision", "made"), ("i-2", "decision", "plain")])
        self.assertEqual(len(calls), 1, "a note's function runs only when the note is kept")

    def test_target_notes_are_kept_when_self_is_explained(self):
        answer = Answer(self.fleet(self_id="i-1", explain="i-1"))
        self.assertTrue(answer.explains_targets)
        answer.note_target(2, lambda: "a target")
        self.assertEqual(answer.resolved()["notes"], [("i-3", "target", "a target")])
        self.assertFalse(Answer(self.fleet(self_id="i-1")).explains_targets)

    def test_clusters_are_shared_as_the_rust_sdk_shares_them(self):
        self.assertTrue(share_a_cluster([], []))
        self.assertFalse(share_a_cluster([], [1]))
        self.assertTrue(share_a_cluster([1, 2], [2]))
        self.assertEqual(shared_clusters([3, 1, 2], [2, 3]), [3, 2])

    def test_strings_are_quoted_as_the_fixture_shared_with_rust_and_javascript_says(self):
        fixture = Path(__file__).parents[3] / "tests" / "fixtures" / "quoted.json"
        cases = json.loads(fixture.read_text(encoding="utf-8"))
        self.assertTrue(cases)
        for case in cases:
            with self.subTest(case["why"]):
                self.assertEqual(quote(case["text"]), case["quoted"])


class AddressTest(unittest.TestCase):
    def test_every_kind_reads_its_address(self):
        instance = fleet_from_records([full("i-1")]).instance(0)
        expected = {
            "private-ip": "i-1-private-ipv4",
            "public-ip": "i-1-public-ipv4",
            "private-dns": "i-1-private-dns",
            "public-dns": "i-1-public-dns",
            "ipv6": "i-1-v6a",
        }
        for name, address in expected.items():
            kind = AddressKind.parse(name)
            self.assertEqual(kind.read(instance), address)
            self.assertIs(kind.of(instance), kind)

    def test_a_missing_address_is_none(self):
        instance = fleet_from_records([InstanceRecord(id="i-1")]).instance(0)
        for kind in AddressKind:
            self.assertIsNone(kind.of(instance))

    def test_an_unknown_kind_names_the_choices(self):
        with self.assertRaisesRegex(ValueError, "expected one of private-ip, public-ip"):
            AddressKind.parse("ipv9")


class SettingsTest(unittest.TestCase):
    def test_an_object_is_read(self):
        self.assertEqual(read_settings("demo", ' {"port": 7070}'), {"port": 7070})

    def test_anything_else_is_refused_with_the_policy_named(self):
        for document in ("[]", "7", "{"):
            with self.subTest(document=document), self.assertRaisesRegex(
                PolicyError, "^invalid demo settings: "
            ):
                read_settings("demo", document)


class GuardTest(unittest.TestCase):
    @staticmethod
    def configure_raising(exception):
        """What configuring a policy whose configure raises ``exception``
        raised, with the log it writes kept off the test's output."""

        class Raising:
            @classmethod
            def configure(cls, settings):
                raise exception

        world = export_policy(Raising)()
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                world.configure("{}")
        except BaseException as err:  # noqa: BLE001: what escapes is the test
            return err
        return None

    def test_any_exception_is_the_policys_error_with_its_type_named(self):
        for exception, message in (
            (KeyError("port"), "Raising raised KeyError in configure: 'port'"),
            (SystemExit(3), "Raising raised SystemExit in configure: 3"),
            (KeyboardInterrupt(), "Raising raised KeyboardInterrupt in configure"),
            (GeneratorExit(), "Raising raised GeneratorExit in configure"),
        ):
            with self.subTest(exception=type(exception).__name__):
                raised = self.configure_raising(exception)
                self.assertIsInstance(raised, PolicyError)
                self.assertEqual(str(raised), message)

    def test_an_operators_error_is_passed_on_as_it_is(self):
        raised = self.configure_raising(PolicyError("port must be a number"))
        self.assertIsInstance(raised, PolicyError)
        self.assertEqual(str(raised), "port must be a number")


if __name__ == "__main__":
    unittest.main()
