//! Loopback servers the tests talk to, each bound (or told to bind) once on
//! a port of the system's choosing, so no two tests race for a port: a real
//! `moto_server`, a stub that answers what a test tells it to, a proxy that
//! can be taken down, a fake S3 bucket, a front that forwards to moto
//! but answers what its rule picks out itself, and on the stub a settable
//! IMDS and a recording Auto Scaling.

pub mod fake_s3;
mod front;
mod moto;
mod proxy;
mod stub;

pub use front::{Answered, Asked, Front};
pub use moto::Moto;
pub use proxy::Proxy;
pub use stub::{AutoScaling, Filler, Imds, Refusing, Reply, Request, Stub};
