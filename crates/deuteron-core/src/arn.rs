//! Amazon Resource Names for Deuteron's resources, in Proton's layout with a configurable
//! partition, region and account id.

/// Where ARNs say resources live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnConfig {
    pub partition: String,
    pub region: String,
    pub account_id: String,
}

impl Default for ArnConfig {
    fn default() -> Self {
        Self { partition: "aws".into(), region: "us-east-1".into(), account_id: "123456789012".into() }
    }
}

impl ArnConfig {
    fn arn(&self, resource: &str) -> String {
        format!("arn:{}:proton:{}:{}:{resource}", self.partition, self.region, self.account_id)
    }

    pub fn environment(&self, name: &str) -> String {
        self.arn(&format!("environment/{name}"))
    }

    pub fn service(&self, name: &str) -> String {
        self.arn(&format!("service/{name}"))
    }

    pub fn service_instance(&self, service: &str, instance: &str) -> String {
        self.arn(&format!("service/{service}/service-instance/{instance}"))
    }

    pub fn service_pipeline(&self, service: &str) -> String {
        self.arn(&format!("service/{service}/pipeline"))
    }

    pub fn component(&self, name: &str) -> String {
        self.arn(&format!("component/{name}"))
    }

    /// `repository/<provider>:<owner/repo>`, the provider in lower case.
    pub fn repository(&self, provider: &str, name: &str) -> String {
        self.arn(&format!("repository/{}:{name}", provider.to_lowercase()))
    }

    pub fn template(&self, kind: crate::TemplateKind, name: &str) -> String {
        self.arn(&format!("{}/{name}", kind.arn_type()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout() {
        let a = super::ArnConfig::default();
        assert_eq!(a.service_instance("api", "dev"), "arn:aws:proton:us-east-1:123456789012:service/api/service-instance/dev");
        assert_eq!(a.template(crate::TemplateKind::Environment, "net"), "arn:aws:proton:us-east-1:123456789012:environment-template/net");
    }
}
