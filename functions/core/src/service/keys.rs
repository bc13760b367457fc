//! The storage layout: which key holds what. One place, so the DynamoDB and
//! SQLite adapters (which know nothing of productions) store the same shape.

use crate::{
    domain::{ClientId, Guid, Kind, ProductionName},
    ports::Key,
};

pub fn production_partition(prod: &Guid) -> String {
    format!("PROD#{prod}")
}

/// The production's own record.
pub fn production(prod: &Guid) -> Key {
    Key::new(production_partition(prod), "META")
}

/// Makes production names unique: created in the same transaction as the production.
pub fn production_name(name: &ProductionName) -> Key {
    Key::new(format!("NAME#{name}"), "NAME")
}

pub fn member_partition(client: &ClientId) -> String {
    format!("MEMBER#{client}")
}

/// "`client` is a member of `prod`": lets a caller's productions be listed
/// without a scan or an index.
pub fn membership(client: &ClientId, prod: &Guid) -> Key {
    Key::new(member_partition(client), format!("PROD#{prod}"))
}

pub fn resource_prefix(kind: Kind) -> String {
    format!("{}#", kind.as_str().to_uppercase())
}

pub fn resource(prod: &Guid, kind: Kind, id: &Guid) -> Key {
    Key::new(production_partition(prod), format!("{}{id}", resource_prefix(kind)))
}

/// At most one show per production: created and deleted with the show.
pub fn show_marker(prod: &Guid) -> Key {
    Key::new(production_partition(prod), "UNIQUE#show")
}

/// "Asset `id` carries external id `name` = `value`": makes external ids
/// unique in a production and finds an asset by one. Written in the same
/// transaction as the asset. Names are `[A-Za-z0-9_]`, so the `#` after the
/// name is unambiguous whatever the value holds.
pub fn external_id(prod: &Guid, name: &str, value: &str) -> Key {
    Key::new(production_partition(prod), format!("EXTID#{name}#{value}"))
}

/// "`asset` is also mapped to external id `name` = `value`" (seed 003: one
/// legacy track token, several original assets). Shares the `EXTID#{name}#`
/// prefix with `external_id`, so one listing finds carriers and mappings;
/// the record's body says which it is.
pub fn external_mapping(prod: &Guid, name: &str, value: &str, asset: &Guid) -> Key {
    Key::new(production_partition(prod), format!("EXTID#{name}#{value}#{asset}"))
}

/// Sort-key prefix of every external id pair named `name`, narrowed to values starting with `value_prefix`.
pub fn external_id_prefix(name: &str, value_prefix: &str) -> String {
    format!("EXTID#{name}#{value_prefix}")
}

/// A stream's run record (desired state, lease, live status).
pub fn live(prod: &Guid, stream: &Guid) -> Key {
    Key::new(production_partition(prod), format!("LIVE#{stream}"))
}

/// Sort-key prefix of a stream's log chunks; each chunk's key ends in its
/// first line's sequence number, zero-padded so keys sort by it.
pub fn live_log_prefix(stream: &Guid) -> String {
    format!("LIVELOG#{stream}#")
}

pub fn live_log(prod: &Guid, stream: &Guid, first_seq: u64) -> Key {
    Key::new(production_partition(prod), format!("{}{first_seq:020}", live_log_prefix(stream)))
}

/// Every stream that should be running has an entry here (sort key
/// `<production>#<stream>`), so workers find streams whose worker died
/// without scanning the table.
pub const LIVE_STREAMS: &str = "LIVE_STREAMS";

pub fn live_index(prod: &Guid, stream: &Guid) -> Key {
    Key::new(LIVE_STREAMS, format!("{prod}#{stream}"))
}
