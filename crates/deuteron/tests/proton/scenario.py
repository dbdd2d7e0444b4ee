"""Drives a running `deuteron server` with boto3's `proton` client and the AWS CLI, exactly as a
team leaving AWS Proton would: bundles from S3 (a local moto server), waiters, paginators,
updates, deployments, errors and deletes. Run by crates/deuteron/tests/proton_api.rs.

Environment: DEUTERON_URL, MOTO_URL, ADMIN_KEY_ID/ADMIN_SECRET, VIEWER_KEY_ID/VIEWER_SECRET,
EXAMPLES (the repository's examples/templates directory), AWS_CLI (path of `aws`).
"""

import datetime
import hashlib
import hmac
import io
import json
import urllib.error
import urllib.request
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import boto3
import botocore
from botocore.config import Config

URL = os.environ["DEUTERON_URL"]
MOTO = os.environ["MOTO_URL"]
EXAMPLES = os.environ["EXAMPLES"]
FAST = {"Delay": 1, "MaxAttempts": 120}


def client(key_id, secret):
    return boto3.client(
        "proton",
        endpoint_url=URL,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


admin = client(os.environ["ADMIN_KEY_ID"], os.environ["ADMIN_SECRET"])
viewer = client(os.environ["VIEWER_KEY_ID"], os.environ["VIEWER_SECRET"])
s3 = boto3.client("s3", endpoint_url=MOTO, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")


def step(msg):
    print(f"--- {msg}", flush=True)


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e.response["Error"]["Message"]
    raise AssertionError(f"expected {code}, the call succeeded")


def upload(name, key, revision=None):
    """The example bundle `name` at `key`; a `revision` adds a comment to its schema (new content)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = shutil.copytree(os.path.join(EXAMPLES, name, "v1"), os.path.join(tmp, "bundle"))
        if revision is not None:
            with open(os.path.join(src, "schema", "schema.yaml"), "a") as f:
                f.write(f"# revision {revision}\n")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(src, arcname=".")
    s3.put_object(Bucket="bundles", Key=key, Body=buf.getvalue())


step("bundles in S3")
s3.create_bucket(Bucket="bundles")
upload("example-env", "net/v1.tar.gz")
upload("example-svc", "web/v1.tar.gz")
upload("example-env", "net/v2.tar.gz", revision=2)
upload("example-svc", "web/v1.1.tar.gz", revision=1)

step("environment template version from S3, asynchronous registration, waiter, publish")
admin.create_environment_template(name="net", displayName="Network", description="networks")
v = admin.create_environment_template_version(
    templateName="net", source={"s3": {"bucket": "bundles", "key": "net/v1.tar.gz"}}
)["environmentTemplateVersion"]
assert v["status"] in ("REGISTRATION_IN_PROGRESS", "DRAFT"), v
assert v["arn"].endswith(":environment-template/net:1.0"), v["arn"]
admin.get_waiter("environment_template_version_registered").wait(
    templateName="net", majorVersion="1", minorVersion="0", WaiterConfig=FAST
)
v = admin.update_environment_template_version(templateName="net", majorVersion="1", minorVersion="0", status="PUBLISHED")
assert v["environmentTemplateVersion"]["status"] == "PUBLISHED"
assert admin.get_environment_template(name="net")["environmentTemplate"]["recommendedVersion"] == "1.0"

step("a bundle that does not exist is refused and stores nothing")
msg = expect_error(
    "ValidationException",
    admin.create_environment_template_version,
    templateName="net",
    source={"s3": {"bucket": "bundles", "key": "missing.tar.gz"}},
)
assert "cannot read s3://bundles/missing.tar.gz: NoSuchKey" in msg, msg
assert len(admin.list_environment_template_versions(templateName="net")["templateVersions"]) == 1

step("service template version")
admin.create_service_template(name="web")
admin.create_service_template_version(
    templateName="web",
    source={"s3": {"bucket": "bundles", "key": "web/v1.tar.gz"}},
    compatibleEnvironmentTemplates=[{"templateName": "net", "majorVersion": "1"}],
)
admin.get_waiter("service_template_version_registered").wait(
    templateName="web", majorVersion="1", minorVersion="0", WaiterConfig=FAST
)
admin.update_service_template_version(templateName="web", majorVersion="1", minorVersion="0", status="PUBLISHED")

step("environments, deployed (waiter)")
for env in ["dev", "prod"]:
    e = admin.create_environment(
        name=env,
        templateName="net",
        templateMajorVersion="1",
        spec=f"proton: EnvironmentSpec\nspec:\n  cidr: 10.{len(env)}.0.0/16\n",
    )["environment"]
    assert e["deploymentStatus"] == "IN_PROGRESS" and e["templateMinorVersion"] == "0", e
    # Nothing succeeded yet: no success is reported (as Proton), the attempt is.
    assert "lastDeploymentSucceededAt" not in e and "lastSucceededDeploymentId" not in e, e
    assert "lastDeploymentAttemptedAt" in e, e
for env in ["dev", "prod"]:
    admin.get_waiter("environment_deployed").wait(name=env, WaiterConfig=FAST)
    e = admin.get_environment(name=env)["environment"]
    assert e["lastSucceededDeploymentId"] and e["lastDeploymentSucceededAt"] >= e["createdAt"], e
outputs = admin.list_environment_outputs(environmentName="dev")["outputs"]
assert {"key": "NetworkId", "valueString": "net-dev"} in outputs, outputs

step("a service with two instances and a pipeline (waiter)")
spec = open(os.path.join(EXAMPLES, "..", "specs", "web.yaml")).read()
svc = admin.create_service(name="web", templateName="web", templateMajorVersion="1", spec=spec)["service"]
assert svc["status"] == "CREATE_IN_PROGRESS", svc
admin.get_waiter("service_created").wait(name="web", WaiterConfig=FAST)
svc = admin.get_service(name="web")["service"]
assert svc["status"] == "ACTIVE" and svc["pipeline"]["deploymentStatus"] == "SUCCEEDED", svc

step("pagination")
page1 = admin.list_service_instances(serviceName="web", maxResults=1)
assert len(page1["serviceInstances"]) == 1 and "nextToken" in page1, page1
names = []
for page in admin.get_paginator("list_service_instances").paginate(serviceName="web", PaginationConfig={"PageSize": 1}):
    names += [i["name"] for i in page["serviceInstances"]]
assert names == ["web-dev", "web-prod"], names
assert isinstance(page1["serviceInstances"][0]["createdAt"].timestamp(), float)
prod = admin.list_service_instances(filters=[{"key": "environmentName", "value": "prod"}])["serviceInstances"]
assert [i["name"] for i in prod] == ["web-prod"], prod
later = admin.list_service_instances(filters=[{"key": "createdAtAfter", "value": "2099-01-01T00:00:00Z"}])["serviceInstances"]
assert later == [], later
desc = admin.list_service_instances(sortBy="name", sortOrder="DESCENDING")["serviceInstances"]
assert [i["name"] for i in desc] == ["web-prod", "web-dev"], desc
expect_error("ValidationException", admin.list_service_instances, nextToken="bm90LWEtdG9rZW4=")

step("CreateServiceInstance adds an instance; the service settles ACTIVE (waiter)")
expect_error(
    "ResourceNotFoundException",
    admin.create_service_instance,
    serviceName="web",
    name="web-extra",
    templateMajorVersion="1",
    templateMinorVersion="7",
    spec="proton: ServiceSpec\ninstances:\n  - name: web-extra\n    environment: dev\n",
)
i = admin.create_service_instance(
    serviceName="web",
    name="web-extra",
    templateMajorVersion="1",
    templateMinorVersion="0",
    spec="proton: ServiceSpec\ninstances:\n  - name: web-extra\n    environment: dev\n    spec:\n      port: 9090\n",
)["serviceInstance"]
assert i["environmentName"] == "dev" and i["deploymentStatus"] == "IN_PROGRESS", i
admin.get_waiter("service_updated").wait(name="web", WaiterConfig=FAST)
i = admin.get_service_instance(serviceName="web", name="web-extra")["serviceInstance"]
assert i["deploymentStatus"] == "SUCCEEDED", i
assert len(i.get("lastClientRequestToken", "")) > 0, i  # boto3 fills in the idempotency token
assert "web-extra" in admin.get_service(name="web")["service"]["spec"]
expect_error(
    "ConflictException",
    admin.create_service_instance,
    serviceName="web",
    name="web-extra",
    spec="proton: ServiceSpec\ninstances:\n  - name: web-extra\n    environment: dev\n",
)

step("idempotency tokens: a retry replays the reply, other parameters are refused")
first = admin.create_environment_template_version(
    templateName="net", source={"s3": {"bucket": "bundles", "key": "net/v2.tar.gz"}}, clientToken="token-1"
)["environmentTemplateVersion"]
again = admin.create_environment_template_version(
    templateName="net", source={"s3": {"bucket": "bundles", "key": "net/v2.tar.gz"}}, clientToken="token-1"
)["environmentTemplateVersion"]
assert (first["majorVersion"], again["majorVersion"]) == ("2", "2"), (first, again)
assert len(admin.list_environment_template_versions(templateName="net")["templateVersions"]) == 2
msg = expect_error(
    "ValidationException",
    admin.create_environment_template_version,
    templateName="net",
    source={"s3": {"bucket": "bundles", "key": "net/v2.tar.gz"}},
    clientToken="token-1",
    description="different",
)
assert "IdempotentParameterMismatch" in msg, msg
admin.get_waiter("environment_template_version_registered").wait(
    templateName="net", majorVersion="2", minorVersion="0", WaiterConfig=FAST
)
admin.delete_environment_template_version(templateName="net", majorVersion="2", minorVersion="0")

step("a new minor version, and an instance moved to it (waiter)")
msg = expect_error(
    "ConflictException",
    admin.create_service_template_version,
    templateName="web",
    majorVersion="1",
    source={"s3": {"bucket": "bundles", "key": "web/v1.tar.gz"}},
    compatibleEnvironmentTemplates=[{"templateName": "net", "majorVersion": "1"}],
)
assert "same content as version 1.0" in msg, msg
admin.create_service_template_version(
    templateName="web",
    majorVersion="1",
    source={"s3": {"bucket": "bundles", "key": "web/v1.1.tar.gz"}},
    compatibleEnvironmentTemplates=[{"templateName": "net", "majorVersion": "1"}],
)
admin.get_waiter("service_template_version_registered").wait(
    templateName="web", majorVersion="1", minorVersion="1", WaiterConfig=FAST
)
admin.update_service_template_version(templateName="web", majorVersion="1", minorVersion="1", status="PUBLISHED")
behind = admin.list_service_instances(filters=[{"key": "deployedTemplateVersionStatus", "value": "BEHIND_MINOR"}])["serviceInstances"]
assert sorted(x["name"] for x in behind) == ["web-dev", "web-extra", "web-prod"], behind
expect_error("ValidationException", admin.list_service_instances, filters=[{"key": "deployedTemplateVersionStatus", "value": "OLD"}])
i = admin.update_service_instance(serviceName="web", name="web-dev", deploymentType="MINOR_VERSION", clientToken="move-to-1.1")["serviceInstance"]
assert i["deploymentStatus"] == "IN_PROGRESS", i
admin.get_waiter("service_instance_deployed").wait(serviceName="web", name="web-dev", WaiterConfig=FAST)
i = admin.get_service_instance(serviceName="web", name="web-dev")["serviceInstance"]
assert (i["templateMajorVersion"], i["templateMinorVersion"]) == ("1", "1"), i
assert i["lastClientRequestToken"] == "move-to-1.1", i
current = admin.list_service_instances(filters=[{"key": "deployedTemplateVersionStatus", "value": "UP_TO_DATE"}])["serviceInstances"]
assert [x["name"] for x in current] == ["web-dev"], current

step("deployments")
deps = admin.list_deployments(serviceName="web")["deployments"]
assert len(deps) >= 4, deps
assert all(d["deploymentStatus"] == "SUCCEEDED" for d in deps), deps
d = admin.get_deployment(id=i["lastSucceededDeploymentId"])["deployment"]
assert d["targetState"]["serviceInstance"]["templateMinorVersion"] == "1", d
assert d["initialState"]["serviceInstance"]["templateMinorVersion"] == "0", d

step("error mapping")
expect_error("ResourceNotFoundException", admin.get_environment, name="nope")
expect_error("ConflictException", admin.create_environment_template, name="net")
msg = expect_error(
    "ValidationException",
    admin.create_environment,
    name="bad",
    templateName="net",
    templateMajorVersion="1",
    spec="proton: EnvironmentSpec\nspec:\n  cidr: 42\n",
)
assert "$.spec.cidr" in msg, msg
expect_error("ValidationException", admin.get_environment, name="not a name")
expect_error("AccessDeniedException", viewer.create_environment_template, name="other")
assert viewer.list_environments()["environments"], "a viewer reads"
expect_error("InvalidSignatureException", client(os.environ["ADMIN_KEY_ID"], "wrong-secret-wrong-secret").list_services)
expect_error("UnrecognizedClientException", client("AKIDUNKNOWN000000000", "x" * 40).list_services)
assert admin.list_environment_templates()["templates"][0]["name"] == "net"

step("tags, repositories, the fleet summary, deployment records")
env_arn = admin.get_environment(name="dev")["environment"]["arn"]
admin.tag_resource(resourceArn=env_arn, tags=[{"key": "team", "value": "payments"}, {"key": "tier", "value": "dev"}])
admin.untag_resource(resourceArn=env_arn, tagKeys=["tier"])
assert admin.list_tags_for_resource(resourceArn=env_arn)["tags"] == [{"key": "team", "value": "payments"}]
expect_error("ResourceNotFoundException", admin.tag_resource, resourceArn=env_arn.replace("/dev", "/ghost"), tags=[{"key": "a", "value": "b"}])
admin.create_service_template(name="tagged", tags=[{"key": "owner", "value": "platform"}])
tagged_arn = admin.get_service_template(name="tagged")["serviceTemplate"]["arn"]
assert admin.list_tags_for_resource(resourceArn=tagged_arn)["tags"] == [{"key": "owner", "value": "platform"}]
admin.delete_service_template(name="tagged")
repo = admin.create_repository(provider="GITHUB", name="acme/web", connectionArn="arn:aws:codestar-connections:us-east-1:123456789012:connection/abc")["repository"]
assert repo["arn"].endswith(":repository/github:acme/web"), repo
assert [r["name"] for r in admin.list_repositories()["repositories"]] == ["acme/web"]
expect_error("ConflictException", admin.create_repository, provider="GITHUB", name="acme/web", connectionArn=repo["connectionArn"])
assert admin.delete_repository(provider="GITHUB", name="acme/web")["repository"]["name"] == "acme/web"
expect_error("ResourceNotFoundException", admin.get_repository, provider="GITHUB", name="acme/web")
counts = admin.get_resources_summary()["counts"]
assert counts["serviceInstances"]["total"] == 3, counts
assert (counts["serviceInstances"]["upToDate"], counts["serviceInstances"]["behindMinor"]) == (1, 2), counts
assert counts["environments"]["total"] == 2 and counts["environmentTemplates"]["total"] == 1, counts
old = admin.list_deployments(environmentName="prod")["deployments"][-1]
assert admin.delete_deployment(id=old["id"])["deployment"]["id"] == old["id"]
expect_error("ResourceNotFoundException", admin.get_deployment, id=old["id"])
assert admin.list_environment_provisioned_resources(environmentName="dev")["provisionedResources"] == [], "commands manage no listed infrastructure"
expect_error("ResourceNotFoundException", admin.list_environment_provisioned_resources, environmentName="ghost")

step("a request signed an hour ago is refused; the same signer with the current time works")


def signed_call(target, body, when):
    """SigV4 by hand (header form), at a chosen time."""
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    host = URL.split("//", 1)[1]
    headers = {"content-type": "application/x-amz-json-1.0", "host": host, "x-amz-date": amz_date, "x-amz-target": target}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(["POST", "/", "", "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, hashlib.sha256(body).hexdigest()])
    scope = f"{date}/us-east-1/proton/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + os.environ["ADMIN_SECRET"]).encode()
    for part in [date, "us-east-1", "proton", "aws4_request"]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={os.environ['ADMIN_KEY_ID']}/{scope}, SignedHeaders={signed}, Signature={signature}"
    req = urllib.request.Request(URL + "/", data=body, method="POST", headers={**headers, "authorization": auth})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


now = datetime.datetime.now(datetime.timezone.utc)
status, body = signed_call("AwsProton20200720.ListEnvironments", b"{}", now)
assert status == 200 and "environments" in body, (status, body)
status, body = signed_call("AwsProton20200720.ListEnvironments", b"{}", now - datetime.timedelta(hours=1))
assert status == 403 and body["__type"] == "InvalidSignatureException" and "Signature expired" in body["message"], (status, body)
status, body = signed_call("AwsProton20200720.NoSuchOperation", b"{}", now)
assert status == 400 and body["__type"] == "UnknownOperationException", (status, body)
status, body = signed_call("AwsProton20200720.ListEnvironments", b"[1, 2]", now)
assert status == 400 and body["__type"] == "SerializationException", (status, body)
status, body = signed_call("AwsProton20200720.CreateEnvironmentTemplate", b'{"name": ', now)
assert status == 400 and body["__type"] == "SerializationException", (status, body)
assert [t["name"] for t in admin.list_environment_templates()["templates"]] == ["net"], "malformed requests changed nothing"

step("the AWS CLI")
cli_env = dict(os.environ, AWS_ACCESS_KEY_ID=os.environ["ADMIN_KEY_ID"], AWS_SECRET_ACCESS_KEY=os.environ["ADMIN_SECRET"], AWS_DEFAULT_REGION="us-east-1")
out = subprocess.run(
    [os.environ["AWS_CLI"], "proton", "list-service-instances", "--service-name", "web", "--endpoint-url", URL, "--output", "json"],
    env=cli_env, capture_output=True, text=True,
)
assert out.returncode == 0, out.stderr
assert [i["name"] for i in json.loads(out.stdout)["serviceInstances"]] == ["web-dev", "web-extra", "web-prod"], out.stdout
out = subprocess.run(
    [os.environ["AWS_CLI"], "proton", "get-environment", "--name", "nope", "--endpoint-url", URL],
    env=cli_env, capture_output=True, text=True,
)
assert out.returncode != 0 and "ResourceNotFoundException" in out.stderr, (out.returncode, out.stderr)

step("delete everything")
admin.delete_service(name="web")
admin.get_waiter("service_deleted").wait(name="web", WaiterConfig=FAST)
for env in ["dev", "prod"]:
    admin.delete_environment(name=env)
deadline = time.time() + 60
while admin.list_environments()["environments"]:
    assert time.time() < deadline, admin.list_environments()
    time.sleep(0.5)
for minor in ["0", "1"]:
    admin.delete_service_template_version(templateName="web", majorVersion="1", minorVersion=minor)
admin.delete_service_template(name="web")
admin.delete_environment_template_version(templateName="net", majorVersion="1", minorVersion="0")
admin.delete_environment_template(name="net")
assert admin.list_environment_templates()["templates"] == []
print("scenario passed", flush=True)
