//! CloudFormation bundles deployed by `deuteron server` against a local moto server: the AWS
//! SDK's standard configuration (AWS_ENDPOINT_URL_CLOUDFORMATION, AWS_REGION, credentials)
//! points Deuteron at it. Environment stack (VPC, subnet, SNS topic), service instance stacks
//! (SQS queue, SSM parameter) using the environment's outputs, a directly defined component
//! (Proton's S3 bucket sample) whose outputs reach the instance, update, delete, and a failing
//! stack reported FAILED with CloudFormation's reason.

use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::*;

const MANIFEST: &str = "infrastructure:\n  templates:\n    - file: \"cloudformation.yaml\"\n      rendering_engine: jinja\n      template_language: cloudformation\n";

const ENV_SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"In\"\n  types:\n    In:\n      type: object\n      properties:\n        vpc_cidr:\n          type: string\n          default: 10.0.0.0/16\n        subnet_cidr:\n          type: string\n          default: 10.0.1.0/24\n";

const ENV_CFN: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Description: Network for {{ environment.name }}
Resources:
  VPC:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: '{{ environment.inputs.vpc_cidr }}'
  Subnet:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref VPC
      CidrBlock: '{{ environment.inputs.subnet_cidr }}'
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: '{{ environment.name }}-events'
Outputs:
  VpcId:
    Value: !Ref VPC
  SubnetId:
    Value: !Ref Subnet
  TopicArn:
    Value: !Ref Topic
"#;

const SVC_SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  service_input_type: \"In\"\n  types:\n    In:\n      type: object\n      properties:\n        fifo:\n          type: boolean\n          default: false\n        retention:\n          type: number\n          default: 345600\n";

const SVC_CFN: &str = r#"Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: '{{ service.name }}-{{ service_instance.name }}'
{%- if service_instance.inputs.fifo %}
      FifoQueue: true
{%- endif %}
      MessageRetentionPeriod: {{ service_instance.inputs.retention }}
  Parameter:
    Type: AWS::SSM::Parameter
    Properties:
      Name: '/{{ service.name }}/{{ service_instance.name }}/network'
      Type: String
      Value: '{{ environment.outputs.VpcId }} {{ environment.outputs.TopicArn }}'
Outputs:
  QueueUrl:
    Value: !Ref Queue
  ParameterName:
    Value: !Ref Parameter
  ComponentBucket:
    Value: '{{ service_instance.components.default.outputs.BucketName | default("none") }}'
"#;

#[test]
fn cloudformation_stacks_on_moto() {
    let moto = moto();
    let endpoint = moto.endpoint.clone();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let aws_env = [
        ("AWS_ENDPOINT_URL_CLOUDFORMATION", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let cli = |args: &[&str]| deuteron(&data, args);
    let ok = |args: &[&str]| -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        let (code, out, err) = cli(&a);
        assert_eq!(code, Some(0), "deuteron {args:?}: {err}");
        serde_json::from_str(&out).unwrap()
    };
    let write = |base: &Path, files: &[(&str, &str)]| {
        for (p, c) in files {
            std::fs::create_dir_all(base.join(p).parent().unwrap()).unwrap();
            std::fs::write(base.join(p), c).unwrap();
        }
    };
    let env_bundle = dir.path().join("net");
    write(
        &env_bundle,
        &[("schema/schema.yaml", ENV_SCHEMA), ("infrastructure/manifest.yaml", MANIFEST), ("infrastructure/cloudformation.yaml", ENV_CFN)],
    );
    let svc_bundle = dir.path().join("queue");
    write(
        &svc_bundle,
        &[
            ("schema/schema.yaml", SVC_SCHEMA),
            ("instance_infrastructure/manifest.yaml", MANIFEST),
            ("instance_infrastructure/cloudformation.yaml", SVC_CFN),
            (".compatible-envs", "net:1\n"),
        ],
    );
    ok(&["template", "create", "env", "net"]);
    ok(&["template", "version", "register", "env", "net", env_bundle.to_str().unwrap(), "--publish"]);
    ok(&["template", "create", "service", "queue", "--customer-managed"]);
    ok(&["template", "version", "register", "service", "queue", svc_bundle.to_str().unwrap(), "--components", "--publish"]);

    let mut server = Command::new(env!("CARGO_BIN_EXE_deuteron"));
    server.arg("--data-dir").arg(&data).args(["server", "--listen", "127.0.0.1:0"]).stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in aws_env {
        server.env(k, v);
    }
    let _server = Killed(server.spawn().unwrap());

    let spec = dir.path().join("env.yaml");
    std::fs::write(&spec, "proton: EnvironmentSpec\nspec:\n  vpc_cidr: 10.20.0.0/16\n  subnet_cidr: 10.20.1.0/24\n").unwrap();
    let env = ok(&[
        "env",
        "create",
        "dev",
        "--template",
        "net",
        "--major",
        "1",
        "--spec",
        spec.to_str().unwrap(),
        "--role-arn",
        "arn:aws:iam::123456789012:role/deployer",
        "--wait",
    ]);
    assert_eq!(env["deploymentStatus"], "SUCCEEDED", "{env}");
    let outputs = ok(&["env", "outputs", "dev"]);
    let get = |o: &serde_json::Value, k: &str| {
        o.as_array().unwrap().iter().find(|x| x["key"] == k).map(|x| x["valueString"].as_str().unwrap().to_string()).unwrap()
    };
    let vpc = get(&outputs, "VpcId");
    assert!(vpc.starts_with("vpc-"), "{outputs}");
    assert_eq!(get(&outputs, "TopicArn"), "arn:aws:sns:us-east-1:123456789012:dev-events");
    let id = env["lastSucceededDeploymentId"].as_str().unwrap().to_string();
    let (_, log, _) = cli(&["deployment", "logs", &id]);
    assert!(
        log.contains("creating stack deuteron-env-dev") && log.contains("deuteron-env-dev AWS::CloudFormation::Stack CREATE_COMPLETE"),
        "stack events reach the log: {log}"
    );

    let svc_spec = dir.path().join("svc.yaml");
    std::fs::write(&svc_spec, "proton: ServiceSpec\ninstances:\n  - name: q1\n    environment: dev\n  - name: q2\n    environment: dev\n    spec:\n      retention: 60\n").unwrap();
    let svc = ok(&["service", "create", "jobs", "--template", "queue", "--major", "1", "--spec", svc_spec.to_str().unwrap(), "--wait"]);
    assert_eq!(svc["status"], "ACTIVE", "{svc}");
    let q1 = ok(&["instance", "outputs", "jobs", "q1"]);
    assert!(get(&q1, "QueueUrl").ends_with("/jobs-q1"), "{q1}");
    assert_eq!(get(&q1, "ParameterName"), "/jobs/q1/network");
    // The parameter's value carries the environment's outputs: check it in moto with boto3.
    let check = Command::new(venv_bin("python"))
        .args(["-c", &format!("import boto3; print(boto3.client('ssm', endpoint_url='{endpoint}', region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t').get_parameter(Name='/jobs/q1/network')['Parameter']['Value'])")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), format!("{vpc} arn:aws:sns:us-east-1:123456789012:dev-events"));

    assert_eq!(get(&q1, "ComponentBucket"), "none", "no component attached yet");

    // Proton's S3 bucket component sample, attached to q1: its own stack, outputs stored.
    let sample = shared().join("fixtures/proton-samples/cloudformation/component-templates/s3-bucket-component");
    let comp = ok(&[
        "component",
        "create",
        "bucket",
        "--service",
        "jobs",
        "--instance",
        "q1",
        "--template-file",
        sample.join("cloudformation.yaml").to_str().unwrap(),
        "--manifest",
        sample.join("manifest.yaml").to_str().unwrap(),
        "--wait",
    ]);
    assert_eq!((comp["deploymentStatus"].as_str(), comp["environmentName"].as_str()), (Some("SUCCEEDED"), Some("dev")), "{comp}");
    let c_out = ok(&["component", "outputs", "bucket"]);
    let bucket = get(&c_out, "BucketName");
    assert!(bucket.starts_with("arn:aws:s3:::"), "{c_out}");
    assert!(get(&c_out, "BucketAccessPolicyArn").starts_with("arn:aws:iam::"), "{c_out}");

    // Update: a new spec updates the stack, which now sees the component's outputs.
    std::fs::write(&svc_spec, "retention: 120\n").unwrap();
    let inst = ok(&["instance", "update", "jobs", "q1", "--spec", svc_spec.to_str().unwrap(), "--wait"]);
    assert_eq!(inst["deploymentStatus"], "SUCCEEDED", "{inst}");
    let (_, log, _) = cli(&["deployment", "logs", inst["lastSucceededDeploymentId"].as_str().unwrap()]);
    assert!(log.contains("updating stack deuteron-svc-jobs-q1"), "{log}");
    assert_eq!(get(&ok(&["instance", "outputs", "jobs", "q1"]), "ComponentBucket"), bucket);

    // Proton's rules: a service with an attached component is not deleted; detach, then delete.
    let (code, _, err) = cli(&["service", "delete", "jobs"]);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("service jobs: component bucket on instance q1 attached; detach or delete the component(s) first"), "{err}");
    let (code, _, err) = cli(&["component", "delete", "bucket"]);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("component bucket is attached to service instance jobs/q1; detach it first"), "{err}");
    let comp = ok(&["component", "update", "bucket", "--detach", "--wait"]);
    assert_eq!((comp["deploymentStatus"].as_str(), comp.get("serviceName")), (Some("SUCCEEDED"), None), "{comp}");
    let (code, _, err) = cli(&["env", "delete", "dev"]);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("environment dev still has"), "{err}");
    ok(&["component", "delete", "bucket", "--wait"]);
    let (code, _, _) = cli(&["component", "show", "bucket"]);
    assert_eq!(code, Some(4), "the component is gone after its stack is deleted");

    // Delete the service and the environment: the stacks go away.
    ok(&["service", "delete", "jobs", "--wait"]);
    ok(&["env", "delete", "dev", "--wait"]);
    let stacks = Command::new(venv_bin("python"))
        .args(["-c", &format!("import boto3; cf = boto3.client('cloudformation', endpoint_url='{endpoint}', region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t'); print(sorted(s['StackName'] for s in cf.list_stacks()['StackSummaries'] if s['StackStatus'] != 'DELETE_COMPLETE' ))")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&stacks.stdout).trim(), "[]", "{}", String::from_utf8_lossy(&stacks.stderr));

    let env = ok(&["env", "create", "sandbox", "--template", "net", "--major", "1", "--spec", spec.to_str().unwrap(), "--wait"]);
    assert_eq!(env["deploymentStatus"], "SUCCEEDED", "{env}");
    // A failing stack: FIFO queues need a .fifo name; CloudFormation's reason is kept.
    std::fs::write(&svc_spec, "proton: ServiceSpec\ninstances:\n  - name: bad\n    environment: sandbox\n    spec:\n      fifo: true\n")
        .unwrap();
    let (code, _, err) =
        cli(&["service", "create", "broken", "--template", "queue", "--major", "1", "--spec", svc_spec.to_str().unwrap(), "--wait"]);
    assert_eq!(code, Some(6), "{err}");
    assert!(err.contains("service broken is CREATE_FAILED: instance(s) bad failed to deploy"), "{err}");
    let bad = ok(&["instance", "show", "broken", "bad"]);
    assert_eq!(bad["deploymentStatus"], "FAILED");
    assert!(bad["deploymentStatusMessage"].as_str().unwrap().contains("Queue name must end in .fifo for FIFO queues"), "{bad}");
    // (moto keeps a stack whose create failed CREATE_IN_PROGRESS and answers 500 when it is
    // described, so the broken service is left alone rather than deleted here.)
}
