"""up.sh and down.sh against moto: what gets created, with which settings,
that a rerun duplicates nothing, and that teardown removes everything in the
order AWS requires.

Known emulator gaps and how they are handled:
- moto accepts but drops responseTransferMode, integrationTarget and
  connectionId from get-integration: they are asserted from the requests that
  reached moto (its recorder).
- ECS never starts tasks, so there is no steady state: up.sh runs --no-wait;
  describe-services omits deploymentConfiguration, so the circuit breaker is
  asserted from the CreateService request.
- update-integration is not implemented: up.sh re-puts integrations anyway.
- moto enforces teardown dependencies only partly: the order of down.sh's
  calls is asserted from the recorder instead of trusted to moto.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import REGISTRY, STACK, registry_get, run_script

MODEL = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
BASE_MODEL = MODEL.removeprefix("global.")
ACCOUNT = "123456789012"
ROUTES = {("/", "GET"): False, ("/health", "GET"): False, ("/stream", "GET"): True,
          ("/stream", "POST"): True, ("/v1/chat/completions", "POST"): True}
READ_ONLY = re.compile(r"^(Describe|List|Get|GET )")


def inventory(aws) -> dict[str, list[str]]:
    """Every resource of the stack, by kind, as sorted ids."""
    ec2, elbv2, ecs = aws("ec2"), aws("elbv2"), aws("ecs")
    apigateway, apigatewayv2 = aws("apigateway"), aws("apigatewayv2")
    tagged = [{"Name": "tag:Stack", "Values": [STACK]}]
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs(Filters=tagged)["Vpcs"]]
    in_vpcs = [{"Name": "vpc-id", "Values": vpcs}]
    found = {
        "vpc": vpcs,
        "subnet": [s["SubnetId"] for s in ec2.describe_subnets(Filters=tagged)["Subnets"]],
        "route table": [r["RouteTableId"] for r in ec2.describe_route_tables(Filters=tagged)["RouteTables"]],
        "security group": [g["GroupId"] for g in ec2.describe_security_groups(Filters=tagged)["SecurityGroups"]],
        "endpoint": [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints(Filters=in_vpcs)["VpcEndpoints"]
                     if e["State"] not in ("deleted", "deleting")] if vpcs else [],
        "internet gateway": [i["InternetGatewayId"] for i in ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": vpcs}])["InternetGateways"]] if vpcs else [],
        "nat gateway": [n["NatGatewayId"] for n in ec2.describe_nat_gateways(
            Filters=in_vpcs)["NatGateways"] if n["State"] != "deleted"] if vpcs else [],
        "role": [r["RoleName"] for r in aws("iam").list_roles()["Roles"] if r["RoleName"].startswith(STACK + "-")],
        "repository": [r["repositoryName"] for r in aws("ecr").describe_repositories()["repositories"]],
        "log group": [g["logGroupName"] for g in aws("logs").describe_log_groups()["logGroups"]],
        "cluster": [c["clusterName"] for c in ecs.describe_clusters(clusters=[STACK])["clusters"]
                    if c["status"] == "ACTIVE"],
        "task definition": ecs.list_task_definitions(familyPrefix=STACK, status="ACTIVE")["taskDefinitionArns"],
        "scalable target": [t["ResourceId"] for t in aws("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="ecs")["ScalableTargets"]],
        "load balancer": [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]],
        "target group": [tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]],
        "vpc link": [link["VpcLinkId"] for link in apigatewayv2.get_vpc_links()["Items"]],
        "rest api": [api["id"] for api in apigateway.get_rest_apis()["items"]],
        "api key": [key["id"] for key in apigateway.get_api_keys()["items"]],
        "usage plan": [plan["id"] for plan in apigateway.get_usage_plans()["items"]],
    }
    if found["cluster"]:
        services = ecs.describe_services(cluster=STACK, services=[STACK])["services"]
        found["service"] = [s["serviceArn"] for s in services if s["status"] == "ACTIVE"]
    else:
        found["service"] = []
    return {kind: sorted(ids) for kind, ids in found.items()}


def only_reads(requests) -> list[str]:
    """The operations among REQUESTS that could change something."""
    return [r.operation for r in requests if not READ_ONLY.match(r.operation)]


def up(image, *extra, env=None):
    settings = {"IMAGE": str(image), "IMAGE_PUSH_REGISTRY": REGISTRY, **(env or {})}
    return run_script("up.sh", "--no-wait", *extra, env=settings)


def test_dry_run_plans_everything_and_changes_nothing(aws, image_archives, recorder):
    recorder.start()
    result = run_script("up.sh", "--dry-run", "--image", str(image_archives["arm64"]))
    requests = recorder.stop()
    assert only_reads(requests) == []
    assert all(not ids for ids in inventory(aws).values())
    for planned in ["would create    VPC", "would create    subnet", "would create    internal ALB",
                    "would push", "would create    VPC link", "would create    REST API", "would create    API key"]:
        assert re.sub(r"\s+", " ", planned) in re.sub(r"\s+", " ", result.stderr), planned
    assert "Dry run: nothing was changed." in result.stderr


def assert_network(aws, stack):
    ec2 = aws("ec2")
    (vpc,) = ec2.describe_vpcs(VpcIds=stack["vpc"])["Vpcs"]
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        value = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attribute)
        assert value[attribute[0].upper() + attribute[1:]]["Value"] is True

    subnets = ec2.describe_subnets(SubnetIds=stack["subnet"])["Subnets"]
    assert len(subnets) == 2
    assert len({s["AvailabilityZoneId"] for s in subnets}) == 2
    assert "use1-az3" not in {s["AvailabilityZoneId"] for s in subnets}, "VPC link v2 does not support use1-az3"
    assert all(s["MapPublicIpOnLaunch"] is False for s in subnets)

    assert stack["internet gateway"] == [] and stack["nat gateway"] == []
    (table,) = ec2.describe_route_tables(RouteTableIds=stack["route table"])["RouteTables"]
    assert {a["SubnetId"] for a in table["Associations"] if not a.get("Main")} == set(stack["subnet"])
    for route in table["Routes"]:
        assert route.get("DestinationCidrBlock") != "0.0.0.0/0", route
        assert "GatewayId" not in route or route["GatewayId"] in ("local",) or route["GatewayId"].startswith("vpce-")

    endpoints = ec2.describe_vpc_endpoints(VpcEndpointIds=stack["endpoint"])["VpcEndpoints"]
    by_service = {e["ServiceName"].rsplit(".", 1)[-1] if "ecr" not in e["ServiceName"]
                  else ".".join(e["ServiceName"].split(".")[-2:]): e for e in endpoints}
    assert set(by_service) == {"s3", "ecr.api", "ecr.dkr", "logs", "bedrock-runtime"}
    assert by_service["s3"]["VpcEndpointType"] == "Gateway"
    assert by_service["s3"]["RouteTableIds"] == stack["route table"]
    for name in ("ecr.api", "ecr.dkr", "logs", "bedrock-runtime"):
        endpoint = by_service[name]
        assert endpoint["VpcEndpointType"] == "Interface"
        assert endpoint["PrivateDnsEnabled"] is True
        assert sorted(endpoint["SubnetIds"]) == stack["subnet"]
    return vpc, subnets, by_service


def assert_security_groups(aws, stack, vpc, endpoints):
    ec2 = aws("ec2")
    groups = {g["GroupName"].removeprefix(STACK + "-"): g
              for g in ec2.describe_security_groups(GroupIds=stack["security group"])["SecurityGroups"]}
    assert set(groups) == {"vpc-link", "alb", "tasks", "endpoints"}
    ids = {name: g["GroupId"] for name, g in groups.items()}

    def rules(name, egress=False):
        found = set()
        for permission in groups[name]["IpPermissionsEgress" if egress else "IpPermissions"]:
            port = (permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"))
            for pair in permission.get("UserIdGroupPairs", []):
                found.add((*port, pair["GroupId"]))
            for cidr in permission.get("IpRanges", []):
                found.add((*port, cidr["CidrIp"]))
            for prefix in permission.get("PrefixListIds", []):
                found.add((*port, prefix["PrefixListId"]))
        return found

    s3_prefix_list = ec2.describe_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": ["com.amazonaws.us-east-1.s3"]}])["PrefixLists"][0]
    assert rules("vpc-link") == set()
    assert rules("vpc-link", egress=True) == {("tcp", 80, 80, ids["alb"])}
    assert rules("alb") == {("tcp", 80, 80, ids["vpc-link"])}
    assert rules("alb", egress=True) == {("tcp", 8080, 8080, ids["tasks"])}
    assert rules("tasks") == {("tcp", 8080, 8080, ids["alb"])}
    assert rules("tasks", egress=True) == {("tcp", 443, 443, ids["endpoints"]),
                                           ("tcp", 443, 443, s3_prefix_list["PrefixListId"])}
    assert rules("endpoints") == {("tcp", 443, 443, vpc["CidrBlock"])}
    assert rules("endpoints", egress=True) == set()
    for name in ("ecr.api", "ecr.dkr", "logs", "bedrock-runtime"):
        assert [g["GroupId"] for g in endpoints[name]["Groups"]] == [ids["endpoints"]]
    return ids


def assert_iam(aws):
    iam = aws("iam")
    execution = f"{STACK}-us-east-1-execution"
    task = f"{STACK}-us-east-1-task"
    attached = iam.list_attached_role_policies(RoleName=execution)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonECSTaskExecutionRolePolicy"]
    assert iam.list_attached_role_policies(RoleName=task)["AttachedPolicies"] == []
    for role in (execution, task):
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT

    assert iam.list_role_policies(RoleName=task)["PolicyNames"] == ["invoke-bedrock-model"]
    policy = iam.get_role_policy(RoleName=task, PolicyName="invoke-bedrock-model")["PolicyDocument"]
    statements = policy["Statement"]
    assert {s["Action"] for s in statements} == {"bedrock:InvokeModelWithResponseStream"}
    profile = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/{MODEL}"
    by_resource = {s["Resource"]: s for s in statements}
    assert set(by_resource) == {
        profile,
        f"arn:aws:bedrock:us-east-1::foundation-model/{BASE_MODEL}",
        f"arn:aws:bedrock:::foundation-model/{BASE_MODEL}",
    }
    global_model = by_resource[f"arn:aws:bedrock:::foundation-model/{BASE_MODEL}"]["Condition"]["StringEquals"]
    assert global_model == {"aws:RequestedRegion": "unspecified", "bedrock:InferenceProfileArn": profile}
    return policy


def assert_compute(aws, stack, subnets, groups, image_digest, requests):
    ecs, elbv2 = aws("ecs"), aws("elbv2")
    (repository,) = aws("ecr").describe_repositories(repositoryNames=[STACK])["repositories"]
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    assert repository["imageTagMutability"] == "IMMUTABLE"
    (log_group,) = aws("logs").describe_log_groups(logGroupNamePrefix=f"/ecs/{STACK}")["logGroups"]
    assert log_group["retentionInDays"] == 30

    (arn,) = stack["task definition"]
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    assert definition["runtimePlatform"]["cpuArchitecture"] == "ARM64", "follows the arm64 image"
    assert definition["networkMode"] == "awsvpc"
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert definition["taskRoleArn"].endswith(f"role/{STACK}-us-east-1-task")
    assert definition["executionRoleArn"].endswith(f"role/{STACK}-us-east-1-execution")
    (container,) = definition["containerDefinitions"]
    assert container["image"] == f"{repository['repositoryUri']}@{image_digest}"
    assert container["readonlyRootFilesystem"] is True
    assert container["user"] == "65532:65532"
    assert container["healthCheck"]["command"] == ["CMD", "axum-server", "healthcheck"]
    assert container["stopTimeout"] > 25, "above the server's drain deadline"
    assert container["portMappings"][0]["containerPort"] == 8080
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert environment["MODEL_ID"] == MODEL
    assert environment["PORT"] == "8080" and environment["HOST"] == "0.0.0.0"
    assert environment["DRAIN_SECS"] == "25" and environment["HEARTBEAT_SECS"] == "15"
    assert container["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{STACK}"

    (service,) = ecs.describe_services(cluster=STACK, services=[STACK])["services"]
    assert service["launchType"] == "FARGATE"
    assert service["desiredCount"] == 2
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    assert network["assignPublicIp"] == "DISABLED"
    assert sorted(network["subnets"]) == stack["subnet"]
    assert network["securityGroups"] == [groups["tasks"]]
    # moto drops deploymentConfiguration from describe-services: read the request.
    (create_service,) = [r.json() for r in requests if r.operation == "CreateService"]
    breaker = create_service["deploymentConfiguration"]["deploymentCircuitBreaker"]
    assert breaker == {"enable": True, "rollback": True}
    (target_group,) = stack["target group"]
    assert service["loadBalancers"] == [{"targetGroupArn": target_group, "containerName": "server",
                                         "containerPort": 8080}]

    autoscaling = aws("application-autoscaling")
    (target,) = autoscaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        f"service/{STACK}/{STACK}", 2, 6)
    (policy,) = autoscaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"

    (balancer,) = elbv2.describe_load_balancers(LoadBalancerArns=stack["load balancer"])["LoadBalancers"]
    assert balancer["Scheme"] == "internal" and balancer["Type"] == "application"
    assert sorted(z["SubnetId"] for z in balancer["AvailabilityZones"]) == stack["subnet"]
    assert balancer["SecurityGroups"] == [groups["alb"]]
    attributes = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(
        LoadBalancerArn=balancer["LoadBalancerArn"])["Attributes"]}
    assert int(attributes["idle_timeout.timeout_seconds"]) > 15, "above the heartbeat interval"
    (group,) = elbv2.describe_target_groups(TargetGroupArns=[target_group])["TargetGroups"]
    assert (group["TargetType"], group["Protocol"], group["Port"]) == ("ip", "HTTP", 8080)
    assert group["HealthCheckPath"] == "/health"
    group_attributes = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(
        TargetGroupArn=target_group)["Attributes"]}
    assert group_attributes["deregistration_delay.timeout_seconds"] == "25", "matches the drain deadline"
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)
    assert listener["DefaultActions"][0]["TargetGroupArn"] == target_group
    return balancer


def assert_api(aws, stack, groups, balancer, requests):
    apigateway = aws("apigateway")
    (link,) = aws("apigatewayv2").get_vpc_links()["Items"]
    assert link["VpcLinkStatus"] == "AVAILABLE"
    assert sorted(link["SubnetIds"]) == stack["subnet"]
    assert link["SecurityGroupIds"] == [groups["vpc-link"]]

    (api_id,) = stack["rest api"]
    api = apigateway.get_rest_api(restApiId=api_id)
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"]
    resources = apigateway.get_resources(restApiId=api_id, embed=["methods"])["items"]
    methods = {(r["path"], m): details for r in resources for m, details in r.get("resourceMethods", {}).items()}
    assert set(methods) == set(ROUTES)
    for (path, method), details in methods.items():
        assert details["apiKeyRequired"] is ROUTES[(path, method)], (path, method)
        integration = details["methodIntegration"]
        assert integration["type"] == "HTTP_PROXY"
        assert integration["connectionType"] == "VPC_LINK"
        assert integration["timeoutInMillis"] == 900000
        assert integration["uri"] == f"http://{balancer['DNSName']}{path}"

    # What moto drops from get-integration, read from the requests it received.
    puts = [r for r in requests if r.method == "PUT" and r.path.endswith("/integration")]
    assert len(puts) == len(ROUTES)
    for put in puts:
        body = put.json()
        assert body["responseTransferMode"] == "STREAM"
        assert body["integrationTarget"] == balancer["LoadBalancerArn"]
        assert body["connectionId"] == link["VpcLinkId"]
        assert body["connectionType"] == "VPC_LINK"
        assert body["timeoutInMillis"] == 900000

    stage = apigateway.get_stage(restApiId=api_id, stageName="prod")
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 10
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 20
    return api_id, stage


def assert_full_stack(aws, result, requests) -> dict[str, list[str]]:
    """Everything one up.sh run with default settings must have created."""
    stack = inventory(aws)
    for kind in ("vpc", "route table", "cluster", "service", "task definition", "scalable target",
                 "load balancer", "target group", "vpc link", "rest api", "api key", "usage plan",
                 "repository", "log group"):
        assert len(stack[kind]) == 1, (kind, stack[kind])
    assert len(stack["subnet"]) == 2 and len(stack["security group"]) == 4 and len(stack["endpoint"]) == 5
    assert len(stack["role"]) == 2

    vpc, subnets, endpoints = assert_network(aws, stack)
    groups = assert_security_groups(aws, stack, vpc, endpoints)
    assert_iam(aws)

    # The image went to the registry standing in for ECR, tagged by content.
    tag = re.search(r"/bedrock-sse:(sha256-[0-9a-f]{64})", result.stderr).group(1)
    headers, _ = registry_get(f"/v2/{STACK}/manifests/{tag}",
                              accept="application/vnd.docker.distribution.manifest.v2+json")
    balancer = assert_compute(aws, stack, subnets, groups, headers["Docker-Content-Digest"], requests)
    api_id, _ = assert_api(aws, stack, groups, balancer, requests)

    apigateway = aws("apigateway")
    (plan,) = apigateway.get_usage_plans()["items"]
    assert plan["apiStages"] == [{"apiId": api_id, "stage": "prod"}]
    assert plan["throttle"] == {"burstLimit": 20, "rateLimit": 10.0}
    assert plan["quota"]["limit"] == 10000 and plan["quota"]["period"] == "DAY"
    (key,) = apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    api_key = apigateway.get_api_key(apiKey=key["id"], includeValue=True)
    assert api_key["enabled"] is True

    endpoint = f"https://{api_id}.execute-api.us-east-1.amazonaws.com/prod"
    assert f"Endpoint:  {endpoint}" in result.stdout
    assert f"-H 'x-api-key: {api_key['value']}'" in result.stdout and f"{endpoint}/stream" in result.stdout
    return stack


def test_up_twice_then_down_twice(aws, image_archives, recorder):
    image = image_archives["arm64"]

    recorder.start()
    first = up(image)
    stack = assert_full_stack(aws, first, recorder.stop())
    (api_id,) = stack["rest api"]

    # Second run, same settings: everything is found and reused.
    deployments = len(aws("apigateway").get_deployments(restApiId=api_id)["items"])
    recorder.start()
    second = up(image)
    requests = recorder.stop()
    assert inventory(aws) == stack, "a rerun must not duplicate or replace anything"
    created = [line.split()[1] for line in second.stderr.splitlines() if line.strip().startswith("created")]
    assert created == ["deployment"], "only a new deployment is created on a rerun"
    assert len(aws("apigateway").get_deployments(restApiId=api_id)["items"]) == deployments + 1
    groups = {g["GroupName"].removeprefix(STACK + "-"): g["GroupId"] for g in aws("ec2").describe_security_groups(
        GroupIds=stack["security group"])["SecurityGroups"]}
    (balancer,) = aws("elbv2").describe_load_balancers()["LoadBalancers"]
    assert_api(aws, stack, groups, balancer, requests)  # integrations re-put the same way

    # A dry run of the teardown names everything and changes nothing.
    recorder.start()
    plan = run_script("down.sh", "--dry-run", "--purge")
    assert only_reads(recorder.stop()) == []
    assert inventory(aws) == stack
    for planned in ["service bedrock-sse", "REST API bedrock-sse", "VPC link", "load balancer", "VPC endpoints",
                    "security group bedrock-sse-tasks", "VPC vpc-", "role bedrock-sse-us-east-1-task",
                    "ECR repository bedrock-sse"]:
        assert f"would delete  {planned}" in plan.stderr, planned

    # Teardown: what AWS requires to go first goes first.
    recorder.start()
    down = run_script("down.sh")
    operations = [r.operation for r in recorder.stop()]
    remaining = {kind: ids for kind, ids in inventory(aws).items() if ids}
    assert remaining == {"repository": [STACK], "log group": [f"/ecs/{STACK}"]}, "kept without --purge"
    assert "kept          ECR repository" in down.stderr

    def first(name: str) -> int:
        matches = [i for i, op in enumerate(operations) if re.fullmatch(name, op)]
        assert matches, f"{name} was never called: {operations}"
        return matches[0]

    order = [
        ["DeregisterScalableTarget", "DeleteService", "DeleteCluster"],
        ["DELETE /usageplans/.*", "DELETE /restapis/.*"],
        ["DELETE /restapis/.*", "DELETE /v2/vpclinks/.*", "DeleteLoadBalancer", "DeleteTargetGroup"],
        ["DeleteService", "DeleteLoadBalancer"],
        ["DeleteLoadBalancer", "DeleteVpcEndpoints", "RevokeSecurityGroupIngress", "DeleteSecurityGroup",
         "DeleteSubnet", "DeleteRouteTable", "DeleteVpc"],
        ["DELETE /v2/vpclinks/.*", "DeleteSecurityGroup"],
        ["DeleteRolePolicy", "DeleteRole"],
    ]
    for chain in order:
        positions = [first(name) for name in chain]
        assert positions == sorted(positions), f"out of order: {chain} at {positions}"
    last_role_deletion = max(i for i, op in enumerate(operations) if op == "DeleteRole")
    assert first("DetachRolePolicy") < last_role_deletion

    # Again, with --purge: nothing left to fail on, and the kept pieces go too.
    again = run_script("down.sh", "--purge")
    assert all(not ids for ids in inventory(aws).values())
    assert "deleted       ECR repository" in again.stderr
    assert "absent        VPC" in again.stderr


def test_interrupted_run_is_completed_then_changed_settings_update_in_place(aws, image_archives, tmp_path):
    """A run that dies part-way leaves a partial stack; the next run completes
    it without duplicates. The interruption: an `aws` on PATH that passes
    calls through until the target group is created, then fails as AWS would.

    Then a run with a new image, model, access and bounds updates what exists:
    a new task definition revision rolled out, the task role rewritten, the
    methods re-created without the key; nothing duplicated."""
    real_aws = subprocess.run(["bash", "-c", "command -v aws"], capture_output=True, text=True,
                              check=True).stdout.strip()
    wrapper = tmp_path / "aws"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for argument in "$@"; do\n'
        '  if [ "$argument" = create-target-group ]; then\n'
        '    echo "An error occurred (Throttling) when calling the CreateTargetGroup operation: Rate exceeded" >&2\n'
        "    exit 254\n"
        "  fi\n"
        "done\n"
        f'exec "{real_aws}" "$@"\n'
    )
    wrapper.chmod(0o755)
    failed = run_script("up.sh", "--no-wait", check=False, env={
        "IMAGE": str(image_archives["arm64"]), "IMAGE_PUSH_REGISTRY": REGISTRY,
        "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert failed.returncode != 0
    assert 'FAILED in step "Internal ALB' in failed.stderr
    assert "Rate exceeded" in failed.stderr, "the AWS error is shown"
    partial = inventory(aws)
    assert len(partial["load balancer"]) == 1 and partial["target group"] == [] and partial["service"] == []

    completed = up(image_archives["arm64"])
    assert "reused        load balancer" in completed.stderr and "created       ip target group" in completed.stderr
    stack = inventory(aws)
    assert stack["load balancer"] == partial["load balancer"] and stack["vpc"] == partial["vpc"]
    for kind in ("target group", "service", "vpc link", "rest api", "task definition"):
        assert len(stack[kind]) == 1, kind
    assert len(stack["subnet"]) == 2 and len(stack["security group"]) == 4 and len(stack["endpoint"]) == 5

    # Changed settings.
    (api_id,) = stack["rest api"]
    other_model = "us.anthropic.claude-sonnet-4-20250514-v1:0"
    changed_run = up(image_archives["arm64-other"], "--public", "--model-id", other_model, "--max-tasks", "4")
    assert "--public: /stream and /v1/chat/completions need no API key" in changed_run.stderr
    changed = inventory(aws)
    (old_definition,) = stack["task definition"]
    (new_definition,) = [arn for arn in changed["task definition"] if arn != old_definition]
    assert new_definition.endswith(f"{STACK}:2")
    assert {k: v for k, v in changed.items() if k != "task definition"} == {
        k: v for k, v in stack.items() if k != "task definition"}

    ecs = aws("ecs")
    (service,) = ecs.describe_services(cluster=STACK, services=[STACK])["services"]
    assert service["taskDefinition"] == new_definition, "a rolling update to the new revision"
    container = ecs.describe_task_definition(taskDefinition=new_definition)["taskDefinition"]["containerDefinitions"][0]
    assert {e["name"]: e["value"] for e in container["environment"]}["MODEL_ID"] == other_model
    assert container["image"] != ecs.describe_task_definition(taskDefinition=old_definition)[
        "taskDefinition"]["containerDefinitions"][0]["image"], "the new image, by digest"

    policy = aws("iam").get_role_policy(RoleName=f"{STACK}-us-east-1-task", PolicyName="invoke-bedrock-model")
    resources = {s["Resource"] for s in policy["PolicyDocument"]["Statement"]}
    assert resources == {f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/{other_model}",
                         "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0"}
    (target,) = aws("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["MaxCapacity"] == 4
    resources = aws("apigateway").get_resources(restApiId=api_id, embed=["methods"])["items"]
    methods = {(r["path"], m): d for r in resources for m, d in r.get("resourceMethods", {}).items()}
    assert set(methods) == set(ROUTES)
    assert all(details["apiKeyRequired"] is False for details in methods.values())
    assert all(details["methodIntegration"]["connectionType"] == "VPC_LINK" for details in methods.values())


