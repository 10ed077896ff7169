//! Picking the compute device from a user's string.
use tch::Device;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device `{0}`: use cpu, cuda, cuda:N or auto")]
    Unknown(String),
    #[error("device `{0}` asked for, but CUDA is not available (no GPU or a CPU-only libtorch)")]
    NoCuda(String),
    #[error("device `{name}` asked for, but only {count} CUDA device(s) exist")]
    NoSuchGpu { name: String, count: usize },
}

/// CPU threads for each of `sharing` workers that split this machine's
/// cores (at least one each).
pub fn cpu_share(sharing: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    share_of(cores, sharing)
}

fn share_of(cores: usize, sharing: usize) -> usize {
    (cores / sharing.max(1)).max(1)
}

/// The machine a job ran on, for its report.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Machine {
    pub host: String,
    pub cpu: String,
    pub cores: usize,
    pub os: String,
}

impl Machine {
    /// This machine, from /proc and /etc where Linux has them ("" elsewhere).
    pub fn this() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| {
                    v.trim_start_matches([' ', '\t', ':', '='])
                        .trim_matches('"')
                        .trim()
                        .to_string()
                })
                .unwrap_or_default()
        };
        Self {
            host: read("/proc/sys/kernel/hostname").trim().to_string(),
            cpu: field(&read("/proc/cpuinfo"), "model name"),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: field(&read("/etc/os-release"), "PRETTY_NAME"),
        }
    }
}

/// What the user asked for, before looking at the hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    Auto,
    Cpu,
    Cuda(usize),
}

pub fn parse_device(s: &str) -> Result<DeviceRequest, DeviceError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(DeviceRequest::Auto),
        "cpu" => Ok(DeviceRequest::Cpu),
        "cuda" | "gpu" => Ok(DeviceRequest::Cuda(0)),
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(DeviceRequest::Cuda)
            .ok_or_else(|| DeviceError::Unknown(s.to_string())),
    }
}

/// Resolves a device string against the hardware: `auto` is the first GPU when
/// there is one, else the CPU; an explicit GPU that is missing is an error.
pub fn select_device(s: &str) -> Result<Device, DeviceError> {
    match parse_device(s)? {
        DeviceRequest::Cpu => Ok(Device::Cpu),
        DeviceRequest::Auto => Ok(Device::cuda_if_available()),
        DeviceRequest::Cuda(n) => {
            if !tch::Cuda::is_available() {
                return Err(DeviceError::NoCuda(s.to_string()));
            }
            let count = tch::Cuda::device_count() as usize;
            if n >= count {
                return Err(DeviceError::NoSuchGpu {
                    name: s.to_string(),
                    count,
                });
            }
            Ok(Device::Cuda(n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_are_split_fairly_and_never_to_zero() {
        assert_eq!(share_of(16, 4), 4);
        assert_eq!(share_of(2, 2), 1);
        assert_eq!(share_of(2, 4), 1);
        assert_eq!(share_of(8, 0), 8);
    }

    #[test]
    fn parses_names() {
        assert_eq!(parse_device("auto").unwrap(), DeviceRequest::Auto);
        assert_eq!(parse_device("CPU").unwrap(), DeviceRequest::Cpu);
        assert_eq!(parse_device("cuda").unwrap(), DeviceRequest::Cuda(0));
        assert_eq!(parse_device("cuda:3").unwrap(), DeviceRequest::Cuda(3));
        assert!(parse_device("cuda:x").is_err());
        assert!(parse_device("metal").is_err());
    }

    #[test]
    fn auto_and_cpu_always_resolve() {
        assert_eq!(select_device("cpu").unwrap(), Device::Cpu);
        let auto = select_device("auto").unwrap();
        assert_eq!(auto.is_cuda(), tch::Cuda::is_available());
        if !tch::Cuda::is_available() {
            let e = select_device("cuda:0").unwrap_err().to_string();
            assert!(e.contains("CUDA is not available"), "{e}");
        }
    }
}
