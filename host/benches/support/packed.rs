//! A what-if for the boundary benchmark: the fleet packed into one string
//! buffer and rows of numbers (`tests/plugins/packed-probe`), sent
//! to a probe component that reads every row. Measures what carrying the
//! fleet into a guest would cost if `rollcall:policy` used that layout
//! instead of a list of records of strings (one guest allocation per string
//! today). Packing on the host is part of the figure; instantiation is done
//! fresh for every call, as the host does for a policy.

use rollcall::inventory::Instance;
use wasmtime::component::{Component, ComponentType, Linker, Lower, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The packed fleet (`wit/probe.wit` of the probe): strings in one buffer,
/// rows of 32 numbers per instance, side lists of spans.
#[derive(ComponentType, Lower)]
#[component(record)]
struct Fleet {
    text: String,
    rows: Vec<u32>,
    addresses: Vec<u32>,
    pairs: Vec<u32>,
}

/// Builds the packed layout, appending every string once.
struct Packer {
    fleet: Fleet,
}

impl Packer {
    /// Appends `value` to the text; its span (offset, length).
    fn span(&mut self, value: &str) -> [u32; 2] {
        let start = self.fleet.text.len() as u32;
        self.fleet.text.push_str(value);
        [start, value.len() as u32]
    }

    fn optional(&mut self, value: Option<&str>) -> [u32; 2] {
        value.map_or([0, 0], |value| self.span(value))
    }

    /// Appends pairs of spans; their run (first pair, count).
    fn pairs<'a>(&mut self, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> [u32; 2] {
        let first = (self.fleet.pairs.len() / 4) as u32;
        for (left, right) in pairs {
            let (left, right) = (self.span(left), self.span(right));
            self.fleet.pairs.extend(left.into_iter().chain(right));
        }
        [first, (self.fleet.pairs.len() / 4) as u32 - first]
    }

    fn row(&mut self, instance: &Instance) {
        let first = (self.fleet.addresses.len() / 2) as u32;
        for address in &instance.ipv6_addresses {
            let span = self.span(address);
            self.fleet.addresses.extend(span);
        }
        let ipv6_addresses = [first, (self.fleet.addresses.len() / 2) as u32 - first];
        let fields = [
            self.span(&instance.id),
            self.span(&instance.state),
            self.optional(instance.private_ipv4.as_deref()),
            self.optional(instance.public_ipv4.as_deref()),
            self.optional(instance.private_dns_name.as_deref()),
            self.optional(instance.public_dns_name.as_deref()),
            ipv6_addresses,
            self.pairs(
                instance
                    .security_groups
                    .iter()
                    .map(|group| (group.id.as_str(), group.name.as_str())),
            ),
            self.pairs(
                instance
                    .tags
                    .iter()
                    .map(|tag| (tag.key.as_str(), tag.value.as_str())),
            ),
            self.optional(instance.availability_zone.as_deref()),
            self.optional(instance.region.as_deref()),
            self.optional(instance.vpc_id.as_deref()),
            self.optional(instance.subnet_id.as_deref()),
            self.optional(instance.instance_type.as_deref()),
            self.optional(instance.image_id.as_deref()),
            self.optional(instance.launch_time.as_deref()),
        ];
        // 16 fields of two numbers: the probe's 32-number row.
        self.fleet.rows.extend(fields.into_iter().flatten());
    }
}

fn pack(instances: &[Instance]) -> Fleet {
    let mut packer = Packer {
        fleet: Fleet {
            text: String::with_capacity(instances.len() * 512),
            rows: Vec::with_capacity(instances.len() * 32),
            addresses: Vec::new(),
            pairs: Vec::with_capacity(instances.len() * 32),
        },
    };
    for instance in instances {
        packer.row(instance);
    }
    packer.fleet
}

/// WASI with nothing granted, as the host's sandbox (the probe is built for
/// `wasm32-wasip2`, so its standard library imports WASI).
struct Empty {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Empty {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The probe, compiled and linked once.
pub struct PackedProbe {
    engine: Engine,
    pre: wasmtime::component::InstancePre<Empty>,
}

impl PackedProbe {
    pub fn load(path: &std::path::Path) -> PackedProbe {
        let engine = Engine::default();
        let component = Component::from_file(&engine, path).expect("the packed probe compiles");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("WASI links");
        let pre = linker
            .instantiate_pre(&component)
            .expect("the packed probe links");
        PackedProbe { engine, pre }
    }

    /// Packs the fleet, instantiates the probe in a fresh store and sends
    /// the fleet in: the number of running monitors it counted.
    pub fn count_monitors(&self, instances: &[Instance]) -> u32 {
        let fleet = pack(instances);
        let mut store = Store::new(
            &self.engine,
            Empty {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        let instance = self.pre.instantiate(&mut store).expect("instantiates");
        let count = instance
            .get_typed_func::<(&Fleet,), (u32,)>(&mut store, "count-monitors")
            .expect("the probe exports count-monitors");
        count.call(&mut store, (&fleet,)).expect("the probe runs").0
    }
}
