//! For tests (feature `testsupport`): a throwaway PostgreSQL cluster for one test, so
//! the metadata suite and the server's tests run on a real PostgreSQL. Debian's `postgresql` binaries,
//! `initdb` in a temporary directory, a server on a free loopback port, stopped (and
//! the directory removed) when dropped. `initdb` and `pg_ctl` refuse to run as root, so
//! as root they run as the `postgres` user that Debian's package creates.
//! [`Cluster::start_with_tls`] also serves TLS, with a certificate from an authority
//! made for it ([`Cluster::ca_file`]).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// Starts a cluster; panics, saying how to get PostgreSQL, when it cannot.
    pub fn start() -> Cluster {
        Cluster::start_serving(false)
    }

    /// Starts a cluster that also accepts TLS, with a certificate for `127.0.0.1` and
    /// `localhost` signed by an authority whose certificate is [`Cluster::ca_file`].
    pub fn start_with_tls() -> Cluster {
        Cluster::start_serving(true)
    }

    /// The certificate of the authority that signed a TLS cluster's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    fn start_serving(tls: bool) -> Cluster {
        let bin = bin_dir();
        let as_postgres = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        let dir = tempfile::Builder::new().prefix("sextant-pg-").tempdir().unwrap();
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let data = dir.path().join("data");
        run(tool(&bin, "initdb", as_postgres, dir.path()).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ]));
        let ssl = if tls { certificates(dir.path(), as_postgres) } else { String::new() };
        // The port probed free may be taken before the server binds it: try again.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off{ssl}",
                dir.path().display()
            );
            let started = tool(&bin, "pg_ctl", as_postgres, dir.path())
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.path().join("log"))
                .args(["-w", "-t", "60", "-o", &options, "start"])
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if started {
                return Cluster { dir, bin, port, as_postgres };
            }
        }
        panic!("PostgreSQL did not start: {}", std::fs::read_to_string(dir.path().join("log")).unwrap_or_default());
    }

    /// Its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs SQL in its `postgres` database with `psql`; panics with psql's message when
    /// it fails.
    pub fn execute(&self, sql: &str) {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres"])
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = tool(&self.bin, "pg_ctl", self.as_postgres, self.dir.path())
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

/// Writes an authority (`ca.crt`) and a server certificate and key it signed into
/// `dir`, the key readable by its owner only (PostgreSQL refuses it otherwise), and
/// returns the server options that serve them.
fn certificates(dir: &Path, as_postgres: bool) -> String {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let (cert_file, key_file) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(&cert_file, server.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    if as_postgres {
        run(Command::new("chown").arg("postgres:").arg(&cert_file).arg(&key_file));
    }
    format!(" -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}", cert_file.display(), key_file.display())
}

/// Where `initdb` is: `$SEXTANT_PG_BIN`, Debian's newest `/usr/lib/postgresql/*/bin`, or
/// the `PATH`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SEXTANT_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).filter(|b| b.join("initdb").exists()).collect())
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    if let Some(newest) = versions.pop() {
        return newest;
    }
    let on_path =
        std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).find(|d| d.join("initdb").exists()));
    on_path.expect("PostgreSQL's initdb was not found: install Debian's postgresql (scripts/test does)")
}

/// `bin/name`, run as `postgres` when this process is root, from `dir` (which that user
/// can enter).
fn tool(bin: &Path, name: &str, as_postgres: bool, dir: &Path) -> Command {
    let mut command = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(name));
        c
    } else {
        Command::new(bin.join(name))
    };
    command.current_dir(dir);
    command
}

fn run(command: &mut Command) {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
}
