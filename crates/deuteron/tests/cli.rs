//! The `deuteron` binary end to end: every sample bundle registers and publishes, every golden
//! case renders through `deuteron render`, and failures exit with the documented codes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::shared;

fn samples() -> PathBuf {
    shared().join("fixtures/proton-samples/cloudformation")
}

struct Cli {
    data: tempfile::TempDir,
    database_url: Option<String>,
}

impl Cli {
    fn new() -> Self {
        Self { data: tempfile::tempdir().unwrap(), database_url: None }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deuteron"));
        cmd.arg("--data-dir").arg(self.data.path()).args(args).env_remove("DEUTERON_DATABASE_URL").env_remove("DEUTERON_OUTPUT");
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.output().unwrap()
    }

    /// Runs and asserts success, returning stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "deuteron {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["--output", "json"]);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    /// Runs, asserts the exit code, returns stderr.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "deuteron {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stderr).unwrap()
    }
}

/// `(template name, bundle dir)` of every sample bundle: the folder holding `schema/`.
/// Sample bundles as `(template name, bundle dir)`.
type Bundles = Vec<(String, PathBuf)>;

fn sample_bundles() -> (Bundles, Bundles) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.join("schema/schema.yaml").exists() {
                    out.push(p.clone());
                }
                walk(&p, out);
            }
        }
    }
    let mut all = Vec::new();
    walk(&samples(), &mut all);
    all.sort();
    let (mut envs, mut svcs) = (Vec::new(), Vec::new());
    for b in all {
        let name = b.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
        let schema = std::fs::read_to_string(b.join("schema/schema.yaml")).unwrap();
        if schema.contains("environment_input_type") { envs.push((name, b)) } else { svcs.push((name, b)) }
    }
    (envs, svcs)
}

fn register_all(cli: &Cli) -> usize {
    let (envs, svcs) = sample_bundles();
    assert_eq!((envs.len(), svcs.len()), (6, 17), "the sample repository's bundles");
    for (kind, list) in [("environment", &envs), ("service", &svcs)] {
        for (name, dir) in list {
            cli.ok(&["template", "create", kind, name]);
            let v = cli.json(&["template", "version", "register", kind, name, dir.to_str().unwrap(), "--publish"]);
            assert_eq!((v["version"].as_str(), v["status"].as_str()), (Some("1.0"), Some("PUBLISHED")), "{name}: {v}");
        }
    }
    envs.len() + svcs.len()
}

#[test]
fn every_sample_bundle_registers_and_publishes() {
    let cli = Cli::new();
    let n = register_all(&cli);
    let list = cli.json(&["template", "list"]);
    assert_eq!(list.as_array().unwrap().len(), n);
    assert!(list.as_array().unwrap().iter().all(|t| t["recommendedVersion"] == "1.0"), "{list}");
    let v = cli.json(&["template", "version", "show", "service", "load-balanced-fargate-svc", "1.0"]);
    assert_eq!(v["compatibleEnvironmentTemplates"], serde_json::json!([{"templateName": "fargate-env", "majorVersion": "1"}]));
    // The table output names the columns and rows.
    let table = cli.ok(&["template", "list", "environment"]);
    assert!(table.starts_with("KIND ") && table.contains("fargate-env") && !table.contains("load-balanced"), "{table}");
}

#[test]
fn every_sample_bundle_registers_on_postgres_too() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(deuteron_store::testing::fresh_postgres_url());
    let cli = Cli { data: tempfile::tempdir().unwrap(), database_url: Some(url) };
    let n = register_all(&cli);
    assert_eq!(cli.json(&["template", "list"]).as_array().unwrap().len(), n);
    assert!(!cli.data.path().join("deuteron.db").exists(), "with --database-url no SQLite file is made");
}

#[test]
fn every_golden_case_renders_through_the_cli() {
    let golden = shared().join("fixtures/proton-samples/golden");
    let mut cases = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.join("context.json").exists() {
                out.push(p.clone());
            } else if p.is_dir() {
                walk(&p, out);
            }
        }
    }
    walk(&golden, &mut cases);
    assert_eq!(cases.len(), 40);
    let cli = Cli::new();
    for case in cases {
        let ctx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(case.join("context.json")).unwrap()).unwrap();
        let bundle = samples().join(ctx["bundle"].as_str().unwrap());
        let out = tempfile::tempdir().unwrap();
        cli.ok(&[
            "render",
            bundle.to_str().unwrap(),
            "--context",
            case.join("context.json").to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ]);
        let diff = Command::new("diff").arg("-r").arg(out.path()).arg(&case).output().unwrap();
        let text = String::from_utf8_lossy(&diff.stdout);
        let expected = format!("Only in {}: context.json\n", case.display());
        assert_eq!(text, expected, "diff -r for {}", case.display());
    }
}

#[test]
fn render_from_a_spec_validates_inputs() {
    let cli = Cli::new();
    let env = samples().join("environment-templates/fargate-env");
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    cli.ok(&[
        "render",
        env.join("v1").to_str().unwrap(),
        "--spec",
        env.join("spec/spec.yaml").to_str().unwrap(),
        "--out",
        o,
        "--name",
        "dev",
    ]);
    let cfn = std::fs::read_to_string(out.path().join("infrastructure/cloudformation.yaml")).unwrap();
    assert!(cfn.contains("10.0.0.0/16"), "defaults reach the template");

    let bad = out.path().join("bad.yaml");
    std::fs::write(&bad, "proton: EnvironmentSpec\nspec:\n  vpc_cidr: not-a-cidr\n  nope: 1\n").unwrap();
    let err = cli.fails(3, &["render", env.join("v1").to_str().unwrap(), "--spec", bad.to_str().unwrap(), "--out", o]);
    assert!(err.contains("the spec does not satisfy the bundle's schema"), "{err}");
    assert!(err.contains("$.spec.vpc_cidr: must match pattern"), "{err}");
    assert!(err.contains("(rule: pattern, value: \"not-a-cidr\")"), "{err}");
    assert!(err.contains("$.spec.nope: unknown input nope (not in the schema) (rule: additionalProperties, value: 1)"), "{err}");

    let svc = samples().join("service-templates/load-balanced-fargate-svc");
    let outputs = out.path().join("outputs.json");
    let names = [
        "CloudMapNamespaceId",
        "Cluster",
        "PrivateSubnet1",
        "PrivateSubnet2",
        "PublicSubnet1",
        "PublicSubnet2",
        "SNSRegion",
        "SNSTopicArn",
        "ServiceTaskDefExecutionRoleArn",
        "VPC",
    ];
    let env_outputs: serde_json::Map<String, serde_json::Value> =
        names.iter().map(|n| (n.to_string(), serde_json::json!(format!("{n}-value")))).collect();
    std::fs::write(&outputs, serde_json::json!({"fargate-env-prod": env_outputs}).to_string()).unwrap();
    let listed = cli.json(&[
        "render",
        svc.join("v1").to_str().unwrap(),
        "--spec",
        svc.join("spec/spec.yaml").to_str().unwrap(),
        "--out",
        o,
        "--name",
        "lb",
        "--environment-outputs",
        outputs.to_str().unwrap(),
    ]);
    let files: Vec<&str> = listed["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(
        files.iter().any(|f| f.ends_with("instance-load-balanced-fargate-svc-prod/instance_infrastructure/cloudformation.yaml")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with("pipeline/pipeline_infrastructure/cloudformation.yaml")), "{files:?}");
    // Without the environment's outputs, strict rendering names the missing reference.
    let err =
        cli.fails(3, &["render", svc.join("v1").to_str().unwrap(), "--spec", svc.join("spec/spec.yaml").to_str().unwrap(), "--out", o]);
    assert!(
        err.contains("instance_infrastructure/cloudformation.yaml:") && err.contains("undefined value in `environment.outputs."),
        "{err}"
    );
}

#[test]
fn exit_codes_and_errors() {
    let cli = Cli::new();
    let err = cli.fails(4, &["template", "show", "environment", "ghost"]);
    assert_eq!(err, "error: environment template ghost not found\n");
    cli.ok(&["template", "create", "env", "net"]);
    let err = cli.fails(5, &["template", "create", "env", "net"]);
    assert_eq!(err, "error: environment template net already exists\n");
    let err = cli.fails(3, &["template", "create", "env", "bad/name"]);
    assert_eq!(err, "error: template name: name \"bad/name\" contains '/'; only letters, digits, '-' and '_' are allowed\n");
    let err = cli.fails(3, &["template", "version", "publish", "env", "net", "1"]);
    assert_eq!(err, "error: version \"1\" is not of the form MAJOR.MINOR (for example 1.0)\n");
    let err = cli.fails(4, &["template", "version", "publish", "env", "net", "9.9"]);
    assert_eq!(err, "error: environment template net version 9.9 not found\n");
    let missing = cli.data.path().join("missing");
    let err = cli.fails(3, &["template", "version", "register", "env", "net", missing.to_str().unwrap()]);
    assert!(err.starts_with("error: invalid bundle ") && err.contains("cannot read"), "{err}");
    let err = cli.fails(
        3,
        &[
            "--output",
            "json",
            "template",
            "version",
            "register",
            "env",
            "net",
            samples().join("service-templates/apprunner-svc/v1").to_str().unwrap(),
        ],
    );
    let doc: serde_json::Value = serde_json::from_str(&err).unwrap();
    assert_eq!(doc["error"]["type"], "InvalidBundle");
    assert_eq!(
        doc["error"]["message"],
        "invalid bundle: schema/schema.yaml:1: an environment template's schema needs environment_input_type"
    );
    assert_eq!(cli.json(&["template", "version", "list", "env", "net"]), serde_json::json!([]), "nothing stored");
    let e = cli.fails(2, &["template", "create", "nonsense", "x"]);
    assert!(e.contains("invalid value 'nonsense'"), "{e}");
    // Oversized bundles, with the limit configured on the command line.
    let dir = samples().join("environment-templates/vpc-env/v1");
    let err = cli.fails(3, &["--bundle-max-file-bytes", "100", "template", "version", "register", "env", "net", dir.to_str().unwrap()]);
    assert!(err.contains("bytes, over the limit of 100 bytes"), "{err}");
}

#[test]
fn help_and_completions() {
    let cli = Cli::new();
    for args in [
        vec!["--help"],
        vec!["server", "--help"],
        vec!["template", "--help"],
        vec!["template", "version", "register", "--help"],
        vec!["render", "--help"],
        vec!["migrate", "--help"],
        vec!["completions", "--help"],
    ] {
        let out = cli.ok(&args);
        assert!(out.contains("Usage: deuteron"), "{args:?}: {out}");
    }
    // A client command's help shows its own flags and the global ones, not the server settings.
    let help = cli.ok(&["deployment", "logs", "--help"]);
    assert!(help.lines().count() < 40 && !help.contains("--bundle-max") && help.contains("Examples:"), "{help}");
    let help = cli.ok(&["server", "--help"]);
    assert!(help.contains("--bundle-max-files / DEUTERON_BUNDLE_MAX_FILES") && !help.contains("as they land"), "{help}");
    for shell in ["bash", "zsh", "fish"] {
        assert!(cli.ok(&["completions", shell]).contains("template"), "{shell}");
    }
    // `deuteron completions zsh | head`: a reader that went away ends the command quietly.
    for args in [vec!["completions", "zsh"], vec!["template", "list"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_deuteron"))
            .arg("--data-dir")
            .arg(cli.data.path())
            .args(&args)
            .env_remove("DEUTERON_DATABASE_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

#[test]
fn server_serves_health_and_metrics_and_stops_on_sigterm() {
    let cli = Cli::new();
    cli.ok(&["template", "create", "env", "net"]);
    let log = cli.data.path().join("server.log");
    // No AWS configuration at all: no metadata-service probing, one line that says so.
    std::fs::write(cli.data.path().join("empty-aws-config"), "").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_deuteron"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(cli.data.path())
        .env_remove("DEUTERON_DATABASE_URL")
        .env_remove("DEUTERON_ADMIN_ACCESS_KEY_ID")
        .env_remove("DEUTERON_ADMIN_SECRET_ACCESS_KEY")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", cli.data.path().join("empty-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", cli.data.path().join("empty-aws-config"))
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let port = common::listening_port(&log, &mut child);
    let addr = format!("127.0.0.1:{port}");
    let health = http_get(&addr, "/healthz");
    assert_eq!(health, Some((200, "ok\n".to_string())));
    assert_eq!(http_get(&addr, "/readyz"), Some((200, "ready\n".to_string())));
    let (status, metrics) = http_get(&addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("deuteron_templates{kind=\"environment\"} 1"), "{metrics}");
    assert!(metrics.contains("deuteron_http_requests_total{route=\"/healthz\",status=\"200\"} 1"), "{metrics}");
    assert_eq!(http_get(&addr, "/nope").map(|r| r.0), Some(404));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("deuteron server listening") && log.contains("deuteron server stopped"), "{log}");
    assert_eq!(log.matches("no AWS region configured").count(), 1, "{log}");
    assert!(!log.to_lowercase().contains("imds") && !log.contains("aws_config") && !log.contains("aws_runtime"), "{log}");
    // The first start prints the generated key as ID:SECRET and where the console is.
    let key = log.lines().map(str::trim).find(|l| l.starts_with("AKID") && l.contains(':')).unwrap_or_else(|| panic!("{log}"));
    assert!(log.contains(&format!("Sign in to the console at http://127.0.0.1:{port}/")), "{log}");
    assert!(log.contains(&format!("DEUTERON_ACCESS_KEY={key}")), "{log}");
}

#[test]
fn the_data_directory_is_private_and_an_open_one_is_warned_about_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("state/data");
    common::deuteron_ok(&data, &["template", "create", "env", "net"]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let mut files: Vec<String> = Vec::new();
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        files.push(p.file_name().unwrap().to_string_lossy().into_owned());
    }
    files.sort();
    assert!(files.contains(&"deuteron.db".to_string()) && files.contains(&"server.key".to_string()), "{files:?}");

    // A store made open by hand: the server starts and says what to close.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("deuteron.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let log = root.path().join("server.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_deuteron"))
        .args(["server", "--no-examples", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("DEUTERON_DATABASE_URL")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    common::listening_port(&log, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("readable by other users")).collect();
    assert!(warnings.len() >= 2, "the directory and the database (with its WAL files): {text}");
    assert!(warnings.iter().any(|l| l.contains(&format!("chmod 700 {}", data.display()))), "{text}");
    assert!(warnings.iter().any(|l| l.contains(&format!("chmod 600 {}", data.join("deuteron.db").display()))), "{text}");
}

#[test]
fn the_same_bundle_is_not_registered_twice_unless_allowed() {
    let cli = Cli::new();
    let (name, bundle) = sample_bundles().0.remove(0);
    cli.ok(&["template", "create", "env", &name]);
    cli.ok(&["template", "version", "register", "env", &name, bundle.to_str().unwrap(), "--publish"]);
    let err = cli.fails(5, &["template", "version", "register", "env", &name, bundle.to_str().unwrap(), "--major", "1"]);
    assert!(err.contains("same content as version 1.0 (PUBLISHED") && err.contains("--allow-same-content"), "{err}");
    let versions = cli.json(&["template", "version", "list", "env", &name]);
    assert_eq!(versions.as_array().unwrap().len(), 1, "nothing was stored: {versions}");
    let v = cli.json(&["template", "version", "register", "env", &name, bundle.to_str().unwrap(), "--major", "1", "--allow-same-content"]);
    assert_eq!(v["version"], "1.1");
    assert!(v.get("startedRollout").is_none(), "not published, no rollout: {v}");
}
