"""Which of an instance's addresses peers should use."""

from __future__ import annotations

from enum import Enum
from itertools import repeat
from operator import sub
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .fleet import Fleet, Instance


class AddressKind(Enum):
    """One of the addresses EC2 reports for an instance. The value is the
    name policy settings use for it (``private-ip``, ``public-ip``,
    ``private-dns``, ``public-dns`` or ``ipv6``, the first IPv6 address)."""

    PRIVATE_IP = "private-ip"
    PUBLIC_IP = "public-ip"
    PRIVATE_DNS = "private-dns"
    PUBLIC_DNS = "public-dns"
    IPV6 = "ipv6"

    @classmethod
    def parse(cls, name: str, setting: str = "address") -> "AddressKind":
        """The kind a setting names; a ``ValueError`` naming the choices when
        it names none."""
        try:
            return cls(name)
        except ValueError:
            choices = ", ".join(kind.value for kind in cls)
            raise ValueError(f"`{setting}` is {name!r}, expected one of {choices}") from None

    def read(self, instance: "Instance") -> Optional[str]:
        """The instance's address of this kind, ``None`` when EC2 reported
        none."""
        if self is AddressKind.PRIVATE_IP:
            return instance.private_ipv4
        if self is AddressKind.PUBLIC_IP:
            return instance.public_ipv4
        if self is AddressKind.PRIVATE_DNS:
            return instance.private_dns_name
        if self is AddressKind.PUBLIC_DNS:
            return instance.public_dns_name
        addresses = instance.ipv6_addresses
        return addresses[0] if addresses else None

    def of(self, instance: "Instance") -> Optional["AddressKind"]:
        """This kind as a member's address (the host reads the address from
        the fleet; nothing crosses back), ``None`` when the instance has no
        address of the kind."""
        return self if self.read(instance) is not None else None

    def of_each(self, fleet: "Fleet") -> list[Optional["AddressKind"]]:
        """:meth:`of` for every instance of ``fleet`` (entry ``i`` for
        instance ``i``), read from the column in one pass."""
        columns = fleet.columns
        if self is AddressKind.IPV6:
            ends = columns.ipv6_ends
            starts = [0]
            starts += ends[:-1]
            present = map(sub, ends, starts)
        else:
            present = getattr(columns, _COLUMNS[self])
        # An optional text is absent when it is string 0.
        return list(map({0: None}.get, present, repeat(self)))

    @property
    def setting_name(self) -> str:
        """The name settings use, e.g. ``private-ip``."""
        return self.value


#: The fleet column each kind but IPv6 reads.
_COLUMNS = {
    AddressKind.PRIVATE_IP: "private_ipv4s",
    AddressKind.PUBLIC_IP: "public_ipv4s",
    AddressKind.PRIVATE_DNS: "private_dns_names",
    AddressKind.PUBLIC_DNS: "public_dns_names",
}
