//! Redis deployments of a test's own, beside the shared server: a Redis
//! Cluster of three primaries (with a replica each when asked), and a
//! server that speaks only TLS, with a certificate authority the test
//! makes with `openssl`. Each server logs to a file under the test's
//! folder; a test that fails prints their tails (see [`print_log_tails`]),
//! and one that finds no `redis-server`, `redis-cli` or `openssl` on the
//! PATH says which it lacks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::app::print_log_tails;
use super::s3::free_port;

/// How long a cluster node may be silent before its replica takes over;
/// short, so that a failover test takes seconds.
const NODE_TIMEOUT_MS: u64 = 1000;

/// Fails the test, saying so, when `tool` is not on the PATH.
fn require(tool: &str, version_flag: &str) {
    let found = Command::new(tool)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "this test needs `{tool}` on the PATH, and it is not there; install it (Debian: apt-get install redis-server openssl) and run the test again"
    );
}

/// A folder for a deployment's files and logs.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("avatar-test-redis")
        .join(format!("{name}-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(dir.join("logs")).expect("cannot create a folder for a test's Redis");
    dir
}

/// Waits until something listens on `port`.
fn wait_for_port(port: u16, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            print_log_tails(&dir.join("logs"));
            panic!("redis-server on port {port} did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis-server` on `port`, logging to `dir`.
fn server(dir: &Path, port: u16, args: &[&str]) -> Child {
    let node_dir = dir.join(format!("node-{port}"));
    std::fs::create_dir_all(&node_dir).expect("cannot create a node's folder");
    Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&node_dir)
        .arg("--logfile")
        .arg(dir.join("logs").join(format!("redis-{port}.log")))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start redis-server")
}

/// Runs `redis-cli -p port args` (over TLS with the authority `ca` when
/// given), returning its output.
fn cli(ca: Option<&Path>, port: u16, args: &[&str]) -> String {
    let mut command = Command::new("redis-cli");
    if let Some(ca) = ca {
        command.arg("--tls").arg("--cacert").arg(ca);
    }
    let output = command
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run redis-cli");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A node of a cluster on `port`, with its files in `dir`: started again
/// on the same files, it rejoins the cluster it was in. With `tls`, it
/// speaks only TLS, to clients and to the other nodes.
fn cluster_node(dir: &Path, port: u16, tls: bool) -> Child {
    let listen = if tls {
        let mut options = tls_options(dir, port);
        options.extend(["--tls-cluster", "yes", "--tls-replication", "yes"].map(str::to_owned));
        options
    } else {
        vec!["--port".to_owned(), port.to_string()]
    };
    let listen: Vec<&str> = listen.iter().map(String::as_str).collect();
    server(
        dir,
        port,
        &[
            &listen[..],
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &format!("nodes-{port}.conf"),
                "--cluster-node-timeout",
                &NODE_TIMEOUT_MS.to_string(),
                // A replica syncs at once, and takes over however long ago it
                // last heard from its primary.
                "--repl-diskless-sync-delay",
                "0",
                "--cluster-replica-validity-factor",
                "0",
            ],
        ]
        .concat(),
    )
}

/// One node of a [`RedisCluster`].
struct Node {
    port: u16,
    child: Option<Child>,
}

/// A Redis Cluster of three primaries on free ports, each with `replicas`
/// replicas. Dropping it stops every node and deletes its files, unless
/// the test is failing: then it prints the tails of the nodes' logs.
pub struct RedisCluster {
    nodes: Vec<Node>,
    replicas: usize,
    dir: PathBuf,
    /// Whether the nodes speak only TLS (certificates in `dir`).
    tls: bool,
}

impl RedisCluster {
    pub fn start(replicas: usize) -> Self {
        Self::start_with(replicas, false)
    }

    /// A cluster of three primaries without replicas that speaks only TLS,
    /// with a certificate authority of its own ([`Self::ca_file`]).
    pub fn start_tls() -> Self {
        Self::start_with(0, true)
    }

    fn start_with(replicas: usize, tls: bool) -> Self {
        require("redis-server", "--version");
        require("redis-cli", "--version");
        let dir = fresh_dir("cluster");
        if tls {
            require("openssl", "version");
            make_certificates(&dir);
        }
        let count = 3 * (1 + replicas);
        let mut nodes = Vec::with_capacity(count);
        for _ in 0..count {
            let port = free_port();
            let child = cluster_node(&dir, port, tls);
            nodes.push(Node {
                port,
                child: Some(child),
            });
        }
        let cluster = Self {
            nodes,
            replicas,
            dir,
            tls,
        };
        for node in &cluster.nodes {
            wait_for_port(node.port, &cluster.dir);
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut create = Command::new("redis-cli");
        if tls {
            create.arg("--tls").arg("--cacert").arg(cluster.ca_file());
        }
        let created = create
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("cannot run redis-cli --cluster create");
        std::fs::write(
            cluster.dir.join("logs").join("cluster-create.log"),
            &created.stdout,
        )
        .expect("cannot keep redis-cli's output");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_until_ok(count);
        cluster.wait_until_replicas_synced();
        cluster
    }

    /// Waits until every replica has its primary's data, so that it can
    /// take over.
    fn wait_until_replicas_synced(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &self.nodes {
            loop {
                let info = self.cli(node.port, &["info", "replication"]);
                if info.contains("role:master") || info.contains("master_link_status:up") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the replica on port {} did not sync: {info}",
                    node.port
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Waits until every live node sees the cluster as ok and `known`
    /// nodes in it.
    fn wait_until_ok(&self, known: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            loop {
                let info = self.cli(node.port, &["cluster", "info"]);
                if info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{known}"))
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not become ok: {info}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// `redis-cli` on the node at `port`, over TLS when the cluster is.
    fn cli(&self, port: u16, args: &[&str]) -> String {
        let ca = self.tls.then(|| self.ca_file());
        cli(ca.as_deref(), port, args)
    }

    /// The PEM file of the authority that signed a TLS cluster's
    /// certificate, for `AVATARS_REDIS_CA_FILE`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// How many replicas each primary has.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// `AVATARS_REDIS_URL` for the cluster: every node, comma-separated.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let scheme = if self.tls { "rediss" } else { "redis" };
                format!("{scheme}://127.0.0.1:{}", n.port)
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port of the primary that serves `key`'s slot.
    pub fn primary_of(&self, key: &str) -> u16 {
        self.serving(key)
            .unwrap_or_else(|| panic!("no healthy primary serves the slot of {key}"))
    }

    /// The port of the healthy primary that serves `key`'s slot, if one
    /// does.
    fn serving(&self, key: &str) -> Option<u16> {
        let live = self
            .nodes
            .iter()
            .find(|n| n.child.is_some())
            .expect("a live node");
        let slot: u16 = self
            .cli(live.port, &["cluster", "keyslot", key])
            .trim()
            .parse()
            .expect("a slot");
        for line in self.cli(live.port, &["cluster", "nodes"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => {
                    a.parse::<u16>().is_ok_and(|a| a <= slot)
                        && b.parse::<u16>().is_ok_and(|b| slot <= b)
                }
                None => range.parse::<u16>().is_ok_and(|s| s == slot),
            });
            if serves {
                let port = fields[1]
                    .split(['@', ':'])
                    .nth(1)
                    .and_then(|p| p.parse().ok())
                    .expect("a node address");
                return Some(port);
            }
        }
        None
    }

    /// Kills the node on `port` (SIGKILL), as a host that dies.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        stop(&mut node.child);
    }

    /// Starts the node on `port` again, after [`Self::kill`]: it rejoins the
    /// cluster, as a replica once another node has taken over its slots,
    /// and is waited for until it has synced.
    pub fn restart(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        node.child = Some(cluster_node(&self.dir, port, self.tls));
        wait_for_port(port, &self.dir);
        self.wait_until_replicas_synced();
    }

    /// Waits until a live primary other than `port` serves `key`'s slot: the
    /// killed primary's replica has been promoted.
    pub fn wait_for_failover(&self, key: &str, port: u16) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.serving(key) {
                Some(primary) if primary != port => return primary,
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "no replica took over from the primary on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            stop(&mut node.child);
        }
        clean_up(&self.dir);
    }
}

/// Kills a server (SIGKILL), if it runs.
fn stop(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Prints the logs of a failing test's deployment, or deletes its folder.
fn clean_up(dir: &Path) {
    if std::thread::panicking() {
        print_log_tails(&dir.join("logs"));
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Makes, in `dir`, a certificate authority (`ca.crt`) and a certificate
/// for 127.0.0.1 it signed (`server.crt`, `server.key`), with `openssl`.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run openssl");
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    std::fs::write(
            dir.join("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("cannot write the certificate's extensions");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=avatars test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
}

/// The `redis-server` options of a TLS-only server with the certificates
/// of [`make_certificates`] in `dir`, on `port`.
fn tls_options(dir: &Path, port: u16) -> Vec<String> {
    let path = |name: &str| dir.join(name).display().to_string();
    [
        "--port".to_owned(),
        "0".to_owned(),
        "--tls-port".to_owned(),
        port.to_string(),
        "--tls-cert-file".to_owned(),
        path("server.crt"),
        "--tls-key-file".to_owned(),
        path("server.key"),
        "--tls-ca-cert-file".to_owned(),
        path("ca.crt"),
        "--tls-auth-clients".to_owned(),
        "no".to_owned(),
    ]
    .into()
}

/// A `redis-server` that speaks only TLS, with a certificate for
/// 127.0.0.1 signed by a certificate authority made for it.
pub struct TlsRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl TlsRedis {
    pub fn start() -> Self {
        require("redis-server", "--version");
        require("openssl", "version");
        let dir = fresh_dir("tls");
        make_certificates(&dir);
        let port = free_port();
        let options = tls_options(&dir, port);
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        let child = server(&dir, port, &options);
        let server = Self {
            port,
            dir,
            child: Some(child),
        };
        wait_for_port(port, &server.dir);
        server
    }

    /// `AVATARS_REDIS_URL` for this server.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// The PEM file of the certificate authority that signed its
    /// certificate, for `AVATARS_REDIS_CA_FILE`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        stop(&mut self.child);
        clean_up(&self.dir);
    }
}

/// A plain `redis-server` of the test's own, for a test that reads the
/// server's statistics (`INFO commandstats`, `SLOWLOG`) and must not count
/// other tests' commands; `args` are extra `redis-server` options.
pub struct OwnRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnRedis {
    pub fn start(args: &[&str]) -> Self {
        require("redis-server", "--version");
        let dir = fresh_dir("own");
        let port = free_port();
        let port_arg = port.to_string();
        let mut all = vec!["--port", &port_arg];
        all.extend_from_slice(args);
        let child = server(&dir, port, &all);
        wait_for_port(port, &dir);
        Self {
            port,
            dir,
            child: Some(child),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        stop(&mut self.child);
        clean_up(&self.dir);
    }
}
