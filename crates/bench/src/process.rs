//! The server's CPU seconds and memory, read from `/proc/<pid>` (Linux only).

use std::time::Duration;

use anyhow::Context as _;

/// Clock ticks per second of `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
const TICKS: f64 = 100.0;

/// CPU and peak memory of a process at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// User + system CPU seconds since the process started.
    pub cpu_s: f64,
    /// `VmHWM`: peak resident set since start or the last `reset_peak`, MiB.
    pub peak_rss_mib: f64,
}

impl Sample {
    pub fn read(pid: u32) -> anyhow::Result<Sample> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
        // The command name is in parentheses and may hold spaces: count fields after the last ')'.
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default().split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of stat; fields[0] here is field 3.
        let cpu_s = (field(11) + field(12)) / TICKS;
        Ok(Sample { cpu_s, peak_rss_mib: status_kib(pid, "VmHWM:").unwrap_or(0.0) / 1024.0 })
    }
}

/// A `kB` line of `/proc/<pid>/status`.
fn status_kib(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok())
}

/// Resets the process's `VmHWM` to its current RSS, so the next sample is the peak of one scenario.
/// Needs permission over the process; without it the peak is since the start.
pub fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// Marks where a scenario's timed part starts, for the CPU and peak memory of that part only.
pub struct Meter {
    pid: Option<u32>,
    start: std::sync::Mutex<Option<Sample>>,
}

impl Meter {
    pub fn new(pid: Option<u32>) -> Meter {
        Meter { pid, start: std::sync::Mutex::new(None) }
    }

    /// Called just before the timed part: samples CPU and resets the peak.
    pub fn start(&self) -> anyhow::Result<()> {
        if let Some(pid) = self.pid {
            let sample = Sample::read(pid)?;
            reset_peak(pid);
            *self.start.lock().map_err(|_| anyhow::anyhow!("meter poisoned"))? = Some(sample);
        }
        Ok(())
    }

    pub fn started(&self) -> Option<Sample> {
        self.start.lock().ok().and_then(|s| *s)
    }
}

/// Samples `VmRSS` once a second until stopped.
pub struct RssSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<f64>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                samples.push(status_kib(pid, "VmRSS:").unwrap_or(0.0) / 1024.0);
                tokio::select! {
                    _ = &mut stopped => return samples,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
        RssSampler { stop, task }
    }

    pub async fn stop(self) -> Vec<f64> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_process() {
        let sample = super::Sample::read(std::process::id()).unwrap();
        assert!(sample.peak_rss_mib > 0.0);
        assert!(sample.cpu_s >= 0.0);
    }
}
