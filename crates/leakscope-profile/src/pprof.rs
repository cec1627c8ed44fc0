//! pprof's `profile.proto` (github.com/google/pprof, `proto/profile.proto`): the messages by hand
//! as prost structs, encoding a [`Profile`] into a gzipped protobuf that `go tool pprof`,
//! Pyroscope and speedscope read, and decoding one back.
//!
//! This module needs only prost, flate2 and leakscope-analysis's frame names (no inferno, no
//! model-based builders), so that the agent can serve `/debug/pprof/*` with it.
//!
//! Encoding: string 0 is `""`; one function per (name, file), one location per (function,
//! line), ids from 1 in first-use order over the normalised samples, so the same profile always
//! encodes to the same bytes. A sample's locations are leaf first, as pprof wants. One mapping
//! stands for the process: its file is the program's name ([`Profile::program`]), and it is
//! marked as already symbolised so pprof does not try to symbolise it. Every profile has a period
//! type and period, as Go's own profiles do.
//!
//! pprof, Pyroscope and Parca group frames by function name. leakscope's own frames (spawns,
//! waits, locks, blocking polls: see [`crate::site`]) name a place, not a function, so each is
//! written as a function named after its site: `tokio::spawn @ src/server.rs:40`,
//! `wait: Mutex::lock @ src/cache.rs:24`. The site is the most telling place known for the frame:
//! its own when that is in the app's code (a spawn line, a lock the app created); else the
//! nearest frame of the app's code above it (the app's line that awaits a library's resource,
//! the spawn line of a `blocking poll`); else its own (a resource created inside a library);
//! else the nearest place above it. A site frame is placed (file and line) at its own place, or
//! at its site when it has none, so no frame sits at line 0 for want of one; its function's
//! `start_line` is its line in the first case and 0 in the second, which is how the decoder gives
//! back a frame without a place.
//! Real functions keep their names and files, whatever their line, so a CPU profile's function is
//! one node. Functions have no system name: pprof demangles a name equal to its system name and
//! would cut `<Type as Trait>::method` to `::method`.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use prost::Message as _;

use crate::error::ProfileError;
use crate::profile::{Frame, Label, Profile, ValueType};
use crate::site::{Above, site_name, strip_site};

/// The messages of `perftools.profiles` (profile.proto), field numbers as upstream.
pub mod proto {
    /// A whole profile.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        /// What each sample value is.
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        /// The samples.
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        /// Binaries the addresses belong to.
        #[prost(message, repeated, tag = "3")]
        pub mapping: Vec<Mapping>,
        /// Code locations samples refer to.
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        /// Functions locations refer to.
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        /// Every string, referred to by index; index 0 is `""`.
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        /// Regex (string index) of frames to drop.
        #[prost(int64, tag = "7")]
        pub drop_frames: i64,
        /// Regex (string index) of frames to keep.
        #[prost(int64, tag = "8")]
        pub keep_frames: i64,
        /// Collection time, nanoseconds since the epoch.
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        /// Collection duration.
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        /// What the period counts.
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        /// Events between samples.
        #[prost(int64, tag = "12")]
        pub period: i64,
        /// Free-form comments (string indices).
        #[prost(int64, repeated, tag = "13")]
        pub comment: Vec<i64>,
        /// The preferred sample type's `type` (a string index).
        #[prost(int64, tag = "14")]
        pub default_sample_type: i64,
    }

    /// A value's type and unit, as string indices.
    #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
    pub struct ValueType {
        /// e.g. `cpu`.
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        /// e.g. `nanoseconds`.
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    /// One stack and its values.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// Location ids, leaf first.
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        /// One per sample type.
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        /// Labels.
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    /// A key and a string or number.
    #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
    pub struct Label {
        /// String index of the key.
        #[prost(int64, tag = "1")]
        pub key: i64,
        /// String index of the value (0 when numeric).
        #[prost(int64, tag = "2")]
        pub str: i64,
        /// Numeric value.
        #[prost(int64, tag = "3")]
        pub num: i64,
        /// String index of the numeric value's unit.
        #[prost(int64, tag = "4")]
        pub num_unit: i64,
    }

    /// A binary mapped into the process.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct Mapping {
        /// Unique, non-zero.
        #[prost(uint64, tag = "1")]
        pub id: u64,
        /// Start address.
        #[prost(uint64, tag = "2")]
        pub memory_start: u64,
        /// End address.
        #[prost(uint64, tag = "3")]
        pub memory_limit: u64,
        /// Offset in the file.
        #[prost(uint64, tag = "4")]
        pub file_offset: u64,
        /// String index of the binary's name.
        #[prost(int64, tag = "5")]
        pub filename: i64,
        /// String index of its build id.
        #[prost(int64, tag = "6")]
        pub build_id: i64,
        /// Locations carry function names.
        #[prost(bool, tag = "7")]
        pub has_functions: bool,
        /// Locations carry file names.
        #[prost(bool, tag = "8")]
        pub has_filenames: bool,
        /// Locations carry line numbers.
        #[prost(bool, tag = "9")]
        pub has_line_numbers: bool,
        /// Locations carry inlined frames.
        #[prost(bool, tag = "10")]
        pub has_inline_frames: bool,
    }

    /// A place in the code: one or more (inlined) lines.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct Location {
        /// Unique, non-zero.
        #[prost(uint64, tag = "1")]
        pub id: u64,
        /// The mapping it is in (0: none).
        #[prost(uint64, tag = "2")]
        pub mapping_id: u64,
        /// The instruction address (0: unknown).
        #[prost(uint64, tag = "3")]
        pub address: u64,
        /// Lines, innermost (inlined) first.
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
        /// Whether the frames were folded away.
        #[prost(bool, tag = "5")]
        pub is_folded: bool,
    }

    /// A function and a line in it.
    #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
    pub struct Line {
        /// The function's id.
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        /// Line number (0: unknown).
        #[prost(int64, tag = "2")]
        pub line: i64,
        /// Column (0: unknown).
        #[prost(int64, tag = "3")]
        pub column: i64,
    }

    /// A function.
    #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
    pub struct Function {
        /// Unique, non-zero.
        #[prost(uint64, tag = "1")]
        pub id: u64,
        /// String index of its name.
        #[prost(int64, tag = "2")]
        pub name: i64,
        /// String index of its linker name.
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        /// String index of its source file.
        #[prost(int64, tag = "4")]
        pub filename: i64,
        /// Its first line.
        #[prost(int64, tag = "5")]
        pub start_line: i64,
    }
}

/// Strings, functions and locations, each interned once.
#[derive(Default)]
struct Tables {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    functions: Vec<proto::Function>,
    function_ids: HashMap<(i64, i64, i64), u64>,
    locations: Vec<proto::Location>,
    location_ids: HashMap<(u64, i64), u64>,
}

impl Tables {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = self.strings.len() as i64;
        self.strings.push(s.to_owned());
        self.string_ids.insert(s.to_owned(), id);
        id
    }

    fn value_type(&mut self, t: &ValueType) -> proto::ValueType {
        proto::ValueType { r#type: self.string(&t.kind), unit: self.string(&t.unit) }
    }

    /// A stack's location ids, leaf first. Site frames are named after their site, their own or
    /// the one of the nearest located frame above them, and placed there (see the module docs).
    fn stack(&mut self, stack: &[Frame]) -> Vec<u64> {
        // Named root first (a site frame's name depends on the frames above it), interned leaf
        // first.
        let mut named: Vec<(String, &str, u32, i64)> = Vec::with_capacity(stack.len());
        let mut above = Above::default();
        for frame in stack {
            let own = (!frame.file.is_empty()).then_some((frame.file.as_str(), frame.line));
            named.push(if frame.is_site() {
                let site = above.site_for(own);
                // At its own place, or at its site when it has none; `start_line` says which
                // (the decoder's cue).
                let (file, line) = own.or(site).unwrap_or(("", 0));
                let start = if own.is_some() { i64::from(frame.line.max(1)) } else { 0 };
                (site_name(&frame.function, site), file, line, start)
            } else if frame.function.is_empty() {
                ("[unknown]".to_owned(), &frame.file, frame.line, 0)
            } else {
                (frame.function.clone(), &frame.file, frame.line, 0)
            });
            above.pass(&frame.file, frame.line);
        }
        named
            .iter()
            .rev()
            .map(|(name, file, line, start)| self.location(name, file, *line, *start))
            .collect()
    }

    fn location(&mut self, name: &str, file: &str, line: u32, start_line: i64) -> u64 {
        let name = self.string(name);
        let file = self.string(file);
        let function_id = match self.function_ids.get(&(name, file, start_line)) {
            Some(&id) => id,
            None => {
                let id = self.functions.len() as u64 + 1;
                // No system name: leakscope's names are demangled already, and pprof demangles
                // (cutting `<Type as Trait>` to `::`) a name equal to its system name.
                self.functions.push(proto::Function {
                    id,
                    name,
                    system_name: 0,
                    filename: file,
                    start_line,
                });
                self.function_ids.insert((name, file, start_line), id);
                id
            }
        };
        let line = i64::from(line);
        if let Some(&id) = self.location_ids.get(&(function_id, line)) {
            return id;
        }
        let id = self.locations.len() as u64 + 1;
        self.locations.push(proto::Location {
            id,
            mapping_id: MAPPING_ID,
            address: 0,
            line: vec![proto::Line { function_id, line, column: 0 }],
            is_folded: false,
        });
        self.location_ids.insert((function_id, line), id);
        id
    }
}

const MAPPING_ID: u64 = 1;

/// The profile as pprof's message. Samples are taken in their current order; call
/// [`Profile::normalize`] first for canonical output.
pub fn to_proto(profile: &Profile) -> proto::Profile {
    let mut tables = Tables::default();
    tables.string("");
    let sample_type: Vec<proto::ValueType> =
        profile.sample_types.iter().map(|t| tables.value_type(t)).collect();
    let program = tables.string(&profile.program);
    let sample = profile
        .samples
        .iter()
        .map(|s| proto::Sample {
            location_id: tables.stack(&s.stack),
            value: s.values.clone(),
            label: s
                .labels
                .iter()
                .map(|l| proto::Label {
                    key: tables.string(&l.key),
                    str: tables.string(&l.value),
                    num: 0,
                    num_unit: 0,
                })
                .collect(),
        })
        .collect();
    let (period_type, period) = match (&profile.period, profile.default_type()) {
        (Some((t, period)), _) => (Some(tables.value_type(t)), *period),
        (None, Some(t)) => (Some(tables.value_type(t)), 1),
        (None, None) => (None, 0),
    };
    let default_sample_type = profile.default_type().map_or(0, |t| tables.string(&t.kind));
    let comment = [&profile.title, &profile.subtitle]
        .into_iter()
        .filter(|c| !c.is_empty())
        .map(|c| tables.string(c))
        .collect();
    proto::Profile {
        sample_type,
        sample,
        mapping: vec![proto::Mapping {
            id: MAPPING_ID,
            filename: program,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: false,
            ..proto::Mapping::default()
        }],
        location: tables.locations,
        function: tables.functions,
        string_table: tables.strings,
        time_nanos: profile.time_nanos,
        duration_nanos: profile.duration_nanos,
        period_type,
        period,
        comment,
        default_sample_type,
        ..proto::Profile::default()
    }
}

/// The gzipped protobuf (`.pb.gz`) of a profile. The gzip header carries no time or name, so
/// equal profiles give equal bytes.
pub fn encode(profile: &Profile) -> Vec<u8> {
    let raw = to_proto(profile).encode_to_vec();
    let mut gz = GzEncoder::new(Vec::with_capacity(raw.len() / 4 + 64), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(&raw);
    gz.finish().unwrap_or_default()
}

/// Decodes a pprof profile, gzipped or not, into its message, checking that every id it refers
/// to exists.
pub fn decode_proto(bytes: &[u8]) -> Result<proto::Profile, ProfileError> {
    let raw;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|err| ProfileError::Pprof(format!("bad gzip data: {err}")))?;
        raw = out;
        &raw[..]
    } else {
        bytes
    };
    let profile = proto::Profile::decode(bytes)
        .map_err(|err| ProfileError::Pprof(format!("bad protobuf: {err}")))?;
    validate(&profile)?;
    Ok(profile)
}

/// Checks what pprof's own `CheckValid` checks: string 0 is empty, every string index is in
/// range, ids are non-zero and unique, and everything referred to exists.
pub fn validate(profile: &proto::Profile) -> Result<(), ProfileError> {
    let bad = |what: String| Err(ProfileError::Pprof(what));
    let strings = profile.string_table.len() as i64;
    if profile.string_table.first().is_none_or(|s| !s.is_empty()) {
        return bad("the string table does not start with the empty string".into());
    }
    let string = |index: i64, what: &str| -> Result<(), ProfileError> {
        if (0..strings).contains(&index) {
            Ok(())
        } else {
            Err(ProfileError::Pprof(format!("{what} refers to string {index} of {strings}")))
        }
    };
    if profile.sample_type.is_empty() {
        return bad("no sample types".into());
    }
    for t in profile.sample_type.iter().chain(profile.period_type.iter()) {
        string(t.r#type, "a sample type")?;
        string(t.unit, "a sample type's unit")?;
    }
    string(profile.default_sample_type, "the default sample type")?;
    let mut functions = HashMap::new();
    for f in &profile.function {
        string(f.name, "a function name")?;
        string(f.system_name, "a function's system name")?;
        string(f.filename, "a function's file")?;
        if f.id == 0 || functions.insert(f.id, f).is_some() {
            return bad(format!("function id {} is zero or repeated", f.id));
        }
    }
    let mut mappings = HashMap::new();
    for m in &profile.mapping {
        string(m.filename, "a mapping's file")?;
        string(m.build_id, "a mapping's build id")?;
        if m.id == 0 || mappings.insert(m.id, m).is_some() {
            return bad(format!("mapping id {} is zero or repeated", m.id));
        }
    }
    let mut locations = HashMap::new();
    for l in &profile.location {
        if l.id == 0 || locations.insert(l.id, l).is_some() {
            return bad(format!("location id {} is zero or repeated", l.id));
        }
        if l.mapping_id != 0 && !mappings.contains_key(&l.mapping_id) {
            return bad(format!("location {} refers to missing mapping {}", l.id, l.mapping_id));
        }
        if let Some(line) = l.line.iter().find(|line| !functions.contains_key(&line.function_id)) {
            return bad(format!(
                "location {} refers to missing function {}",
                l.id, line.function_id
            ));
        }
    }
    for (i, s) in profile.sample.iter().enumerate() {
        if s.value.len() != profile.sample_type.len() {
            return bad(format!(
                "sample {i} has {} values for {} sample types",
                s.value.len(),
                profile.sample_type.len()
            ));
        }
        if let Some(id) = s.location_id.iter().find(|id| !locations.contains_key(id)) {
            return bad(format!("sample {i} refers to missing location {id}"));
        }
        for label in &s.label {
            string(label.key, "a label key")?;
            string(label.str, "a label value")?;
            string(label.num_unit, "a label unit")?;
        }
    }
    for &c in &profile.comment {
        string(c, "a comment")?;
    }
    Ok(())
}

/// Decodes a pprof profile (gzipped or not) into a [`Profile`]. Inlined lines become frames of
/// their own; numeric labels are dropped.
pub fn decode(bytes: &[u8]) -> Result<Profile, ProfileError> {
    let message = decode_proto(bytes)?;
    let text = |index: i64| message.string_table[index as usize].as_str();
    let s = |index: i64| text(index).to_owned();
    let functions: HashMap<u64, &proto::Function> =
        message.function.iter().map(|f| (f.id, f)).collect();
    let locations: HashMap<u64, &proto::Location> =
        message.location.iter().map(|l| (l.id, l)).collect();
    let sample_types: Vec<ValueType> =
        message.sample_type.iter().map(|t| ValueType::new(s(t.r#type), s(t.unit))).collect();
    let mut profile = Profile::new(sample_types);
    let default = s(message.default_sample_type);
    if !default.is_empty() {
        profile.set_default(&default);
    }
    for sample in &message.sample {
        let mut stack = Vec::new();
        // The places above, as the encoder saw them.
        let mut above = Above::default();
        for id in sample.location_id.iter().rev() {
            // Lines are innermost first; the stack is root first.
            for line in locations[id].line.iter().rev() {
                let function = functions[&line.function_id];
                let name = text(function.name);
                let file = text(function.filename);
                let line = u32::try_from(line.line).unwrap_or(0);
                // A site frame at its own place keeps it; one placed at its site had none.
                let own = (function.start_line != 0 && !file.is_empty()).then_some((file, line));
                let (function, placed) = match strip_site(name, above.site_for(own)) {
                    Some(function) => (function, own),
                    None => (name, Some((file, line))),
                };
                let (file, line) = placed.unwrap_or(("", 0));
                above.pass(file, line);
                let frame = Frame::new(function, file, line);
                stack.push(frame);
            }
        }
        let labels = sample
            .label
            .iter()
            .filter(|l| l.str != 0)
            .map(|l| Label { key: s(l.key), value: s(l.str) })
            .collect();
        profile.add(stack, sample.value.clone(), labels);
    }
    profile.time_nanos = message.time_nanos;
    profile.duration_nanos = message.duration_nanos;
    profile.program = message
        .mapping
        .iter()
        .find(|m| m.id == MAPPING_ID)
        .or(message.mapping.first())
        .map(|m| s(m.filename))
        .unwrap_or_default();
    profile.period =
        message.period_type.map(|t| (ValueType::new(s(t.r#type), s(t.unit)), message.period));
    let mut comments = message.comment.iter().map(|&c| s(c));
    profile.title = comments.next().unwrap_or_default();
    profile.subtitle = comments.next().unwrap_or_default();
    profile.normalize();
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_profile() -> Profile {
        let mut profile = Profile::new(vec![
            ValueType::new("tasks", "count"),
            ValueType::new("wait", "nanoseconds"),
        ]);
        profile.title = "title".into();
        profile.subtitle = "subtitle".into();
        profile.time_nanos = 1_700_000_000_000_000_000;
        profile.period = Some((ValueType::new("tasks", "count"), 1));
        profile.program = "app".into();
        let spawn = Frame::new("tokio::spawn", "src/main.rs", 10);
        let recv = Frame::new("app::worker", "src/worker.rs", 22);
        profile.add(vec![spawn.clone(), recv], vec![3, 3_000], vec![]);
        profile.add(
            vec![spawn.clone(), Frame::new("wait: <[u8; 4]>::lock", "", 0)],
            vec![1, 5],
            vec![Label { key: "state".into(), value: "idle".into() }],
        );
        // A library's lock, awaited by the app's worker: named after the worker's line.
        profile.add(
            vec![
                spawn.clone(),
                Frame::new("app::worker", "src/worker.rs", 22),
                Frame::new(
                    "wait: Mutex::lock",
                    "/root/.cargo/registry/src/x-1/tokio/mutex.rs",
                    806,
                ),
            ],
            vec![1, 9],
            vec![],
        );
        // A wait at the spawn's own line (`tokio::spawn(sleep(..))`) keeps its place.
        profile.add(vec![spawn, Frame::new("wait: sleep", "src/main.rs", 10)], vec![1, 7], vec![]);
        profile.set_default("wait");
        profile.normalize();
        profile
    }

    #[test]
    fn encode_then_decode_gives_the_profile_back() {
        let profile = sample_profile();
        let bytes = encode(&profile);
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");
        assert_eq!(bytes, encode(&profile), "deterministic");
        let back = decode(&bytes).unwrap();
        assert_eq!(back, profile);
    }

    #[test]
    fn the_message_is_well_formed() {
        let message = to_proto(&sample_profile());
        validate(&message).unwrap();
        assert_eq!(message.string_table[0], "");
        // One function and one location per distinct frame, shared between samples.
        assert_eq!(message.function.len(), 5);
        assert_eq!(message.location.len(), 5);
        // Site frames are named after their site, their own or the one above them, and placed
        // there; no system name for pprof to demangle.
        let names: Vec<(&str, &str, i64)> = message
            .location
            .iter()
            .map(|l| {
                let f = message.function.iter().find(|f| f.id == l.line[0].function_id).unwrap();
                assert_eq!(f.system_name, 0);
                let s = |i: i64| message.string_table[i as usize].as_str();
                (s(f.name), s(f.filename), l.line[0].line)
            })
            .collect();
        assert_eq!(
            names,
            [
                ("app::worker", "src/worker.rs", 22),
                ("tokio::spawn @ src/main.rs:10", "src/main.rs", 10),
                (
                    "wait: Mutex::lock @ src/worker.rs:22",
                    "/root/.cargo/registry/src/x-1/tokio/mutex.rs",
                    806
                ),
                ("wait: <[u8; 4]>::lock @ src/main.rs:10", "src/main.rs", 10),
                ("wait: sleep @ src/main.rs:10", "src/main.rs", 10),
            ]
        );
        let s = |i: i64| message.string_table[i as usize].as_str();
        assert_eq!(s(message.mapping[0].filename), "app");
        let period_type = message.period_type.unwrap();
        assert_eq!(
            (s(period_type.r#type), s(period_type.unit), message.period),
            ("tasks", "count", 1)
        );
        // Leaf first.
        let first = &message.sample[0];
        let leaf = message.location.iter().find(|l| l.id == first.location_id[0]).unwrap();
        let function = message.function.iter().find(|f| f.id == leaf.line[0].function_id).unwrap();
        assert_eq!(message.string_table[function.name as usize], "app::worker");
        assert_eq!(message.string_table[message.default_sample_type as usize], "wait");
    }

    #[test]
    fn broken_profiles_are_refused() {
        let check = |edit: &dyn Fn(&mut proto::Profile), expected: &str| {
            let mut message = to_proto(&sample_profile());
            edit(&mut message);
            let err = decode(&message.encode_to_vec()).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should say {expected}");
        };
        check(&|m| m.string_table[0] = "x".into(), "does not start with the empty string");
        check(&|m| m.sample[0].location_id.push(99), "missing location 99");
        check(&|m| m.location[0].line[0].function_id = 42, "missing function 42");
        check(&|m| m.function[1].id = m.function[0].id, "zero or repeated");
        check(&|m| m.sample[0].value.pop().map(drop).unwrap_or(()), "1 values for 2 sample types");
        check(&|m| m.function[0].name = 1000, "refers to string 1000");
        assert!(decode(b"\x1f\x8bnot gzip").unwrap_err().to_string().contains("bad gzip"));
        assert!(decode(b"\xff\xff\xff").unwrap_err().to_string().contains("bad protobuf"));
    }
}
