# shellcheck shell=bash
# shellcheck disable=SC2016 # backticks in --query are JMESPath literals
# up.sh steps for what runs the server: the image in ECR, logs, the ECS
# cluster, the internal load balancer, the task definition, the service and
# its scaling. Sourced by up.sh; reads its settings.

ensure_repository() {
    if REPOSITORY_URI="$(aws_probe ecr describe-repositories --repository-names "${ECR_REPOSITORY}" \
        --query 'repositories[0].repositoryUri' | jq -r .)"; then
        did reused "ECR repository ${REPOSITORY_URI}"
    elif aws_error_has RepositoryNotFoundException; then
        REPOSITORY_URI="$(create_or_plan "ECR repository ${ECR_REPOSITORY} (scan on push, immutable tags)" \
            ecr create-repository --repository-name "${ECR_REPOSITORY}" \
            --image-scanning-configuration scanOnPush=true --image-tag-mutability IMMUTABLE \
            --tags "Key=Stack,Value=${STACK}" "Key=Project,Value=bedrock-sse" \
            --query repository.repositoryUri)"
        ! is_planned "${REPOSITORY_URI}" ||
            REPOSITORY_URI="${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/${ECR_REPOSITORY}"
    else
        sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
        die "cannot read ECR repository ${ECR_REPOSITORY}"
    fi
}

registry_architecture() {
    # Architecture of an already pushed image, asked of its registry (skopeo).
    command -v skopeo >/dev/null 2>&1 || return 1
    local registry="${IMAGE_URI%%/*}" creds=()
    if [[ "${registry}" == *.dkr.ecr.*.amazonaws.com* ]]; then
        creds=(--creds "AWS:$(aws_read ecr get-login-password --output text)")
    fi
    skopeo inspect --override-os linux "${creds[@]}" "docker://${IMAGE_URI}" 2>/dev/null |
        jq -r '.Architecture // empty'
}

ensure_image() {
    step "Container image"
    if [[ -n "${IMAGE_URI}" ]]; then
        IMAGE_REF="${IMAGE_URI}"
        if [[ -n "${IMAGE_ARCH}" ]]; then
            CPU_ARCHITECTURE="$(cpu_architecture_of "${IMAGE_ARCH}")"
        elif [[ "${DRY_RUN}" != 1 ]] && IMAGE_ARCH="$(registry_architecture)" && [[ -n "${IMAGE_ARCH}" ]]; then
            CPU_ARCHITECTURE="$(cpu_architecture_of "${IMAGE_ARCH}")"
        else
            CPU_ARCHITECTURE=X86_64
            warn "cannot read the architecture of ${IMAGE_URI}: assuming amd64 (pass --arch arm64 for Graviton)"
        fi
        did using "image ${IMAGE_REF} (${CPU_ARCHITECTURE})"
        return 0
    fi

    ensure_repository
    if [[ ! -f "${IMAGE}" ]]; then
        # Only a dry run gets here without the archive.
        did "would push" "${IMAGE} (not built yet) to ${REPOSITORY_URI}"
        IMAGE_REF="${REPOSITORY_URI}:planned"
        CPU_ARCHITECTURE=X86_64
        return 0
    fi
    CPU_ARCHITECTURE="$(image_cpu_architecture "${IMAGE}")"
    local tag digest=""
    tag="$(image_content_tag "${IMAGE}")"
    if [[ -z "${IMAGE_PUSH_REGISTRY}" ]]; then
        digest="$(aws_probe ecr describe-images --repository-name "${ECR_REPOSITORY}" \
            --image-ids "imageTag=${tag}" --query 'imageDetails[0].imageDigest' | jq -r '. // empty')" || digest=""
    fi
    if [[ -n "${digest}" ]]; then
        did reused "image ${tag} already in ECR (${digest})"
    elif [[ "${DRY_RUN}" == 1 ]]; then
        did "would push" "${IMAGE} (${CPU_ARCHITECTURE}) as ${REPOSITORY_URI}:${tag}"
        digest="planned"
    else
        local registry="${REPOSITORY_URI%%/*}" password
        [[ -z "${IMAGE_PUSH_REGISTRY}" ]] || registry="${IMAGE_PUSH_REGISTRY}"
        password="$(aws_read ecr get-login-password --output text)"
        digest="$(image_push "${IMAGE}" "${registry}/${ECR_REPOSITORY}:${tag}" AWS "${password}")"
        [[ "${digest}" == sha256:* ]] || die "push of ${IMAGE} reported no digest"
        did pushed "${IMAGE} (${CPU_ARCHITECTURE}) to ${registry}/${ECR_REPOSITORY}:${tag}"
    fi
    # Pin the task to the exact bytes pushed.
    IMAGE_REF="${REPOSITORY_URI}@${digest}"
    [[ "${digest}" != planned ]] || IMAGE_REF="${REPOSITORY_URI}:${tag}"
    did using "${IMAGE_REF}"
}

ensure_logs_and_cluster() {
    step "Log group and ECS cluster"
    local existing
    existing="$(aws_value logs describe-log-groups --log-group-name-prefix "${LOG_GROUP}" \
        --query "logGroups[?logGroupName=='${LOG_GROUP}'].logGroupName | [0]")"
    if [[ -n "${existing}" ]]; then
        did reused "log group ${LOG_GROUP}"
    else
        if [[ "${DRY_RUN}" == 1 ]]; then
            did "would create" "log group ${LOG_GROUP}"
        else
            aws_change logs create-log-group --log-group-name "${LOG_GROUP}" \
                --tags "Stack=${STACK},Project=bedrock-sse" >/dev/null
            did created "log group ${LOG_GROUP}"
        fi
    fi
    aws_change logs put-retention-policy --log-group-name "${LOG_GROUP}" \
        --retention-in-days "${LOG_RETENTION_DAYS}" >/dev/null

    local status
    status="$(aws_value ecs describe-clusters --clusters "${CLUSTER_NAME}" --query 'clusters[0].status')"
    if [[ "${status}" == ACTIVE ]]; then
        did reused "cluster ${CLUSTER_NAME}"
    else
        create_or_plan "ECS cluster ${CLUSTER_NAME}" ecs create-cluster --cluster-name "${CLUSTER_NAME}" \
            --tags "key=Stack,value=${STACK}" "key=Project,value=bedrock-sse" \
            --query cluster.clusterName >/dev/null
    fi
}

ensure_load_balancer() {
    step "Internal ALB, ip target group on ${CONTAINER_PORT}, listener on ${LISTENER_PORT}"
    local described
    ALB_DNS=""
    if described="$(aws_probe elbv2 describe-load-balancers --names "${ALB_NAME}" --query 'LoadBalancers[0]')"; then
        ALB_ARN="$(jq -r .LoadBalancerArn <<<"${described}")"
        ALB_DNS="$(jq -r .DNSName <<<"${described}")"
        [[ "$(jq -r .Scheme <<<"${described}")" == internal ]] ||
            die "load balancer ${ALB_NAME} exists but is not internal; delete it (infra/down.sh) and run again"
        did reused "load balancer ${ALB_NAME}"
    elif aws_error_has LoadBalancerNotFound; then
        ALB_ARN="$(create_or_plan "internal ALB ${ALB_NAME}" elbv2 create-load-balancer \
            --name "${ALB_NAME}" --type application --scheme internal --ip-address-type ipv4 \
            --subnets "${SUBNET_IDS[@]}" --security-groups "${SG_ALB}" \
            --tags "Key=Stack,Value=${STACK}" "Key=Project,Value=bedrock-sse" \
            --query 'LoadBalancers[0].LoadBalancerArn')"
    else
        sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
        die "cannot read load balancer ${ALB_NAME}"
    fi
    if is_planned "${ALB_ARN}"; then
        ALB_DNS="internal-${ALB_NAME}.${REGION}.elb.amazonaws.com"
    else
        [[ -n "${ALB_DNS}" ]] || ALB_DNS="$(aws_value elbv2 describe-load-balancers \
            --load-balancer-arns "${ALB_ARN}" --query 'LoadBalancers[0].DNSName')"
        # The idle timeout must outlast the gap between two SSE heartbeats.
        aws_change elbv2 modify-load-balancer-attributes --load-balancer-arn "${ALB_ARN}" --attributes \
            "Key=idle_timeout.timeout_seconds,Value=${ALB_IDLE_TIMEOUT}" \
            "Key=routing.http.drop_invalid_header_fields.enabled,Value=true" >/dev/null
    fi

    if TARGET_GROUP_ARN="$(aws_probe elbv2 describe-target-groups --names "${TARGET_GROUP_NAME}" \
        --query 'TargetGroups[0].TargetGroupArn' | jq -r .)"; then
        did reused "target group ${TARGET_GROUP_NAME}"
    elif aws_error_has TargetGroupNotFound; then
        TARGET_GROUP_ARN="$(create_or_plan "ip target group ${TARGET_GROUP_NAME}" elbv2 create-target-group \
            --name "${TARGET_GROUP_NAME}" --protocol HTTP --port "${CONTAINER_PORT}" --target-type ip \
            --vpc-id "${VPC_ID}" --health-check-protocol HTTP --health-check-path /health \
            --health-check-interval-seconds 10 --health-check-timeout-seconds 5 \
            --healthy-threshold-count 2 --unhealthy-threshold-count 3 --matcher HttpCode=200 \
            --tags "Key=Stack,Value=${STACK}" "Key=Project,Value=bedrock-sse" \
            --query 'TargetGroups[0].TargetGroupArn')"
    else
        sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
        die "cannot read target group ${TARGET_GROUP_NAME}"
    fi
    if ! is_planned "${TARGET_GROUP_ARN}"; then
        # Deregistration waits as long as the server drains after SIGTERM.
        aws_change elbv2 modify-target-group-attributes --target-group-arn "${TARGET_GROUP_ARN}" \
            --attributes "Key=deregistration_delay.timeout_seconds,Value=${DRAIN_SECS}" >/dev/null
    fi

    local listener="" listener_json=""
    if ! is_planned "${ALB_ARN}"; then
        listener_json="$(aws_read elbv2 describe-listeners --load-balancer-arn "${ALB_ARN}" \
            --query "Listeners[?Port==\`${LISTENER_PORT}\`] | [0]")"
        listener="$(jq -r '.ListenerArn // empty' <<<"${listener_json}")"
    fi
    if [[ -n "${listener}" ]]; then
        if [[ "$(jq -r '.DefaultActions[0].TargetGroupArn // empty' <<<"${listener_json}")" == "${TARGET_GROUP_ARN}" ]]; then
            did reused "listener HTTP:${LISTENER_PORT} -> ${TARGET_GROUP_NAME}"
        else
            aws_change elbv2 modify-listener --listener-arn "${listener}" \
                --default-actions "Type=forward,TargetGroupArn=${TARGET_GROUP_ARN}" >/dev/null
            did updated "listener HTTP:${LISTENER_PORT} -> ${TARGET_GROUP_NAME}"
        fi
    else
        create_or_plan "listener HTTP:${LISTENER_PORT} -> ${TARGET_GROUP_NAME}" elbv2 create-listener \
            --load-balancer-arn "${ALB_ARN}" --protocol HTTP --port "${LISTENER_PORT}" \
            --default-actions "Type=forward,TargetGroupArn=${TARGET_GROUP_ARN}" \
            --tags "Key=Stack,Value=${STACK}" --query 'Listeners[0].ListenerArn' >/dev/null
    fi
}

task_definition_json() {
    # The task definition as register-task-definition input, minus tags.
    local environment
    environment="$(jq -nc \
        --arg MODEL_ID "${MODEL_ID}" --arg AWS_REGION "${REGION}" --arg HOST 0.0.0.0 \
        --arg PORT "${CONTAINER_PORT}" --arg HEARTBEAT_SECS "${HEARTBEAT_SECS}" \
        --arg DRAIN_SECS "${DRAIN_SECS}" --arg MAX_STREAM_SECS "${MAX_STREAM_SECS}" \
        --arg UPSTREAM_IDLE_TIMEOUT_SECS "${UPSTREAM_IDLE_TIMEOUT_SECS}" \
        --arg MAX_CONCURRENT_STREAMS "${MAX_CONCURRENT_STREAMS}" --arg RUST_LOG "${RUST_LOG}" \
        --arg ALLOWED_MODELS "${ALLOWED_MODELS}" --arg MAX_OUTPUT_TOKENS "${MAX_OUTPUT_TOKENS}" \
        --arg MAX_BODY_BYTES "${MAX_BODY_BYTES}" \
        '$ARGS.named | to_entries | map(select(.value != "")) | sort_by(.key) | map({name: .key, value: .value})')"
    jq -nc \
        --arg family "${TASK_FAMILY}" --arg task_role "${TASK_ROLE_ARN}" \
        --arg execution_role "${EXECUTION_ROLE_ARN}" --arg cpu "${TASK_CPU}" --arg memory "${TASK_MEMORY}" \
        --arg architecture "${CPU_ARCHITECTURE}" --arg name "${CONTAINER_NAME}" --arg image "${IMAGE_REF}" \
        --argjson port "${CONTAINER_PORT}" --argjson environment "${environment}" \
        --arg user "${CONTAINER_USER}" --argjson stop_timeout "$((DRAIN_SECS + 10))" \
        --arg log_group "${LOG_GROUP}" --arg region "${REGION}" '{
        family: $family, taskRoleArn: $task_role, executionRoleArn: $execution_role,
        networkMode: "awsvpc", requiresCompatibilities: ["FARGATE"], cpu: $cpu, memory: $memory,
        runtimePlatform: {cpuArchitecture: $architecture, operatingSystemFamily: "LINUX"},
        containerDefinitions: [{
            name: $name, image: $image, essential: true,
            portMappings: [{containerPort: $port, protocol: "tcp", name: "http"}],
            environment: $environment,
            user: $user, readonlyRootFilesystem: true,
            linuxParameters: {capabilities: {drop: ["ALL"]}},
            healthCheck: {command: ["CMD", "axum-server", "healthcheck"],
                          interval: 15, timeout: 5, retries: 3, startPeriod: 10},
            stopTimeout: $stop_timeout,
            logConfiguration: {logDriver: "awslogs", options: {
                "awslogs-group": $log_group, "awslogs-region": $region,
                "awslogs-stream-prefix": $name, "mode": "non-blocking", "max-buffer-size": "4m"}}
        }]}'
}

ensure_task_definition() {
    step "Fargate task definition (${CPU_ARCHITECTURE}, read-only root, non-root, health check)"
    local spec spec_hash latest
    spec="$(task_definition_json)"
    # Registering always adds a revision: register only when the spec changed.
    spec_hash="$(jq -S -c . <<<"${spec}" | sha256sum | cut -d' ' -f1)"
    TASK_DEFINITION_ARN=""
    if latest="$(aws_probe ecs describe-task-definition --task-definition "${TASK_FAMILY}" --include TAGS)"; then
        if [[ "$(jq -r '.taskDefinition.status' <<<"${latest}")" == ACTIVE &&
            "$(jq -r '.tags[]? | select(.key == "spec-sha256") | .value' <<<"${latest}")" == "${spec_hash}" ]]; then
            TASK_DEFINITION_ARN="$(jq -r .taskDefinition.taskDefinitionArn <<<"${latest}")"
            did reused "task definition ${TASK_DEFINITION_ARN##*/}"
            return 0
        fi
    fi
    local input
    input="$(jq -c --arg stack "${STACK}" --arg hash "${spec_hash}" \
        '. + {tags: [{key: "Stack", value: $stack}, {key: "Project", value: "bedrock-sse"}, {key: "spec-sha256", value: $hash}]}' \
        <<<"${spec}")"
    TASK_DEFINITION_ARN="$(create_or_plan "task definition ${TASK_FAMILY} (image ${IMAGE_REF##*/})" \
        ecs register-task-definition --cli-input-json "${input}" --query taskDefinition.taskDefinitionArn)"
}

ensure_service() {
    step "ECS service (private subnets, no public IP, circuit breaker with rollback)"
    local network deployment load_balancers status current
    network="$(jq -nc --arg sg "${SG_TASKS}" '{awsvpcConfiguration: {subnets: $ARGS.positional,
        securityGroups: [$sg], assignPublicIp: "DISABLED"}}' --args "${SUBNET_IDS[@]}")"
    deployment='{"deploymentCircuitBreaker":{"enable":true,"rollback":true},"maximumPercent":200,"minimumHealthyPercent":100}'
    load_balancers="$(jq -nc --arg tg "${TARGET_GROUP_ARN}" --arg name "${CONTAINER_NAME}" \
        --argjson port "${CONTAINER_PORT}" '[{targetGroupArn: $tg, containerName: $name, containerPort: $port}]')"

    status="" current=""
    local described
    # A cluster that does not exist yet (dry run) has no service either.
    if described="$(aws_probe ecs describe-services --cluster "${CLUSTER_NAME}" --services "${SERVICE_NAME}")"; then
        status="$(jq -r '.services[0].status // empty' <<<"${described}")"
        current="$(jq -r '.services[0].taskDefinition // empty' <<<"${described}")"
    fi
    if [[ "${status}" == DRAINING && "${DRY_RUN}" != 1 ]]; then
        # A service deleted a moment ago: its name is free once it is INACTIVE.
        wait_until "service ${SERVICE_NAME} to finish draining" 600 15 service_is_gone
        status=INACTIVE
    fi
    if [[ "${status}" == ACTIVE ]]; then
        # The desired count is left to Application Auto Scaling.
        aws_change ecs update-service --cluster "${CLUSTER_NAME}" --service "${SERVICE_NAME}" \
            --task-definition "${TASK_DEFINITION_ARN}" --network-configuration "${network}" \
            --deployment-configuration "${deployment}" --health-check-grace-period-seconds 30 >/dev/null
        if [[ "${current}" == "${TASK_DEFINITION_ARN}" ]]; then
            did reused "service ${SERVICE_NAME} on ${TASK_DEFINITION_ARN##*/}"
        else
            did "$([[ "${DRY_RUN}" == 1 ]] && echo "would update" || echo updated)" \
                "service ${SERVICE_NAME}: rolling from ${current##*/} to ${TASK_DEFINITION_ARN##*/}"
        fi
    else
        create_or_plan "service ${SERVICE_NAME} (${DESIRED_COUNT} tasks)" ecs create-service \
            --cluster "${CLUSTER_NAME}" --service-name "${SERVICE_NAME}" \
            --task-definition "${TASK_DEFINITION_ARN}" --desired-count "${DESIRED_COUNT}" \
            --launch-type FARGATE --platform-version LATEST --network-configuration "${network}" \
            --load-balancers "${load_balancers}" --deployment-configuration "${deployment}" \
            --health-check-grace-period-seconds 30 --enable-ecs-managed-tags --propagate-tags SERVICE \
            --tags "key=Stack,value=${STACK}" "key=Project,value=bedrock-sse" \
            --query service.serviceArn >/dev/null
    fi
}

service_is_gone() {
    local status
    status="$(aws_value ecs describe-services --cluster "${CLUSTER_NAME}" --services "${SERVICE_NAME}" \
        --query 'services[0].status')"
    [[ -z "${status}" || "${status}" == INACTIVE ]]
}

ensure_autoscaling() {
    step "Application Auto Scaling (${MIN_TASKS}-${MAX_TASKS} tasks, CPU target ${SCALE_CPU_TARGET}%)"
    local resource="service/${CLUSTER_NAME}/${SERVICE_NAME}"
    aws_change application-autoscaling register-scalable-target --service-namespace ecs \
        --resource-id "${resource}" --scalable-dimension ecs:service:DesiredCount \
        --min-capacity "${MIN_TASKS}" --max-capacity "${MAX_TASKS}" >/dev/null
    # Scale in slowly: a stopped task cuts its streams after the drain deadline.
    aws_change application-autoscaling put-scaling-policy --service-namespace ecs \
        --resource-id "${resource}" --scalable-dimension ecs:service:DesiredCount \
        --policy-name "${SCALING_POLICY_NAME}" --policy-type TargetTrackingScaling \
        --target-tracking-scaling-policy-configuration "$(jq -nc --argjson t "${SCALE_CPU_TARGET}" '{
            TargetValue: $t, ScaleOutCooldown: 60, ScaleInCooldown: 300,
            PredefinedMetricSpecification: {PredefinedMetricType: "ECSServiceAverageCPUUtilization"}}')" >/dev/null
    did ensured "scalable target ${resource} and policy ${SCALING_POLICY_NAME}"
}
