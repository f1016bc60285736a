#!/usr/bin/env bash
# down.sh: removes what up.sh created, in the order AWS requires (consumers
# before what they use), waiting (bounded) where AWS deletes in the background.
#
# Safe to run again: every piece is looked up by tag or name first and skipped
# when it is gone. The ECR repository and the log group are kept unless --purge.

# shellcheck source-path=SCRIPTDIR disable=SC2016 # backticks in --query are JMESPath literals
set -euo pipefail
INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/common.sh
source "${INFRA_DIR}/lib/common.sh"
RERUN_HINT="Run the same command again: what is already gone is skipped."

PURGE="${PURGE:-0}"
# Upper bounds for the background deletions AWS reports as they finish.
WAIT_TIMEOUT_SECS="${WAIT_TIMEOUT_SECS:-900}"
WAIT_INTERVAL_SECS="${WAIT_INTERVAL_SECS:-10}"

usage() {
    cat <<EOF
Usage: infra/down.sh [options]

Deletes the stack up.sh created: API Gateway, VPC link, service, load
balancer, endpoints, network and roles. Keeps the ECR repository (your images)
and the log group unless --purge.

  --region REGION   AWS region (AWS_REGION, AWS_DEFAULT_REGION; default us-east-1)
  --stack NAME      stack name (STACK_NAME; default bedrock-sse)
  --purge           also delete the ECR repository with its images and the log group (PURGE=1)
  --dry-run         print what would be deleted; change nothing (DRY_RUN=1)
  -h, --help        this text

Waits are bounded by WAIT_TIMEOUT_SECS (default 900) each.
EOF
}

parse_args() {
    while (($# > 0)); do
        case "$1" in
            --region) need_value "$1" $#; REGION="$2"; shift ;;
            --stack) need_value "$1" $#; STACK="$2"; shift ;;
            --purge) PURGE=1 ;;
            --dry-run) DRY_RUN=1 ;;
            -h | --help) usage; exit 0 ;;
            *) die "unknown option '$1' (see --help)" ;;
        esac
        shift
    done
    validate_stack_name
    require_integer WAIT_TIMEOUT_SECS "${WAIT_TIMEOUT_SECS}" 1
    require_integer WAIT_INTERVAL_SECS "${WAIT_INTERVAL_SECS}" 1
}

delete_or_plan() {
    # delete_or_plan DESCRIPTION AWS_ARGS...
    local description="$1"
    shift
    if [[ "${DRY_RUN}" == 1 ]]; then
        did "would delete" "${description}"
        return 0
    fi
    aws_read "$@" >/dev/null
    did deleted "${description}"
}

delete_retrying() {
    # delete_retrying DESCRIPTION AWS_ARGS...: for deletions AWS refuses while
    # network interfaces of deleted load balancers, links or tasks linger
    # (DependencyViolation, ResourceInUse), or rate-limits (DeleteRestApi:
    # TooManyRequests): retried until WAIT_TIMEOUT_SECS.
    local description="$1"
    shift
    if [[ "${DRY_RUN}" == 1 ]]; then
        did "would delete" "${description}"
        return 0
    fi
    local started="${SECONDS}"
    until aws_probe "$@" >/dev/null; do
        if ! aws_error_has DependencyViolation && ! aws_error_has ResourceInUse &&
            ! aws_error_has TooManyRequests; then
            printf '%sAWS error%s deleting %s:\n' "${_red}" "${_reset}" "${description}" >&2
            sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
            return 1
        fi
        if ((SECONDS - started >= WAIT_TIMEOUT_SECS)); then
            sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
            die "${description} is still in use after ${WAIT_TIMEOUT_SECS}s"
        fi
        printf '    %swaiting%s       %s is still in use (%ds so far)\n' "${_dim}" "${_reset}" \
            "${description}" "$((SECONDS - started))" >&2
        sleep "${WAIT_INTERVAL_SECS}"
    done
    did deleted "${description}"
}

bounded_wait() {
    # bounded_wait DESCRIPTION COMMAND...: skipped under --dry-run.
    [[ "${DRY_RUN}" != 1 ]] || return 0
    wait_until "$1" "${WAIT_TIMEOUT_SECS}" "${WAIT_INTERVAL_SECS}" "${@:2}"
}

# ----------------------------------------------------------------------------
# Steps, consumers first.

remove_autoscaling() {
    step "Application Auto Scaling"
    local resource="service/${CLUSTER_NAME}/${SERVICE_NAME}" found
    found="$(aws_read application-autoscaling describe-scalable-targets --service-namespace ecs \
        --resource-ids "${resource}" --query 'length(ScalableTargets)')"
    if [[ "${found}" == 0 ]]; then
        did absent "scalable target ${resource}"
        return 0
    fi
    # Deregistering the target deletes its scaling policies too.
    delete_or_plan "scalable target ${resource} and its policies" application-autoscaling \
        deregister-scalable-target --service-namespace ecs --resource-id "${resource}" \
        --scalable-dimension ecs:service:DesiredCount
}

service_status() {
    aws_probe ecs describe-services --cluster "${CLUSTER_NAME}" --services "${SERVICE_NAME}" |
        jq -r '.services[0].status // "MISSING"' || echo MISSING
}

service_is_inactive() { [[ "$(service_status)" =~ ^(INACTIVE|MISSING)$ ]]; }

remove_service() {
    step "ECS service and task definitions"
    local status
    status="$(service_status)"
    case "${status}" in
        ACTIVE)
            if [[ "${DRY_RUN}" == 1 ]]; then
                did "would delete" "service ${SERVICE_NAME} (after scaling to 0)"
            else
                # Scale to zero first so tasks drain through the load balancer.
                aws_read ecs update-service --cluster "${CLUSTER_NAME}" --service "${SERVICE_NAME}" \
                    --desired-count 0 >/dev/null
                aws_read ecs delete-service --cluster "${CLUSTER_NAME}" --service "${SERVICE_NAME}" \
                    --force >/dev/null
                did deleted "service ${SERVICE_NAME}"
            fi
            bounded_wait "service ${SERVICE_NAME} to stop its tasks" service_is_inactive
            ;;
        DRAINING) bounded_wait "service ${SERVICE_NAME} to stop its tasks" service_is_inactive ;;
        *) did absent "service ${SERVICE_NAME}" ;;
    esac

    # Only this family: --family-prefix would also match longer names.
    local arn
    while read -r arn; do
        [[ -n "${arn}" ]] || continue
        delete_or_plan "task definition ${arn##*/}" ecs deregister-task-definition --task-definition "${arn}"
    done < <(aws_read ecs list-task-definitions --family-prefix "${TASK_FAMILY}" --status ACTIVE |
        jq -r --arg f "${TASK_FAMILY}" '.taskDefinitionArns[] | select(test("task-definition/\($f):[0-9]+$"))')
}

remove_cluster() {
    step "ECS cluster"
    local status
    status="$(aws_value ecs describe-clusters --clusters "${CLUSTER_NAME}" --query 'clusters[0].status')"
    if [[ "${status}" == ACTIVE ]]; then
        delete_retrying "cluster ${CLUSTER_NAME}" ecs delete-cluster --cluster "${CLUSTER_NAME}"
    else
        did absent "cluster ${CLUSTER_NAME}"
    fi
}

remove_api() {
    step "API Gateway: usage plan, API key, REST API"
    local api_ids plan plan_id stage
    api_ids="$(aws_read apigateway get-rest-apis | jq -r --arg n "${API_NAME}" --arg s "${STACK}" \
        '.items[]? | select(.name == $n and .tags.Stack == $s) | .id')"

    # A REST API cannot be deleted while a usage plan still names its stages.
    plan="$(aws_read apigateway get-usage-plans | jq -c --arg n "${USAGE_PLAN_NAME}" \
        '[.items[]? | select(.name == $n)][0] // empty')"
    if [[ -n "${plan}" ]]; then
        plan_id="$(jq -r .id <<<"${plan}")"
        while read -r stage; do
            [[ -n "${stage}" ]] || continue
            if [[ "${DRY_RUN}" != 1 ]]; then
                aws_read apigateway update-usage-plan --usage-plan-id "${plan_id}" \
                    --patch-operations "op=remove,path=/apiStages,value=${stage}" >/dev/null
            fi
        done < <(jq -r '.apiStages[]? | "\(.apiId):\(.stage)"' <<<"${plan}")
        delete_or_plan "usage plan ${USAGE_PLAN_NAME} (${plan_id})" apigateway delete-usage-plan \
            --usage-plan-id "${plan_id}"
    else
        did absent "usage plan ${USAGE_PLAN_NAME}"
    fi

    local key_id
    key_id="$(aws_read apigateway get-api-keys --name-query "${API_KEY_NAME}" | jq -r --arg n "${API_KEY_NAME}" \
        '[.items[]? | select(.name == $n)][0].id // empty')"
    if [[ -n "${key_id}" ]]; then
        delete_or_plan "API key ${API_KEY_NAME} (${key_id})" apigateway delete-api-key --api-key "${key_id}"
    else
        did absent "API key ${API_KEY_NAME}"
    fi

    local api_id
    for api_id in ${api_ids}; do
        delete_retrying "REST API ${API_NAME} (${api_id})" apigateway delete-rest-api --rest-api-id "${api_id}"
    done
    [[ -n "${api_ids}" ]] || did absent "REST API ${API_NAME}"
}

vpc_link_is_gone() {
    if aws_probe apigatewayv2 get-vpc-link --vpc-link-id "$1" >/dev/null; then
        return 1
    fi
    aws_error_has NotFound
}

remove_vpc_link() {
    step "VPC link"
    local link_ids link
    link_ids="$(aws_read apigatewayv2 get-vpc-links | jq -r --arg n "${VPC_LINK_NAME}" --arg s "${STACK}" \
        '.Items[]? | select(.Name == $n and .Tags.Stack == $s) | .VpcLinkId')"
    [[ -n "${link_ids}" ]] || did absent "VPC link ${VPC_LINK_NAME}"
    for link in ${link_ids}; do
        delete_or_plan "VPC link ${link}" apigatewayv2 delete-vpc-link --vpc-link-id "${link}"
        # Its network interfaces hold the subnets and the security group.
        bounded_wait "VPC link ${link} to release its network interfaces" vpc_link_is_gone "${link}"
    done
}

load_balancer_is_gone() {
    aws_probe elbv2 describe-load-balancers --names "${ALB_NAME}" >/dev/null && return 1
    aws_error_has LoadBalancerNotFound
}

remove_load_balancer() {
    step "Load balancer, listener and target group"
    local alb_arn=""
    if alb_arn="$(aws_probe elbv2 describe-load-balancers --names "${ALB_NAME}" \
        --query 'LoadBalancers[0].LoadBalancerArn' | jq -r .)"; then
        # Deleting the load balancer deletes its listeners.
        delete_or_plan "load balancer ${ALB_NAME} and its listeners" elbv2 delete-load-balancer \
            --load-balancer-arn "${alb_arn}"
        bounded_wait "load balancer ${ALB_NAME} to be deleted" load_balancer_is_gone
    elif aws_error_has LoadBalancerNotFound; then
        did absent "load balancer ${ALB_NAME}"
    else
        sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
        die "cannot read load balancer ${ALB_NAME}"
    fi

    local tg_arn
    if tg_arn="$(aws_probe elbv2 describe-target-groups --names "${TARGET_GROUP_NAME}" \
        --query 'TargetGroups[0].TargetGroupArn' | jq -r .)"; then
        delete_retrying "target group ${TARGET_GROUP_NAME}" elbv2 delete-target-group --target-group-arn "${tg_arn}"
    elif aws_error_has TargetGroupNotFound; then
        did absent "target group ${TARGET_GROUP_NAME}"
    else
        sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
        die "cannot read target group ${TARGET_GROUP_NAME}"
    fi
}

find_vpc() {
    VPC_ID="$(aws_value ec2 describe-vpcs --filters "Name=tag:Stack,Values=${STACK}" \
        "Name=tag:Name,Values=${VPC_NAME}" --query 'Vpcs[0].VpcId')"
}

endpoints_are_gone() {
    local left
    left="$(aws_read ec2 describe-vpc-endpoints --filters "Name=vpc-id,Values=${VPC_ID}" \
        --query 'length(VpcEndpoints[?State!=`deleted`])')"
    [[ "${left}" == 0 ]]
}

remove_endpoints() {
    step "VPC endpoints"
    if [[ -z "${VPC_ID}" ]]; then
        did absent "VPC ${VPC_NAME} (and so its endpoints)"
        return 0
    fi
    local ids
    ids="$(aws_value ec2 describe-vpc-endpoints --filters "Name=vpc-id,Values=${VPC_ID}" \
        "Name=tag:Stack,Values=${STACK}" --query 'VpcEndpoints[?State!=`deleted` && State!=`deleting`].VpcEndpointId')"
    if [[ -z "${ids}" ]]; then
        did absent "VPC endpoints"
    else
        # shellcheck disable=SC2086 # one id per word
        delete_or_plan "VPC endpoints $(paste -sd' ' <<<"${ids}")" ec2 delete-vpc-endpoints \
            --vpc-endpoint-ids ${ids}
    fi
    bounded_wait "VPC endpoints to release their network interfaces" endpoints_are_gone
}

remove_security_groups() {
    step "Security groups"
    if [[ -z "${VPC_ID}" ]]; then
        did absent "security groups"
        return 0
    fi
    local groups
    groups="$(aws_read ec2 describe-security-groups --filters "Name=vpc-id,Values=${VPC_ID}" \
        "Name=tag:Stack,Values=${STACK}" --query SecurityGroups)"
    if [[ "$(jq length <<<"${groups}")" == 0 ]]; then
        did absent "security groups"
        return 0
    fi
    # The groups refer to each other: drop every rule first, then the groups.
    local id name rules ingress egress
    while read -r id; do
        rules="$(aws_read ec2 describe-security-group-rules --filters "Name=group-id,Values=${id}" \
            --query SecurityGroupRules)"
        ingress="$(jq -r '[.[] | select(.IsEgress | not) | .SecurityGroupRuleId] | join(" ")' <<<"${rules}")"
        egress="$(jq -r '[.[] | select(.IsEgress) | .SecurityGroupRuleId] | join(" ")' <<<"${rules}")"
        [[ "${DRY_RUN}" != 1 ]] || continue
        # shellcheck disable=SC2086 # one rule id per word
        [[ -z "${ingress}" ]] || aws_read ec2 revoke-security-group-ingress --group-id "${id}" \
            --security-group-rule-ids ${ingress} >/dev/null
        # shellcheck disable=SC2086 # one rule id per word
        [[ -z "${egress}" ]] || aws_read ec2 revoke-security-group-egress --group-id "${id}" \
            --security-group-rule-ids ${egress} >/dev/null
    done < <(jq -r '.[].GroupId' <<<"${groups}")
    while read -r id name; do
        delete_retrying "security group ${name} (${id})" ec2 delete-security-group --group-id "${id}"
    done < <(jq -r '.[] | "\(.GroupId) \(.GroupName)"' <<<"${groups}")
}

remove_network() {
    step "Subnets, route table and VPC"
    if [[ -z "${VPC_ID}" ]]; then
        did absent "VPC ${VPC_NAME}"
        return 0
    fi
    local subnet table association
    while read -r subnet; do
        [[ -n "${subnet}" ]] || continue
        delete_retrying "subnet ${subnet}" ec2 delete-subnet --subnet-id "${subnet}"
    done < <(aws_value ec2 describe-subnets --filters "Name=vpc-id,Values=${VPC_ID}" \
        "Name=tag:Stack,Values=${STACK}" --query 'Subnets[].SubnetId')

    while read -r table; do
        [[ -n "${table}" ]] || continue
        while read -r association; do
            [[ -n "${association}" ]] || continue
            [[ "${DRY_RUN}" == 1 ]] || aws_read ec2 disassociate-route-table --association-id "${association}" >/dev/null
        done < <(aws_value ec2 describe-route-tables --route-table-ids "${table}" \
            --query 'RouteTables[0].Associations[?Main!=`true`].RouteTableAssociationId')
        delete_or_plan "route table ${table}" ec2 delete-route-table --route-table-id "${table}"
    done < <(aws_value ec2 describe-route-tables --filters "Name=vpc-id,Values=${VPC_ID}" \
        "Name=tag:Stack,Values=${STACK}" --query 'RouteTables[].RouteTableId')

    delete_retrying "VPC ${VPC_ID}" ec2 delete-vpc --vpc-id "${VPC_ID}"
}

remove_role() {
    local name="$1" policy
    if ! aws_probe iam get-role --role-name "${name}" >/dev/null; then
        aws_error_has NoSuchEntity || { sed 's/^/    /' "${AWS_ERROR_FILE}" >&2; die "cannot read role ${name}"; }
        did absent "role ${name}"
        return 0
    fi
    if [[ "${DRY_RUN}" != 1 ]]; then
        for policy in $(aws_value iam list-attached-role-policies --role-name "${name}" \
            --query 'AttachedPolicies[].PolicyArn'); do
            aws_read iam detach-role-policy --role-name "${name}" --policy-arn "${policy}" >/dev/null
        done
        for policy in $(aws_value iam list-role-policies --role-name "${name}" --query PolicyNames); do
            aws_read iam delete-role-policy --role-name "${name}" --policy-name "${policy}" >/dev/null
        done
    fi
    delete_or_plan "role ${name}" iam delete-role --role-name "${name}"
}

remove_roles() {
    step "IAM roles"
    remove_role "${TASK_ROLE_NAME}"
    remove_role "${EXECUTION_ROLE_NAME}"
}

remove_kept_resources() {
    step "ECR repository and log group"
    local repository_exists=0 log_group
    if aws_probe ecr describe-repositories --repository-names "${ECR_REPOSITORY}" >/dev/null; then
        repository_exists=1
    elif ! aws_error_has RepositoryNotFoundException; then
        sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
        die "cannot read ECR repository ${ECR_REPOSITORY}"
    fi
    log_group="$(aws_value logs describe-log-groups --log-group-name-prefix "${LOG_GROUP}" \
        --query "logGroups[?logGroupName=='${LOG_GROUP}'].logGroupName | [0]")"
    if [[ "${PURGE}" != 1 ]]; then
        ((repository_exists == 0)) || did kept "ECR repository ${ECR_REPOSITORY} (--purge deletes it)"
        [[ -z "${log_group}" ]] || did kept "log group ${LOG_GROUP} (--purge deletes it)"
        return 0
    fi
    if ((repository_exists == 1)); then
        delete_or_plan "ECR repository ${ECR_REPOSITORY} and its images" ecr delete-repository \
            --repository-name "${ECR_REPOSITORY}" --force
    else
        did absent "ECR repository ${ECR_REPOSITORY}"
    fi
    if [[ -n "${log_group}" ]]; then
        delete_or_plan "log group ${LOG_GROUP}" logs delete-log-group --log-group-name "${LOG_GROUP}"
    else
        did absent "log group ${LOG_GROUP}"
    fi
}

main() {
    parse_args "$@"
    stack_names
    STEP_TOTAL=11
    check_prerequisites awk
    resolve_account
    info "Removing stack ${STACK} in ${REGION}, account ${ACCOUNT}$([[ "${DRY_RUN}" == 1 ]] && echo " (dry run)")"

    remove_autoscaling
    remove_service
    remove_cluster
    remove_api
    remove_vpc_link
    remove_load_balancer
    find_vpc
    remove_endpoints
    remove_security_groups
    remove_network
    remove_roles
    remove_kept_resources
    info "Done in $(elapsed_since "${RUN_STARTED_AT}")s.$([[ "${DRY_RUN}" == 1 ]] && echo " Dry run: nothing was changed.")"
}

main "$@"
