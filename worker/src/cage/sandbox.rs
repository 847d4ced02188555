//! What a converter process puts itself under before it reads a byte of
//! any source: death with the worker that started it, no core dumps, an
//! address-space limit, and a seccomp filter (built with `seccompiler`)
//! that refuses opening files, sockets and starting processes. Per job,
//! a CPU-time limit a little past the job's time bound. The worker's own
//! kill at the time bound is what frees a slot; these hold if the worker
//! itself is stuck or gone.

use std::collections::BTreeMap;
use std::time::Duration;

use rustix::process::{Pid, Resource, Rlimit, Signal, getppid, setrlimit};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Why the sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the worker that started this converter is gone")]
    Orphaned,
    #[error("cannot set {what}: {source}")]
    Limit {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot build the seccomp filter: {0}")]
    Filter(String),
}

/// Dies with `parent`, dumps no core, maps at most `memory_bytes`.
pub fn limit_process(parent: u32, memory_bytes: u64) -> Result<(), SandboxError> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).map_err(|e| {
        SandboxError::Limit {
            what: "the parent-death signal",
            source: e.into(),
        }
    })?;
    // The worker may have died before the signal was asked for.
    if getppid().map(Pid::as_raw_nonzero).map(|p| p.get() as u32) != Some(parent) {
        return Err(SandboxError::Orphaned);
    }
    set(Resource::Core, Some(0), "the core-dump limit")?;
    set(Resource::As, Some(memory_bytes), "the address-space limit")?;
    Ok(())
}

/// Lets the next job use `allowance` of CPU time past what the process has
/// used so far; then the kernel stops it (SIGXCPU).
pub fn limit_cpu(allowance: Duration) -> Result<(), SandboxError> {
    let used = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let used = u64::try_from(used.tv_sec).unwrap_or(0);
    // One second more than asked: the limit counts whole seconds.
    let limit = used + allowance.as_secs() + 2;
    set(Resource::Cpu, Some(limit), "the CPU-time limit")
}

fn set(resource: Resource, current: Option<u64>, what: &'static str) -> Result<(), SandboxError> {
    let maximum = match resource {
        // The soft CPU limit is raised again for every job.
        Resource::Cpu => None,
        _ => current,
    };
    setrlimit(resource, Rlimit { current, maximum }).map_err(|e| SandboxError::Limit {
        what,
        source: e.into(),
    })
}

/// Installs the seccomp filters on this thread and every thread it starts
/// afterwards. Denied calls fail with `EPERM` (a library that tries to
/// open a file sees an error, not a dead process); `clone3` fails with
/// `ENOSYS`, so that the C library starts threads with `clone`, whose
/// flags the filter can read: a thread is allowed, a new process is not.
pub fn confine() -> Result<(), SandboxError> {
    let arch: TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| SandboxError::Filter(format!("{e:?}")))?;
    let denied: BTreeMap<i64, Vec<SeccompRule>> = denied_calls()
        .into_iter()
        .map(|call| (call, vec![]))
        .collect();
    let mut clone_rules = BTreeMap::new();
    clone_rules.insert(libc::SYS_clone, vec![new_process()?]);
    let filters = [
        build(denied, SeccompAction::Errno(libc::EPERM as u32), arch)?,
        build(clone_rules, SeccompAction::Errno(libc::EPERM as u32), arch)?,
        build(
            BTreeMap::from([(libc::SYS_clone3, vec![])]),
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch,
        )?,
    ];
    for filter in &filters {
        seccompiler::apply_filter(filter).map_err(|e| SandboxError::Filter(e.to_string()))?;
    }
    Ok(())
}

/// A rule matching `clone` without `CLONE_THREAD`: a new process.
fn new_process() -> Result<SeccompRule, SandboxError> {
    let thread = libc::CLONE_THREAD as u64;
    let condition = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(thread),
        0,
    )
    .map_err(|e| SandboxError::Filter(e.to_string()))?;
    SeccompRule::new(vec![condition]).map_err(|e| SandboxError::Filter(e.to_string()))
}

fn build(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    action: SeccompAction,
    arch: TargetArch,
) -> Result<BpfProgram, SandboxError> {
    SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
        .and_then(BpfProgram::try_from)
        .map_err(|e| SandboxError::Filter(e.to_string()))
}

/// Opening or changing files, the network, new programs, and reaching
/// into other processes.
fn denied_calls() -> Vec<i64> {
    let mut calls = vec![
        libc::SYS_openat,
        libc::SYS_openat2,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_mkdirat,
        libc::SYS_unlinkat,
        libc::SYS_renameat,
        libc::SYS_renameat2,
        libc::SYS_linkat,
        libc::SYS_symlinkat,
        libc::SYS_fchmodat,
        libc::SYS_fchownat,
        libc::SYS_truncate,
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_connect,
        libc::SYS_bind,
        libc::SYS_listen,
        libc::SYS_accept,
        libc::SYS_accept4,
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_kill,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_pidfd_open,
        libc::SYS_mount,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_io_uring_setup,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        libc::SYS_open,
        libc::SYS_creat,
        libc::SYS_mkdir,
        libc::SYS_unlink,
        libc::SYS_rename,
        libc::SYS_link,
        libc::SYS_symlink,
        libc::SYS_chmod,
        libc::SYS_chown,
        libc::SYS_fork,
        libc::SYS_vfork,
    ]);
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_build_for_this_machine() {
        let arch: TargetArch = std::env::consts::ARCH.try_into().expect("a known arch");
        let denied = denied_calls().into_iter().map(|c| (c, vec![])).collect();
        assert!(build(denied, SeccompAction::Errno(1), arch).is_ok());
        assert!(new_process().is_ok());
    }
}
