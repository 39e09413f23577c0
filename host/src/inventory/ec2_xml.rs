//! A `DescribeInstances` page in EC2's XML, read in one pass straight into
//! the fleet's columns ([`FleetBuilder`]): every field the host's model
//! holds, nothing else, and the page's `nextToken`.
//!
//! It reads what the SDK's deserialiser read before it, the same way:
//! names match by their local part; a member given twice counts as given
//! last; an instance's IPv6 addresses are its own, then its interfaces',
//! each once; its groups belong to the reservation's owner; the launch
//! time is written as the SDK writes it (UTC, `Z`, no zero fraction). Text
//! is XML's: entities and character references decoded, CDATA sections
//! taken as text (the SDK's reader kept only the text before the first
//! CDATA section or comment of an element).
//!
//! A page is taken whole or not at all. Anything the reader cannot take
//! (cut, garbled, not a DescribeInstances answer) is named by the page
//! guard's own check ([`check_document`]), so a page refused here is the
//! same [`PageFault`], with the same message, as before.

use super::fleet::{Field, Fleet, FleetBuilder, FleetTooLarge};
use super::page_guard::{PageFault, ROOT, check_document};
use aws_sdk_ec2::primitives::{DateTime, DateTimeFormat};
use quick_xml::events::Event;
use std::ops::Range;

/// One page of a DescribeInstances listing.
#[derive(Debug, Default)]
pub(super) struct Page {
    /// Its instances, each with `region` set.
    pub fleet: Fleet,
    /// The token of the next page, as given (empty or absent: the last).
    pub next_token: Option<String>,
}

/// Reads one DescribeInstances answer listed in `region`.
pub(super) fn read_page(body: &[u8], region: &str) -> Result<Page, PageFault> {
    read(body, region).map_err(|problem| match check_document(body, ROOT) {
        Err(fault) => fault,
        // Well-formed to the guard, but not to this reader.
        Ok(()) => PageFault::Malformed { detail: problem },
    })
}

/// A text read from the page: a slice of it, or (decoded or rewritten) a
/// range of the reservation's scratch text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Text<'a> {
    #[default]
    Absent,
    Body(&'a str),
    Scratch(usize, usize),
}

impl<'a> Text<'a> {
    fn get<'s>(self, scratch: &'s str) -> Option<&'s str>
    where
        'a: 's,
    {
        match self {
            Text::Absent => None,
            Text::Body(text) => Some(text),
            Text::Scratch(start, end) => scratch.get(start..end),
        }
    }

    fn or_empty<'s>(self, scratch: &'s str) -> &'s str
    where
        'a: 's,
    {
        self.get(scratch).unwrap_or("")
    }
}

/// The single-valued members of an instance the model keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Id,
    State,
    Ipv6,
    Column(Field),
}

/// The columns filled from an instance's own members, in slot order after
/// `Id`, `State` and `Ipv6`.
const COLUMNS: [Field; 10] = [
    Field::PrivateIpv4,
    Field::PublicIpv4,
    Field::PrivateDnsName,
    Field::PublicDnsName,
    Field::AvailabilityZone,
    Field::VpcId,
    Field::SubnetId,
    Field::InstanceType,
    Field::ImageId,
    Field::LaunchTime,
];

impl Slot {
    fn index(self) -> usize {
        match self {
            Slot::Id => 0,
            Slot::State => 1,
            Slot::Ipv6 => 2,
            Slot::Column(field) => 3 + COLUMNS.iter().position(|&c| c == field).unwrap_or(0),
        }
    }
}

/// An instance read, not yet in the fleet: its reservation's owner may
/// come after it.
#[derive(Debug, Clone, Default)]
struct Pending<'a> {
    slots: [Text<'a>; 3 + COLUMNS.len()],
    /// Its runs in the reservation's lists.
    groups: Range<usize>,
    tags: Range<usize>,
    ipv6: Range<usize>,
}

/// The reservation being read. Its lists are reused from one reservation
/// to the next: no allocation per instance.
#[derive(Debug, Default)]
struct Reservation<'a> {
    owner: Text<'a>,
    instances: Vec<Pending<'a>>,
    /// (id, name) of every instance's groups.
    groups: Vec<(Text<'a>, Text<'a>)>,
    /// (key, value) of every instance's tags.
    tags: Vec<(Text<'a>, Text<'a>)>,
    /// Every instance's interfaces' IPv6 addresses.
    ipv6: Vec<Text<'a>>,
    /// Where the open interface's addresses start in `ipv6`.
    interface_start: usize,
    /// Decoded texts and rewritten launch times.
    scratch: String,
}

impl<'a> Reservation<'a> {
    fn clear(&mut self) {
        self.owner = Text::Absent;
        self.instances.clear();
        self.groups.clear();
        self.tags.clear();
        self.ipv6.clear();
        self.scratch.clear();
    }

    fn current(&mut self) -> Option<&mut Pending<'a>> {
        self.instances.last_mut()
    }

    /// Appends its instances to `fleet`.
    fn flush(&mut self, fleet: &mut FleetBuilder) -> Result<(), FleetTooLarge> {
        let first = fleet.len();
        let scratch = self.scratch.as_str();
        let owner = self.owner.or_empty(scratch);
        for instance in &self.instances {
            let slot = |slot: Slot| instance.slots[slot.index()].or_empty(scratch);
            fleet.begin(slot(Slot::Id), slot(Slot::State))?;
            for field in COLUMNS {
                fleet.set(field, slot(Slot::Column(field)))?;
            }
            for (id, name) in &self.groups[instance.groups.clone()] {
                fleet.group(id.or_empty(scratch), name.or_empty(scratch), owner)?;
            }
            for (key, value) in &self.tags[instance.tags.clone()] {
                if let Some(key) = key.get(scratch) {
                    fleet.tag(key, value.or_empty(scratch))?;
                }
            }
            fleet.ipv6(slot(Slot::Ipv6))?;
            for address in &self.ipv6[instance.ipv6.clone()] {
                fleet.ipv6(address.or_empty(scratch))?;
            }
        }
        if !owner.is_empty() && fleet.len() > first {
            fleet.set_from(first, Field::Account, owner)?;
        }
        self.clear();
        Ok(())
    }
}

/// Where the reader is, by the elements it knows; anything else is
/// skipped whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Response,
    Reservations,
    Reservation,
    Instances,
    Instance,
    State,
    Placement,
    Interfaces,
    Interface,
    Ipv6Set,
    Ipv6Item,
    Groups,
    Group,
    Tags,
    Tag,
}

/// An element whose text the reader keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    NextToken,
    Owner,
    Slot(Slot),
    InterfaceIpv6,
    GroupId,
    GroupName,
    TagKey,
    TagValue,
}

/// What a start tag named `name` in `place` is.
enum Step {
    Into(Place),
    Leaf(Leaf),
    Skip,
}

fn step(place: Place, name: &[u8]) -> Step {
    use Place::*;
    let leaf = |slot| Step::Leaf(Leaf::Slot(slot));
    let column = |field| Step::Leaf(Leaf::Slot(Slot::Column(field)));
    match (place, name) {
        (Response, b"reservationSet") => Step::Into(Reservations),
        (Response, b"nextToken") => Step::Leaf(Leaf::NextToken),
        (Reservations, b"item") => Step::Into(Reservation),
        (Reservation, b"ownerId") => Step::Leaf(Leaf::Owner),
        (Reservation, b"instancesSet") => Step::Into(Instances),
        (Instances, b"item") => Step::Into(Instance),
        (Instance, b"instanceId") => leaf(Slot::Id),
        (Instance, b"instanceState") => Step::Into(State),
        (State, b"name") => leaf(Slot::State),
        (Instance, b"ipv6Address") => leaf(Slot::Ipv6),
        (Instance, b"privateIpAddress") => column(Field::PrivateIpv4),
        (Instance, b"ipAddress") => column(Field::PublicIpv4),
        (Instance, b"privateDnsName") => column(Field::PrivateDnsName),
        (Instance, b"dnsName") => column(Field::PublicDnsName),
        (Instance, b"placement") => Step::Into(Placement),
        (Placement, b"availabilityZone") => column(Field::AvailabilityZone),
        (Instance, b"vpcId") => column(Field::VpcId),
        (Instance, b"subnetId") => column(Field::SubnetId),
        (Instance, b"instanceType") => column(Field::InstanceType),
        (Instance, b"imageId") => column(Field::ImageId),
        (Instance, b"launchTime") => column(Field::LaunchTime),
        (Instance, b"networkInterfaceSet") => Step::Into(Interfaces),
        (Interfaces, b"item") => Step::Into(Interface),
        (Interface, b"ipv6AddressesSet") => Step::Into(Ipv6Set),
        (Ipv6Set, b"item") => Step::Into(Ipv6Item),
        (Ipv6Item, b"ipv6Address") => Step::Leaf(Leaf::InterfaceIpv6),
        (Instance, b"groupSet") => Step::Into(Groups),
        (Groups, b"item") => Step::Into(Group),
        (Group, b"groupId") => Step::Leaf(Leaf::GroupId),
        (Group, b"groupName") => Step::Leaf(Leaf::GroupName),
        (Instance, b"tagSet") => Step::Into(Tags),
        (Tags, b"item") => Step::Into(Tag),
        (Tag, b"key") => Step::Leaf(Leaf::TagKey),
        (Tag, b"value") => Step::Leaf(Leaf::TagValue),
        _ => Step::Skip,
    }
}

/// The page's reading state.
struct Reader<'a> {
    fleet: FleetBuilder,
    reservation: Reservation<'a>,
    next_token: Option<String>,
    /// Whether a `reservationSet` was read (a second one replaces it).
    listed: bool,
}

impl<'a> Reader<'a> {
    /// Enters `place`: a list given again replaces what it said before.
    fn enter(&mut self, place: Place) -> Result<(), FleetTooLarge> {
        match place {
            Place::State => self.set(Leaf::Slot(Slot::State), Text::Absent),
            Place::Placement => {
                self.set(
                    Leaf::Slot(Slot::Column(Field::AvailabilityZone)),
                    Text::Absent,
                );
            }
            _ => {}
        }
        let reservation = &mut self.reservation;
        match place {
            Place::Reservations => {
                if std::mem::replace(&mut self.listed, true) {
                    self.fleet = FleetBuilder::with_capacity(self.fleet.len());
                }
            }
            Place::Reservation => reservation.clear(),
            Place::Instances => {
                reservation.instances.clear();
                reservation.groups.clear();
                reservation.tags.clear();
                reservation.ipv6.clear();
            }
            Place::Instance => {
                let (groups, tags, ipv6) = (
                    reservation.groups.len(),
                    reservation.tags.len(),
                    reservation.ipv6.len(),
                );
                reservation.instances.push(Pending {
                    groups: groups..groups,
                    tags: tags..tags,
                    ipv6: ipv6..ipv6,
                    ..Pending::default()
                });
            }
            Place::Interfaces => {
                if let Some(instance) = reservation.instances.last_mut() {
                    reservation.ipv6.truncate(instance.ipv6.start);
                    instance.ipv6.end = instance.ipv6.start;
                }
            }
            Place::Interface => reservation.interface_start = reservation.ipv6.len(),
            Place::Ipv6Set => {
                reservation.ipv6.truncate(reservation.interface_start);
                if let Some(instance) = reservation.instances.last_mut() {
                    instance.ipv6.end = reservation.ipv6.len();
                }
            }
            Place::Ipv6Item => {
                reservation.ipv6.push(Text::Absent);
                if let Some(instance) = reservation.instances.last_mut() {
                    instance.ipv6.end = reservation.ipv6.len();
                }
            }
            Place::Groups => {
                if let Some(instance) = reservation.instances.last_mut() {
                    reservation.groups.truncate(instance.groups.start);
                    instance.groups.end = instance.groups.start;
                }
            }
            Place::Group => {
                reservation.groups.push((Text::Absent, Text::Absent));
                if let Some(instance) = reservation.instances.last_mut() {
                    instance.groups.end = reservation.groups.len();
                }
            }
            Place::Tags => {
                if let Some(instance) = reservation.instances.last_mut() {
                    reservation.tags.truncate(instance.tags.start);
                    instance.tags.end = instance.tags.start;
                }
            }
            Place::Tag => {
                reservation.tags.push((Text::Absent, Text::Absent));
                if let Some(instance) = reservation.instances.last_mut() {
                    instance.tags.end = reservation.tags.len();
                }
            }
            Place::Response | Place::State | Place::Placement => {}
        }
        Ok(())
    }

    /// Leaves `place`: a reservation read whole goes into the fleet.
    fn leave(&mut self, place: Place) -> Result<(), FleetTooLarge> {
        if place == Place::Reservation {
            self.reservation.flush(&mut self.fleet)?;
        }
        Ok(())
    }

    /// Keeps the text of a leaf.
    fn set(&mut self, leaf: Leaf, text: Text<'a>) {
        let reservation = &mut self.reservation;
        match leaf {
            Leaf::NextToken => {
                self.next_token = Some(text.or_empty(&reservation.scratch).to_owned());
            }
            Leaf::Owner => reservation.owner = text,
            Leaf::Slot(slot) => {
                if let Some(instance) = reservation.current() {
                    instance.slots[slot.index()] = text;
                }
            }
            Leaf::InterfaceIpv6 => {
                if let Some(address) = reservation.ipv6.last_mut() {
                    *address = text;
                }
            }
            Leaf::GroupId | Leaf::GroupName => {
                if let Some(group) = reservation.groups.last_mut() {
                    *(if leaf == Leaf::GroupId {
                        &mut group.0
                    } else {
                        &mut group.1
                    }) = text;
                }
            }
            Leaf::TagKey | Leaf::TagValue => {
                if let Some(tag) = reservation.tags.last_mut() {
                    *(if leaf == Leaf::TagKey {
                        &mut tag.0
                    } else {
                        &mut tag.1
                    }) = text;
                }
            }
        }
    }
}

/// The text of the leaf being read, as its pieces come.
struct Gathered<'a> {
    text: Text<'a>,
    pieces: usize,
}

impl<'a> Gathered<'a> {
    fn new() -> Self {
        Gathered {
            text: Text::Body(""),
            pieces: 0,
        }
    }

    /// Adds a piece: the first is borrowed from the page, the rest joined
    /// in `scratch`.
    fn push(&mut self, piece: &'a str, scratch: &mut String) {
        self.pieces += 1;
        self.text = match self.text {
            _ if self.pieces == 1 => Text::Body(piece),
            Text::Body(first) => {
                let start = scratch.len();
                scratch.push_str(first);
                scratch.push_str(piece);
                Text::Scratch(start, scratch.len())
            }
            Text::Scratch(start, _) => {
                scratch.push_str(piece);
                Text::Scratch(start, scratch.len())
            }
            Text::Absent => Text::Absent,
        };
    }

    fn push_char(&mut self, c: char, scratch: &mut String) {
        let mut buffer = [0; 4];
        let piece = c.encode_utf8(&mut buffer);
        // Never borrowed: the character lives in `buffer`.
        self.pieces += 1;
        self.text = match self.text {
            Text::Body(first) => {
                let start = scratch.len();
                scratch.push_str(first);
                scratch.push_str(piece);
                Text::Scratch(start, scratch.len())
            }
            Text::Scratch(start, _) => {
                scratch.push_str(piece);
                Text::Scratch(start, scratch.len())
            }
            Text::Absent => Text::Absent,
        };
    }
}

/// The page, or what this reader could not take.
fn read<'a>(body: &'a [u8], region: &'a str) -> Result<Page, String> {
    let text = std::str::from_utf8(body).map_err(|err| err.to_string())?;
    let mut xml = quick_xml::Reader::from_str(text);
    xml.config_mut().check_end_names = true;
    let mut reader = Reader {
        fleet: FleetBuilder::with_capacity(body.len() / 2_500),
        reservation: Reservation::default(),
        next_token: None,
        listed: false,
    };
    let too_large = |err: FleetTooLarge| err.to_string();
    // The known elements open, from the root down.
    let mut places: Vec<Place> = Vec::with_capacity(16);
    // Depth below the innermost known element, in one it skips.
    let mut skipped: usize = 0;
    let mut leaf: Option<(Leaf, Gathered<'a>)> = None;
    let mut root_done = false;
    let mut root_seen = false;
    loop {
        let event = xml.read_event().map_err(|err| err.to_string())?;
        match event {
            Event::Start(_) | Event::Empty(_) if root_done => {
                return Err("content after the root element".to_owned());
            }
            Event::Start(_) | Event::Empty(_) if leaf.is_some() => {
                return Err("an element inside a text member".to_owned());
            }
            Event::Start(ref start) | Event::Empty(ref start) => {
                let empty = matches!(event, Event::Empty(_));
                let name = start.local_name();
                let name = name.as_ref();
                if !root_seen {
                    if name != ROOT.as_bytes() {
                        return Err(format!("the root is not {ROOT}"));
                    }
                    root_seen = true;
                    if empty {
                        root_done = true;
                    } else {
                        places.push(Place::Response);
                    }
                    continue;
                }
                if skipped > 0 {
                    skipped += usize::from(!empty);
                    continue;
                }
                let Some(&place) = places.last() else {
                    return Err("an element outside the root".to_owned());
                };
                match step(place, name) {
                    Step::Skip => skipped += usize::from(!empty),
                    Step::Into(inner) => {
                        reader.enter(inner).map_err(too_large)?;
                        if empty {
                            reader.leave(inner).map_err(too_large)?;
                        } else {
                            places.push(inner);
                        }
                    }
                    Step::Leaf(kind) => {
                        if empty {
                            let text = finished(kind, Text::Body(""), &mut reader)?;
                            reader.set(kind, text);
                        } else {
                            leaf = Some((kind, Gathered::new()));
                        }
                    }
                }
            }
            Event::End(_) => {
                if let Some((kind, gathered)) = leaf.take() {
                    let text = finished(kind, gathered.text, &mut reader)?;
                    reader.set(kind, text);
                } else if skipped > 0 {
                    skipped -= 1;
                } else {
                    match places.pop() {
                        Some(Place::Response) => root_done = true,
                        Some(place) => reader.leave(place).map_err(too_large)?,
                        None => return Err("an end tag outside the root".to_owned()),
                    }
                }
            }
            Event::Text(piece) => {
                if let Some((_, gathered)) = &mut leaf {
                    let piece = borrowed(piece.into_inner())?;
                    gathered.push(piece, &mut reader.reservation.scratch);
                } else if (!root_seen || root_done) && !piece.iter().all(u8::is_ascii_whitespace) {
                    return Err("text outside the root element".to_owned());
                }
            }
            Event::CData(piece) => {
                if let Some((_, gathered)) = &mut leaf {
                    let piece = borrowed(piece.into_inner())?;
                    gathered.push(piece, &mut reader.reservation.scratch);
                } else if !root_seen || root_done {
                    return Err("CDATA outside the root element".to_owned());
                }
            }
            Event::GeneralRef(reference) => {
                if let Some((_, gathered)) = &mut leaf {
                    let c = match reference
                        .resolve_char_ref()
                        .map_err(|err| err.to_string())?
                    {
                        Some(c) => c,
                        None => match &*reference {
                            b"lt" => '<',
                            b"gt" => '>',
                            b"amp" => '&',
                            b"quot" => '"',
                            b"apos" => '\'',
                            other => {
                                return Err(format!(
                                    "unknown entity &{};",
                                    String::from_utf8_lossy(other)
                                ));
                            }
                        },
                    };
                    gathered.push_char(c, &mut reader.reservation.scratch);
                } else if !root_seen || root_done {
                    return Err("a reference outside the root element".to_owned());
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if !root_done {
        return Err("the document ends before its root element closes".to_owned());
    }
    let Reader {
        mut fleet,
        next_token,
        ..
    } = reader;
    if !fleet.is_empty() {
        fleet
            .set_from(0, Field::Region, region)
            .map_err(too_large)?;
    }
    Ok(Page {
        fleet: fleet.finish(),
        next_token,
    })
}

/// The text of an event read from the page itself.
fn borrowed(bytes: std::borrow::Cow<'_, [u8]>) -> Result<&str, String> {
    match bytes {
        std::borrow::Cow::Borrowed(bytes) => {
            std::str::from_utf8(bytes).map_err(|err| err.to_string())
        }
        std::borrow::Cow::Owned(_) => Err("a text the reader had to copy".to_owned()),
    }
}

/// The text of a leaf read whole: a launch time rewritten as the SDK
/// wrote it.
fn finished<'a>(leaf: Leaf, text: Text<'a>, reader: &mut Reader<'a>) -> Result<Text<'a>, String> {
    match leaf {
        Leaf::Slot(Slot::Column(Field::LaunchTime)) => {
            launch_time(text, &mut reader.reservation.scratch)
        }
        _ => Ok(text),
    }
}

/// A launch time as the SDK gave it: parsed as RFC 3339 (offsets allowed),
/// written in UTC with `Z` and the fraction in microseconds, trailing zeros
/// dropped; absent if the year is outside 1 to 9999. A text that is no
/// date fails the page, as it failed the SDK's deserialiser.
fn launch_time<'a>(text: Text<'a>, scratch: &mut String) -> Result<Text<'a>, String> {
    use std::fmt::Write;
    let at = {
        let given = text.or_empty(scratch);
        DateTime::from_str(given, DateTimeFormat::DateTimeWithOffset)
            .map_err(|err| format!("launchTime {given:?}: {err}"))?
    };
    let Ok(utc) = time::OffsetDateTime::from_unix_timestamp_nanos(at.as_nanos()) else {
        return Ok(Text::Absent);
    };
    if !(1..=9_999).contains(&utc.year()) {
        return Ok(Text::Absent);
    }
    let start = scratch.len();
    let _ = write!(
        scratch,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    );
    let micros = utc.microsecond();
    if micros > 0 {
        let _ = write!(scratch, ".{micros:06}");
        let kept = scratch.trim_end_matches('0').len();
        scratch.truncate(kept);
    }
    scratch.push('Z');
    if scratch.get(start..) == Some(text.or_empty(&scratch[..start])) {
        // Already as the SDK writes it.
        scratch.truncate(start);
        return Ok(text);
    }
    Ok(Text::Scratch(start, scratch.len()))
}

#[cfg(test)]
mod tests;
