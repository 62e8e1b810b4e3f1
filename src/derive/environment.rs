//! §11: the `Environment` dimension (`aws.local.environment`) of a service, per platform.

use super::{present, truncate_chars};

/// The platform the CloudWatch agent would resolve for (its "platform mode"), or `Auto`: each
/// resource's own, as the agent on its host would detect it ([`detect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Platform {
    #[default]
    Auto,
    Generic,
    Ec2,
    Ecs,
    Eks,
    K8s,
    Lambda,
}

/// The resource attributes §11 reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvironmentResource<'a> {
    /// `deployment.environment.name`, else `deployment.environment`.
    pub deployment_environment: Option<&'a str>,
    /// `aws.hostedin.environment`.
    pub hosted_in: Option<&'a str>,
    /// `ec2.tag.aws:autoscaling:groupName`.
    pub autoscaling_group: Option<&'a str>,
    /// ECS cluster name (from `aws.ecs.cluster.arn` or the task ARN).
    pub ecs_cluster: Option<&'a str>,
    /// `k8s.cluster.name` (or the cluster given on the command line).
    pub k8s_cluster: Option<&'a str>,
    /// `k8s.namespace.name`.
    pub k8s_namespace: Option<&'a str>,
    /// `cloud.platform` (`aws_eks`, `aws_ecs`, `aws_ec2`, ...), read by [`Platform::Auto`].
    pub cloud_platform: Option<&'a str>,
    /// `cloud.provider` (`aws`, `gcp`, `azure`), read by [`Platform::Auto`].
    pub cloud_provider: Option<&'a str>,
}

/// The platform mode the CloudWatch agent on a resource's host would run in, from what the
/// resource says of itself: its `cloud.platform` (`aws_lambda`, `aws_eks`, `aws_ecs`, `aws_ec2`
/// or `aws_elastic_beanstalk`, which runs on EC2; a Kubernetes or OpenShift platform of another
/// kind is K8s), else a
/// Kubernetes cluster or namespace (EKS on AWS, K8s elsewhere), else an ECS cluster, else an
/// AWS `cloud.provider` (EC2), else generic.
pub fn detect(r: &EnvironmentResource<'_>) -> Platform {
    let aws = present(r.cloud_provider) == Some("aws");
    match present(r.cloud_platform) {
        Some("aws_lambda") => return Platform::Lambda,
        Some("aws_eks") => return Platform::Eks,
        Some("aws_ecs") => return Platform::Ecs,
        Some("aws_ec2" | "aws_elastic_beanstalk") => return Platform::Ec2,
        Some(
            "gcp_kubernetes_engine"
            | "azure_aks"
            | "aws_openshift"
            | "gcp_openshift"
            | "azure_openshift"
            | "ibm_cloud_openshift"
            | "alibaba_cloud_openshift"
            | "oracle_cloud_oke"
            | "tencent_cloud_eks",
        ) => return Platform::K8s,
        _ => {}
    }
    if present(r.k8s_cluster).is_some() || present(r.k8s_namespace).is_some() {
        return if aws { Platform::Eks } else { Platform::K8s };
    }
    if present(r.ecs_cluster).is_some() {
        return Platform::Ecs;
    }
    if aws { Platform::Ec2 } else { Platform::Generic }
}

/// §11: the environment of a service on `platform`; truncated to 259 characters.
pub fn environment(r: &EnvironmentResource<'_>, platform: Platform) -> String {
    let owned = |v: Option<&str>| present(v).map(str::to_string);
    let explicit = owned(r.deployment_environment);
    let platform = if platform == Platform::Auto { detect(r) } else { platform };
    let value = match platform {
        Platform::Auto => unreachable!("detect gives a platform"),
        Platform::Lambda => "lambda:default".to_string(),
        Platform::Generic => explicit.or(owned(r.hosted_in)).unwrap_or_else(|| "generic:default".into()),
        Platform::Ec2 => explicit
            .or(owned(r.hosted_in))
            .or(owned(r.autoscaling_group).map(|g| format!("ec2:{g}")))
            .unwrap_or_else(|| "ec2:default".into()),
        Platform::Ecs => explicit
            .or(owned(r.hosted_in))
            .or(owned(r.ecs_cluster).map(|c| format!("ecs:{c}")))
            .unwrap_or_else(|| "ecs:default".into()),
        Platform::Eks | Platform::K8s => explicit.unwrap_or_else(|| {
            let prefix = if platform == Platform::Eks { "eks" } else { "k8s" };
            let cluster = r.k8s_cluster.unwrap_or_default();
            let namespace = owned(r.k8s_namespace).unwrap_or_else(|| "UnknownNamespace".into());
            format!("{prefix}:{cluster}/{namespace}")
        }),
    };
    truncate_chars(&value, 259).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_11_environment_per_platform() {
        use Platform::*;
        let none = EnvironmentResource::default();
        let dep = EnvironmentResource { deployment_environment: Some("prod"), ..none };
        let hosted = EnvironmentResource { hosted_in: Some("staging"), ..none };
        let asg = EnvironmentResource { autoscaling_group: Some("web-asg"), ..none };
        let ecs = EnvironmentResource { ecs_cluster: Some("main"), ..none };
        let k8s = EnvironmentResource { k8s_cluster: Some("demo"), k8s_namespace: Some("pets"), ..none };
        let k8s_no_ns = EnvironmentResource { k8s_cluster: Some("demo"), ..none };
        let cases = [
            (dep, Generic, "prod"),                                                             // generic 1
            (hosted, Generic, "staging"),                                                       // generic 2
            (none, Generic, "generic:default"),                                                 // generic 3
            (dep, Ec2, "prod"),                                                                 // EC2 1
            (asg, Ec2, "ec2:web-asg"),                                                          // EC2 3
            (none, Ec2, "ec2:default"),                                                         // EC2 4
            (hosted, Ecs, "staging"),                                                           // ECS 2
            (ecs, Ecs, "ecs:main"),                                                             // ECS 4
            (none, Ecs, "ecs:default"),                                                         // ECS 5
            (k8s, Eks, "eks:demo/pets"),                                                        // EKS 2
            (k8s_no_ns, Eks, "eks:demo/UnknownNamespace"),                                      // EKS 2, no namespace
            (EnvironmentResource { deployment_environment: Some("prod"), ..k8s }, Eks, "prod"), // EKS 1
            (k8s, K8s, "k8s:demo/pets"),                                                        // K8s 2
            (dep, Lambda, "lambda:default"),                                                    // Lambda
        ];
        for (resource, platform, want) in cases {
            assert_eq!(environment(&resource, platform), want, "{platform:?} {resource:?}");
        }
        // Auto: each resource's own platform.
        let eks = EnvironmentResource { cloud_platform: Some("aws_eks"), cloud_provider: Some("aws"), ..k8s };
        let gke = EnvironmentResource { cloud_platform: Some("gcp_kubernetes_engine"), ..k8s };
        let aws_k8s = EnvironmentResource { cloud_provider: Some("aws"), ..k8s };
        let ecs_auto = EnvironmentResource { cloud_platform: Some("aws_ecs"), ..ecs };
        let ec2_auto = EnvironmentResource { cloud_platform: Some("aws_ec2"), ..asg };
        let beanstalk = EnvironmentResource { cloud_platform: Some("aws_elastic_beanstalk"), ..none };
        let aws_only = EnvironmentResource { cloud_provider: Some("aws"), ..none };
        let lambda = EnvironmentResource { cloud_platform: Some("aws_lambda"), ..none };
        let auto_cases = [
            (eks, "eks:demo/pets"),
            (EnvironmentResource { deployment_environment: Some("prod"), ..eks }, "prod"),
            (gke, "k8s:demo/pets"),
            (k8s, "k8s:demo/pets"),
            (aws_k8s, "eks:demo/pets"),
            (ecs_auto, "ecs:main"),
            (ecs, "ecs:main"),
            (ec2_auto, "ec2:web-asg"),
            (beanstalk, "ec2:default"),
            (aws_only, "ec2:default"),
            (lambda, "lambda:default"),
            (hosted, "staging"),
            (none, "generic:default"),
        ];
        for (resource, want) in auto_cases {
            assert_eq!(environment(&resource, Auto), want, "auto {resource:?}");
        }
        let long = "e".repeat(400);
        let r = EnvironmentResource { deployment_environment: Some(&long), ..none };
        assert_eq!(environment(&r, Generic).len(), 259);
    }
}
