//! How Deuteron finds its AWS configuration, once per process, for CloudFormation deployments
//! and Proton bundles read from S3: the SDK's standard sources (environment, profile files, the
//! credential chain, `AWS_ENDPOINT_URL_*`), except that the region is asked of the EC2 instance
//! metadata service only on an EC2 instance. Elsewhere a server without AWS configuration would
//! probe a link-local address at every start and log the SDK's timeouts.

use aws_config::meta::region::{ProvideRegion, RegionProviderChain};
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The configuration and where its region came from.
#[derive(Debug, Clone)]
pub struct AwsSetup {
    pub config: SdkConfig,
    /// `None`: no region anywhere; AWS calls fail until one is configured.
    pub region_source: Option<&'static str>,
}

static SETUP: tokio::sync::OnceCell<AwsSetup> = tokio::sync::OnceCell::const_new();

/// The process's AWS configuration, loaded on first use.
pub async fn setup() -> &'static AwsSetup {
    SETUP.get_or_init(load).await
}

/// Whether this machine says it is an EC2 instance (from the DMI tables, without a request).
fn on_ec2() -> bool {
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string()).unwrap_or_default();
    read("/sys/devices/virtual/dmi/id/sys_vendor") == "Amazon EC2"
        || read("/sys/devices/virtual/dmi/id/board_asset_tag").starts_with("i-")
        || read("/sys/hypervisor/uuid").to_ascii_lowercase().starts_with("ec2")
}

async fn load() -> AwsSetup {
    let env = aws_config::environment::region::EnvironmentVariableRegionProvider::new();
    let profile = aws_config::profile::ProfileFileRegionProvider::new();
    let (region, region_source): (Option<Region>, Option<&'static str>) = if let Some(r) = env.region().await {
        (Some(r), Some("the environment (AWS_REGION or AWS_DEFAULT_REGION)"))
    } else if let Some(r) = profile.region().await {
        (Some(r), Some("the AWS profile"))
    } else if on_ec2() {
        let imds = aws_config::imds::region::ImdsRegionProvider::builder().build();
        let r = RegionProviderChain::first_try(imds).region().await;
        let source = r.is_some().then_some("the EC2 instance metadata");
        (r, source)
    } else {
        (None, None)
    };
    let config = match region {
        Some(r) => aws_config::defaults(BehaviorVersion::latest()).region(r).load().await,
        // No region anywhere: loading the standard chain would still look for one on the
        // metadata service (for its credential providers); AWS calls fail with "no region".
        None => SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build(),
    };
    AwsSetup { config, region_source }
}

impl AwsSetup {
    /// One line for the log: what AWS features work and why not when they do not.
    pub fn describe(&self) -> String {
        match (self.config.region(), self.region_source) {
            (Some(r), Some(from)) => format!(
                "AWS region {r} (from {from}): CloudFormation deployments and Proton bundles from S3 use the SDK's standard credentials"
            ),
            _ => "no AWS region configured (AWS_REGION, AWS_DEFAULT_REGION or an AWS profile): CloudFormation deployments and Proton bundles from S3 are off until one is set; everything else works".into(),
        }
    }
}
