"""Deploys template.yaml, as it is, to the local AWS emulator, with the function binaries built
here as the Lambdas' bootstraps: the "local cloud run" (see the README).

    eval "$(bash infra/emulator.sh start)"
    cargo build --workspace --all-targets
    "$EMO_EMULATOR_PYTHON" infra/localcloud.py --stack emo --param DashScopeBaseUrl=http://... \
        --dashscope-key sk-anything

It runs with the emulator's own Python (botocore and PyYAML come with it) and prints one JSON
object: the stack's outputs plus `ApiBase`, the base URL the emulator serves the HTTP API on.

What it does, in order: zips each function's binary as `bootstrap` (debug info stripped) into an
artifacts bucket; creates the DashScope key's secret; creates the stack from template.yaml with
each function's CodeUri pointed at its zip and, with EMO_CAPTION_FONT set, the transcoder's
caption font at the host's (the layer that carries it on AWS is not deployed here): the only
changes made to the template. Then it waits for it. Then it fills two gaps of the emulator, not of the template, and says so on stderr:

* the emulator does not import the OpenAPI body that the SAM transform gives an HTTP API, so the
  routes are created from the template's HttpApi events (the same method, path and function);
* it keeps a number parameter used in an SQS event source's MaximumConcurrency as a string, which
  its poller cannot compare, so the mapping's concurrency is set again as a number.

`--visibility SECONDS` shortens the job queue's visibility timeout (720 s in the template) so a
test sees a dead worker's message come back sooner; keep it above the slowest step, or a message
is delivered again while its first delivery still runs.
"""

import argparse
import concurrent.futures
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import botocore.session
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTRINSICS = ["Ref", "GetAtt", "Sub", "If", "Not", "Equals", "Join", "Select", "Split", "And",
              "Or", "Condition", "FindInMap", "Base64", "GetAZs", "ImportValue"]


class CfnLoader(yaml.SafeLoader):
    """PyYAML loader that reads CloudFormation's short-form tags (`!Ref X`) as their long form."""


def _intrinsic(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {"Ref" if name == "Ref" else "Fn::" + name: value}
    return construct


for _name in INTRINSICS:
    CfnLoader.add_constructor("!" + _name, _intrinsic(_name))


def log(*args):
    print("localcloud:", *args, file=sys.stderr, flush=True)


def bootstrap_zip(binary):
    """The Lambda zip for one binary: `bootstrap`, executable, without debug info."""
    with tempfile.TemporaryDirectory() as tmp:
        stripped = os.path.join(tmp, "bootstrap")
        if shutil.which("strip"):
            subprocess.run(["strip", "--strip-debug", "-o", stripped, binary], check=True)
        else:
            shutil.copy(binary, stripped)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            info = zipfile.ZipInfo("bootstrap")
            info.external_attr = 0o755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(stripped, "rb") as f:
                z.writestr(info, f.read())
        return buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", default="emo")
    ap.add_argument("--bins", default=os.path.join(REPO, "target", "debug"))
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--dashscope-key", required=True)
    ap.add_argument("--visibility", type=int)
    args = ap.parse_args()

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    session = botocore.session.get_session()
    region = os.environ.get("AWS_REGION", "us-east-1")

    def client(name):
        return session.create_client(name, endpoint_url=endpoint, region_name=region)

    s3, cfn, sm = client("s3"), client("cloudformation"), client("secretsmanager")
    gw, lam, sqs = client("apigatewayv2"), client("lambda"), client("sqs")

    with open(os.path.join(REPO, "template.yaml")) as f:
        template = yaml.load(f, Loader=CfnLoader)
    params = dict(p.split("=", 1) for p in args.param)

    artifacts = f"{args.stack.lower()}-artifacts"
    s3.create_bucket(Bucket=artifacts)
    started = time.time()
    functions = {name: res for name, res in template["Resources"].items()
                 if res["Type"] == "AWS::Serverless::Function"}

    def upload(res):
        binary = res["Metadata"]["BuildProperties"]["Binary"]
        path = os.path.join(args.bins, binary)
        if not os.path.exists(path):
            sys.exit(f"localcloud: {path} is missing; build it with `cargo build --workspace --all-targets`")
        key = f"{binary}.zip"
        s3.put_object(Bucket=artifacts, Key=key, Body=bootstrap_zip(path))
        res["Properties"]["CodeUri"] = {"Bucket": artifacts, "Key": key}

    # The transcoder's layer (ffmpeg and the caption font) is not deployed here: it runs the
    # host's ffmpeg from PATH, and the host's caption font.
    font = os.environ.get("EMO_CAPTION_FONT")
    if font:
        for res in functions.values():
            variables = res["Properties"].get("Environment", {}).get("Variables", {})
            if "EMO_CAPTION_FONT" in variables:
                variables["EMO_CAPTION_FONT"] = font
                log(f"emulator gap: the transcoder's caption font is the host's {font}")

    # strip and zlib run outside the GIL, so the functions are packed side by side.
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(upload, functions.values()))
    log(f"uploaded the functions' bootstraps in {time.time() - started:.1f} s")

    secret_id = params.setdefault("DashScopeSecretId", f"{args.stack}/dashscope-api-key")
    sm.create_secret(Name=secret_id, SecretString=args.dashscope_key)

    cfn.create_stack(
        StackName=args.stack,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    while True:
        stack = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            break
        time.sleep(0.3)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        for e in cfn.describe_stack_events(StackName=args.stack)["StackEvents"][:20]:
            log(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", ""))
        sys.exit(f"localcloud: stack {args.stack} ended {stack['StackStatus']}")
    log(f"stack {args.stack} created")

    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cfn.describe_stack_resources(StackName=args.stack)["StackResources"]}
    api_id = physical["HttpApi"]
    routes = 0
    for name, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        if name not in physical:
            # A function under a condition that is false here (WeChatEventsFunction without a
            # WeChat AppID): not deployed, so it has no routes either.
            log(f"{name} is not in the stack (its condition {res.get('Condition')} is false)")
            continue
        arn = lam.get_function(FunctionName=physical[name])["Configuration"]["FunctionArn"]
        for event in res["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            integration = gw.create_integration(
                ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn,
                PayloadFormatVersion="2.0")
            gw.create_route(
                ApiId=api_id,
                RouteKey=f"{event['Properties']['Method']} {event['Properties']['Path']}",
                Target=f"integrations/{integration['IntegrationId']}")
            routes += 1
    log(f"emulator gap: created the HTTP API's {routes} routes from the template's HttpApi events")

    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        concurrency = (mapping.get("ScalingConfig") or {}).get("MaximumConcurrency")
        if concurrency is not None:
            lam.update_event_source_mapping(
                UUID=mapping["UUID"], ScalingConfig={"MaximumConcurrency": int(concurrency)})
    log("emulator gap: set the SQS event source's MaximumConcurrency again as a number")

    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if args.visibility is not None:
        sqs.set_queue_attributes(QueueUrl=outputs["JobQueueUrl"],
                                 Attributes={"VisibilityTimeout": str(args.visibility)})
        log(f"job queue visibility timeout set to {args.visibility} s for the test")
    outputs["ApiBase"] = f"{endpoint}/_aws/execute-api/{api_id}/$default"
    outputs["Functions"] = {name: physical[name] for name, res in template["Resources"].items()
                            if res["Type"] == "AWS::Serverless::Function" and name in physical}
    print(json.dumps(outputs))


if __name__ == "__main__":
    main()
