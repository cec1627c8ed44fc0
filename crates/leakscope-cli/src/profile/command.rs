//! The `profile` command itself: read the target (or two files), build the profile, write it.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use leakscope_client::{Backend, ClientError, Connection, Target};
use leakscope_profile::{
    Format, Profile, ProfileError, TaskFilter, WriteOptions, blocking_profile, cpu_profile, diff,
    lock_wait_profile, read_path, task_wait_profile, write_path, write_profile,
};
use leakscope_proto::v1::{CpuProfileRequest, ProfileStatus};

use super::args::{
    BlockingArgs, BlockingWeight, CpuArgs, DiffArgs, LocksArgs, LocksWeight, OutputArgs,
    ProfileArgs, ProfileKind, TasksArgs, TasksWeight,
};
use crate::connect::{dump_failure, model_for, take_dump, warn_stalled};
use crate::exit::{CliError, ExitStatus};
use crate::runtime::block_on;

/// How long the agent may take beyond the sampling time to symbolise and send a CPU profile.
const CPU_REPORT_GRACE: Duration = Duration::from_secs(60);

/// Runs `leakscope profile <kind>`.
pub(crate) fn run(args: ProfileArgs) -> Result<ExitStatus, CliError> {
    check_output(args.kind.output())?;
    let (profile, output) = match args.kind {
        ProfileKind::Cpu(args) => (block_on(cpu(&args))??, args.output),
        ProfileKind::Tasks(args) => (block_on(tasks(&args))??, args.output),
        ProfileKind::Locks(args) => (block_on(locks(&args))??, args.output),
        ProfileKind::Blocking(args) => (block_on(blocking(&args))??, args.output),
        ProfileKind::Diff(args) => (difference(&args)?, args.output),
    };
    write(profile, &output)?;
    Ok(ExitStatus::Success)
}

async fn cpu(args: &CpuArgs) -> Result<Profile, CliError> {
    let (duration, cut) = args.sampling_time();
    if let Some(cut) = cut {
        eprintln!("leakscope: {cut}");
    }
    let target = Target::parse(&args.addr)?;
    let mut connection = Connection::connect(&target).await?;
    let addr = target.to_string();
    if connection.backend() == Backend::Console {
        return Err(CliError::Usage(format!(
            "{addr} runs console-subscriber, which cannot take CPU profiles; link the leakscope agent"
        )));
    }
    if !connection.hello().capabilities.is_some_and(|c| c.cpu_profile) {
        return Err(CliError::Usage(format!(
            "{addr} cannot take CPU profiles (its agent needs Linux on x86_64 or aarch64, and a \
             leakscope version with CPU profiles)"
        )));
    }
    let label = target_label(&connection);
    let program = connection.hello().process_name.clone();
    eprintln!("leakscope: sampling {addr} for {}s", duration.as_secs_f64());
    let request = CpuProfileRequest {
        // At most 300 s (`sampling_time`), never 0 (the parser refuses it): fits, and is never
        // the agent's "use your default".
        duration_nanos: u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
        frequency_hz: args.frequency,
    };
    let call = connection.agent().cpu_profile(request);
    let deadline = duration.saturating_add(CPU_REPORT_GRACE);
    let response = match tokio::time::timeout(deadline, call).await {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => {
            return Err(ClientError::Request {
                what: "CPU profile",
                addr,
                reason: if status.message().is_empty() {
                    format!("{:?}", status.code())
                } else {
                    status.message().to_owned()
                },
            }
            .into());
        }
        Err(_) => {
            return Err(ClientError::Request {
                what: "CPU profile",
                addr,
                reason: format!("no answer within {}s", deadline.as_secs_f64()),
            }
            .into());
        }
    };
    if response.status != ProfileStatus::Ok as i32 {
        let status = ProfileStatus::try_from(response.status).unwrap_or(ProfileStatus::Unspecified);
        return Err(ClientError::Request {
            what: "CPU profile",
            addr,
            reason: format!("{}: {}", status.as_str_name(), response.message),
        }
        .into());
    }
    if response.dropped_samples > 0 {
        eprintln!(
            "leakscope: warning: the agent left out {} samples of rare stacks (too many distinct stacks)",
            response.dropped_samples
        );
    }
    let mut profile = cpu_profile(&response);
    // pprof's mapping names the program, as the task profiles' do (from the model's target).
    profile.program = program;
    profile.set_origin(&label, profile.time_nanos);
    Ok(profile)
}

/// What a model-based profile starts from: the model (snapshot, and the dump when one was
/// asked for, applied), the dump, and the target's description and wall time.
struct Observed {
    model: leakscope_analysis::Model,
    dump: Option<leakscope_proto::v1::TaskDumpResponse>,
    label: String,
    unix_nanos: i64,
}

/// Reads a snapshot of `addr`, and takes a task dump within `dump` when one is given. A dump
/// that does not succeed is said on stderr in one line; the profile then uses the agent's
/// captured wait points.
async fn observe(addr: &str, dump: Option<Duration>) -> Result<Observed, CliError> {
    let target = Target::parse(addr)?;
    let mut connection = Connection::connect(&target).await?;
    warn_stalled(&connection);
    let mut model = model_for(&connection);
    let snapshot = connection.snapshot().await?;
    let unix_nanos = connection.hello().origin_unix_nanos.saturating_add(snapshot.now_nanos);
    model.apply_snapshot(snapshot);
    let dump = match dump {
        None => None,
        Some(timeout) => {
            let dump = take_dump(&mut connection, timeout).await;
            let failure = match &dump {
                Ok(dump) => dump_failure(dump),
                Err(outcome) => Some(outcome.clone()),
            };
            if let Some(failure) = failure {
                eprintln!(
                    "leakscope: warning: the task dump did not succeed ({failure}); the profile \
                     uses the agent's captured wait points instead"
                );
            }
            dump.ok()
        }
    };
    if let Some(dump) = &dump {
        model.apply_dump(dump.clone());
    }
    Ok(Observed {
        model,
        dump,
        label: target_label(&connection),
        unix_nanos: i64::try_from(unix_nanos).unwrap_or(0),
    })
}

async fn tasks(args: &TasksArgs) -> Result<Profile, CliError> {
    let observed = observe(&args.addr, args.task_dump.then_some(args.dump_timeout)).await?;
    let filter = args.filter.clone().map_or_else(TaskFilter::all, TaskFilter::text);
    let mut profile = task_wait_profile(&observed.model, observed.dump.as_ref(), &filter);
    profile.set_default(match args.weight {
        TasksWeight::Count => "tasks",
        TasksWeight::Idle => "wait",
    });
    profile.set_origin(&observed.label, observed.unix_nanos);
    Ok(profile)
}

async fn locks(args: &LocksArgs) -> Result<Profile, CliError> {
    let observed = observe(&args.addr, args.task_dump.then_some(args.dump_timeout)).await?;
    let filter = args.filter.clone().map_or_else(TaskFilter::all, TaskFilter::text);
    let mut profile = lock_wait_profile(&observed.model, observed.dump.as_ref(), &filter);
    profile.set_default(match args.weight {
        LocksWeight::Count => "contentions",
        LocksWeight::Delay => "delay",
    });
    profile.set_origin(&observed.label, observed.unix_nanos);
    Ok(profile)
}

async fn blocking(args: &BlockingArgs) -> Result<Profile, CliError> {
    let observed = observe(&args.addr, None).await?;
    let filter = args.filter.clone().map_or_else(TaskFilter::all, TaskFilter::text);
    let mut profile = blocking_profile(&observed.model, &filter);
    profile.set_default(match args.weight {
        BlockingWeight::Count => "long_polls",
        BlockingWeight::Time => "blocked",
    });
    profile.set_origin(&observed.label, observed.unix_nanos);
    Ok(profile)
}

fn difference(args: &DiffArgs) -> Result<Profile, CliError> {
    let before = read_path(&args.before).map_err(profile_error)?;
    let after = read_path(&args.after).map_err(profile_error)?;
    diff(&before, &after).map_err(profile_error)
}

/// `leakscope-zoo (pid 42) at 127.0.0.1:6669`.
fn target_label(connection: &Connection) -> String {
    let hello = connection.hello();
    let who = match (hello.process_name.is_empty(), hello.pid) {
        (true, 0) => String::new(),
        (false, 0) => format!("{} ", hello.process_name),
        (true, pid) => format!("pid {pid} "),
        (false, pid) => format!("{} (pid {pid}) ", hello.process_name),
    };
    format!("{who}at {}", connection.target())
}

/// Writes the profile where `--output` says and says what was written.
fn write(mut profile: Profile, output: &OutputArgs) -> Result<(), CliError> {
    if let Some(title) = &output.title {
        profile.title.clone_from(title);
    }
    let summary = summary(&profile);
    let mut options = WriteOptions { format: output.format, ..WriteOptions::default() };
    options.svg.icicle = output.icicle;
    if output.output == Path::new("-") {
        let format = output.format.unwrap_or(Format::Folded);
        let mut stdout = std::io::stdout().lock();
        return match write_profile(&profile, format, &options, &mut stdout) {
            Err(ProfileError::Write { source, .. }) => Err(CliError::Output(source)),
            Err(err) => Err(profile_error(err)),
            Ok(()) => stdout.flush().map_err(CliError::Output),
        };
    }
    let format = write_path(&profile, &output.output, &options).map_err(profile_error)?;
    println!("leakscope: wrote {} ({format}): {summary}", output.output.display());
    Ok(())
}

/// `1234 tasks in 5 stacks`: the default column's total and the number of stacks.
fn summary(profile: &Profile) -> String {
    let index = profile.default_sample_type;
    let stacks = profile.samples.len();
    let what = profile.sample_types.get(index).map_or("samples", |t| t.kind.as_str());
    match profile.differential {
        Some(d) => format!(
            "{} before, {} after, in {stacks} stacks",
            profile.total(d.before),
            profile.total(d.after)
        ),
        None if profile.sample_types.get(index).is_some_and(|t| t.unit == "nanoseconds") => {
            format!("{:.3}s of {what} in {stacks} stacks", profile.total(index) as f64 / 1e9)
        }
        None => format!("{} {what} in {stacks} stacks", profile.total(index)),
    }
}

/// Checks `-o` before the target is read (a CPU profile samples for seconds): a path that
/// cannot be written is a usage error now, not after the work.
fn check_output(output: &OutputArgs) -> Result<(), CliError> {
    if output.output == Path::new("-") {
        return Ok(());
    }
    leakscope_gate::check_writable(&output.output)
        .map_err(|reason| CliError::Usage(format!("-o: {reason}")))
}

/// A profile that cannot be read, parsed or compared is the user's input (exit 2, usage); one
/// that cannot be written after it was built is an output error with its path.
fn profile_error(err: ProfileError) -> CliError {
    match err {
        ProfileError::Write { path, source } => CliError::WriteFile { path, source },
        other => CliError::Usage(other.to_string()),
    }
}
